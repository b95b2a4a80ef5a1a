/**
 * Outbound calls (`POST /v1/calls`, docs/notes/outbound.md): the queue, the per-trunk rate, the concurrency
 * cap, each call's status (`queued → ringing → answered | busy | no_answer | failed`) and its webhooks.
 *
 * A call is queued at once (201) and leaves when the trunk's rate limiter gives it a slot; the SIP server
 * dials it (sip/uac.ts). Answered, it goes through the SIP bridge like an incoming call (profile, first
 * message, call record, recording, `call.answered`/`call.ended` webhooks); the session's id is the call id.
 * Not answered, it has no session: its status lives here (GET /v1/calls/{id} reads it) and `call.failed`
 * says why. Statuses are kept in memory (the last MAX_KEPT calls) — one instance's view.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DialOutcome, SipCall, SipConfig, SipServer, SipTrunk } from '../../sip/index.ts';
import type { WebhookEventType } from '../config/webhooks.ts';
import { encodeEvent, makeEvent } from '../webhooks/events.ts';
import { newSessionId } from '../protocol/ids.ts';
import { AudioMachineDetector } from '../amd/index.ts';
import type { AmdResult, AnsweredLeg, MachineDetectionOptions, MachineDetector } from './amd-hook.ts';
import { LocalRateLimiter, type RateLimiter } from '../cluster/limits.ts';

export type OutboundStatus = 'queued' | 'ringing' | 'answered' | 'busy' | 'no_answer' | 'failed';

export interface PlaceCall {
  to: string;
  from?: string | null;
  profile?: string | null;
  metadata?: Record<string, string>;
  ringTimeoutS?: number;
  machineDetection?: MachineDetectionOptions | null;
}

/** What GET /v1/calls/{id} shows of an outbound call (also inside its record, under `outbound`). */
export interface OutboundState {
  status: OutboundStatus;
  to: string;
  from: string | null;
  profile: string | null;
  metadata: Record<string, string>;
  ring_timeout_s: number;
  machine_detection: MachineDetectionOptions | null;
  amd: AmdResult | null;
  queued_at: string;
  dialled_at: string | null;
  ringing_at: string | null;
  answered_at: string | null;
  ended_at: string | null;
  /** INVITE sent → 200 OK received. */
  setup_ms: number | null;
  early_media: boolean;
  /** The INVITE's final SIP status (200, 486, 487…), null before one (or when none came). */
  sip_status: number | null;
  /** Why it was not answered (the final response, "no answer within 30 s"…). */
  failure_reason: string | null;
}

export class OutboundRefused extends Error {
  constructor(
    readonly status: 429 | 503,
    readonly code: string,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export interface OutboundDeps {
  sip: SipConfig;
  log: Logger;
  /** Push a webhook event (null: webhooks off). */
  webhook?: ((type: WebhookEventType, callId: string, data: Record<string, unknown>) => void) | null;
  /** Calls per second per trunk: the app's (server/cluster/limits.ts; cluster-wide with PARLEY_REDIS_URL). */
  limiter?: RateLimiter;
}

const MAX_KEPT = 10_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const ENDED: ReadonlySet<OutboundStatus> = new Set(['busy', 'no_answer', 'failed']);

export class OutboundCalls {
  readonly #d: OutboundDeps;
  readonly #limiter: RateLimiter;
  readonly #calls = new Map<string, OutboundState>();
  #server: SipServer | null = null;
  #live = 0;
  #detector: MachineDetector | null = null;
  /** Per trunk key: the calls waiting for a slot, in order, and whether a pump is running. */
  readonly #queues = new Map<string, { ids: Array<{ id: string; state: OutboundState }>; pumping: boolean }>();

  constructor(d: OutboundDeps) {
    this.#d = d;
    this.#limiter = d.limiter ?? new LocalRateLimiter();
  }

  get trunk(): SipTrunk | null {
    return this.#d.sip.trunk ?? null;
  }

  get settings(): { callsPerSecond: number; maxCalls: number; ringTimeoutS: number } {
    return this.#d.sip.outbound ?? { callsPerSecond: 10, maxCalls: 50, ringTimeoutS: 30 };
  }

  /** Outbound calls queued, ringing or up now (what the cap counts). */
  get live(): number {
    return this.#live;
  }

  /** The SIP server that dials (the bridge attaches it when it starts). */
  attach(server: SipServer | null): void {
    this.#server = server;
  }

  /** The AMD classifier (helper "amd" wires theirs here). */
  setMachineDetector(d: MachineDetector | null): void {
    this.#detector = d;
  }

  get(id: string): OutboundState | null {
    return this.#calls.get(id) ?? null;
  }

  /** Queue a call: its id and state (`queued`), or OutboundRefused (429 over the cap, 503 without SIP). */
  place(req: PlaceCall): { id: string; state: OutboundState } {
    const server = this.#server;
    if (server === null) throw new OutboundRefused(503, 'sip_unavailable', 'The SIP door is not running: outbound calls need it (PARLEY_SIP_ENABLED).');
    const s = this.settings;
    if (this.#live >= s.maxCalls) {
      throw new OutboundRefused(429, 'too_many_calls', `${this.#live} outbound calls are queued or up (PARLEY_OUTBOUND_MAX_CALLS = ${s.maxCalls}); try again later.`, Math.max(1, Math.ceil(1 / s.callsPerSecond)));
    }
    const id = newSessionId(); // the session's and the call record's id once answered
    const now = Date.now();
    const state: OutboundState = {
      status: 'queued',
      to: req.to,
      from: req.from ?? null,
      profile: req.profile ?? null,
      metadata: req.metadata ?? {},
      ring_timeout_s: req.ringTimeoutS ?? s.ringTimeoutS,
      machine_detection: req.machineDetection ?? null,
      amd: null,
      queued_at: iso(now),
      dialled_at: null,
      ringing_at: null,
      answered_at: null,
      ended_at: null,
      setup_ms: null,
      early_media: false,
      sip_status: null,
      failure_reason: null,
    };
    this.#keep(id, state);
    this.#live++;
    const trunk = this.trunk;
    // per trunk (or per destination host when dialled directly)
    const key = trunk ? `trunk:${trunk.uri}` : `direct:${/@([^;>:]+)/.exec(req.to)?.[1] ?? req.to}`;
    let q = this.#queues.get(key);
    if (!q) {
      q = { ids: [], pumping: false };
      this.#queues.set(key, q);
    }
    q.ids.push({ id, state });
    if (!q.pumping) void this.#pump(key, q);
    return { id, state };
  }

  /** Sends the key's queued calls in order, each when the rate limiter gives it a slot. */
  async #pump(key: string, q: { ids: Array<{ id: string; state: OutboundState }>; pumping: boolean }): Promise<void> {
    q.pumping = true;
    try {
      while (q.ids.length > 0) {
        const server = this.#server;
        if (server === null) {
          for (const c of q.ids.splice(0)) this.#finish(c.id, c.state, { status: 'failed', reason: 'the SIP server stopped before the call was placed' });
          break;
        }
        let d;
        try {
          d = await this.#limiter.take(key, this.settings.callsPerSecond);
        } catch (err) {
          for (const c of q.ids.splice(0)) this.#finish(c.id, c.state, { status: 'failed', reason: `rate limiter: ${String(err)}` });
          break;
        }
        if (!d.ok) {
          await new Promise((r) => setTimeout(r, Math.max(1, d.retryAfterMs)));
          continue;
        }
        const next = q.ids.shift();
        if (next) void this.#dial(server, next.id, next.state);
      }
    } finally {
      q.pumping = false;
      if (q.ids.length === 0) this.#queues.delete(key);
    }
  }

  #keep(id: string, state: OutboundState): void {
    this.#calls.set(id, state);
    if (this.#calls.size > MAX_KEPT) {
      for (const [k, v] of this.#calls) {
        if (this.#calls.size <= MAX_KEPT) break;
        if (ENDED.has(v.status) || v.ended_at !== null) this.#calls.delete(k);
      }
    }
  }

  #webhook(type: WebhookEventType, id: string, data: Record<string, unknown>): void {
    try {
      this.#d.webhook?.(type, id, data);
    } catch (err) {
      this.#d.log.warn({ err, type }, 'outbound webhook not queued');
    }
  }

  async #dial(server: SipServer, id: string, state: OutboundState): Promise<void> {
    const log = this.#d.log.child({ callId: id, direction: 'outbound' });
    state.dialled_at = iso(Date.now());
    let dial;
    try {
      dial = await server.dial(
        {
          id,
          to: state.to,
          from: state.from,
          trunk: this.trunk,
          ringTimeoutMs: state.ring_timeout_s * 1000,
          outbound: { profile: state.profile, metadata: state.metadata },
        },
        {
          onRinging: ({ sipStatus, earlyMedia }) => {
            if (state.status !== 'queued') return;
            state.status = 'ringing';
            state.ringing_at = iso(Date.now());
            this.#webhook('call.ringing', id, { call_id: id, direction: 'outbound', to: state.to, sip_status: sipStatus, early_media: earlyMedia, ringing_at: state.ringing_at });
          },
          onEarlyMedia: () => {
            state.early_media = true;
          },
          onAnswered: (call, setupMs) => {
            state.status = 'answered';
            state.answered_at = iso(Date.now());
            state.setup_ms = setupMs;
            state.sip_status = 200;
            if (state.machine_detection) this.#detect(id, call, state, log);
          },
          onEnded: () => {
            state.ended_at = iso(Date.now());
          },
        },
      );
    } catch (err) {
      log.warn({ err }, 'outbound call could not be placed');
      this.#finish(id, state, { status: 'failed', reason: err instanceof Error ? err.message : String(err) });
      return;
    }
    const outcome = await dial.outcome;
    if (outcome.status !== 'answered') {
      this.#finish(id, state, outcome);
      return;
    }
    dial.call.once('ended', () => {
      state.ended_at ??= iso(Date.now());
      this.#live--;
    });
    if (dial.call.state === 'ended') {
      // ended before we listened (the application refused it at once)
      state.ended_at ??= iso(Date.now());
      this.#live--;
    }
  }

  #finish(id: string, state: OutboundState, o: Pick<DialOutcome, 'status' | 'reason' | 'sipStatus'>): void {
    if (ENDED.has(state.status)) return;
    state.status = o.status === 'answered' ? 'failed' : o.status;
    state.sip_status = o.sipStatus ?? null;
    state.failure_reason = o.reason;
    state.ended_at = iso(Date.now());
    this.#live--;
    this.#webhook('call.failed', id, { call_id: id, direction: 'outbound', status: state.status, to: state.to, sip_status: state.sip_status, reason: o.reason, metadata: state.metadata, ended_at: state.ended_at });
  }

  /** AMD hook: a tap on the callee's audio from the answer on, handed to the detector. */
  #detect(id: string, call: SipCall, state: OutboundState, log: Logger): void {
    const detector = this.#detector;
    const opts = state.machine_detection;
    if (detector === null || opts === null) {
      log.info('machine_detection asked but no detector is installed: the call goes on');
      return;
    }
    const leg: AnsweredLeg = { id, call, format: () => call.audioFormat, tap: tapAudio(call), answeredAtMs: Date.now() };
    detector.detect(leg, opts).then(
      (r) => {
        state.amd = r;
        log.info({ amd: r }, 'answering-machine detection');
        if (r.result === 'machine' && opts.action === 'hangup' && call.state !== 'ended') void call.hangup('local-hangup', 'amd: machine');
      },
      (err: unknown) => log.warn({ err }, 'answering-machine detection failed'),
    );
  }
}

/**
 * A tap on a call's incoming audio beside the application's handler (SipCall has one handler): the call's
 * `onAudio` is wrapped once; frames go to every tap, then to the application. Nothing is allocated per frame.
 */
function tapAudio(call: SipCall): (fn: (chunk: Uint8Array) => void) => () => void {
  const c = call as SipCall & { [TAPS]?: Set<(chunk: Uint8Array) => void> };
  let taps = c[TAPS];
  if (!taps) {
    const set = new Set<(chunk: Uint8Array) => void>();
    taps = set;
    c[TAPS] = set;
    const setHandler = call.onAudio.bind(call);
    let appHandler: ((chunk: Uint8Array) => void) | undefined;
    const dispatch = (chunk: Uint8Array): void => {
      for (const t of set) t(chunk);
      appHandler?.(chunk);
    };
    (c as { onAudio: SipCall['onAudio'] }).onAudio = (h) => {
      appHandler = h;
      setHandler(dispatch);
    };
    setHandler(dispatch);
  }
  const set = taps;
  return (fn) => {
    set.add(fn);
    return () => set.delete(fn);
  };
}
const TAPS = Symbol('parley.outbound.taps');

const registry = new WeakMap<FastifyInstance, OutboundCalls>();

/** The app's outbound calls (made on first use from its config; the SIP bridge attaches its server). */
export function outboundCalls(app: FastifyInstance): OutboundCalls {
  let o = registry.get(app);
  if (!o) {
    const ctx = app.parley;
    const on = ctx.config.webhooks.events;
    const writer = ctx.webhooks?.writer ?? null;
    o = new OutboundCalls({
      sip: ctx.config.sip,
      limiter: ctx.rateLimiter,
      log: ctx.log.child({ component: 'outbound' }),
      webhook:
        writer === null
          ? null
          : (type, callId, data) => {
              if (!on.has(type)) return;
              const at = Date.now();
              const ev = makeEvent(type, at, data);
              writer.push({ id: ev.id, callId, type, body: encodeEvent(ev), createdAtMs: at });
            },
    });
    // answering-machine detection (server/amd, docs/notes/amd.md) for calls placed with machine_detection
    o.setMachineDetector(new AudioMachineDetector({ log: ctx.log.child({ component: 'amd' }) }));
    registry.set(app, o);
  }
  return o;
}

/** For GET /v1/calls/{id}: the outbound facts of a call (null: not an outbound call of this instance). */
export function outboundView(app: FastifyInstance, id: string): OutboundState | null {
  return registry.get(app)?.get(id) ?? null;
}
