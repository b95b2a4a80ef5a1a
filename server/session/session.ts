/**
 * One conversation: a door (client) on one side, an engine on the other — the typed hub. Relays GA
 * events both ways; merges and enforces the session config; runs server tools; serialises
 * response.create; keeps the conversation; can switch engines mid-call (fallback, rotation); tells its
 * observers (metrics, records, recordings, webhooks) everything, without them steering anything.
 */
import type { Logger } from 'pino';
import { EngineError, ParleyError } from '../errors.ts';
import {
  errorEvent,
  newEventId,
  type ClientEvent,
  type ConversationItem,
  type ConversationItemTruncateEvent,
  type RealtimeSession,
  type ResponseCreateEvent,
  type ResponseDoneEvent,
  type ServerEvent,
  type SessionPatch,
} from '../protocol/index.ts';
import type { Engine, EngineCloseInfo, EngineConnection, EngineName } from '../engines/index.ts';
import type { ToolRegistry } from '../tools/index.ts';
import { Conversation } from '../conversation.ts';
import { enforceResponse, enforceSession, mergeSession, type SessionPolicy } from './config-merge.ts';
import { ResponseSequencer } from './sequencer.ts';
import { HiddenToolEvents } from './hidden-tools.ts';
import { TurnClock } from './turn-clock.ts';
import type { ObserverSet, SessionInfo } from './observer.ts';
import type { Leg, Session, SessionClient } from './types.ts';

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
  tools: ToolRegistry;
  policy: Omit<SessionPolicy, 'serverTools'>;
  fallback: FallbackPolicy | null;
  observers: ObserverSet;
  /** Keep server tools' calls and outputs out of what the client sees (PARLEY_SERVER_TOOL_EVENTS=hide). */
  hideServerToolEvents?: boolean;
  /** Per engine: rotate to a fresh engine session after this long, at a turn boundary (0 = never). */
  rotateAfterMs?: Partial<Record<EngineName, number>>;
  onClosed: (s: RealtimeSessionHandle) => void;
}

interface ToolBatch {
  pending: number;
  /** The response that called the tools completed: ask for the next one when the outputs are in. */
  respond: boolean;
  /** Its response.done has arrived. */
  done: boolean;
}

type State = 'new' | 'opening' | 'open' | 'switching' | 'closed';

export class RealtimeSessionHandle implements Session, SessionInfo {
  readonly id: string;
  readonly leg: Leg;
  readonly callId: string | undefined;
  readonly metadata: Record<string, string>;
  readonly log: Logger;
  readonly startedAt = Date.now();
  readonly #client: SessionClient;
  readonly #tools: ToolRegistry;
  readonly #policy: SessionPolicy;
  readonly #fallback: FallbackPolicy | null;
  readonly #observers: ObserverSet;
  readonly #onClosed: (s: RealtimeSessionHandle) => void;

  #state: State = 'new';
  #engine: Engine | null = null;
  #conn: EngineConnection | null = null;
  /** Increments per engine connection; callbacks of older connections are ignored. */
  #generation = 0;
  #queue: ClientEvent[] = [];
  /** Merged config before enforcement (defaults ⊕ initial ⊕ client updates). */
  #merged: RealtimeSession;
  #effective: RealtimeSession;
  readonly #conversation = new Conversation();
  readonly #sequencer: ResponseSequencer;
  readonly #abort = new AbortController();
  /** response id → the server tool calls of that response still running. */
  readonly #toolBatches = new Map<string, ToolBatch>();
  readonly #toolCallsSeen = new Set<string>();
  readonly #hidden: HiddenToolEvents | null;
  readonly #rotateAfterMs: Partial<Record<EngineName, number>>;
  readonly #turns: TurnClock;
  /** When the current engine connection opened (ms, Date.now). */
  #engineOpenedAt = 0;
  #announce: { reason: 'initial' | SwitchReason; detail?: string } | null = null;
  #announceTimer: NodeJS.Timeout | null = null;
  #swallowCreated = false;
  /** The client has had its session.created (later engines' session.created become session.updated). */
  #hadInitial = false;
  /** session.created has gone to the client: parley.engine may follow it, never precede it. */
  #sentSessionCreated = false;
  /** While a response.create is being handed to the engine: the response it started, if any. */
  #sendingCreate: { started: string | null } | null = null;
  #closeCode: number | null = null;
  /** Out-of-band responses running (conversation: "none"): their items stay out of the conversation. */
  readonly #outOfBand = new Set<string>();
  /** The engine whose connection is (or last was) open. */
  #serving: EngineName | null = null;

  constructor(deps: SessionDeps, initial: SessionPatch | undefined) {
    this.id = deps.id;
    this.leg = deps.leg;
    this.callId = deps.callId;
    this.metadata = deps.metadata;
    this.log = deps.log;
    this.#client = deps.client;
    this.#tools = deps.tools;
    this.#fallback = deps.fallback;
    this.#observers = deps.observers;
    this.#onClosed = deps.onClosed;
    this.#hidden = deps.hideServerToolEvents === true ? new HiddenToolEvents((n) => this.#tools.has(n), (c) => this.#toolCallsSeen.has(c)) : null;
    this.#rotateAfterMs = deps.rotateAfterMs ?? {};
    this.#policy = { ...deps.policy, serverTools: this.#tools.realtimeTools() };
    this.#merged = initial ? mergeSession(deps.policy.defaults, initial) : { ...deps.policy.defaults };
    const { session, violations } = enforceSession(this.#merged, this.#policy);
    this.#effective = session;
    if (violations.length > 0) this.log.info({ violations: violations.map((v) => v.param) }, 'initial session config adjusted');
    this.#turns = new TurnClock(this.#observers, session.audio?.output?.format);
    this.#sequencer = new ResponseSequencer((ev) => this.#sendToEngine(ev));
  }

  /** The engine serving the session now (null before the first one is open). */
  get engineName(): EngineName | null {
    return this.#serving;
  }

  get state(): State {
    return this.#state;
  }

  /** The effective GA session (what the engine was told). */
  get effectiveSession(): RealtimeSession {
    return this.#effective;
  }

  /** The conversation so far, as text items (what would be replayed into another engine). */
  get history(): ConversationItem[] {
    return this.#conversation.textItems();
  }

  /** The response being generated now (default conversation), or null. */
  get activeResponseId(): string | null {
    return this.#sequencer.activeResponseId;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Opens the first engine. Rejects with EngineError when it (and any fallback) fails. */
  async start(engine: Engine): Promise<void> {
    this.#state = 'opening';
    this.#observers.emit('opened', this, engine.name);
    try {
      await this.#openEngine(engine, 'initial', undefined);
    } catch (err) {
      const e = toEngineError(err);
      const next = e.fallbackable && this.#fallback && !this.closed ? this.#fallback({ session: this, failed: engine.name, error: e }) : null;
      if (!next) throw e;
      this.log.warn({ engine: engine.name, code: e.code, next: next.engine.name }, 'engine failed to open; falling back');
      this.#observers.emit('engineError', { engine: engine.name, code: e.upstreamCode ?? e.code });
      this.#observers.emit('engineSwitch', { from: engine.name, to: next.engine.name, reason: next.reason, detail: e.message });
      await this.#openEngine(next.engine, next.reason, e.message);
    }
  }

  async #openEngine(engine: Engine, reason: 'initial' | SwitchReason, detail: string | undefined): Promise<void> {
    const gen = ++this.#generation;
    this.#engine = engine;
    this.#sequencer.reset();
    this.#announce = detail === undefined ? { reason } : { reason, detail };
    // after a switch the client already has session.created / conversation.created
    this.#swallowCreated = reason !== 'initial' && this.#hadInitial;
    const history = reason === 'initial' ? undefined : this.#conversation.textItems();
    const conn = await engine.open({
      session: this.#effective,
      log: this.log,
      signal: this.#abort.signal,
      conversation: this.#conversation,
      ...(history ? { history } : {}),
      callbacks: {
        onEvent: (ev) => {
          if (gen === this.#generation) this.#onEngineEvent(ev);
        },
        onClose: (info) => {
          if (gen === this.#generation) this.#onEngineClose(info);
        },
        onBackpressure: (congested) => {
          if (gen !== this.#generation) return;
          if (congested) {
            this.#observers.emit('backpressure', 'engine');
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
    this.#serving = engine.name;
    this.#state = 'open';
    this.#engineOpenedAt = Date.now();
    this.#hadInitial = true;
    if (this.#swallowCreated) this.#flushAnnounce();
    else this.#armAnnounceTimer();
    const queued = this.#queue;
    this.#queue = [];
    for (const ev of queued) this.handleClientEvent(ev);
  }

  /**
   * Switch to another engine, keeping the conversation: the new engine gets the effective config and
   * the conversation. The client gets `parley.engine`. A response in progress on the old engine ends
   * with `response.done` status `failed`.
   */
  async switchEngine(engine: Engine, reason: SwitchReason, detail?: string): Promise<void> {
    if (this.closed) return;
    const from = this.#engine?.name ?? engine.name;
    const old = this.#conn;
    this.#conn = null;
    this.#state = 'switching';
    this.#generation++;
    old?.close(`switching to ${engine.name}`);
    this.#failActiveResponse('engine_changed', detail ?? reason);
    this.#toolBatches.clear();
    this.#observers.emit('engineSwitch', detail === undefined ? { from, to: engine.name, reason } : { from, to: engine.name, reason, detail });
    this.log.info({ from, to: engine.name, reason }, 'switching engine');
    try {
      await this.#openEngine(engine, reason, detail);
    } catch (err) {
      const e = toEngineError(err);
      this.#observers.emit('engineError', { engine: engine.name, code: e.upstreamCode ?? e.code });
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

  handleClientEvent(event: ClientEvent): void {
    if (this.#state === 'closed') return;
    if (this.#state !== 'open') {
      if (this.#queue.length >= MAX_QUEUED_CLIENT_EVENTS && event.type === 'input_audio_buffer.append') return;
      // the door reuses its chunk: keep a copy while the engine opens
      this.#queue.push(event.type === 'input_audio_buffer.append' ? { ...event, audio: event.audio.copy() } : event);
      return;
    }
    switch (event.type) {
      case 'session.update':
      case 'transcription_session.update':
        this.#onSessionUpdate(event.session, event.event_id);
        return;
      case 'input_audio_buffer.append':
        event.audio.format = this.#effective.audio?.input?.format ?? PCM24K;
        this.#observers.callerAudio(event.audio);
        break;
      case 'conversation.item.create':
        if (this.#conversation.full) {
          this.#emit(errorEvent({ code: 'conversation_too_large', message: `The conversation holds ${this.#conversation.size} items, the most a session keeps; delete items first.`, param: 'item', event_id: event.event_id ?? null }));
          return;
        }
        break;
      case 'conversation.item.truncate':
        this.#onTruncate(event);
        break;
      case 'response.create':
        this.#onResponseCreate(event);
        return;
      default:
        break;
    }
    this.#sendToEngine(event);
  }

  #onSessionUpdate(patch: SessionPatch, eventId: string | undefined): void {
    let merged: RealtimeSession;
    let enforced: ReturnType<typeof enforceSession>;
    try {
      merged = mergeSession(this.#merged, patch);
      enforced = enforceSession(merged, this.#policy);
    } catch (err) {
      // a rejected update leaves the config exactly as it was
      this.log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'session.update could not be applied');
      this.#emit(errorEvent({ type: 'invalid_request_error', code: 'invalid_value', message: 'The session update could not be applied; the session is unchanged.', param: 'session', event_id: eventId ?? null }));
      return;
    }
    this.#merged = merged;
    this.#effective = enforced.session;
    this.#turns.setOutputFormat(enforced.session.audio?.output?.format);
    for (const v of enforced.violations) {
      this.#emit(errorEvent({ type: 'invalid_request_error', code: 'invalid_value', message: v.message, param: v.param, event_id: eventId ?? null }));
    }
    this.#sendToEngine(eventId === undefined ? { type: 'session.update', session: enforced.session } : { type: 'session.update', event_id: eventId, session: enforced.session });
  }

  #onTruncate(ev: ConversationItemTruncateEvent): void {
    this.#observers.emit('agentAudioTruncated', { itemId: ev.item_id, contentIndex: ev.content_index, audioEndMs: ev.audio_end_ms });
  }

  #onResponseCreate(ev: ResponseCreateEvent): void {
    const enforced: ResponseCreateEvent = ev.response ? { ...ev, response: enforceResponse(ev.response, this.#policy) } : { ...ev };
    const r = this.#sequencer.enqueue(enforced, 'client');
    if (r === 'too_many_out_of_band') {
      this.#emit(errorEvent({ code: 'too_many_out_of_band_responses', message: 'Too many out-of-band responses (conversation: "none") are running on this session; wait for one to finish.', param: 'response.conversation', event_id: ev.event_id ?? null }));
    } else if (r === 'queue_full') {
      this.#emit(errorEvent({ code: 'too_many_queued_responses', message: 'Too many response.create events are waiting behind the active response.', param: null, event_id: ev.event_id ?? null }));
    }
  }

  #sendToEngine(event: ClientEvent): void {
    const conn = this.#conn;
    if (!conn) {
      if (this.#state !== 'closed') this.#queue.push(event);
      return;
    }
    this.#observers.emit('clientEvent', event);
    if (event.type !== 'response.create') {
      try {
        conn.send(event);
      } catch (err) {
        this.#internalError(err, event.type);
        this.#emit(errorEvent({ type: 'server_error', code: 'internal_error', message: 'The server failed to handle this event.', event_id: event.event_id ?? null }));
      }
      return;
    }
    const sending = { started: null as string | null };
    this.#sendingCreate = sending;
    try {
      conn.send(event);
    } catch (err) {
      // Never leave a response marked active that will not run: end it (or report the event), free the queue.
      this.#internalError(err, event.type);
      if (event.response?.conversation === 'none') this.#sequencer.onOutOfBandDone();
      if (sending.started !== null) this.#emitFailedResponse(sending.started, 'internal_error', 'The server failed while starting this response.');
      else this.#emit(errorEvent({ type: 'server_error', code: 'internal_error', message: 'The server failed to start this response.', event_id: event.event_id ?? null }));
      this.#sequencer.abandon(event.event_id, sending.started);
    } finally {
      this.#sendingCreate = null;
    }
  }

  #internalError(err: unknown, type: string): void {
    this.log.error({ type, err: { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined } }, 'internal error handing an event to the engine');
  }

  #emit(event: ServerEvent): void {
    this.#observers.emit('serverEvent', event);
    this.#client.send(event);
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
    const base = { type: 'parley.engine' as const, event_id: newEventId(), engine: this.#engine.name, reason: a.reason };
    this.#emit(a.detail === undefined ? base : { ...base, detail: a.detail });
  }

  #onEngineEvent(ev: ServerEvent): void {
    if (this.#state === 'closed') return;
    this.#track(ev);
    if (this.#hidden !== null && ev.type !== 'response.output_audio.delta') {
      if (this.#hidden.hides(ev)) return;
      if (ev.type === 'response.done') {
        this.#emit(this.#hidden.strip(ev));
        return;
      }
    }
    switch (ev.type) {
      case 'session.created':
        if (this.#swallowCreated) {
          // the client already had session.created: tell it the (same) effective session instead
          this.#emit({ ...ev, type: 'session.updated' });
          return;
        }
        this.#emit(ev);
        this.#sentSessionCreated = true;
        if (this.#announce !== null) this.#armAnnounceTimer();
        return;
      case 'conversation.created':
        if (this.#swallowCreated) return;
        this.#emit(ev);
        this.#flushAnnounce();
        return;
      case 'error':
        if (this.#sequencer.onError(ev.error.code, ev.error.event_id)) {
          this.log.debug('response.create collided with an active response; retrying after it');
          return;
        }
        if (ev.error.code) this.#observers.emit('engineError', { engine: this.#engine?.name ?? 'unknown', code: ev.error.code });
        break;
      default:
        break;
    }
    if (this.#announce !== null && !this.#swallowCreated) this.#flushAnnounce();
    this.#emit(ev);
  }

  /** Bookkeeping on every engine event, hidden or not: conversation, responses, tools, turns. */
  #track(ev: ServerEvent): void {
    switch (ev.type) {
      case 'response.output_audio.delta':
        ev.delta.format = this.#effective.audio?.output?.format ?? PCM24K;
        this.#turns.agentAudio(ev);
        return;
      case 'response.created':
        if (ev.response.conversation_id === null) this.#outOfBand.add(ev.response.id);
        else {
          this.#sequencer.onCreated(ev.response.id);
          if (this.#sendingCreate !== null) this.#sendingCreate.started = ev.response.id;
        }
        return;
      case 'response.output_item.done':
        if (!this.#outOfBand.has(ev.response_id)) this.#conversation.upsert(ev.item);
        this.#maybeRunTool(ev.item, ev.response_id);
        return;
      case 'response.done':
        this.#onResponseDone(ev);
        return;
      case 'conversation.item.added':
      case 'conversation.item.done':
      case 'conversation.item.created':
      case 'conversation.item.retrieved':
        this.#conversation.upsert(ev.item);
        return;
      case 'conversation.item.input_audio_transcription.completed':
        this.#conversation.setTranscript(ev.item_id, ev.content_index, ev.transcript);
        return;
      case 'conversation.item.deleted':
        this.#conversation.delete(ev.item_id);
        return;
      case 'input_audio_buffer.speech_started':
      case 'input_audio_buffer.speech_stopped':
        this.#turns.speech(ev);
        return;
      default:
        return;
    }
  }

  #maybeRunTool(item: ConversationItem, responseId: string): void {
    if (item.type !== 'function_call' || typeof item.name !== 'string' || typeof item.call_id !== 'string') return;
    if (!this.#tools.has(item.name) || this.#toolCallsSeen.has(item.call_id)) return;
    this.#toolCallsSeen.add(item.call_id);
    let batch = this.#toolBatches.get(responseId);
    if (!batch) {
      batch = { pending: 0, respond: false, done: false };
      this.#toolBatches.set(responseId, batch);
    }
    batch.pending++;
    void this.#runTool(item.name, item.call_id, item.arguments ?? '', responseId, batch);
  }

  async #runTool(name: string, callId: string, args: string, responseId: string, batch: ToolBatch): Promise<void> {
    const gen = this.#generation;
    const ctx = this.callId === undefined ? { sessionId: this.id, log: this.log, signal: this.#abort.signal } : { sessionId: this.id, callId: this.callId, log: this.log, signal: this.#abort.signal };
    const result = await this.#tools.run(name, args, ctx);
    this.#observers.emit('toolCall', {
      name,
      callId,
      arguments: args,
      output: result.output,
      ok: result.ok,
      durationMs: result.durationMs,
      ...(result.errorCode ? { errorCode: result.errorCode } : {}),
    });
    this.log.info({ tool: name, ok: result.ok, durationMs: Math.round(result.durationMs), ...(result.errorCode ? { errorCode: result.errorCode } : {}) }, 'server tool ran');
    if (this.closed || gen !== this.#generation) return;
    this.#sendToEngine({ type: 'conversation.item.create', event_id: newEventId(), item: { type: 'function_call_output', call_id: callId, output: result.output } });
    batch.pending--;
    this.#maybeRespondAfterTools(responseId, batch);
  }

  #onResponseDone(ev: ResponseDoneEvent): void {
    const r = ev.response;
    if (r.conversation_id === null) {
      this.#outOfBand.delete(r.id);
      this.#sequencer.onOutOfBandDone();
    } else {
      for (const item of r.output ?? []) this.#conversation.upsert(item);
    }
    this.#turns.responseDone(ev);
    const batch = this.#toolBatches.get(r.id);
    if (batch) {
      batch.done = true;
      // cancelled/failed responses: their calls still get outputs, but no new response is asked for
      batch.respond = r.status === 'completed';
    }
    // send queued response.create only after our bookkeeping, so tool outputs go first
    queueMicrotask(() => {
      this.#sequencer.onDone(r.id);
      if (batch) this.#maybeRespondAfterTools(r.id, batch);
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
    if (batch.pending > 0 || !batch.done) return;
    if (this.#toolBatches.get(responseId) !== batch) return;
    this.#toolBatches.delete(responseId);
    if (batch.respond) this.#sequencer.enqueue({ type: 'response.create', event_id: newEventId() }, 'server');
  }

  #emitFailedResponse(id: string, code: string, message: string): void {
    this.#emit({
      type: 'response.done',
      event_id: newEventId(),
      response: { id, object: 'realtime.response', status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code, message } }, output: [] },
    });
  }

  #failActiveResponse(code: string, detail: string): void {
    const id = this.#sequencer.activeResponseId;
    if (id === null) return;
    this.#emitFailedResponse(id, code, detail);
    this.#sequencer.reset();
  }

  #onEngineClose(info: EngineCloseInfo): void {
    if (this.closed) return;
    this.#conn = null;
    const from = this.#engine?.name ?? 'unknown';
    if (info.error) {
      this.#observers.emit('engineError', { engine: from, code: info.error.upstreamCode ?? info.error.code });
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
    this.#closeCode = code;
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
    const durationMs = Date.now() - this.startedAt;
    this.log.info({ reason, durationMs }, 'session closed');
    this.#observers.emit('closed', this, { reason, code: this.#closeCode, durationMs, engine: this.#engine?.name ?? null });
    this.#onClosed(this);
  }

  /**
   * Backpressure from the door: the client cannot take more (its outbound buffer is full), so
   * stop reading from the engine until it drains.
   */
  setClientCongested(congested: boolean): void {
    if (congested) {
      this.#observers.emit('backpressure', 'client');
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

const PCM24K = { type: 'audio/pcm', rate: 24_000 } as const;

function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (ParleyError.is(err)) return new EngineError('ENGINE_UNAVAILABLE', err.message, { cause: err });
  return new EngineError('ENGINE_CONNECT_FAILED', err instanceof Error ? err.message : String(err), { cause: err, retryable: true, fallbackable: true });
}
