/**
 * Outbound calls (UAC): Parley dials out over the same SIP.js UserAgent, transport, RTP port pool and pacers
 * as the SIP server's incoming calls (sip/server.ts), so an answered outbound leg is a SipCall like any other
 * and the application takes it through the same `onCall` (docs/notes/outbound.md).
 *
 *   INVITE (our SDP offer) ─► 100 ─► 180 → ringing │ 183 + SDP → ringing, early media (RTP starts)
 *        ─► 401/407 → again with digest credentials (the trunk's user/password), once
 *        ─► 200 + SDP → ACK → `answered` (progress) → onCall(call) → call.markAnswered() → media ─► BYE either way
 *        ─► 486/600 → busy │ 408/480/487-after-our-CANCEL → no_answer │ other 3xx-6xx, no answer at all → failed
 *   ring timeout (no final answer in time) → CANCEL → 487 → no_answer
 *
 * Transport: SIP.js's requests are routed by our transport (sip/transport.ts): first Route header, else the
 * Request-URI. Through a trunk the Request-URI is `sip:<number>@<trunk host>` (or the given sip: URI with a
 * `Route: <trunk;lr>` when its host is another), so the trunk is the outbound proxy; over UDP the transport
 * retransmits the INVITE (Timer A) until a response.
 */
import type { Logger } from 'pino';
import { Core, Inviter, SessionState, UserAgent } from 'sip.js';
import type { Session } from 'sip.js';

type IncomingResponse = Core.IncomingResponse;
import type { FramePacer } from '../audio/index.ts';
import { SipCallImpl } from './call.ts';
import type { SipCall } from './call.ts';
import type { SipConfig } from './config.ts';
import { parseDtmfInfo } from './dtmf.ts';
import { SipError } from './errors.ts';
import { hostOf, resolveTarget, statusOfFinal } from './dial.ts';
import type { DialEvents, DialOutcome, DialRequest, OutboundDial } from './dial.ts';
import { attachUacSessionTimer, uacInviteHeaders } from './session-timer.ts';
import type { SessionTimerSettings } from './session-timer.ts';
import { uriUser } from './message.ts';
import type { RtpPortPool } from './rtp-session.ts';
import type { SipServerTransport } from './transport.ts';

export type { SipTrunk, DialRequest, DialStatus, DialOutcome, DialEvents, OutboundDial } from './dial.ts';
export { SIP_URI_RE, NUMBER_RE, resolveTarget, statusOfFinal, newCallId } from './dial.ts';

/** What the dialer shares with the SIP server (sip/server.ts builds it). */
export interface UacContext {
  ua: UserAgent;
  transport: SipServerTransport;
  config: SipConfig;
  ports: RtpPortPool;
  publicAddress: string;
  log: Logger;
  nextPacer(): FramePacer;
  /** The SDH factory finds the call of a session here. */
  bindSession(session: Session, call: SipCallImpl): void;
  /** The server's call table (limits, stop(), metrics). */
  track(call: SipCallImpl): void;
  untrack(call: SipCallImpl): void;
  /** The application takes the answered call (the same hook as incoming calls). */
  onCall(call: SipCall): Promise<void> | void;
  refer(session: Session, call: SipCallImpl, target: string): Promise<void>;
  /** The server is stopping: refuse new dials. */
  stopping(): boolean;
}


export function createDialer(ctx: UacContext): { dial(req: DialRequest, events?: DialEvents): Promise<OutboundDial> } {
  const { ua, transport, config, log } = ctx;
  const core = ua.userAgentCore as unknown as { invite(request: Core.OutgoingRequestMessage, delegate?: unknown): { credentials?: unknown } };
  /** SIP Call-ID → the trunk credentials of that INVITE (SIP.js asks its one factory; we preset them per request). */
  const credentials = new Map<string, { user: string; password: string }>();
  /** SIP Call-ID → the session timer's 422 guard for that INVITE's client (RFC 4028 §7.3, sip/session-timer.ts). */
  const guards422 = new Map<string, (client: unknown) => void>();
  const invite = core.invite.bind(core);
  core.invite = (request: Core.OutgoingRequestMessage, delegate?: unknown) => {
    const uac = invite(request, delegate);
    const c = credentials.get(request.callId);
    if (c) uac.credentials = new Core.DigestAuthentication(ua.getLoggerFactory(), undefined, c.user, c.password);
    guards422.get(request.callId)?.(uac);
    guards422.delete(request.callId);
    return uac;
  };
  // RFC 4028 session timers as the UAC: Session-Expires/Min-SE in the INVITE, the 2xx decides who refreshes
  const timerSettings: SessionTimerSettings = { sessionExpiresS: config.sessionExpiresS, minSeS: config.minSeS };

  async function dial(req: DialRequest, events: DialEvents = {}): Promise<OutboundDial> {
    if (ctx.stopping()) throw new SipError('SIP_ERR_CALL_ENDED', 'the SIP server is stopping', { retryable: true });
    const { requestUri, route } = resolveTarget(req.to, req.trunk);
    const target = UserAgent.makeURI(requestUri);
    if (!target) throw new SipError('SIP_ERR_BAD_URI', `bad destination "${req.to}"`);
    let fromUri: string | undefined;
    if (req.from) {
      if (/^sips?:/i.test(req.from)) fromUri = req.from;
      else {
        const user = req.from.replace(/^tel:/i, '').replace(/[\s().-]/g, '');
        const host = req.trunk ? hostOf(req.trunk.uri)?.host : ctx.publicAddress;
        fromUri = `sip:${user}@${host ?? ctx.publicAddress}`;
      }
      if (!UserAgent.makeURI(fromUri)) throw new SipError('SIP_ERR_BAD_URI', `bad caller "${req.from}"`);
    }
    const rtp = await ctx.ports.allocate();
    const callLog = log.child({ callId: req.id, leg: 'sip', direction: 'outbound' });
    const inviter = new Inviter(ua, target, {
      earlyMedia: true,
      extraHeaders: [...(route ? [`Route: ${route}`] : []), ...uacInviteHeaders(timerSettings), ...(req.headers ?? [])],
      params: { ...(fromUri ? { fromUri } : {}), toUri: target },
    });
    const sipCallId = inviter.request.callId;
    const remote = hostOf(route ? (/<([^>]+)>/.exec(route)?.[1] ?? '') : requestUri);
    const sentAtMs = Date.now();
    const sentAt = performance.now(); // setup time: INVITE sent → 200 OK received (sub-ms)
    const call = new SipCallImpl({
      id: req.id,
      sipCallId,
      from: inviter.request.from.uri.toString(),
      to: requestUri,
      dialled: uriUser(requestUri),
      requestUri,
      transport: /;transport=tls|^sips:/i.test(route ?? requestUri) ? 'tls' : /;transport=tcp/i.test(route ?? requestUri) ? 'tcp' : 'udp',
      remoteAddress: remote?.host.replace(/^\[|\]$/g, '') ?? '',
      headers: {},
      log: callLog,
      rtp,
      releasePort: (p) => ctx.ports.release(p),
      publicAddress: ctx.publicAddress,
      codecs: config.codecs,
      srtp: config.srtp ?? 'off',
      pacer: ctx.nextPacer(),
      inactivityTimeoutMs: config.rtpTimeoutS * 1000,
      maxDurationMs: config.maxCallS * 1000,
      receivedAtMs: sentAtMs,
    });
    if (req.outbound) call.outbound = req.outbound;
    ctx.bindSession(inviter, call);
    const timers = attachUacSessionTimer(inviter, {
      ua,
      call,
      settings: timerSettings,
      log: callLog,
      onExpired: (detail) => void call.hangup('session-expired', detail),
    });
    guards422.set(sipCallId, timers.guard422);
    ctx.track(call);
    if (req.trunk?.user && req.trunk.password) credentials.set(sipCallId, { user: req.trunk.user, password: req.trunk.password });

    let settle!: (o: DialOutcome) => void;
    let settled = false;
    const outcome = new Promise<DialOutcome>((resolve) => {
      settle = (o) => {
        if (settled) return;
        settled = true;
        clearTimeout(ringTimer);
        credentials.delete(sipCallId);
        callLog.info({ status: o.status, sipStatus: o.sipStatus, reason: o.reason, setupMs: o.setupMs }, 'outbound call outcome');
        resolve(o);
      };
    });
    let cancelledByUs = false;
    let ringing = false;
    let finalStatus: number | undefined;
    let finalReason = '';
    let remoteEnded = false;

    const giveUp = (why: string): void => {
      if (inviter.state !== SessionState.Initial && inviter.state !== SessionState.Establishing) return;
      cancelledByUs = true;
      finalReason = why;
      callLog.info({ why }, 'outbound call: CANCEL');
      inviter.cancel().catch(() => undefined);
      // a far end that never answers the CANCEL (nor the INVITE): the call is over for us anyway
      setTimeout(() => {
        if (!settled) {
          settle({ status: statusOfFinal(487, true), reason: why });
          call.end({ reason: 'cancelled', by: 'local', detail: why });
        }
      }, 4000).unref();
    };
    const ringTimer = setTimeout(() => giveUp(`no answer within ${Math.round(req.ringTimeoutMs / 1000)} s`), req.ringTimeoutMs);
    ringTimer.unref();

    call.signalling = {
      bye: async () => {
        if (inviter.state === SessionState.Established) await inviter.bye();
      },
      reject: async () => giveUp('cancelled by the application'),
      refer: (t) => ctx.refer(inviter, call, t),
    };
    call.once('ended', () => {
      timers.stop();
      guards422.delete(sipCallId);
      ctx.untrack(call);
      transport.forgetCall(sipCallId);
      credentials.delete(sipCallId);
      if (call.stats().setupMs !== undefined) events.onEnded?.(call);
    });
    inviter.delegate = {
      onBye: (bye) => {
        remoteEnded = true;
        void bye.accept();
      },
      onInfo: (info) => {
        const d = parseDtmfInfo(info.request.getHeader('content-type') ?? '', info.request.body ?? '');
        void info.accept();
        if (d) call.emit('dtmf', d);
      },
    };
    const onProgress = (r: IncomingResponse): void => {
      const code = r.message.statusCode ?? 0;
      if (code < 180) return;
      const early = code === 183 && !!r.message.body;
      if (early) {
        // sip.js applied the 183's SDP (earlyMedia: true → the SDH's setDescription → call.applyRemoteSdp)
        call.startEarlyMedia();
        events.onEarlyMedia?.();
      }
      if (!ringing) {
        ringing = true;
        events.onRinging?.({ sipStatus: code, earlyMedia: early });
      }
    };
    let okResponse: Core.IncomingResponseMessage | undefined;
    let timersStarted = false;
    /** The 2xx is in and the session Established (SIP.js reports them in either order): start the session timer. */
    const startTimers = (): void => {
      if (timersStarted || !okResponse || inviter.state !== SessionState.Established || cancelledByUs) return;
      timersStarted = true;
      timers.established(okResponse);
    };
    const onFinal = (r: IncomingResponse): void => {
      finalStatus = r.message.statusCode;
      finalReason = `${r.message.statusCode} ${r.message.reasonPhrase}`;
      if ((finalStatus ?? 0) >= 200 && (finalStatus ?? 0) < 300) {
        okResponse = r.message;
        startTimers();
      }
    };

    inviter.stateChange.addListener((state) => {
      if (state === SessionState.Established) {
        startTimers();
        void answered();
        return;
      }
      if (state !== SessionState.Terminated) return;
      // sip.js moves to Terminated before it calls the request delegate with the final response: read it after
      setImmediate(terminated);
    });
    const terminated = (): void => {
      if (call.state === 'ringing') {
        const code = finalStatus ?? (cancelledByUs ? 487 : 0);
        const status = code ? statusOfFinal(code, cancelledByUs) : 'failed';
        settle({ status, ...(finalStatus ? { sipStatus: finalStatus } : {}), reason: finalReason || (cancelledByUs ? 'cancelled' : 'no response to the INVITE') });
        call.end({ reason: cancelledByUs ? 'cancelled' : 'rejected', by: cancelledByUs ? 'local' : 'remote', ...(finalStatus ? { detail: String(finalStatus) } : {}) });
      } else call.end({ reason: remoteEnded ? 'remote-hangup' : 'local-hangup', by: remoteEnded ? 'remote' : 'local' });
    };

    const answered = async (): Promise<void> => {
      const setupMs = Math.round((performance.now() - sentAt) * 1000) / 1000;
      if (cancelledByUs) {
        // the 200 crossed our CANCEL: the call is up, hang it up (RFC 3261 §9.1)
        settle({ status: 'no_answer', sipStatus: 200, reason: `${finalReason} (answered as we cancelled)` });
        await inviter.bye().catch(() => undefined);
        return;
      }
      settle({ status: 'answered', sipStatus: finalStatus ?? 200, reason: finalReason || '200 OK', setupMs });
      events.onAnswered?.(call, setupMs);
      try {
        await Promise.race([
          Promise.resolve(ctx.onCall(call)),
          new Promise<never>((_r, rej) => setTimeout(() => rej(new SipError('SIP_ERR_CALL_ENDED', 'the application did not take the call in time')), config.answerTimeoutMs).unref()),
        ]);
      } catch (err) {
        callLog.warn({ err }, 'the application could not take the answered call: hanging up');
        if (call.state !== 'ended') await call.hangup('error', 'the application could not take the call');
        return;
      }
      if (call.state === 'ringing' && inviter.state === SessionState.Established) call.markAnswered();
    };

    callLog.info({ to: requestUri, ...(route ? { route } : {}), from: call.from }, 'outbound call: INVITE');
    inviter
      .invite({
        requestDelegate: {
          onProgress,
          onAccept: onFinal,
          onReject: onFinal,
          onRedirect: onFinal,
        },
      })
      .catch((err: unknown) => {
        callLog.warn({ err }, 'outbound INVITE could not be sent');
        settle({ status: 'failed', reason: err instanceof Error ? err.message : 'INVITE not sent' });
        call.end({ reason: 'error', by: 'local', detail: 'INVITE not sent' });
      });
    return {
      call,
      outcome,
      cancel: () => {
        if (call.state === 'active') void call.hangup('local-hangup', 'cancelled');
        else giveUp('cancelled by the application');
      },
    };
  }

  return { dial };
}

