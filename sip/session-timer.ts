/**
 * RFC 4028 session timers: the header rules (pure functions) and one call's timer (SessionTimer).
 *
 * A session timer makes both ends prove, every `interval` seconds, that the call is still up: the
 * refresher sends a re-INVITE or UPDATE at half the interval; the other side ends the call with BYE if no
 * refresh came before the interval is over (minus min(32 s, interval/3), §10). Carriers use it to clear
 * calls whose BYE was lost, and drop calls that do not take part (docs/notes/sip.md, "Session timers").
 *
 * `refresher` is relative to the transaction that carries it (§4): in the caller's INVITE and in a refresh
 * the peer sends, `uac` is the peer and `uas` is us; in the 2xx to a refresh we send, `uac` is us.
 */
import type { Logger } from 'pino';
import { Core } from 'sip.js';
import type { Invitation, Inviter, Session, UserAgent } from 'sip.js';
// SIP.js's list of the methods its core lets through (405 for the others): UPDATE is added below
import { AllowedMethods } from 'sip.js/lib/core/user-agent-core/allowed-methods.js';

export type Refresher = 'uac' | 'uas';

/** RFC 4028 §4: `Session-Expires: delta-seconds [;refresher=uac|uas] *(;generic-param)`. */
export interface SessionExpires {
  intervalS: number;
  refresher?: Refresher;
}

export interface SessionTimerSettings {
  /** PARLEY_SIP_SESSION_EXPIRES_S: the interval we ask for / the most we accept (0: session timers off). */
  sessionExpiresS: number;
  /** PARLEY_SIP_MIN_SE_S: the shortest interval we accept (smaller → 422 with Min-SE). */
  minSeS: number;
}

/** What a request (INVITE, re-INVITE, UPDATE) says about session timers. */
export interface TimerOffer {
  sessionExpires: SessionExpires | undefined;
  minSeS: number | undefined;
  /** `Supported: timer` (or `Require: timer`): the sender knows RFC 4028 (it understands 422 and refreshes). */
  supportsTimer: boolean;
  /** `Allow` lists UPDATE: our refreshes may use it (RFC 4028 §7.4 prefers UPDATE). */
  allowsUpdate: boolean;
}

/** The UAS's answer to an offer (§9). */
export type TimerDecision =
  | { kind: 'too-small'; minSeS: number } // 422 Session Interval Too Small, Min-SE: minSeS
  | { kind: 'none' } // no session timer on this call
  | { kind: 'timer'; intervalS: number; refresher: Refresher; require: boolean };

const DELTA = /^\s*(\d{1,10})\s*$/;

export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (value === undefined) return undefined;
  const [delta, ...params] = value.split(';');
  const m = DELTA.exec(delta ?? '');
  if (!m) return undefined;
  const intervalS = Number(m[1]);
  if (!(intervalS > 0)) return undefined;
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim().toLowerCase());
    if (k === 'refresher' && (v === 'uac' || v === 'uas')) return { intervalS, refresher: v };
  }
  return { intervalS };
}

/** RFC 4028 §5: `Min-SE: delta-seconds *(;generic-param)`. */
export function parseMinSe(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = DELTA.exec(value.split(';')[0] ?? '');
  return m ? Number(m[1]) : undefined;
}

const hasToken = (values: readonly string[], token: string): boolean =>
  values.some((v) => v.split(',').some((t) => t.trim().toLowerCase() === token));

/**
 * The session-timer facts of a request. `headers(name)` returns every value of a header field (lower-case
 * long name); the compact forms `x` (Session-Expires) and `k` (Supported) are read too.
 */
export function readTimerOffer(headers: (lname: string) => readonly string[]): TimerOffer {
  const se = [...headers('session-expires'), ...headers('x')][0];
  const minSe = headers('min-se')[0];
  const supported = [...headers('supported'), ...headers('k'), ...headers('require')];
  return {
    sessionExpires: parseSessionExpires(se),
    minSeS: parseMinSe(minSe),
    supportsTimer: hasToken(supported, 'timer'),
    allowsUpdate: hasToken(headers('allow'), 'update'),
  };
}

/**
 * RFC 4028 §9, the UAS's choice for an INVITE, a re-INVITE or an UPDATE:
 *  - an interval under our minimum from a peer that knows timers → 422 with our Min-SE (a peer that does not
 *    know them would not understand the 422: its interval, put there by a proxy, is taken as it is);
 *  - otherwise the interval is the offered one, lowered to our setting but never under the request's Min-SE
 *    or ours, and never raised (§9);
 *  - no Session-Expires: a peer that supports timers gets `currentS` (the call's interval for a refresh, our
 *    setting for a new call); one that does not, none;
 *  - the refresher is the one the request names; else the peer when it supports timers (it asked for them or
 *    knows them), else us; `Require: timer` goes in the 2xx whenever the peer supports timers (§9).
 */
export function negotiateAsUas(offer: TimerOffer, settings: SessionTimerSettings, currentS = settings.sessionExpiresS): TimerDecision {
  if (settings.sessionExpiresS <= 0) return { kind: 'none' };
  const se = offer.sessionExpires;
  const floorS = Math.max(settings.minSeS, offer.minSeS ?? 0);
  if (se && se.intervalS < settings.minSeS && offer.supportsTimer) return { kind: 'too-small', minSeS: floorS };
  let intervalS: number;
  if (se) intervalS = se.intervalS < floorS ? se.intervalS : Math.min(se.intervalS, Math.max(settings.sessionExpiresS, floorS));
  else if (offer.supportsTimer) intervalS = Math.max(currentS, floorS);
  else return { kind: 'none' };
  const refresher: Refresher = offer.supportsTimer ? (se?.refresher ?? 'uac') : 'uas';
  return { kind: 'timer', intervalS, refresher, require: offer.supportsTimer };
}

/** The timer header fields of our 2xx for a decision (none for `none`). */
export function timerResponseHeaders(d: TimerDecision): string[] {
  if (d.kind !== 'timer') return [];
  return [`Session-Expires: ${d.intervalS};refresher=${d.refresher}`, ...(d.require ? ['Require: timer'] : [])];
}

/** §10: the side that does not refresh sends BYE this long before the session would expire. */
export function byeMarginMs(intervalS: number): number {
  return Math.min(32_000, (intervalS * 1000) / 3);
}

/** The final response to one of our refreshes. */
export interface RefreshResult {
  status: number; // 408 for a transaction timeout, 503 for a transport error (RFC 3261 §8.1.3.1)
  reason: string;
  sessionExpires: SessionExpires | undefined;
  minSeS: number | undefined;
}

export interface SessionTimerDeps {
  settings: SessionTimerSettings;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Send a refresh (`UPDATE` or a re-INVITE with the current SDP) carrying `headers`; resolves with its final response. */
  sendRefresh(method: 'UPDATE' | 'INVITE', headers: string[]): Promise<RefreshResult>;
  /** The session is over (a refresh missed or refused with 408/481): hang up with BYE. */
  onExpired(detail: string): void;
}

/** How long to wait before retrying after a 491 (RFC 3261 §14.1: we did not make the Call-ID: 0–2 s). */
const GLARE_RETRY_MAX_MS = 2000;

/**
 * One call's session timer. `refreshed(intervalS, weRefresh)` is called for every 2xx to a session refresh
 * (the 200 OK of the call, the 200 we send to the peer's re-INVITE/UPDATE, the 2xx to ours); it restarts the
 * clock. We refresh at half the interval (UPDATE when the peer allows it, else re-INVITE); the peer must
 * refresh before `interval − min(32 s, interval/3)` or we hang up.
 */
export class SessionTimer {
  private readonly deps: SessionTimerDeps;
  private timer: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private _intervalS = 0;
  private _weRefresh = false;
  private refreshing = false;
  private stopped = false;
  private method: 'UPDATE' | 'INVITE';
  /** Refreshes that got a 2xx / that we answered (for tests and logs). */
  readonly counters = { sent: 0, answered: 0, received: 0 };

  constructor(deps: SessionTimerDeps & { preferUpdate: boolean }) {
    this.deps = deps;
    this.method = deps.preferUpdate ? 'UPDATE' : 'INVITE';
  }

  get intervalS(): number {
    return this._intervalS;
  }

  /** Refresh by UPDATE (the peer's Allow lists it) or re-INVITE; the UAC learns it from the 2xx. */
  useUpdate(on: boolean): void {
    this.method = on ? 'UPDATE' : 'INVITE';
  }

  /** Whether we send the refreshes (false: the peer does, or no timer). */
  get weRefresh(): boolean {
    return this._weRefresh;
  }

  get active(): boolean {
    return this._intervalS > 0 && !this.stopped;
  }

  /** The session was refreshed now (a 2xx to a refresh): restart the clock. */
  refreshed(intervalS: number, weRefresh: boolean): void {
    if (this.stopped) return;
    this.clear();
    this._intervalS = intervalS;
    this._weRefresh = weRefresh;
    const intervalMs = intervalS * 1000;
    if (weRefresh) {
      this.timer = setTimeout(() => void this.refresh(), intervalMs / 2);
      // we are the refresher: if no refresh of ours succeeds before the interval is over, the session is gone
      this.expiry = setTimeout(() => this.expire(`no successful session refresh within ${intervalS} s`), intervalMs);
    } else {
      const deadlineMs = intervalMs - byeMarginMs(intervalS);
      this.expiry = setTimeout(() => this.expire(`the peer did not refresh the session within ${Math.round(deadlineMs) / 1000} s (Session-Expires ${intervalS})`), deadlineMs);
    }
    this.timer?.unref();
    this.expiry.unref();
  }

  /** The peer's refresh was answered 2xx with this decision (a refresh without a timer turns it off). */
  peerRefreshed(d: TimerDecision): void {
    this.counters.received++;
    if (d.kind === 'timer') this.refreshed(d.intervalS, d.refresher === 'uas');
    else if (d.kind === 'none') this.off();
  }

  /** No session timer any more (the peer's refresh dropped it). */
  off(): void {
    this.clear();
    this._intervalS = 0;
    this._weRefresh = false;
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.expiry) clearTimeout(this.expiry);
    this.timer = undefined;
    this.expiry = undefined;
  }

  private expire(detail: string): void {
    if (this.stopped) return;
    this.stop();
    this.deps.log.warn({ intervalS: this._intervalS, weRefresh: this._weRefresh }, `session expired: ${detail}`);
    this.deps.onExpired(detail);
  }

  /** Our refresh (§7.4): the current interval, ourselves as refresher (`uac` from this request's point of view). */
  private async refresh(intervalS = this._intervalS): Promise<void> {
    if (this.stopped || this.refreshing) return;
    this.refreshing = true;
    const headers = [`Session-Expires: ${intervalS};refresher=uac`, `Min-SE: ${this.deps.settings.minSeS}`];
    let r: RefreshResult;
    try {
      this.counters.sent++;
      this.deps.log.debug({ method: this.method, intervalS }, 'session refresh');
      r = await this.deps.sendRefresh(this.method, headers);
    } catch (err) {
      r = { status: 500, reason: err instanceof Error ? err.message : String(err), sessionExpires: undefined, minSeS: undefined };
    } finally {
      this.refreshing = false;
    }
    if (this.stopped) return;
    if (r.status >= 200 && r.status < 300) {
      this.counters.answered++;
      // §7.2: the 2xx names the interval and the refresher (`uac` = us). A 2xx without Session-Expires comes
      // from a peer that does not do timers: we keep refreshing at the interval we had (it costs one request)
      const se = r.sessionExpires;
      this.refreshed(se?.intervalS ?? intervalS, se?.refresher !== 'uas');
      return;
    }
    this.deps.log.info({ method: this.method, status: r.status, reason: r.reason }, 'session refresh refused');
    if (r.status === 408 || r.status === 481) {
      // §10: the dialog is gone (or the peer is)
      this.expire(`session refresh answered ${r.status} ${r.reason}`);
      return;
    }
    if (r.status === 422 && r.minSeS !== undefined && r.minSeS > intervalS) {
      // §7.3: retry with the interval the peer wants
      void this.refresh(r.minSeS);
      return;
    }
    if ((r.status === 405 || r.status === 501) && this.method === 'UPDATE') {
      this.method = 'INVITE'; // the peer does not take UPDATE after all: re-INVITE from now on
      void this.refresh(intervalS);
      return;
    }
    // 491 (glare) or anything else: try again soon; the expiry timer ends the call if nothing succeeds
    const delayMs = r.status === 491 ? Math.random() * GLARE_RETRY_MAX_MS : Math.max(1000, (intervalS * 1000) / 8);
    this.timer = setTimeout(() => void this.refresh(), delayMs);
    this.timer.unref();
  }
}

// ------------------------------------------------------------------------------------- SIP.js glue

// SIP.js 0.21.2 answers UPDATE 405 in its core and 501 in a dialog (no RFC 3311 at all): the core lets it
// through once it is in this list, and attachSessionTimer handles it in the call's dialog
if (!AllowedMethods.includes('UPDATE')) AllowedMethods.push('UPDATE');

/** What the glue needs of the call (sip/call.ts's SipCallImpl). */
export interface TimedCall {
  /** An SDP offer from the peer (UPDATE with a body). Throws on an unusable offer (→ 488). */
  applyRemoteSdp(sdp: string): void;
  /** Our current SDP (its o= version changes only when it does: RFC 3264 §8). */
  localSdp(): string;
}

export interface SessionTimerBinding {
  readonly timer: SessionTimer;
  /** The decision for the call's INVITE. */
  readonly decision: TimerDecision;
  /** Header fields for the 200 OK of the INVITE. */
  readonly acceptHeaders: string[];
  /** The 200 OK has gone out: start the clock, take the peer's UPDATEs. */
  established(): void;
  stop(): void;
}

const headersOf = (m: Core.IncomingMessage) => (lname: string) => m.getHeaders(lname);

function resultOf(m: Core.IncomingResponseMessage): RefreshResult {
  return {
    status: m.statusCode ?? 500,
    reason: m.reasonPhrase ?? '',
    sessionExpires: parseSessionExpires(m.getHeader('session-expires')),
    minSeS: parseMinSe(m.getHeader('min-se')),
  };
}

/** A refresh with no final response after this long counts as 408 (Timer B/F are 32 s; a 3xx never reaches us). */
const REFRESH_GIVE_UP_MS = 40_000;

/**
 * Session timers for one SIP.js Invitation (our UAS side of a call):
 *  - the INVITE's decision (`acceptHeaders` go in the 200 OK);
 *  - the peer's re-INVITEs: SIP.js answers them (same SDP, o= version unchanged, sip/call.ts localSdp); we add
 *    the timer header fields to its 200 and restart the clock;
 *  - the peer's UPDATEs (RFC 3311): answered here, 200 with the timer header fields (and our SDP answer when
 *    the UPDATE carried an offer), and the clock restarts;
 *  - our refreshes: UPDATE (when the peer's Allow lists it) or a re-INVITE with our current SDP.
 */
export function attachSessionTimer(
  invitation: Invitation,
  opts: { ua: UserAgent; call: TimedCall; settings: SessionTimerSettings; log: Pick<Logger, 'info' | 'warn' | 'debug'>; onExpired(detail: string): void },
): SessionTimerBinding {
  const offer = readTimerOffer(headersOf(invitation.request));
  const decision = negotiateAsUas(offer, opts.settings);
  const b = bindSession(invitation, { ...opts, preferUpdate: offer.allowsUpdate });
  return {
    timer: b.timer,
    decision,
    acceptHeaders: timerResponseHeaders(decision),
    established: () => {
      b.takeUpdates();
      if (decision.kind === 'timer') {
        opts.log.info({ intervalS: decision.intervalS, refresher: decision.refresher === 'uas' ? 'us' : 'peer' }, 'session timer');
        b.timer.refreshed(decision.intervalS, decision.refresher === 'uas');
      }
    },
    stop: () => b.timer.stop(),
  };
}

/**
 * RFC 4028 §7.2, the UAC's reading of the 2xx to its INVITE: the 2xx's Session-Expires names the interval and
 * the refresher (`uac` = us; a 2xx that names none leaves it to us, the side that asked); a 2xx without
 * Session-Expires means no session expiration (the UAS does not do timers and no proxy asked for them).
 */
export function negotiateAsUac(answer: TimerOffer): TimerDecision {
  const se = answer.sessionExpires;
  if (!se) return { kind: 'none' };
  return { kind: 'timer', intervalS: se.intervalS, refresher: se.refresher ?? 'uac', require: false };
}

/** Our outbound INVITE's timer header fields (§7.1): the interval we ask for and our Min-SE. */
export function uacInviteHeaders(settings: SessionTimerSettings, intervalS = settings.sessionExpiresS): string[] {
  if (settings.sessionExpiresS <= 0) return [];
  return [`Session-Expires: ${intervalS}`, `Min-SE: ${Math.min(settings.minSeS, intervalS)}`];
}

export interface UacSessionTimerBinding {
  readonly timer: SessionTimer;
  /** Header fields for the INVITE (Session-Expires, Min-SE). */
  readonly inviteHeaders: string[];
  /**
   * Wrap the INVITE's client (what the SIP.js core's invite() returned): a 422 with a larger Min-SE is retried
   * once, same Call-ID, next CSeq, with that interval (§7.3), instead of ending the call.
   */
  guard422(client: unknown): void;
  /** The 2xx came and was ACKed: start the clock as it says, take the peer's UPDATEs. */
  established(response: Core.IncomingResponseMessage): TimerDecision;
  stop(): void;
}

/** Session timers for one SIP.js Inviter (our UAC side of an outbound call, sip/uac.ts). */
export function attachUacSessionTimer(
  inviter: Inviter,
  opts: { ua: UserAgent; call: TimedCall; settings: SessionTimerSettings; log: Pick<Logger, 'info' | 'warn' | 'debug'>; onExpired(detail: string): void },
): UacSessionTimerBinding {
  const { settings, log } = opts;
  const b = bindSession(inviter, { ...opts, preferUpdate: false });
  let retried = false;
  return {
    timer: b.timer,
    inviteHeaders: uacInviteHeaders(settings),
    guard422: (client) => {
      const uac = client as {
        message: Core.OutgoingRequestMessage;
        authenticationGuard(m: Core.IncomingResponseMessage, dialog?: unknown): boolean;
        init(): void;
      };
      const guard = uac.authenticationGuard.bind(uac);
      uac.authenticationGuard = (m, dialog) => {
        const minSeS = parseMinSe(m.getHeader('min-se'));
        if (m.statusCode !== 422 || retried || settings.sessionExpiresS <= 0 || minSeS === undefined) return guard(m, dialog);
        const current = parseSessionExpires(uac.message.extraHeaders.find((h) => /^session-expires\s*:/i.test(h))?.replace(/^[^:]*:/, ''))?.intervalS ?? 0;
        if (minSeS <= current) return guard(m, dialog);
        retried = true;
        log.info({ minSeS, was: current }, 'session interval too small (422): INVITE again with the larger interval');
        const msg = uac.message;
        msg.extraHeaders = [...msg.extraHeaders.filter((h) => !/^(session-expires|min-se)\s*:/i.test(h)), `Session-Expires: ${minSeS}`, `Min-SE: ${minSeS}`];
        msg.cseq += 1;
        msg.setHeader('cseq', `${msg.cseq} ${msg.method}`);
        uac.init(); // a new client transaction for the same request (as SIP.js does for a 401/407)
        return false;
      };
    },
    established: (response) => {
      b.takeUpdates();
      const answer = readTimerOffer(headersOf(response));
      b.timer.useUpdate(answer.allowsUpdate);
      const d = settings.sessionExpiresS > 0 ? negotiateAsUac(answer) : ({ kind: 'none' } as const);
      if (d.kind === 'timer') {
        log.info({ intervalS: d.intervalS, refresher: d.refresher === 'uac' ? 'us' : 'peer', method: answer.allowsUpdate ? 'UPDATE' : 'INVITE' }, 'session timer');
        b.timer.refreshed(d.intervalS, d.refresher === 'uac');
      }
      return d;
    },
    stop: () => b.timer.stop(),
  };
}

/**
 * The dialog glue both sides share:
 *  - the peer's re-INVITEs: SIP.js answers them (same SDP, o= version unchanged, sip/call.ts localSdp); we add
 *    the timer header fields to its 200 and restart the clock;
 *  - the peer's UPDATEs (RFC 3311): answered here, 200 with the timer header fields (and our SDP answer when
 *    the UPDATE carried an offer), and the clock restarts;
 *  - our refreshes: UPDATE (when the peer's Allow lists it) or a re-INVITE with our current SDP.
 */
function bindSession(
  session: Session,
  opts: { ua: UserAgent; call: TimedCall; settings: SessionTimerSettings; log: Pick<Logger, 'info' | 'warn' | 'debug'>; onExpired(detail: string): void; preferUpdate: boolean },
): { timer: SessionTimer; takeUpdates(): void } {
  const { settings, call, log } = opts;
  const contact = (): string => `Contact: ${opts.ua.contact.toString()}`;

  const sendUpdate = (headers: string[]): Promise<RefreshResult> =>
    new Promise((resolve) => {
      const dialog = session.dialog as Core.SessionDialog | undefined;
      if (!dialog) {
        resolve({ status: 481, reason: 'No dialog', sessionExpires: undefined, minSeS: undefined });
        return;
      }
      const message = dialog.createOutgoingRequestMessage('UPDATE', { extraHeaders: [...headers, contact()] });
      const done = (r: { message: Core.IncomingResponseMessage }): void => resolve(resultOf(r.message));
      new Core.UserAgentClient(Core.NonInviteClientTransaction, dialog.userAgentCore, message, { onAccept: done, onReject: done, onRedirect: done });
    });

  const sendReinvite = (headers: string[]): Promise<RefreshResult> =>
    new Promise((resolve) => {
      const done = (r: { message: Core.IncomingResponseMessage }): void => resolve(resultOf(r.message));
      session.invite({ requestOptions: { extraHeaders: headers }, requestDelegate: { onAccept: done, onReject: done } }).catch((err: unknown) => {
        // SIP.js refuses while another re-INVITE of ours is pending (RequestPendingError): like a 491
        const pending = err instanceof Error && err.name === 'RequestPendingError';
        resolve({ status: pending ? 491 : 500, reason: err instanceof Error ? err.message : String(err), sessionExpires: undefined, minSeS: undefined });
      });
    });

  const timer = new SessionTimer({
    settings,
    log,
    preferUpdate: opts.preferUpdate,
    onExpired: opts.onExpired,
    sendRefresh: (method, headers) => {
      let giveUp: NodeJS.Timeout | undefined;
      const timeout = new Promise<RefreshResult>((resolve) => {
        giveUp = setTimeout(() => resolve({ status: 408, reason: 'Request Timeout', sessionExpires: undefined, minSeS: undefined }), REFRESH_GIVE_UP_MS);
        giveUp.unref();
      });
      return Promise.race([method === 'UPDATE' ? sendUpdate(headers) : sendReinvite(headers), timeout]).finally(() => clearTimeout(giveUp));
    },
  });

  // the peer's re-INVITE: SIP.js builds and sends the 200 itself (Session.onInviteRequest); our header fields
  // go in through the request's accept(), and only a 2xx refreshes the session (RFC 4028 §10)
  const inv = session as unknown as { onInviteRequest(req: { message: Core.IncomingRequestMessage; accept(o?: Core.ResponseOptions): unknown }): void };
  const onInviteRequest = inv.onInviteRequest.bind(session);
  inv.onInviteRequest = (req) => {
    const d = negotiateAsUas(readTimerOffer(headersOf(req.message)), settings, timer.intervalS || settings.sessionExpiresS);
    const accept = req.accept.bind(req);
    req.accept = (o?: Core.ResponseOptions) => {
      const base = o ?? { statusCode: 200 };
      const r = accept({ ...base, extraHeaders: [...(base.extraHeaders ?? []), ...timerResponseHeaders(d)] });
      timer.peerRefreshed(d);
      return r;
    };
    onInviteRequest(req);
  };

  const onUpdate = (m: Core.IncomingRequestMessage, core: Core.UserAgentCore): void => {
    const uas = new Core.UserAgentServer(Core.NonInviteServerTransaction, core, m);
    const d = negotiateAsUas(readTimerOffer(headersOf(m)), settings, timer.intervalS || settings.sessionExpiresS);
    if (d.kind === 'too-small') {
      uas.reject({ statusCode: 422, extraHeaders: [`Min-SE: ${d.minSeS}`] });
      return;
    }
    let body: Core.Body | undefined;
    if (m.body) {
      const type = (m.getHeader('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/sdp') {
        uas.reject({ statusCode: 415, extraHeaders: ['Accept: application/sdp'] });
        return;
      }
      try {
        call.applyRemoteSdp(m.body); // RFC 3311 §5.2: an offer in the UPDATE, our answer in its 2xx
        body = { contentDisposition: 'session', contentType: 'application/sdp', content: call.localSdp() };
      } catch {
        uas.reject({ statusCode: 488 });
        return;
      }
    }
    uas.accept({ statusCode: 200, extraHeaders: [contact(), ...timerResponseHeaders(d)], ...(body ? { body } : {}) });
    timer.peerRefreshed(d);
  };

  return {
    timer,
    takeUpdates: () => {
      const dialog = session.dialog as Core.SessionDialog | undefined;
      if (!dialog) return;
      // requests in the call's dialog: UPDATE is ours (SIP.js's SessionDialog answers it 501), the rest SIP.js's
      const dlg = dialog as unknown as { receiveRequest(m: Core.IncomingRequestMessage): void; sequenceGuard(m: Core.IncomingRequestMessage): boolean };
      const base = Object.getPrototypeOf(Object.getPrototypeOf(dialog)) as { receiveRequest(m: Core.IncomingRequestMessage): void }; // Dialog.prototype
      const receive = dlg.receiveRequest.bind(dialog);
      dlg.receiveRequest = (m) => {
        if (m.method !== 'UPDATE') {
          receive(m);
          return;
        }
        if (!dlg.sequenceGuard(m)) return; // RFC 3261 §12.2.2: out of order → 500 (SIP.js's guard answers it)
        base.receiveRequest.call(dialog, m); // the remote CSeq moves on
        onUpdate(m, dialog.userAgentCore);
      };
    },
  };
}
