/**
 * The SIP door's glue: every SIP call becomes a session (leg 'sip'); the bridge is the session's GA client.
 *
 *  caller RTP → SipCall (jitter buffer, codec) → input_audio_buffer.append → session → engine
 *  engine → response.output_audio.delta → SipCall.play (queue, paced at 20 ms) → caller RTP
 *
 * A PCMU or PCMA call runs the session in `audio/pcmu` / `audio/pcma`: G.711 bytes pass straight through
 * as bytes (an AudioChunk over the RTP payload: no base64, no decoding, no resampling; an engine that takes
 * G.711 gets it as is). Opus runs it in `audio/pcm` at 24 kHz, decoded and resampled inside the SipCall.
 * Barge-in: on `input_audio_buffer.speech_started` the playout queue is flushed (nothing more leaves within
 * one frame) and the call's PlayoutLedger (server/session/playout.ts) gives the `conversation.item.truncate`:
 * the ms actually played of the assistant item, clamped to what was generated. Per-session tools: end_call (BYE after the goodbye has played),
 * transfer_call (REFER, then the NOTIFY reports until the target's final answer: BYE on success, a failure with
 * its code goes back to the model as text and the call goes on), send_dtmf (RFC 4733), and collect_dtmf when
 * PARLEY_SIP_DTMF=tool (otherwise digits reach the conversation as a user text message), and warm_transfer
 * (docs/notes/transfer.md: the caller on hold, the target dialled as a second leg, the agent announces the call
 * to whoever answers, then the two legs' RTP is relayed by Parley and the agent leaves; a decline or no answer
 * takes the caller off hold and the model is told).
 *
 * Agent profiles (server/profiles/, docs/notes/profiles.md): before the call is answered (inside the SIP
 * server's onCall window, after 180 Ringing) the routes pick a profile by dialled number, caller or trunk, and
 * the incoming-call hook, when configured, may change it. The profile gives the session's initial config,
 * engine and tool list (a list without collect_dtmf puts DTMF in text mode, one with it in tool mode); when
 * the 200 OK has gone out the agent says the profile's first message, and after maxCallS the session ends
 * (end reason max_duration) and Parley hangs up.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SipError, isValidDtmf, newCallId, startSipServer } from '../sip/index.ts';
import type { CallEndInfo, DialRequest, DtmfDigit, OutboundDial, SipCall, SipServer, SipConfig } from '../sip/index.ts';
import { AudioChunk, type AudioFormat, type ServerEvent } from './protocol/index.ts';
import { PlayoutLedger, type EndReason, type RealtimeSessionHandle, type SessionClient } from './session/index.ts';
import type { ToolDefinition } from './tools/index.ts';
import { admitOrThrow, type EngineName } from './engines/index.ts';
import { Gauge } from './metrics.ts';
import { MaxCallTimer, firstMessageEvent, withAudioFormat, type CallPlan } from './profiles/index.ts';
import { outboundCalls } from './outbound/calls.ts';
import { DEFAULT_TRANSFER_CONFIG } from './config/transfer.ts';
import { Hold, announcementText, holdAudio, relayLegs } from './transfer/warm.ts';

export interface SipBridgeOptions {
  /** Overrides of the SIP server config (tests: port 0, an RTP range). */
  sip?: Partial<SipConfig>;
  dtmfMode?: 'text' | 'tool';
  transferTarget?: string | null;
  /** Start SIP sessions on this engine instead of the configured one. */
  engine?: EngineName;
  /** Digits typed this long ago without a '#' are sent to the conversation (text mode). */
  dtmfFlushMs?: number;
  /** Test hook: drop outgoing UDP SIP messages (simulated loss). */
  dropOutgoing?: (firstLine: string) => boolean;
  /**
   * true (default): PCMU/PCMA calls run the session in audio/pcmu / audio/pcma, G.711 bytes passed straight
   * through (every engine takes it: OpenAI natively, the cascade/local engines decode it themselves). false:
   * every call runs the session in audio/pcm 24 kHz, decoded and resampled here.
   */
  g711Passthrough?: boolean;
  /** Observer of every server event a call's session sends (tests, metrics); must not throw. */
  observe?: (call: SipCall, event: ServerEvent) => void;
  /** warm_transfer: the hold WAV (null: silence) and the target's ring timeout (default: PARLEY_HOLD_WAV, PARLEY_WARM_TRANSFER_RING_TIMEOUT_S). */
  holdWav?: string | null;
  warmTransferRingTimeoutS?: number;
}

export interface SipBridge {
  readonly server: SipServer;
  close(): Promise<void>;
}

const PCM_RATE_HZ = 24000;
const END_CALL_QUIET_MS = 700;
const END_CALL_MAX_WAIT_MS = 30_000;
const TRANSFER_DRAIN_MAX_MS = 10_000;
/** warm_transfer: the announcement to the target is generated and played within this, else the transfer fails. */
const ANNOUNCE_MAX_MS = 30_000;
/** The SipCall.outbound key that marks a warm transfer's second leg (taken by its transfer, not given a session). */
const WARM_LEG = 'warmTransferOf';

export async function startSipBridge(app: FastifyInstance, opts: SipBridgeOptions = {}): Promise<SipBridge> {
  const cfg = app.parley.config.sip;
  const log = app.parley.log.child({ leg: 'sip' });
  const bridges = new Set<CallBridge>();
  // the INVITE headers the incoming-call hook passes on are kept with the call
  const appHeaders = app.parley.config.incomingCall.headers;
  const sipConfig: SipConfig = { ...cfg, ...(appHeaders.length > 0 ? { appHeaders } : {}), ...opts.sip };
  const transferCfg = app.parley.config.transfer ?? DEFAULT_TRANSFER_CONFIG;
  const server: SipServer = await startSipServer(sipConfig, {
    log,
    ...(opts.dropOutgoing ? { dropOutgoing: opts.dropOutgoing } : {}),
    onCall: async (call) => {
      // a warm transfer's second leg: its transfer (CallBridge.warmTransfer) has it from the dial
      if (call.outbound?.[WARM_LEG] !== undefined) return;
      const b = new CallBridge(app, call, {
        dtmfMode: opts.dtmfMode ?? cfg.dtmfMode,
        transferTarget: opts.transferTarget !== undefined ? opts.transferTarget : cfg.transferTarget,
        dtmfFlushMs: opts.dtmfFlushMs ?? 2000,
        transferTimeoutS: sipConfig.transferTimeoutS,
        g711Passthrough: opts.g711Passthrough ?? true,
        dial: (req) => server.dial(req),
        trunk: sipConfig.trunk ?? null,
        holdWav: opts.holdWav !== undefined ? opts.holdWav : transferCfg.holdWav,
        warmRingTimeoutS: opts.warmTransferRingTimeoutS ?? transferCfg.ringTimeoutS,
        ...(opts.engine ? { engine: opts.engine } : {}),
        ...(opts.observe ? { observe: opts.observe } : {}),
      });
      bridges.add(b);
      call.once('ended', () => bridges.delete(b));
      // b subscribed to 'ended' in its constructor: a CANCEL while the engine opens abandons the open
      await b.open();
    },
  });
  registerSipMetrics(app, server);
  outboundCalls(app).attach(server); // POST /v1/calls dials through this server (docs/notes/outbound.md)
  return {
    server,
    close: async () => {
      outboundCalls(app).attach(null);
      await server.stop();
      for (const b of bridges) b.shutdown('sip server stopping', 'shutdown');
    },
  };
}

/** An outbound call's plan: the request's metadata over the profile's, and `direction: outbound`. */
function withOutbound(plan: CallPlan, metadata: Record<string, string> | undefined): CallPlan {
  return { ...plan, metadata: { ...plan.metadata, ...metadata, direction: 'outbound' } };
}

/** SIP figures at /metrics (read at scrape time). */
function registerSipMetrics(app: FastifyInstance, server: SipServer): void {
  const g = (name: string, help: string, read: (m: ReturnType<SipServer['metrics']>) => number): void => {
    const gauge = new Gauge(name, help, []);
    gauge.collect(() => read(server.metrics()));
    app.parley.metrics.register(gauge);
  };
  g('parley_sip_calls_active', 'SIP calls up now', (m) => m.callsActive);
  g('parley_sip_calls_total', 'SIP calls taken since start', (m) => m.callsTotal);
  g('parley_sip_calls_rejected_total', 'INVITEs rejected (limit, codec, auth, application)', (m) => m.callsRejected);
  g('parley_sip_setup_ms_p50', 'Median INVITE-to-200 OK time of recent calls (ms)', (m) => m.setupMsP50 ?? 0);
  g('parley_sip_rtp_packets_in_total', 'RTP audio packets received', (m) => m.rtpPacketsIn);
  g('parley_sip_rtp_lost_total', 'RTP packets lost (sequence gaps)', (m) => m.rtpLost);
  g('parley_sip_rtp_jitter_ms_max', 'Largest RFC 3550 interarrival jitter seen (ms)', (m) => m.rtpJitterMsMax);
  g('parley_sip_dtmf_in_total', 'DTMF digits received (RFC 4733 and SIP INFO)', (m) => m.dtmfIn);
  g('parley_sip_dtmf_out_total', 'DTMF digits sent (RFC 4733)', (m) => m.dtmfOut);
  g('parley_sip_malformed_total', 'Malformed SIP messages (answered 400 when possible)', (m) => m.malformed);
}

interface CallBridgeOptions {
  dtmfMode: 'text' | 'tool';
  transferTarget: string | null;
  dtmfFlushMs: number;
  /** PARLEY_SIP_TRANSFER_TIMEOUT_S: how long transfer_call waits for the transfer's final report. */
  transferTimeoutS: number;
  g711Passthrough: boolean;
  engine?: EngineName;
  observe?: (call: SipCall, event: ServerEvent) => void;
  /** warm_transfer: places the second leg (the SIP server's dialer), through the trunk when one is configured. */
  dial: (req: DialRequest) => Promise<OutboundDial>;
  trunk: SipConfig['trunk'] | null;
  holdWav: string | null;
  warmRingTimeoutS: number;
}

/** Where a warm transfer stands: `hold` the caller waits (the agent's audio goes nowhere), `announce` the agent speaks to the target, `bridged` the legs are joined and the agent has left. */
type WarmPhase = 'hold' | 'announce' | 'bridged';

/** One call ↔ one session. */
class CallBridge implements SessionClient {
  private readonly app: FastifyInstance;
  private readonly call: SipCall;
  private readonly opts: CallBridgeOptions;
  private readonly log: Logger;
  private session: RealtimeSessionHandle | undefined;
  private readonly format: AudioFormat;
  private readonly ledger = new PlayoutLedger();
  /** Refilled with every RTP frame (no allocation per frame; the session copies what it keeps). */
  private readonly callerChunk: AudioChunk;
  private lastActivityMs = Date.now();
  private endRequested = false;
  /** The call ended (or the session did): nothing more goes either way. */
  private readonly gone = new AbortController();
  // DTMF
  private digits = '';
  private dtmfTimer: NodeJS.Timeout | undefined;
  private readonly dtmfWaiters: Array<() => void> = [];
  private closed = false;
  /** The profile's plan (set in open(), before the call is answered). */
  private plan: CallPlan | null = null;
  private dtmfMode: 'text' | 'tool';
  private maxCall: MaxCallTimer | null = null;
  /** The caller's audio into the session (set in open(); taken off while a warm transfer holds the caller). */
  private toSession: ((chunk: Uint8Array) => void) | undefined;
  /** Where the agent's audio goes: the caller, the warm transfer's target while announcing, nowhere on hold. */
  private audioOut: SipCall | null;
  private warm: { phase: WarmPhase; announceId: string | null; announced: (() => void) | null } | null = null;

  constructor(app: FastifyInstance, call: SipCall, opts: CallBridgeOptions) {
    this.app = app;
    this.call = call;
    this.opts = opts;
    this.dtmfMode = opts.dtmfMode;
    this.log = call.log;
    this.audioOut = call;
    const g711 = opts.g711Passthrough && (call.codec.name === 'PCMU' || call.codec.name === 'PCMA');
    if (g711 && call.codec.name === 'PCMU') {
      this.format = { type: 'audio/pcmu' };
      call.setAudioFormat({ encoding: 'pcmu' });
    } else if (g711) {
      this.format = { type: 'audio/pcma' };
      call.setAudioFormat({ encoding: 'pcma' });
    } else {
      this.format = { type: 'audio/pcm', rate: PCM_RATE_HZ };
      call.setAudioFormat({ encoding: 'pcm16', sampleRateHz: PCM_RATE_HZ });
    }
    this.callerChunk = AudioChunk.fromBytes(new Uint8Array(0), this.format);
    // before any await: a CANCEL (or BYE) while the engine opens must end the session too
    call.once('ended', (info) => {
      if (info.reason === 'transferred') this.session?.reportTransfer(info.detail ?? '');
      this.shutdown(`call ended (${info.reason})`, this.endReasonOf(info));
    });
    call.once('answered', () => this.onAnswered());
  }

  /** 200 OK sent: the observers hear it, the agent says the profile's first message, the call's clock starts. */
  private onAnswered(): void {
    const session = this.session;
    if (!session || this.closed) return;
    session.markAnswered();
    if (this.plan?.firstMessage) session.handleClientEvent(firstMessageEvent(this.plan.firstMessage));
    this.maxCall?.arm(session);
  }

  async open(): Promise<void> {
    const format = this.format;
    const facts = { dialled: this.call.dialled, from: this.call.from, to: this.call.to, sipCallId: this.call.sipCallId, trunk: this.call.remoteAddress };
    // the profile: routes, then the incoming-call hook (bounded by its timeout, well inside the answer window)
    // an outbound call (POST /v1/calls) has its profile and metadata from the request; no incoming-call hook
    const outbound = this.call.outbound as { profile?: string | null; metadata?: Record<string, string> } | undefined;
    const profiles = this.app.parley.profiles;
    const plan = outbound
      ? withOutbound(profiles.plan(outbound.profile ?? (profiles.has('default') ? 'default' : null)), outbound.metadata)
      : await profiles.resolve({ door: 'sip', call: facts, headers: this.call.headers });
    if (this.closed) return; // the caller hung up (CANCEL) meanwhile: the SIP server sees the call ended
    this.plan = plan;
    if (plan.toolNames !== undefined) this.dtmfMode = plan.toolNames.includes('collect_dtmf') ? 'tool' : 'text';
    this.maxCall = new MaxCallTimer(plan.maxCallS);
    const engine = plan.engine ?? this.opts.engine;
    // admission control (server/engines/admission.ts): an engine at capacity throws CapacityError → 503 + Retry-After
    const admission = admitOrThrow(this.app.parley.engines, engine ?? this.app.parley.config.engine);
    this.session = await this.app.parley.sessions.open({
      ...(outbound ? { id: this.call.id } : {}), // an outbound call's id is its session's and record's (POST /v1/calls)
      leg: 'sip',
      client: this,
      session: withAudioFormat(plan.session, format),
      tools: [...this.tools(), ...plan.tools],
      callId: this.call.id,
      signal: this.gone.signal,
      call: facts,
      metadata: plan.metadata,
      observers: [this.maxCall.observer],
      ...(plan.profile !== null ? { profile: plan.profile } : {}),
      ...(plan.recording !== undefined ? { recording: plan.recording } : {}),
      ...(plan.toolNames !== undefined ? { toolNames: plan.toolNames } : {}),
      ...(engine ? { engine } : {}),
    }).finally(admission.release);
    const session = this.session;
    const append = { type: 'input_audio_buffer.append' as const, audio: this.callerChunk };
    this.toSession = (chunk) => {
      // hot path: the RTP payload's bytes, as they are
      this.callerChunk.setBytes(chunk);
      session.handleClientEvent(append);
    };
    this.call.onAudio(this.toSession);
    this.call.on('dtmf', (d) => this.onDtmf(d));
    this.log.info({ sessionId: session.id, format: format.type, codec: this.call.codec.name }, 'call bridged to a session');
  }

  /** The call ended (or the server stops): end the session. */
  shutdown(reason: string, endReason: EndReason): void {
    if (this.closed) return;
    this.closed = true;
    this.gone.abort();
    if (this.dtmfTimer) clearTimeout(this.dtmfTimer);
    for (const w of this.dtmfWaiters.splice(0)) w();
    this.session?.close(reason, endReason);
  }

  /** What the call record says of how the SIP call ended. */
  private endReasonOf(info: CallEndInfo): EndReason {
    switch (info.reason) {
      case 'remote-hangup':
      case 'cancelled':
        return 'caller_hangup';
      case 'local-hangup':
        return this.endRequested ? 'agent_ended' : 'error';
      case 'transferred':
        return 'transferred';
      case 'rtp-timeout':
        return 'rtp_timeout';
      case 'max-duration':
        return 'max_duration';
      case 'server-stop':
        return 'shutdown';
      case 'rejected':
        return 'rejected';
      case 'session-expired': // RFC 4028: the peer stopped refreshing the session (a dead call)
      case 'no-ack':
      case 'error':
        return 'error';
    }
  }

  // ------------------------------------------------------------------ SessionClient

  send(event: ServerEvent): void {
    this.opts.observe?.(this.call, event);
    this.ledger.onEvent(event);
    switch (event.type) {
      case 'response.output_audio.delta': {
        const out = this.audioOut; // null: the caller is on hold (warm transfer)
        if (!out || !this.ledger.onAudio(event, out.enqueuedMs)) return; // late deltas of a cut item
        this.lastActivityMs = Date.now();
        out.play(event.delta.bytes());
        return;
      }
      case 'input_audio_buffer.speech_started':
        if (!this.warm) this.bargeIn();
        return;
      case 'response.created':
        this.lastActivityMs = Date.now();
        if (this.warm?.phase === 'announce' && this.warm.announceId === null) this.warm.announceId = event.response.id;
        return;
      case 'response.done':
        this.lastActivityMs = Date.now();
        if (this.warm?.phase === 'announce' && this.warm.announceId === event.response.id) this.warm.announced?.();
        return;
      case 'error':
        this.log.warn({ error: event.error }, 'session error event');
        return;
      default:
        this.log.trace({ type: event.type }, 'session event');
        return;
    }
  }

  /** SessionClient.close: the session ended (engine gone, shutdown): hang up once what is queued has played. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.gone.abort();
    if (this.dtmfTimer) clearTimeout(this.dtmfTimer);
    for (const w of this.dtmfWaiters.splice(0)) w();
    if (this.call.state === 'ended') return;
    this.log.info({ code, reason }, 'session ended: hanging up');
    void Promise.race([this.call.whenDrained(), new Promise((r) => setTimeout(r, 10_000))]).then(() => this.call.hangup('local-hangup', `session ended: ${reason}`));
  }

  private bargeIn(): void {
    const droppedMs = this.call.playout.queuedMs;
    const position = this.call.flushPlayout(); // nothing more of it leaves from the next tick on
    const truncate = this.ledger.cut(position, droppedMs);
    if (!truncate) return;
    this.log.info({ itemId: truncate.item_id, audioEndMs: truncate.audio_end_ms, droppedMs }, 'barge-in: playout flushed, truncating');
    this.session?.handleClientEvent(truncate);
  }

  // ------------------------------------------------------------------ DTMF

  private onDtmf(d: DtmfDigit): void {
    this.session?.reportDtmf(d.digit);
    this.digits += d.digit;
    if (this.dtmfMode === 'tool') {
      for (const w of this.dtmfWaiters.splice(0)) w();
      return;
    }
    if (this.dtmfTimer) clearTimeout(this.dtmfTimer);
    if (d.digit === '#') this.flushDigits();
    else this.dtmfTimer = setTimeout(() => this.flushDigits(), this.opts.dtmfFlushMs);
  }

  /** Text mode: the digits become a user message and the agent answers. */
  private flushDigits(): void {
    const digits = this.digits;
    this.digits = '';
    if (!digits || !this.session || this.closed) return;
    this.log.info({ count: digits.length }, 'dtmf digits to the conversation');
    this.session.handleClientEvent({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: `[The caller pressed the phone keys: ${digits.split('').join(' ')}]` }] },
    });
    this.session.handleClientEvent({ type: 'response.create' });
  }

  // ------------------------------------------------------------------ tools

  private tools(): ToolDefinition[] {
    const call = this.call;
    const tools: ToolDefinition[] = [
      {
        name: 'end_call',
        description: 'Hang up the phone call. Say goodbye first: the call ends after your goodbye has finished playing.',
        parameters: { type: 'object', properties: { reason: { type: 'string', description: 'Why the call ends (for the log).' } }, additionalProperties: false },
        handler: (args: unknown) => {
          const reason = typeof (args as { reason?: unknown })?.reason === 'string' ? (args as { reason: string }).reason : 'end_call';
          this.requestEnd(reason);
          return 'The call will end as soon as your goodbye has played. Do not say anything else.';
        },
      },
      {
        name: 'transfer_call',
        description:
          'Transfer the caller to a human or another number (blind transfer). Tell the caller first. ' +
          'The result says whether the transfer worked; if it did not, the call goes on with you. ' +
          (this.opts.transferTarget ? 'Without a target, the default operator is used.' : 'Give the target as a SIP URI like sip:1000@pbx.example.com.'),
        parameters: { type: 'object', properties: { target: { type: 'string', description: 'SIP URI to transfer to (optional when a default is configured).' } }, additionalProperties: false },
        // the goodbye's playout (up to 10 s), then the transfer's report (up to transferTimeoutS)
        timeoutMs: TRANSFER_DRAIN_MAX_MS + this.opts.transferTimeoutS * 1000 + 5000,
        handler: async (args: unknown) => {
          const given = (args as { target?: unknown })?.target;
          const target = typeof given === 'string' && given.trim() ? given.trim() : this.opts.transferTarget;
          if (!target) return 'Transfer failed: no transfer target is configured. Apologise to the caller and offer to help yourself.';
          // let "I'll transfer you now" finish playing first
          await Promise.race([this.call.whenDrained(), new Promise((r) => setTimeout(r, TRANSFER_DRAIN_MAX_MS))]);
          try {
            // REFER, then the NOTIFYs until the target's final answer (sip/server.ts refer): BYE only on success
            await call.transfer(target);
            return `The caller has been transferred to ${target}. The call is over.`;
          } catch (err) {
            const msg = err instanceof SipError ? err.message : 'the transfer could not be completed';
            this.log.warn({ code: err instanceof SipError ? err.code : undefined, status: err instanceof SipError ? err.status : undefined, target }, 'transfer failed');
            if (this.call.state === 'ended') return `Transfer failed: ${msg}.`;
            return `Transfer failed: ${msg}. The caller is still on the line: tell them the transfer did not work and offer to help another way.`;
          }
        },
      },
      {
        name: 'warm_transfer',
        description:
          'Transfer the caller to a human with an introduction (warm transfer): the caller is put on hold, the target is called, ' +
          'you introduce the call to whoever answers with the summary, then the caller is connected to them and you leave the call. ' +
          'Tell the caller first. If the target declines or does not answer, the caller is back with you: the result says so. ' +
          (this.opts.transferTarget ? 'Without a target, the default operator is used.' : 'Give the target as a SIP URI like sip:1000@pbx.example.com or a phone number.'),
        parameters: {
          type: 'object',
          properties: {
            target: { type: 'string', description: 'SIP URI or phone number to call (optional when a default is configured).' },
            summary: { type: 'string', description: 'One or two sentences for the person who answers: who is calling and what they need.' },
          },
          additionalProperties: false,
        },
        // the goodbye's playout, the ring time, the announcement, margins
        timeoutMs: TRANSFER_DRAIN_MAX_MS + this.opts.warmRingTimeoutS * 1000 + ANNOUNCE_MAX_MS + 15_000,
        handler: (args: unknown, ctx) => this.warmTransfer(args as { target?: unknown; summary?: unknown }, ctx.signal),
      },
      {
        name: 'send_dtmf',
        description: 'Send touch-tone digits (0-9, *, #, A-D; a comma pauses half a second) to the phone line, e.g. to navigate a phone menu.',
        parameters: { type: 'object', properties: { digits: { type: 'string', description: 'Digits to send, e.g. "1234#".' } }, required: ['digits'], additionalProperties: false },
        timeoutMs: 30_000,
        handler: async (args: unknown) => {
          const digits = (args as { digits?: unknown })?.digits;
          if (typeof digits !== 'string' || !isValidDtmf(digits)) return 'Error: digits must use only 0-9, *, #, A-D and commas.';
          await call.sendDtmf(digits);
          return `Sent the digits ${digits}.`;
        },
      },
    ];
    if (this.dtmfMode === 'tool') {
      tools.push({
        name: 'collect_dtmf',
        description: 'Wait for the caller to type digits on the phone keypad (e.g. an account number) and return them. Ask the caller to type first.',
        parameters: {
          type: 'object',
          properties: {
            max_digits: { type: 'integer', minimum: 1, maximum: 32, description: 'Stop after this many digits (default 16).' },
            timeout_s: { type: 'number', minimum: 1, maximum: 60, description: 'Give up after this many seconds without a digit (default 10).' },
            terminator: { type: 'string', description: 'Key that ends the input (default #).' },
          },
          additionalProperties: false,
        },
        timeoutMs: 65_000,
        handler: (args: unknown, ctx) => this.collectDigits(args as { max_digits?: number; timeout_s?: number; terminator?: string }, ctx.signal),
      });
    }
    return tools;
  }

  /**
   * warm_transfer (docs/notes/transfer.md): hold → dial → announce → relay, or back to the caller. Returns what the
   * model is told. On success the session ends (end reason `transferred`, the `transferred` observers with kind
   * `warm`) while the caller's call goes on, joined to the target's by Parley.
   */
  private async warmTransfer(args: { target?: unknown; summary?: unknown }, signal: AbortSignal): Promise<string> {
    const given = typeof args.target === 'string' && args.target.trim() ? args.target.trim() : null;
    const target = given ?? this.opts.transferTarget;
    if (!target) return 'Warm transfer failed: no transfer target is configured. Apologise to the caller and offer to help yourself.';
    if (this.warm) return 'Warm transfer failed: a transfer is already in progress.';
    const summary = typeof args.summary === 'string' && args.summary.trim() ? args.summary.trim() : null;
    // let "I'll put you through" finish: the calling response ends, then its audio plays out
    const t0 = Date.now();
    while (this.ledger.responseActive && Date.now() - t0 < TRANSFER_DRAIN_MAX_MS && !signal.aborted) await new Promise((r) => setTimeout(r, 50));
    await Promise.race([this.call.whenDrained(), new Promise((r) => setTimeout(r, TRANSFER_DRAIN_MAX_MS))]);
    if (signal.aborted || this.closed || this.call.state !== 'active') return 'Warm transfer failed: the call ended.';

    const warm: { phase: WarmPhase; announceId: string | null; announced: (() => void) | null } = { phase: 'hold', announceId: null, announced: null };
    this.warm = warm;
    let audio: Uint8Array | null = null;
    if (this.opts.holdWav) {
      try {
        audio = holdAudio(this.opts.holdWav, this.call.audioFormat);
      } catch (err) {
        this.log.warn({ err, holdWav: this.opts.holdWav }, 'hold audio unreadable: the caller hears silence');
      }
    }
    const hold = new Hold(this.call, audio);
    this.audioOut = null;
    this.call.onAudio(undefined);
    hold.start();
    const leg = { id: newCallId(), dial: null as OutboundDial | null };
    this.log.info({ target, legId: leg.id }, 'warm transfer: caller on hold, dialling the target');
    const back = (why: string): string => {
      hold.stop();
      if (leg.dial && leg.dial.call.state !== 'ended') leg.dial.cancel();
      this.warm = null;
      this.audioOut = this.call;
      this.call.onAudio(this.toSession);
      this.log.info({ target, why }, 'warm transfer failed: the caller is off hold');
      if (this.closed || this.call.state === 'ended') return `Warm transfer failed: ${why}.`;
      return `Warm transfer failed: ${why}. The caller is off hold and back on the line with you: tell them the transfer did not work and offer to help another way.`;
    };
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal.aborted) resolve('aborted');
      signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    try {
      leg.dial = await this.opts.dial({
        id: leg.id,
        to: target,
        trunk: this.opts.trunk ?? null,
        ringTimeoutMs: this.opts.warmRingTimeoutS * 1000,
        outbound: { [WARM_LEG]: this.call.id },
      });
    } catch (err) {
      return back(`could not call ${target}${err instanceof SipError ? ` (${err.message})` : ''}`);
    }
    const outcome = await Promise.race([leg.dial.outcome, aborted]);
    if (outcome === 'aborted') return back('the call ended');
    if (outcome.status !== 'answered') {
      const why =
        outcome.status === 'no_answer' ? `${target} did not answer (${outcome.reason})` : outcome.status === 'busy' ? `${target} is busy (${outcome.reason})` : `${target} declined or could not be reached (${outcome.reason})`;
      return back(why);
    }
    const call = leg.dial.call;
    // the dialer marks the leg answered once onCall (the bridge's: it leaves the leg to us) returns
    const up = await Promise.race([
      new Promise<boolean>((resolve) => {
        if (call.state === 'active') return resolve(true);
        if (call.state === 'ended') return resolve(false);
        call.once('answered', () => resolve(true));
        call.once('ended', () => resolve(false));
      }),
      aborted,
      new Promise<false>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (up !== true) return back(up === 'aborted' ? 'the call ended' : `${target} hung up`);

    // the agent introduces the call to the target (the caller stays on hold)
    call.setAudioFormat(this.call.audioFormat);
    warm.phase = 'announce';
    this.audioOut = call;
    const announced = new Promise<'announced'>((resolve) => {
      warm.announced = () => resolve('announced');
    });
    const targetGone = new Promise<'gone'>((resolve) => call.once('ended', () => resolve('gone')));
    this.session?.handleClientEvent(firstMessageEvent(announcementText(summary), 'the person who answered'));
    const timeout = (ms: number): Promise<'timeout'> => new Promise((r) => setTimeout(() => r('timeout'), ms));
    let r = await Promise.race([announced, targetGone, aborted, timeout(ANNOUNCE_MAX_MS)]);
    if (r === 'announced') r = await Promise.race([call.whenDrained().then(() => 'announced' as const), targetGone, aborted, timeout(ANNOUNCE_MAX_MS)]);
    if (r !== 'announced') return back(r === 'gone' ? `${target} hung up before the caller was put through` : r === 'aborted' ? 'the call ended' : 'the introduction could not be played');

    // connect: the legs' RTP relayed by Parley; the agent leaves (the session ends as transferred, the call goes on)
    warm.phase = 'bridged';
    hold.stop();
    this.audioOut = null;
    relayLegs(this.call, call);
    this.session?.reportTransfer(target);
    this.log.info({ target, legId: leg.id }, 'warm transfer: caller connected to the target, the agent leaves');
    // after this output has reached the session (the tool runner sends it in the same tick)
    setTimeout(() => this.shutdown(`warm transfer to ${target}`, 'transferred'), 0);
    return `The caller is now connected to ${target}. You have left the call: do not say anything else.`;
  }

  private async collectDigits(a: { max_digits?: number; timeout_s?: number; terminator?: string }, signal: AbortSignal): Promise<string> {
    const max = a.max_digits ?? 16;
    const idleMs = (a.timeout_s ?? 10) * 1000;
    const term = a.terminator ?? '#';
    for (;;) {
      const t = this.digits.indexOf(term);
      if (t >= 0 || this.digits.length >= max) {
        const end = t >= 0 ? t : max;
        const got = this.digits.slice(0, end);
        this.digits = this.digits.slice(t >= 0 ? t + 1 : max);
        return got ? `The caller typed: ${got}` : 'The caller pressed the end key without typing digits.';
      }
      const got = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), idleMs);
        this.dtmfWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
        signal.addEventListener('abort', () => resolve(false), { once: true });
      });
      if (!got) {
        const partial = this.digits;
        this.digits = '';
        return partial ? `The caller typed: ${partial} (then stopped)` : 'The caller did not type anything.';
      }
    }
  }

  /** end_call: hang up once the response is done and the goodbye has played (and nothing new came for a moment). */
  private requestEnd(reason: string): void {
    if (this.endRequested) return;
    this.endRequested = true;
    const t0 = Date.now();
    this.log.info({ reason }, 'end_call: hanging up after the goodbye');
    const check = (): void => {
      if (this.call.state === 'ended') return;
      const quiet = !this.ledger.responseActive && this.call.playout.queuedMs === 0 && Date.now() - this.lastActivityMs >= END_CALL_QUIET_MS;
      if (quiet || Date.now() - t0 > END_CALL_MAX_WAIT_MS) {
        void this.call.hangup('local-hangup', `end_call: ${reason}`);
        return;
      }
      setTimeout(check, 100);
    };
    setTimeout(check, 100);
  }
}
