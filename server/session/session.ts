/**
 * One conversation: a door (client) on one side, an engine on the other. Relays GA events both
 * ways; merges and enforces the session config; runs server tools; serialises response.create;
 * keeps the conversation as text; can switch engines mid-call (fallback, rotation).
 */
import type { Logger } from 'pino';
import { EngineError, ParleyError } from '../errors.ts';
import {
  base64ByteLength,
  bytesPerMs,
  errorEvent,
  newEventId,
  type ClientEvent,
  type ConversationItem,
  type RealtimeSession,
  type ServerEvent,
  type SessionPatch,
} from '../protocol/index.ts';
import type { Engine, EngineCloseInfo, EngineConnection, EngineName } from '../engines/index.ts';
import type { ToolRegistry } from '../tools/index.ts';
import type { Metrics } from '../metrics.ts';
import { enforceResponse, enforceSession, mergeSession, type SessionPolicy } from './config-merge.ts';
import { ConversationHistory } from './history.ts';
import { ResponseSequencer } from './sequencer.ts';
import type { Leg, PlaybackState, Session, SessionClient } from './types.ts';

/** Events queued while the engine is (re)opening; beyond this, audio appends are dropped. */
const MAX_QUEUED_CLIENT_EVENTS = 500;
/** parley.engine goes after conversation.created; if that never comes, after this delay. */
const ANNOUNCE_FALLBACK_MS = 100;

export type SwitchReason = 'fallback' | 'rotation';

/** Decides what to do when the engine closes abnormally: another engine, or null to end. */
export type FallbackPolicy = (ctx: {
  session: RealtimeSessionHandle;
  failed: EngineName;
  error: EngineError;
}) => { engine: Engine; reason: SwitchReason } | null;

export interface SessionDeps {
  id: string;
  leg: Leg;
  callId: string | undefined;
  metadata: Record<string, string>;
  client: SessionClient;
  log: Logger;
  metrics: Metrics;
  tools: ToolRegistry;
  policy: Omit<SessionPolicy, 'serverTools'>;
  fallback: FallbackPolicy | null;
  /** Keep server tools' calls and outputs out of what the client sees (PARLEY_SERVER_TOOL_EVENTS=hide). */
  hideServerToolEvents?: boolean;
  /** Per engine: rotate to a fresh engine session after this long, at a turn boundary (0 = never). */
  rotateAfterMs?: Partial<Record<EngineName, number>>;
  onClosed: (s: RealtimeSessionHandle) => void;
}

interface ToolBatch {
  pending: number;
  responseDone: boolean;
}

type State = 'new' | 'opening' | 'open' | 'switching' | 'closed';

export class RealtimeSessionHandle implements Session {
  readonly id: string;
  readonly leg: Leg;
  readonly callId: string | undefined;
  readonly metadata: Record<string, string>;
  readonly log: Logger;
  readonly #client: SessionClient;
  readonly #metrics: Metrics;
  readonly #tools: ToolRegistry;
  readonly #policy: SessionPolicy;
  readonly #fallback: FallbackPolicy | null;
  readonly #onClosed: (s: RealtimeSessionHandle) => void;

  #state: State = 'new';
  #engine: Engine | null = null;
  #conn: EngineConnection | null = null;
  /** Increments per engine connection; callbacks of older connections are ignored. */
  #generation = 0;
  #queue: Array<[ClientEvent, string | undefined]> = [];
  /** Merged config before enforcement (defaults ⊕ initial ⊕ client updates). */
  #merged: RealtimeSession;
  #effective: RealtimeSession;
  readonly #history = new ConversationHistory();
  readonly #sequencer: ResponseSequencer;
  readonly #abort = new AbortController();
  /** response id → the server tool calls of that response still running. */
  readonly #toolBatches = new Map<string, ToolBatch>();
  readonly #toolCallsSeen = new Set<string>();
  readonly #hideToolEvents: boolean;
  readonly #rotateAfterMs: Partial<Record<EngineName, number>>;
  /** When the current engine connection opened (ms, Date.now). */
  #engineOpenedAt = 0;
  /** Item ids of server-tool calls and their outputs, hidden from the client (when hiding). */
  readonly #hiddenItems = new Set<string>();
  #announce: { reason: 'initial' | SwitchReason; detail?: string } | null = null;
  #announceTimer: NodeJS.Timeout | null = null;
  #swallowCreated = false;
  /** The client has had its session.created (later engines' session.created become session.updated). */
  #hadInitial = false;
  /** session.created has gone to the client: parley.engine may follow it, never precede it. */
  #sentSessionCreated = false;
  #bytesPerMs = 48;
  readonly #playback: PlaybackState = { activeResponseId: null, itemId: null, contentIndex: 0, generatedMs: 0, responseId: null };
  #playbackBytes = 0;
  readonly startedAt = Date.now();

  constructor(deps: SessionDeps, initial: SessionPatch | undefined) {
    this.id = deps.id;
    this.leg = deps.leg;
    this.callId = deps.callId;
    this.metadata = deps.metadata;
    this.log = deps.log;
    this.#client = deps.client;
    this.#metrics = deps.metrics;
    this.#tools = deps.tools;
    this.#fallback = deps.fallback;
    this.#onClosed = deps.onClosed;
    this.#hideToolEvents = deps.hideServerToolEvents === true;
    this.#rotateAfterMs = deps.rotateAfterMs ?? {};
    this.#policy = { ...deps.policy, serverTools: this.#tools.realtimeTools() };
    this.#merged = initial ? mergeSession(deps.policy.defaults, initial) : { ...deps.policy.defaults };
    const { session, violations } = enforceSession(this.#merged, this.#policy);
    this.#effective = session;
    if (violations.length > 0) this.log.info({ violations: violations.map((v) => v.param) }, 'initial session config adjusted');
    this.#bytesPerMs = bytesPerMs(session.audio?.output?.format);
    this.#sequencer = new ResponseSequencer((ev) => this.#sendToEngine(ev));
  }

  get engineName(): EngineName {
    return this.#engine?.name ?? 'openai';
  }

  get state(): State {
    return this.#state;
  }

  /** The effective GA session (what the engine was told). */
  get effectiveSession(): RealtimeSession {
    return this.#effective;
  }

  /** The conversation so far, as text items (for replay into another engine). */
  get history(): ConversationItem[] {
    return this.#history.items();
  }

  /** For in-server doors (SIP barge-in): the assistant audio being generated now. */
  get playback(): Readonly<PlaybackState> {
    this.#playback.activeResponseId = this.#sequencer.activeResponseId;
    this.#playback.generatedMs = this.#playbackBytes / this.#bytesPerMs;
    return this.#playback;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Opens the first engine. Rejects with EngineError when it (and any fallback) fails. */
  async start(engine: Engine): Promise<void> {
    this.#state = 'opening';
    try {
      await this.#openEngine(engine, 'initial', undefined);
    } catch (err) {
      const e = toEngineError(err);
      const next = e.fallbackable && this.#fallback ? this.#fallback({ session: this, failed: engine.name, error: e }) : null;
      if (!next || this.closed) throw e;
      this.log.warn({ engine: engine.name, code: e.code, next: next.engine.name }, 'engine failed to open; falling back');
      this.#metrics.engineSwitches.inc(engine.name, next.engine.name, next.reason);
      await this.#openEngine(next.engine, next.reason, e.message);
    }
  }

  async #openEngine(engine: Engine, reason: 'initial' | SwitchReason, detail: string | undefined): Promise<void> {
    const gen = ++this.#generation;
    this.#engine = engine;
    this.#sequencer.reset();
    this.#resetPlayback(null);
    this.#announce = detail === undefined ? { reason } : { reason, detail };
    // after a switch the client already has session.created / conversation.created
    this.#swallowCreated = reason !== 'initial' && this.#announce !== null && this.#hadInitial;
    const history = reason === 'initial' ? undefined : this.#history.items();
    const conn = await engine.open({
      session: this.#effective,
      log: this.log,
      signal: this.#abort.signal,
      ...(history ? { history } : {}),
      callbacks: {
        onEvent: (ev, raw) => {
          if (gen === this.#generation) this.#onEngineEvent(ev, raw);
        },
        onClose: (info) => {
          if (gen === this.#generation) this.#onEngineClose(info);
        },
        onBackpressure: (congested) => {
          if (gen !== this.#generation) return;
          if (congested) {
            this.#metrics.backpressurePauses.inc('engine');
            this.#client.pause?.();
          } else this.#client.resume?.();
        },
      },
    });
    if (gen !== this.#generation || this.closed) {
      conn.close('session closed');
      if (this.closed) throw new ParleyError('SESSION_CLOSED', 'The session closed while the engine was opening.');
      return;
    }
    this.#conn = conn;
    this.#state = 'open';
    this.#engineOpenedAt = Date.now();
    this.#hadInitial = true;
    if (this.#swallowCreated) this.#flushAnnounce();
    else this.#armAnnounceTimer();
    const queued = this.#queue;
    this.#queue = [];
    for (const [ev, raw] of queued) this.handleClientEvent(ev, raw);
  }


  /**
   * Switch to another engine, keeping the conversation: the new engine is opened with the
   * effective config and the history as text. The client gets `parley.engine`.
   * A response in progress on the old engine ends with `response.done` status `failed`.
   */
  async switchEngine(engine: Engine, reason: SwitchReason, detail?: string): Promise<void> {
    if (this.closed) return;
    const from = this.#engine?.name ?? 'openai';
    const old = this.#conn;
    this.#conn = null;
    this.#state = 'switching';
    this.#generation++;
    old?.close(`switching to ${engine.name}`);
    this.#endActiveResponse(detail ?? reason);
    this.#toolBatches.clear();
    this.#metrics.engineSwitches.inc(from, engine.name, reason);
    this.log.info({ from, to: engine.name, reason }, 'switching engine');
    try {
      await this.#openEngine(engine, reason, detail);
    } catch (err) {
      const e = toEngineError(err);
      this.#metrics.upstreamErrors.inc(engine.name, e.code);
      // The new engine would not open (e.g. the reconnect after the session cap was refused):
      // carry on with the fallback engine when the policy names another one.
      const next = !this.closed && e.fallbackable && this.#fallback ? this.#fallback({ session: this, failed: engine.name, error: e }) : null;
      if (next && next.engine.name !== engine.name) {
        await this.switchEngine(next.engine, next.reason, e.message);
        return;
      }
      this.#fail(e);
    }
  }

  handleClientEvent(event: ClientEvent, raw?: string): void {
    if (this.#state === 'closed') return;
    this.#metrics.eventsIn.inc(event.type);
    if (this.#state !== 'open') {
      if (this.#queue.length >= MAX_QUEUED_CLIENT_EVENTS && event.type === 'input_audio_buffer.append') return;
      this.#queue.push([event, raw]);
      return;
    }
    switch (event.type) {
      case 'session.update':
        this.#onSessionUpdate(event);
        return;
      case 'response.create': {
        const resp = event['response'];
        const ev: ClientEvent = resp && typeof resp === 'object'
          ? { ...event, response: enforceResponse(resp as Record<string, unknown>, this.#policy) }
          : { ...event };
        this.#sequencer.enqueue(ev, 'client');
        return;
      }
      default:
        this.#sendToEngine(event, raw);
    }
  }

  #onSessionUpdate(event: ClientEvent): void {
    const patch = event['session'] as SessionPatch;
    this.#merged = mergeSession(this.#merged, patch);
    const { session, violations } = enforceSession(this.#merged, this.#policy);
    this.#effective = session;
    this.#bytesPerMs = bytesPerMs(session.audio?.output?.format);
    for (const v of violations) {
      this.#emit(errorEvent({ type: 'invalid_request_error', code: 'invalid_value', message: v.message, param: v.param, event_id: event.event_id ?? null }));
    }
    const ev: ClientEvent = { type: 'session.update', session };
    if (event.event_id !== undefined) ev.event_id = event.event_id;
    this.#sendToEngine(ev);
  }

  #sendToEngine(event: ClientEvent, raw?: string): void {
    const conn = this.#conn;
    if (!conn) {
      if (this.#state !== 'closed') this.#queue.push([event, raw]);
      return;
    }
    conn.send(event, raw);
  }

  #emit(event: ServerEvent, raw?: string): void {
    this.#metrics.eventsOut.inc(event.type);
    this.#client.send(event, raw);
  }

  #armAnnounceTimer(): void {
    if (this.#announceTimer) clearTimeout(this.#announceTimer);
    this.#announceTimer = setTimeout(() => {
      this.#announceTimer = null;
      this.#flushAnnounce();
    }, ANNOUNCE_FALLBACK_MS);
    this.#announceTimer.unref();
  }

  #flushAnnounce(): void {
    if (this.#announceTimer) {
      clearTimeout(this.#announceTimer);
      this.#announceTimer = null;
    }
    const a = this.#announce;
    if (!a || !this.#engine || this.closed) return;
    // GA: session.created is always the first event a client sees.
    if (!this.#sentSessionCreated) return;
    this.#announce = null;
    const ev: ServerEvent = { type: 'parley.engine', event_id: newEventId(), engine: this.#engine.name, reason: a.reason };
    if (a.detail !== undefined) ev['detail'] = a.detail;
    this.#emit(ev);
  }

  /** True when this event is about a server tool's call/output and must not reach the client. */
  #isHiddenToolEvent(ev: ServerEvent): boolean {
    switch (ev.type) {
      case 'response.output_item.added':
      case 'response.output_item.done':
      case 'conversation.item.added':
      case 'conversation.item.done':
      case 'conversation.item.created': {
        const item = ev['item'] as ConversationItem | undefined;
        if (!item || typeof item.id !== 'string') return false;
        if (this.#hiddenItems.has(item.id)) return true;
        const serverCall = item.type === 'function_call' && typeof item.name === 'string' && this.#tools.has(item.name);
        const serverOutput = item.type === 'function_call_output' && typeof item.call_id === 'string' && this.#toolCallsSeen.has(item.call_id);
        if (serverCall || serverOutput) {
          this.#hiddenItems.add(item.id);
          return true;
        }
        return false;
      }
      case 'response.function_call_arguments.delta':
      case 'response.function_call_arguments.done':
        return this.#hiddenItems.has(ev['item_id'] as string);
      default:
        return false;
    }
  }

  /** `response.done` without the hidden items in `response.output`. */
  #withoutHiddenOutput(ev: ServerEvent): ServerEvent {
    const r = ev['response'] as Record<string, unknown> | undefined;
    const out = r?.['output'];
    if (!r || !Array.isArray(out)) return ev;
    const kept = (out as ConversationItem[]).filter((i) => typeof i.id !== 'string' || !this.#hiddenItems.has(i.id));
    return kept.length === out.length ? ev : { ...ev, response: { ...r, output: kept } };
  }

  #onEngineEvent(ev: ServerEvent, raw: string | undefined): void {
    if (this.#state === 'closed') return;
    if (this.#hideToolEvents && ev.type !== 'response.output_audio.delta') {
      const hidden = this.#isHiddenToolEvent(ev);
      if (ev.type === 'response.output_item.done') this.#onOutputItemDone(ev);
      if (hidden) {
        const item = ev['item'] as ConversationItem | undefined;
        if (item && ev.type.startsWith('conversation.item.')) this.#history.upsert(item);
        return;
      }
      if (ev.type === 'response.done') {
        this.#onResponseDone(ev);
        this.#emit(this.#withoutHiddenOutput(ev));
        return;
      }
      if (ev.type === 'response.output_item.done') {
        this.#emit(ev, raw);
        return;
      }
    }
    switch (ev.type) {
      case 'response.output_audio.delta': {
        const itemId = ev['item_id'] as string;
        if (itemId !== this.#playback.itemId) this.#resetPlayback(itemId, ev['response_id'] as string, (ev['content_index'] as number) ?? 0);
        const d = ev['delta'];
        if (typeof d === 'string') this.#playbackBytes += base64ByteLength(d);
        break;
      }
      case 'session.created':
        if (this.#swallowCreated) {
          // the client already had session.created: tell it the (same) effective session instead
          this.#emit({ ...ev, type: 'session.updated' });
          return;
        }
        this.#emit(ev, raw);
        this.#sentSessionCreated = true;
        if (this.#announce !== null) this.#armAnnounceTimer();
        return;
      case 'conversation.created':
        if (this.#swallowCreated) return;
        this.#emit(ev, raw);
        this.#flushAnnounce();
        return;
      case 'response.created': {
        const r = ev['response'] as Record<string, unknown> | undefined;
        if (r && typeof r['id'] === 'string' && r['conversation_id'] !== null) this.#sequencer.onCreated(r['id']);
        break;
      }
      case 'response.output_item.done':
        this.#onOutputItemDone(ev);
        break;
      case 'response.done':
        this.#onResponseDone(ev);
        break;
      case 'conversation.item.added':
      case 'conversation.item.done':
      case 'conversation.item.created':
      case 'conversation.item.retrieved': {
        const item = ev['item'] as ConversationItem | undefined;
        if (item) this.#history.upsert(item);
        break;
      }
      case 'conversation.item.input_audio_transcription.completed':
        if (typeof ev['item_id'] === 'string' && typeof ev['transcript'] === 'string') {
          this.#history.setTranscript(ev['item_id'], (ev['content_index'] as number) ?? 0, ev['transcript']);
        }
        break;
      case 'conversation.item.deleted':
        if (typeof ev['item_id'] === 'string') this.#history.remove(ev['item_id']);
        break;
      case 'error': {
        const e = ev['error'] as { code?: string | null; event_id?: string | null } | undefined;
        if (this.#sequencer.onError(e?.code ?? null, e?.event_id ?? null)) {
          this.log.debug('response.create collided with an active response; retrying after it');
          return;
        }
        if (e?.code) this.#metrics.upstreamErrors.inc(this.engineName, e.code);
        break;
      }
      default:
        break;
    }
    if (this.#announce !== null && ev.type !== 'session.created' && !this.#swallowCreated) this.#flushAnnounce();
    this.#emit(ev, raw);
  }

  #resetPlayback(itemId: string | null, responseId: string | null = null, contentIndex = 0): void {
    this.#playback.itemId = itemId;
    this.#playback.responseId = responseId;
    this.#playback.contentIndex = contentIndex;
    this.#playbackBytes = 0;
  }

  #onOutputItemDone(ev: ServerEvent): void {
    const item = ev['item'] as ConversationItem | undefined;
    if (!item) return;
    this.#history.upsert(item);
    if (item.type !== 'function_call' || typeof item.name !== 'string' || typeof item.call_id !== 'string') return;
    if (!this.#tools.has(item.name) || this.#toolCallsSeen.has(item.call_id)) return;
    this.#toolCallsSeen.add(item.call_id);
    const responseId = typeof ev['response_id'] === 'string' ? ev['response_id'] : '';
    let batch = this.#toolBatches.get(responseId);
    if (!batch) {
      batch = { pending: 0, responseDone: false };
      this.#toolBatches.set(responseId, batch);
    }
    batch.pending++;
    void this.#runTool(item.name, item.call_id, item.arguments ?? '', responseId, batch);
  }

  async #runTool(name: string, callId: string, args: string, responseId: string, batch: ToolBatch): Promise<void> {
    const gen = this.#generation;
    const ctx: { sessionId: string; log: Logger; signal: AbortSignal; callId?: string } = { sessionId: this.id, log: this.log, signal: this.#abort.signal };
    if (this.callId !== undefined) ctx.callId = this.callId;
    const result = await this.#tools.run(name, args, ctx);
    this.#metrics.toolCalls.inc(name, result.ok ? 'ok' : (result.errorCode ?? 'error').toLowerCase());
    this.#metrics.toolLatency.observe(result.durationMs / 1000, name);
    this.log.info({ tool: name, ok: result.ok, durationMs: Math.round(result.durationMs), ...(result.errorCode ? { errorCode: result.errorCode } : {}) }, 'server tool ran');
    if (this.closed || gen !== this.#generation) return;
    this.#sendToEngine({
      type: 'conversation.item.create',
      event_id: newEventId(),
      item: { type: 'function_call_output', call_id: callId, output: result.output },
    });
    batch.pending--;
    this.#maybeRespondAfterTools(responseId, batch);
  }

  #onResponseDone(ev: ServerEvent): void {
    const r = ev['response'] as Record<string, unknown> | undefined;
    const id = r && typeof r['id'] === 'string' ? r['id'] : '';
    if (r && Array.isArray(r['output'])) for (const item of r['output'] as ConversationItem[]) this.#history.upsert(item);
    const batch = this.#toolBatches.get(id);
    if (batch) {
      batch.responseDone = true;
      // cancelled/failed responses: still answer the calls (their outputs are sent), but only
      // ask for a new response when the original completed.
      if (r && r['status'] !== 'completed') batch.responseDone = true;
    }
    // send queued response.create only after our bookkeeping, so tool outputs go first
    queueMicrotask(() => {
      this.#sequencer.onDone(id);
      if (batch) this.#maybeRespondAfterTools(id, batch);
      this.#maybeRotate();
    });
  }

  /**
   * Proactive rotation at a turn boundary: the engine session is old (OpenAI ends sessions at
   * 60 minutes), no response is active or queued and no server tool is running.
   */
  #maybeRotate(): void {
    const engine = this.#engine;
    if (!engine || this.#state !== 'open') return;
    const limit = this.#rotateAfterMs[engine.name] ?? 0;
    if (limit <= 0 || Date.now() - this.#engineOpenedAt < limit) return;
    if (!this.#sequencer.idle || this.#toolBatches.size > 0) return;
    void this.switchEngine(engine, 'rotation', `rotated after ${Math.round((Date.now() - this.#engineOpenedAt) / 1000)} s, before the upstream's session cap`);
  }

  #maybeRespondAfterTools(responseId: string, batch: ToolBatch): void {
    if (batch.pending > 0 || !batch.responseDone) return;
    if (this.#toolBatches.get(responseId) !== batch) return;
    this.#toolBatches.delete(responseId);
    this.#sequencer.enqueue({ type: 'response.create', event_id: newEventId() }, 'server');
  }

  #endActiveResponse(detail: string): void {
    const id = this.#sequencer.activeResponseId;
    if (id === null) return;
    this.#emit({
      type: 'response.done',
      event_id: newEventId(),
      response: {
        id,
        object: 'realtime.response',
        status: 'failed',
        status_details: { type: 'failed', error: { type: 'server_error', code: 'engine_changed', message: detail } },
        output: [],
      },
    });
    this.#sequencer.reset();
  }

  #onEngineClose(info: EngineCloseInfo): void {
    if (this.closed) return;
    this.#conn = null;
    const from = this.#engine?.name ?? 'openai';
    if (info.error) {
      this.#metrics.upstreamErrors.inc(from, info.error.upstreamCode ?? info.error.code);
      this.log.warn({ engine: from, code: info.error.code, closeCode: info.code, reason: info.reason }, 'engine closed abnormally');
      const next = this.#fallback ? this.#fallback({ session: this, failed: from, error: info.error }) : null;
      if (next) {
        void this.switchEngine(next.engine, next.reason, info.error.message);
        return;
      }
      this.#fail(info.error);
      return;
    }
    this.log.info({ engine: from, closeCode: info.code, reason: info.reason }, 'engine closed');
    this.#finish(1000, info.reason || 'engine closed');
  }

  /** The engine failed for good: the client gets a GA error and a clean close. */
  #fail(err: EngineError): void {
    if (this.closed) return;
    this.#emit(errorEvent({ type: 'server_error', code: err.upstreamCode ?? err.code.toLowerCase(), message: err.message }));
    this.#finish(1011, 'engine failed');
  }

  #finish(code: number, reason: string): void {
    if (this.closed) return;
    this.#teardown(reason);
    this.#client.close(code, reason);
  }

  #teardown(reason: string): void {
    this.#state = 'closed';
    this.#generation++;
    if (this.#announceTimer) clearTimeout(this.#announceTimer);
    this.#announceTimer = null;
    this.#abort.abort();
    this.#sequencer.reset();
    this.#queue = [];
    const conn = this.#conn;
    this.#conn = null;
    conn?.close(reason);
    this.log.info({ reason, durationMs: Date.now() - this.startedAt }, 'session closed');
    this.#onClosed(this);
  }

  /**
   * Backpressure from the door: the client cannot take more (its outbound buffer is full), so
   * stop reading from the engine until it drains.
   */
  setClientCongested(congested: boolean): void {
    if (congested) {
      this.#metrics.backpressurePauses.inc('client');
      this.#conn?.pause?.();
    } else this.#conn?.resume?.();
  }

  /** The door ended the session (client hung up / disconnected). Does not call client.close. */
  close(reason: string): void {
    if (this.closed) return;
    this.#teardown(reason);
  }

  /** Ends the session from the server side: closes the client too. */
  end(code: number, reason: string): void {
    this.#finish(code, reason);
  }
}

function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (ParleyError.is(err)) return new EngineError('ENGINE_UNAVAILABLE', err.message, { cause: err });
  return new EngineError('ENGINE_CONNECT_FAILED', err instanceof Error ? err.message : String(err), { cause: err, retryable: true, fallbackable: true });
}
