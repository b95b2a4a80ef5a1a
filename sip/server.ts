/**
 * The SIP server: a SIP.js 0.21.2 UserAgent acting as a UAS over our own UDP+TCP transport, answering
 * every INVITE with a SipCall handed to `onCall`. Flow of one call:
 *   INVITE → (transport pre-filter: allowed sources, digest challenge, call limit, OPTIONS) → 100 →
 *   offer checked (488 if no codec matches) → RTP port → 180 → onCall(call) (the bridge opens the session;
 *   503 if it fails) → 200 OK + SDP (retransmitted by SIP.js until the ACK) → media → BYE either way.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { Registerer, RegistererState, SessionState, URI, UserAgent } from 'sip.js';
import type { Invitation, Session, SessionDescriptionHandler, UserAgentOptions } from 'sip.js';
import { FramePacer } from '../audio/index.ts';
import { DigestAuthenticator, SourceFilter } from './access.ts';
import { SipCallImpl } from './call.ts';
import type { SipCall } from './call.ts';
import type { SipConfig } from './config.ts';
import { parseDtmfInfo } from './dtmf.ts';
import { SipError } from './errors.ts';
import { uasChecks, unmaskUris, uriUser } from './message.ts';
import type { ParsedSipMessage } from './message.ts';
import { RtpPortPool } from './rtp-session.ts';
import { attachSessionTimer, negotiateAsUas, readTimerOffer } from './session-timer.ts';
import type { SessionTimerSettings } from './session-timer.ts';
import { ORIGINAL_URI_HEADER, SipServerTransport } from './transport.ts';
import { createDialer } from './uac.ts';
import type { DialEvents, DialRequest, OutboundDial } from './dial.ts';
import type { SipFilterResult, SipFlow, SipTransportOptions } from './transport.ts';

export interface SipServerDeps {
  /** Called for every call before it is answered; the call is answered when this resolves, 503 if it throws. */
  onCall(call: SipCall): Promise<void> | void;
  log: Logger;
  /**
   * The 20 ms pacer(s) that send every call's RTP. Default: PACER_PHASES deadline pacers started 5 ms apart,
   * calls spread over them round-robin, so a tick sends a quarter of the calls' packets (smaller bursts,
   * less waiting for incoming packets). Pass one to share a pacer with something else.
   */
  pacer?: FramePacer;
  /** Test hook: drop this outgoing UDP SIP message (simulated loss); return true to drop. */
  dropOutgoing?: (firstLine: string) => boolean;
}

export interface SipMetrics {
  callsActive: number;
  callsTotal: number;
  callsRejected: number;
  setupMsP50: number | undefined;
  rtpPacketsIn: number;
  rtpLost: number;
  rtpJitterMsMax: number;
  dtmfIn: number;
  dtmfOut: number;
  malformed: number;
}

/** What the application adds to an OPTIONS answer (server/cluster/load.ts): its own idea of full, and the `X-Parley-Load` value. */
export interface SipLoadReport {
  full: boolean;
  header: string;
}

export interface SipServer {
  readonly address: string;
  readonly port: number;
  /** The SIP-over-TLS port (PARLEY_SIP_TLS_PORT, the one bound when 0); 0 when TLS is off. */
  readonly tlsPort: number;
  readonly activeCalls: number;
  /** PARLEY_SIP_MAX_CALLS: calls up or being set up at once (more get 486 Busy Here). */
  readonly maxCalls: number;
  /** drain() was called. */
  readonly draining: boolean;
  /**
   * Takes no new call from now on, lets the calls in progress go on (docs/notes/cluster-drain.md): OPTIONS
   * answered 503 (a dispatcher probing with OPTIONS takes this instance out of rotation), new INVITEs 503 with
   * Retry-After (a proxy tries its next destination); in-dialog requests (ACK, BYE, re-INVITE, INFO) as before.
   */
  drain(): void;
  /** The application's load figures, asked for on each out-of-dialog OPTIONS (null: the SIP door's own only). */
  setLoadReport(report: (() => SipLoadReport) | null): void;
  calls(): SipCall[];
  metrics(): SipMetrics;
  /** Registration state when a registrar is configured. */
  readonly registered: boolean;
  /** Place an outbound call (sip/uac.ts, docs/notes/outbound.md); answered, it goes to `onCall` like an incoming one. */
  dial(req: DialRequest, events?: DialEvents): Promise<OutboundDial>;
  /** Hang up every call (BYE), unregister, close the sockets. */
  stop(): Promise<void>;
}

const isEnded = (call: SipCall): boolean => call.state === 'ended';
const PACER_PHASES = 4;

/** What to put in Contact/SDP when PARLEY_SIP_PUBLIC_ADDRESS is unset: the bind address, or for a wildcard bind the first external IPv4. */
export function advertisedAddress(host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/**
 * n FramePacers whose 20 ms ticks are spread evenly over the frame (a pacer's phase is set by when its timer
 * starts: pacer j starts j·20/n ms after the first, kept running by an idle stream — 50 wake-ups/s each).
 */
function startPhasedPacers(n: number): { pacers: FramePacer[]; stop(): void } {
  const pacers = Array.from({ length: n }, () => new FramePacer({ frameMs: 20 }));
  const starts: NodeJS.Timeout[] = [];
  pacers.forEach((p, j) => {
    const t = setTimeout(() => p.add(() => undefined), (j * 20) / n);
    t.unref();
    starts.push(t);
  });
  return {
    pacers,
    stop: () => {
      for (const t of starts) clearTimeout(t);
      for (const p of pacers) p.stop();
    },
  };
}

const ALLOW = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'INFO', 'REFER', 'NOTIFY', 'UPDATE'];
/**
 * Option tags a `Require` may name (what SIP.js advertises in `Supported`, plus `timer` when session timers
 * are on); any other gets 420 (RFC 3261 §8.2.2.3).
 */
const SUPPORTED_OPTION_TAGS = ['outbound'];
const LOCAL_USER = 'parley';
/** Retry-After (s) on a 503 while draining: long enough that a caller retrying directly finds the instance gone or back. */
const DRAIN_RETRY_AFTER_S = 30;
/** Retry-After (s) on an OPTIONS 503 when full. */
const FULL_RETRY_AFTER_S = 5;
const HEADERS_FOR_APP = ['x-parley-request-uri', 'user-agent', 'p-asserted-identity', 'diversion', 'x-callerid'];

export async function startSipServer(config: SipConfig, deps: SipServerDeps): Promise<SipServer> {
  const log = deps.log;
  const phased = deps.pacer ? undefined : startPhasedPacers(PACER_PHASES);
  const pacers = deps.pacer ? [deps.pacer] : (phased?.pacers ?? []);
  let nextPacer = 0;
  const ports = new RtpPortPool({ host: config.host, minPort: config.rtpPorts.min, maxPort: config.rtpPorts.max });
  const sources = new SourceFilter(config.allowedSources);
  const auth = config.auth ? new DigestAuthenticator({ realm: config.auth.realm, user: config.auth.user, password: config.auth.password }) : undefined;
  const calls = new Map<string, SipCallImpl>(); // our call id → call
  const pendingInvites = new Set<string>(); // SIP Call-IDs between the filter and the call object
  let stopping = false;
  let draining = false;
  let loadReport: (() => SipLoadReport) | null = null;
  const m = { callsTotal: 0, callsRejected: 0, setup: [] as number[], rtpPacketsIn: 0, rtpLost: 0, rtpJitterMsMax: 0, dtmfIn: 0, dtmfOut: 0 };
  const publicAddress = config.publicAddress ?? advertisedAddress(config.host);
  // RFC 4028 session timers (sip/session-timer.ts); sessionExpiresS 0 turns them off
  const timerSettings: SessionTimerSettings = { sessionExpiresS: config.sessionExpiresS, minSeS: config.minSeS };
  const timersOn = timerSettings.sessionExpiresS > 0;
  const supportedTags = timersOn ? [...SUPPORTED_OPTION_TAGS, 'timer'] : SUPPORTED_OPTION_TAGS;
  // RFC 4028 §9: an interval below our minimum from a peer that understands 422 (INVITE, re-INVITE, UPDATE)
  const tooSmall = (msg: ParsedSipMessage): SipFilterResult | undefined => {
    if (!timersOn || (msg.method !== 'INVITE' && msg.method !== 'UPDATE')) return undefined;
    const d = negotiateAsUas(readTimerOffer((n) => msg.headers.filter((h) => h.lname === n).map((h) => h.value)), timerSettings);
    if (d.kind !== 'too-small') return undefined;
    log.info({ method: msg.method, minSeS: d.minSeS }, 'session interval too small: 422');
    return { action: 'reply', status: 422, reason: 'Session Interval Too Small', headers: [`Min-SE: ${d.minSeS}`] };
  };

  // RFC 3261 §8.2 order: authentication, then the method, the Request-URI scheme, Require and the body type
  const checks = (msg: ParsedSipMessage): SipFilterResult | undefined => {
    const r = uasChecks(msg, { allow: ALLOW, supported: supportedTags });
    if (!r) return undefined;
    log.info({ method: msg.method, status: r.status, reason: r.reason }, 'SIP request refused');
    return { action: 'reply', ...r };
  };

  const filter = (msg: ParsedSipMessage, flow: SipFlow): SipFilterResult => {
    const toTag = /;\s*tag\s*=/i.test(msg.headers.find((h) => h.lname === 'to')?.value ?? '');
    if (toTag) return checks(msg) ?? tooSmall(msg) ?? { action: 'pass' }; // in-dialog: SIP.js matches it to a dialog or answers 481
    if (!sources.allows(flow.address)) {
      log.warn({ from: flow.address, method: msg.method }, 'SIP request from a source not in PARLEY_SIP_ALLOWED_SOURCES');
      return msg.method === 'INVITE' ? { action: 'reply', status: 403, reason: 'Forbidden' } : { action: 'drop' };
    }
    if (msg.method === 'INVITE' && auth) {
      const v = auth.verify(msg.headers.find((h) => h.lname === 'authorization')?.value, 'INVITE');
      if (v !== 'ok') {
        if (v === 'bad') log.warn({ from: flow.address }, 'INVITE with bad digest credentials');
        return { action: 'reply', status: 401, reason: 'Unauthorized', headers: [auth.challenge(v === 'stale')] };
      }
    }
    const refused = checks(msg);
    if (refused) return refused;
    if (msg.method === 'OPTIONS') return optionsAnswer();
    if (msg.method !== 'INVITE') return { action: 'pass' };
    const small = tooSmall(msg);
    if (small) {
      m.callsRejected++;
      return small;
    }
    if (stopping) return { action: 'reply', status: 503, reason: 'Service Unavailable', headers: ['Retry-After: 5'] };
    if (draining) {
      m.callsRejected++;
      return { action: 'reply', status: 503, reason: 'Service Unavailable', headers: [`Retry-After: ${DRAIN_RETRY_AFTER_S}`, 'X-Parley-Status: draining'] };
    }
    const callId = msg.headers.find((h) => h.lname === 'call-id')?.value ?? '';
    if (calls.size + pendingInvites.size >= config.maxCalls) {
      m.callsRejected++;
      log.warn({ maxCalls: config.maxCalls }, 'call limit reached: 486');
      return { action: 'reply', status: 486, reason: 'Busy Here', headers: ['Retry-After: 10'] };
    }
    if (ports.full) {
      // no RTP port pair left (the range is smaller than the call cap, or other processes hold ports in it):
      // refused before SIP.js takes the INVITE, as OPTIONS says (a dispatcher fails over on the 503)
      m.callsRejected++;
      log.warn({ rtpPorts: config.rtpPorts }, 'no free RTP port: 503');
      return { action: 'reply', status: 503, reason: 'Service Unavailable', headers: [`Retry-After: ${FULL_RETRY_AFTER_S}`, 'X-Parley-Status: full'] };
    }
    pendingInvites.add(callId);
    setTimeout(() => pendingInvites.delete(callId), 2000).unref(); // if SIP.js drops it, forget it
    return { action: 'pass' };
  };

  /**
   * An out-of-dialog OPTIONS (a proxy's health probe, docs/notes/cluster-drain.md): 200 when a new call would
   * be taken, 503 when draining, stopping or full, so that a dispatcher counting only 200 as up skips this
   * instance. `X-Parley-Status` (open|full|draining) and `X-Parley-Load` say why and how full.
   */
  const optionsAnswer = (): SipFilterResult => {
    const sipCalls = calls.size + pendingInvites.size;
    const report = loadReport?.() ?? null;
    const full = sipCalls >= config.maxCalls || ports.full || (report?.full ?? false);
    const state = stopping || draining ? 'draining' : full ? 'full' : 'open';
    const headers = [
      `Allow: ${ALLOW.join(', ')}`,
      'Accept: application/sdp',
      `X-Parley-Status: ${state}`,
      `X-Parley-Load: ${report?.header ?? `sip=${sipCalls}/${config.maxCalls}`}`,
    ];
    if (state === 'open') return { action: 'reply', status: 200, reason: 'OK', headers };
    headers.push(`Retry-After: ${state === 'full' ? FULL_RETRY_AFTER_S : DRAIN_RETRY_AFTER_S}`);
    return { action: 'reply', status: 503, reason: 'Service Unavailable', headers };
  };

  const sessionToCall = new WeakMap<Session, SipCallImpl>();

  const transportOptions: SipTransportOptions = {
    host: config.host,
    port: config.port,
    transports: config.transports,
    tls: readTlsFiles(config),
    publicAddress,
    localUser: LOCAL_USER,
    log,
    filter,
    ...(deps.dropOutgoing ? { dropOutgoing: deps.dropOutgoing } : {}),
  };

  const registrarUri = config.registrar ? UserAgent.makeURI(config.registrar.uri) : undefined;
  if (config.registrar && !registrarUri) throw new SipError('SIP_ERR_CONFIG', `bad PARLEY_SIP_REGISTRAR "${config.registrar.uri}" (want sip:host[:port])`);
  const aorUser = config.registrar?.user ?? LOCAL_USER;
  const uaOptions: UserAgentOptions = {
    uri: new URI('sip', aorUser, registrarUri?.host ?? publicAddress, registrarUri?.port),
    viaHost: publicAddress,
    contactName: LOCAL_USER,
    contactParams: { transport: 'udp' },
    forceRport: true,
    sendInitialProvisionalResponse: false,
    userAgentString: 'Parley',
    sipExtensionExtraSupported: timersOn ? ['timer'] : [],
    logBuiltinEnabled: false,
    logLevel: 'warn',
    logConnector: (level, category, label, content) => {
      if (level === 'error' || level === 'warn') log.debug({ category, sipjs: content }, `sip.js ${level}`);
    },
    transportConstructor: SipServerTransport,
    transportOptions,
    sessionDescriptionHandlerFactory: (session: Session): SessionDescriptionHandler => {
      const call = sessionToCall.get(session);
      if (!call) throw new SipError('SIP_ERR_CALL_ENDED', 'no call for this session');
      return {
        hasDescription: (ct: string) => ct === 'application/sdp',
        setDescription: async (sdp: string) => call.applyRemoteSdp(sdp),
        getDescription: async () => ({ body: call.localSdp(), contentType: 'application/sdp' }),
        sendDtmf: (tones: string) => {
          void call.sendDtmf(tones).catch(() => undefined);
          return true;
        },
        close: () => undefined,
      };
    },
    ...(config.registrar ? { authorizationUsername: config.registrar.user, authorizationPassword: config.registrar.password } : {}),
    delegate: {
      onInvite: (invitation: Invitation) => {
        void handleInvite(invitation);
      },
    },
  };
  const ua = new UserAgent(uaOptions);
  const transport = ua.transport as unknown as SipServerTransport;

  async function handleInvite(invitation: Invitation): Promise<void> {
    const req = invitation.request;
    const sipCallId = req.callId;
    const flow = transport.flowOf(sipCallId);
    const id = `call_${randomBytes(8).toString('hex')}`;
    const callLog = log.child({ callId: id, leg: 'sip' });
    const requestUri = req.getHeader(ORIGINAL_URI_HEADER) ?? req.ruri?.toString() ?? '';
    const headers: Record<string, string> = {};
    for (const h of config.appHeaders ? [...HEADERS_FOR_APP, ...config.appHeaders] : HEADERS_FOR_APP) {
      const v = req.getHeader(h);
      if (v) headers[h] = v;
    }
    const receivedAtMs = Date.now();
    let rejectedWith = 0;
    const reject = async (status: number, why: string, err?: unknown): Promise<void> => {
      rejectedWith = status;
      m.callsRejected++;
      callLog.warn({ status, why, ...(err ? { err } : {}) }, 'call rejected');
      // an application error that says when to come back (e.g. an engine at capacity): RFC 3261 §20.33
      const retryAfterS = (err as { retryAfterS?: unknown } | undefined)?.retryAfterS;
      const extraHeaders = typeof retryAfterS === 'number' && retryAfterS > 0 ? [`Retry-After: ${Math.ceil(retryAfterS)}`] : [];
      try {
        await invitation.reject({ statusCode: status, extraHeaders });
      } catch {
        /* already terminated (CANCEL) */
      }
    };
    let rtp: Awaited<ReturnType<RtpPortPool['allocate']>>;
    try {
      rtp = await ports.allocate();
    } catch (err) {
      pendingInvites.delete(sipCallId);
      await reject(503, 'no RTP port', err);
      return;
    }
    const call = new SipCallImpl({
      id,
      sipCallId,
      from: unmaskUris(req.from.uri.toString()),
      to: unmaskUris(req.to.uri.toString()),
      dialled: uriUser(requestUri) || uriUser(unmaskUris(req.to.uri.toString())),
      requestUri,
      transport: flow?.transport ?? 'udp',
      remoteAddress: flow?.address ?? '',
      headers,
      log: callLog,
      srtp: config.srtp ?? 'off',
      rtp,
      releasePort: (p) => ports.release(p),
      publicAddress,
      codecs: config.codecs,
      pacer: pacers[nextPacer++ % pacers.length] as FramePacer,
      inactivityTimeoutMs: config.rtpTimeoutS * 1000,
      maxDurationMs: config.maxCallS * 1000,
      receivedAtMs,
    });
    calls.set(id, call);
    pendingInvites.delete(sipCallId);
    sessionToCall.set(invitation, call);
    // SIP.js 0.21.2's Invitation.onAckTimeout moves the session to Terminated without looking at its state. When
    // the caller's BYE overtook its ACK (it hung up as the 200 OK arrived, or UDP reordered them), the session is
    // Terminated already and the throw from that timer callback takes the whole process down
    // (test/chaos/sip-races.test.ts, "a BYE before the ACK"). The call has ended by then: nothing to do.
    const inv = invitation as unknown as { onAckTimeout(): void };
    const onAckTimeout = inv.onAckTimeout.bind(invitation);
    inv.onAckTimeout = () => {
      if (invitation.state !== SessionState.Terminated) onAckTimeout();
    };
    // RFC 4028: the INVITE's Session-Expires/Min-SE/Supported decide who refreshes and how often
    const timers = attachSessionTimer(invitation, {
      ua,
      call,
      settings: timerSettings,
      log: callLog,
      onExpired: (detail) => void call.hangup('session-expired', detail),
    });
    m.callsTotal++;
    callLog.info({ from: call.from, dialled: call.dialled, transport: call.transport, remote: call.remoteAddress }, 'incoming call');
    let remoteEnded = false;
    call.signalling = {
      bye: async () => {
        if (invitation.state === SessionState.Established) await invitation.bye();
      },
      reject: async (status) => {
        if (invitation.state === SessionState.Initial || invitation.state === SessionState.Establishing) await invitation.reject({ statusCode: status });
      },
      refer: (target) => refer(invitation, call, target),
    };
    call.once('ended', () => {
      timers.stop();
      calls.delete(id);
      transport.forgetCall(sipCallId);
      const s = call.stats();
      m.rtpPacketsIn += s.rtp.packetsIn;
      m.rtpLost += s.rtp.lost;
      m.rtpJitterMsMax = Math.max(m.rtpJitterMsMax, s.rtp.jitterMs);
      m.dtmfIn += s.dtmfIn;
      m.dtmfOut += s.dtmfOut;
    });
    invitation.delegate = {
      onBye: (bye) => {
        remoteEnded = true;
        void bye.accept(); // with a delegate, SIP.js leaves the 200 to us
      },
      onInfo: (info) => {
        const d = parseDtmfInfo(info.request.getHeader('content-type') ?? '', info.request.body ?? '');
        void info.accept();
        if (d) {
          callLog.info({ digit: d.digit, source: 'info' }, 'dtmf received');
          call.emit('dtmf', d);
        }
      },
    };
    invitation.stateChange.addListener((state) => {
      if (state !== SessionState.Terminated) return;
      if (call.state === 'ringing') {
        call.end(rejectedWith ? { reason: 'rejected', by: 'local', detail: String(rejectedWith) } : { reason: 'cancelled', by: 'remote' });
      }
      else call.end({ reason: remoteEnded ? 'remote-hangup' : 'local-hangup', by: remoteEnded ? 'remote' : 'local' });
    });

    // the offer must carry something we support (488 Not Acceptable Here, RFC 3261 §21.4.26)
    if (req.body) {
      try {
        call.applyRemoteSdp(req.body); // codec known before onCall (SIP.js applies it again on accept: same result)
      } catch (err) {
        await reject(488, err instanceof SipError ? err.message : 'bad SDP', err);
        call.end({ reason: 'rejected', by: 'local', detail: '488' });
        return;
      }
    }
    try {
      await invitation.progress({ statusCode: 180 });
    } catch {
      call.end({ reason: 'cancelled', by: 'remote' });
      return;
    }
    try {
      const timeout = new Promise<never>((_r, rej) =>
        setTimeout(() => rej(new SipError('SIP_ERR_CALL_ENDED', 'the application did not take the call in time', { retryable: true })), config.answerTimeoutMs).unref(),
      );
      await Promise.race([Promise.resolve(deps.onCall(call)), timeout]);
    } catch (err) {
      if (call.state !== 'ended') {
        await reject(503, 'the application could not take the call', err);
        call.end({ reason: 'rejected', by: 'local', detail: '503' });
      }
      return;
    }
    if (isEnded(call) || invitation.state !== SessionState.Initial) {
      if (!isEnded(call)) call.end({ reason: 'cancelled', by: 'remote' });
      return;
    }
    try {
      await invitation.accept({ extraHeaders: timers.acceptHeaders });
    } catch (err) {
      if (!isEnded(call)) {
        callLog.warn({ err }, 'accept failed');
        await reject(488, 'accept failed', err);
        call.end({ reason: 'error', by: 'local', detail: String(err) });
      }
      return;
    }
    if ((invitation.state as SessionState) === SessionState.Established) {
      timers.established();
      call.markAnswered();
      const s = call.stats().setupMs;
      if (s !== undefined) {
        m.setup.push(s);
        if (m.setup.length > 200) m.setup.shift();
      }
    }
  }

  /**
   * Blind transfer (RFC 3515): REFER, then the transferee reports the new call's progress in NOTIFYs
   * (`Event: refer`, `Content-Type: message/sipfrag`, body `SIP/2.0 <code> <reason>`), each answered 200, until
   * a final code (or `Subscription-State: terminated`). A final 2xx resolves; a refused REFER, a final 3xx-6xx,
   * a subscription ended without a final code or no final code within transferTimeoutS rejects with
   * SIP_ERR_TRANSFER_FAILED (`status` = the code, 408 for the timeout), and the call goes on.
   */
  function refer(invitation: Session, call: SipCallImpl, target: string): Promise<void> {
    const uri = UserAgent.makeURI(target);
    if (!uri) return Promise.reject(new SipError('SIP_ERR_TRANSFER_FAILED', `invalid transfer target "${target}"`));
    const timeoutS = config.transferTimeoutS;
    return new Promise<void>((resolve, reject) => {
      let accepted = false;
      let done = false;
      let progress = '';
      const finish = (err?: SipError): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        call.off('ended', onEnded);
        if (err) {
          call.log.info({ target, code: err.code, status: err.status }, `transfer failed: ${err.message}`);
          reject(err);
        } else {
          call.log.info({ target }, 'transfer completed');
          resolve();
        }
      };
      const onEnded = (): void => finish(new SipError('SIP_ERR_CALL_ENDED', 'the call ended before the transfer reported back'));
      call.once('ended', onEnded);
      const timer = setTimeout(() => {
        const why = accepted
          ? `no final answer from the transfer within ${timeoutS} s${progress ? ` (last report: ${progress})` : ''}`
          : `the phone system did not answer the transfer request within ${timeoutS} s`;
        finish(new SipError('SIP_ERR_TRANSFER_FAILED', why, { retryable: true, status: 408 }));
      }, timeoutS * 1000);
      timer.unref();
      invitation
        .refer(uri, {
          requestDelegate: {
            onAccept: () => {
              accepted = true;
            },
            onReject: (res) => finish(new SipError('SIP_ERR_TRANSFER_FAILED', `transfer refused: ${res.message.statusCode} ${res.message.reasonPhrase}`, { status: res.message.statusCode ?? 0 })),
          },
          onNotify: (notification) => {
            void notification.accept(); // every NOTIFY gets its 200, also after the outcome is known
            const req = notification.request;
            if (!/^refer\b/i.test(req.getHeader('event') ?? 'refer')) return;
            accepted = true; // a NOTIFY may overtake the 202 (RFC 3515 §2.4.4)
            const state = (req.getHeader('subscription-state') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
            // RFC 3515 §2.4.5: the body is a message/sipfrag, at least the status line of the new call
            const frag = /^SIP\/2\.0 (\d{3})[ \t]*([^\r\n]*)/m.exec(req.body ?? '');
            const code = frag ? Number(frag[1]) : 0;
            if (frag) progress = `${code} ${frag[2] ?? ''}`.trim();
            call.log.debug({ target, sipfrag: progress, state }, 'transfer progress (NOTIFY)');
            if (code >= 200 && code < 300) finish();
            else if (code >= 300) finish(new SipError('SIP_ERR_TRANSFER_FAILED', `the transfer target answered ${progress}`, { status: code }));
            else if (state === 'terminated') {
              finish(new SipError('SIP_ERR_TRANSFER_FAILED', `the phone system ended its transfer report without a final answer${progress ? ` (last: ${progress})` : ''}`));
            }
          },
        })
        .catch((err: unknown) => finish(new SipError('SIP_ERR_TRANSFER_FAILED', 'could not send the transfer request', { cause: err })));
    });
  }

  // outbound calls share the UA, transport, RTP ports, pacers and call table (sip/uac.ts)
  const dialer = createDialer({
    ua,
    transport,
    config,
    ports,
    publicAddress,
    log,
    nextPacer: () => pacers[nextPacer++ % pacers.length] as FramePacer,
    bindSession: (session, call) => sessionToCall.set(session, call),
    track: (call) => {
      calls.set(call.id, call);
      m.callsTotal++;
    },
    untrack: (call) => {
      calls.delete(call.id);
      const s = call.stats();
      m.rtpPacketsIn += s.rtp.packetsIn;
      m.rtpLost += s.rtp.lost;
      m.rtpJitterMsMax = Math.max(m.rtpJitterMsMax, s.rtp.jitterMs);
      m.dtmfIn += s.dtmfIn;
      m.dtmfOut += s.dtmfOut;
    },
    onCall: (call) => deps.onCall(call),
    refer,
    stopping: () => stopping,
  });

  await ua.start();
  let registerer: Registerer | undefined;
  if (config.registrar && registrarUri) {
    registerer = new Registerer(ua, { registrar: registrarUri, expires: config.registrar.expiresS });
    registerer.stateChange.addListener((s) => log.info({ state: s, registrar: config.registrar?.uri }, 'SIP registration'));
    registerer.register().catch((err: unknown) => log.warn({ err }, 'REGISTER failed'));
  }
  log.info({ host: config.host, port: transport.port, transports: config.transports, tlsPort: transport.tlsPort || undefined, srtp: config.srtp ?? 'off', publicAddress }, 'SIP server listening');
  warnSdesInClear(config, log);

  return {
    address: config.host,
    get port() {
      return transport.port;
    },
    get tlsPort() {
      return transport.tlsPort;
    },
    get activeCalls() {
      return calls.size;
    },
    maxCalls: config.maxCalls,
    get draining() {
      return draining;
    },
    drain: () => {
      if (draining || stopping) return;
      draining = true;
      log.info({ calls: calls.size }, 'SIP door draining: new calls refused (503), calls in progress go on');
    },
    setLoadReport: (report) => {
      loadReport = report;
    },
    get registered() {
      return registerer?.state === RegistererState.Registered;
    },
    calls: () => [...calls.values()],
    dial: (req, events) => dialer.dial(req, events),
    metrics: () => {
      let live = 0;
      let jitter = m.rtpJitterMsMax;
      let lost = m.rtpLost;
      let dtmfIn = m.dtmfIn;
      let dtmfOut = m.dtmfOut;
      for (const c of calls.values()) {
        const s = c.stats();
        live += s.rtp.packetsIn;
        lost += s.rtp.lost;
        jitter = Math.max(jitter, s.rtp.jitterMs);
        dtmfIn += s.dtmfIn;
        dtmfOut += s.dtmfOut;
      }
      const sorted = [...m.setup].sort((a, b) => a - b);
      return {
        callsActive: calls.size,
        callsTotal: m.callsTotal,
        callsRejected: m.callsRejected,
        setupMsP50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : undefined,
        rtpPacketsIn: m.rtpPacketsIn + live,
        rtpLost: lost,
        rtpJitterMsMax: jitter,
        dtmfIn,
        dtmfOut,
        malformed: transport.counters.malformed,
      };
    },
    stop: async () => {
      if (stopping) return;
      stopping = true;
      // a call answered but never ACKed (or a peer that never answers the BYE) must not hold the stop for
      // Timer B/F (32 s): the BYEs are sent at once; wait for their answers a bounded time
      await Promise.race([Promise.allSettled([...calls.values()].map((c) => c.hangup('server-stop'))), new Promise((r) => setTimeout(r, 2000))]);
      if (registerer) {
        try {
          await Promise.race([registerer.unregister(), new Promise((r) => setTimeout(r, 1000))]);
        } catch {
          /* best effort */
        }
      }
      await new Promise((r) => setTimeout(r, 50)); // let the BYEs leave
      // SIP.js's stop waits for its own un-REGISTER/BYE transactions: bound it, then close the sockets anyway
      await Promise.race([ua.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 1500))]);
      await transport.disconnect();
      phased?.stop();
    },
  };
}

/** PARLEY_SIP_TLS_CERT/KEY, read at start (server/config/sip.ts checked them already; an embedder's config may not have). */
function readTlsFiles(config: SipConfig): SipTransportOptions['tls'] {
  if (!config.tls) return undefined;
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new SipError('SIP_ERR_CONFIG', `cannot read the SIP TLS ${what} ${JSON.stringify(path)} (PARLEY_SIP_TLS_${what.toUpperCase()})`, { cause: err });
    }
  };
  return { cert: read(config.tls.certFile, 'cert'), key: read(config.tls.keyFile, 'key'), port: config.tls.port };
}

/**
 * SDES puts the SRTP keys in the SDP: whoever reads the signalling reads the keys. With PARLEY_SRTP on, say so
 * loudly at start when SIP also listens in the clear (docs/notes/sip.md "TLS and SRTP": a warning, not a refusal,
 * because TLS may end at a proxy in front, e.g. Kamailio on the same host).
 */
function warnSdesInClear(config: SipConfig, log: Logger): void {
  const mode = config.srtp ?? 'off';
  if (mode === 'off' || config.transports.length === 0) return;
  const clear = config.transports.join('/');
  if (!config.tls) {
    log.warn(
      { srtp: mode, transports: config.transports },
      `PARLEY_SRTP=${mode} without SIP over TLS (PARLEY_SIP_TLS_CERT/KEY unset): the SRTP keys travel in the SDP over ${clear} in the clear, readable by anyone on the signalling path; terminate TLS in front of Parley (a proxy on a private link) or set PARLEY_SIP_TLS_CERT and PARLEY_SIP_TLS_KEY`,
    );
  } else {
    log.warn({ srtp: mode, transports: config.transports }, `PARLEY_SRTP=${mode}: calls that come over ${clear} (not TLS) carry their SRTP keys in the clear; list only what you need in PARLEY_SIP_TRANSPORTS`);
  }
}
