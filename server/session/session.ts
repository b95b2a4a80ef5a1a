/**
 * One conversation: a door (client) on one side, an engine on the other — the typed hub. Relays GA
 * events both ways; merges and enforces the session config; serialises response.create; keeps the
 * conversation; tells its observers (metrics, records, recordings, webhooks) everything, without them
 * steering anything. Its parts: the engine link (opening, fallback, switching, rotation:
 * engine-link.ts) and the server tools (tool-runner.ts).
 */
import type { Logger } from 'pino';
import type { EngineError } from '../errors.ts';
import {
  errorEvent,
  type ClientEvent,
  type ConversationItem,
  type RealtimeSession,
  type ResponseCreateEvent,
  type ResponseDoneEvent,
  type ServerEvent,
  type SessionPatch,
} from '../protocol/index.ts';
import type { Engine, EngineName } from '../engines/index.ts';
import type { ToolRegistry } from '../tools/index.ts';
import { Conversation } from '../conversation.ts';
import type { SessionPolicy } from './config-merge.ts';
import { SessionConfig } from './session-config.ts';
import { Responses, logInternalError } from './responses.ts';
import { HiddenToolEvents } from './hidden-tools.ts';
import { TurnClock } from './turn-clock.ts';
import { EngineLink, type FallbackPolicy, type LinkState, type SwitchReason } from './engine-link.ts';
import { ToolRunner } from './tool-runner.ts';
import type { ObserverSet, SessionInfo } from './observer.ts';
import type { CallFacts, EndReason, Leg, RecordingMode, Session, SessionClient } from './types.ts';

export type { FallbackPolicy, SwitchReason } from './engine-link.ts';

/** Events queued while the engine is (re)opening; beyond this, audio appends are dropped. */
const MAX_QUEUED_CLIENT_EVENTS = 500;

export interface SessionDeps {
  id: string;
  leg: Leg;
  callId: string | undefined;
  metadata: Record<string, string>;
  profile?: string | null;
  call?: CallFacts;
  recording?: RecordingMode;
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

export class RealtimeSessionHandle implements Session, SessionInfo {
  readonly id: string;
  readonly leg: Leg;
  readonly callId: string | undefined;
  readonly metadata: Record<string, string>;
  readonly profile: string | null;
  readonly call: Readonly<CallFacts>;
  readonly recording: RecordingMode;
  readonly log: Logger;
  readonly startedAt = Date.now();
  readonly #client: SessionClient;
  readonly #observers: ObserverSet;
  readonly #onClosed: (s: RealtimeSessionHandle) => void;

  readonly #link: EngineLink;
  readonly #toolRunner: ToolRunner;
  #queue: ClientEvent[] = [];
  /** response.create events the last engine never started, for the next one. */
  #carried: ResponseCreateEvent[] = [];
  readonly #config: SessionConfig;
  readonly #conversation = new Conversation();
  readonly #responses: Responses;
  readonly #abort = new AbortController();
  readonly #hidden: HiddenToolEvents | null;
  readonly #turns: TurnClock;
  #closeCode: number | null = null;
  #endReason: EndReason | null = null;
  #answered = false;

  constructor(deps: SessionDeps, initial: SessionPatch | undefined) {
    this.id = deps.id;
    this.leg = deps.leg;
    this.callId = deps.callId;
    this.metadata = deps.metadata;
    this.profile = deps.profile ?? null;
    this.call = deps.call ?? {};
    this.recording = deps.recording ?? 'off';
    this.log = deps.log;
    this.#client = deps.client;
    this.#observers = deps.observers;
    this.#onClosed = deps.onClosed;
    const emit = (ev: ServerEvent): void => this.#emit(ev);
    this.#config = new SessionConfig({ ...deps.policy, serverTools: deps.tools.realtimeTools() }, initial, this.log, emit);
    this.#turns = new TurnClock(this.#observers, this.#config.effective.audio?.output?.format);
    this.#responses = new Responses({ log: this.log, policy: this.#config.policy, emit, send: (ev) => this.#sendToEngine(ev) });
    this.#link = new EngineLink({
      session: this,
      client: deps.client,
      observers: deps.observers,
      fallback: deps.fallback,
      signal: this.#abort.signal,
      conversation: this.#conversation,
      rotateAfterMs: deps.rotateAfterMs ?? {},
      onEvent: (ev) => this.#onEngineEvent(ev),
      onOpening: () => this.#responses.reset(),
      onOpen: () => {
        const queued = this.#queue;
        this.#queue = [];
        for (const ev of queued) this.handleClientEvent(ev);
        // what the client asked of the engine that left, and that never started, goes to this one
        const carried = this.#carried;
        this.#carried = [];
        for (const ev of carried) this.#responses.create(ev);
      },
      onLeave: (code, detail) => {
        this.#carried = this.#responses.unanswered();
        this.#responses.failActive(code, detail);
        this.#toolRunner.clear();
      },
      idle: () => this.#responses.idle && !this.#toolRunner.busy,
      emit,
      fail: (err) => this.#fail(err),
      finish: (code, reason) => this.#finish(code, reason, code === 1001 ? 'shutdown' : code === 1000 ? 'agent_ended' : 'error'),
    });
    const runner = new ToolRunner({
      sessionId: this.id, callId: this.callId, log: this.log, signal: this.#abort.signal, tools: deps.tools, observers: deps.observers, info: this,
      generation: () => this.#link.generation,
      closed: () => this.closed,
      send: (ev) => this.#sendToEngine(ev),
      respond: () => this.#responses.request(),
    });
    this.#toolRunner = runner;
    this.#hidden = deps.hideServerToolEvents === true ? new HiddenToolEvents((n) => runner.has(n), (c) => runner.ran(c)) : null;
  }

  /** The engine serving the session now (null before the first one is open). */
  get engineName(): EngineName | null {
    return this.#link.serving;
  }

  get state(): LinkState {
    return this.#link.state;
  }

  /** The effective GA session (what the engine was told). */
  get effectiveSession(): RealtimeSession {
    return this.#config.effective;
  }

  /** The conversation so far, as text items (what would be replayed into another engine). */
  get history(): ConversationItem[] {
    return this.#conversation.textItems();
  }

  /** The response being generated now (default conversation), or null. */
  get activeResponseId(): string | null {
    return this.#responses.activeResponseId;
  }

  get closed(): boolean {
    return this.#link.closed;
  }

  /** Opens the first engine. Rejects with EngineError when it (and any fallback) fails. */
  start(engine: Engine): Promise<void> {
    return this.#link.start(engine);
  }

  /**
   * Switch to another engine, keeping the conversation: the new engine gets the effective config and
   * the conversation. The client gets `parley.engine`. A response in progress on the old engine ends
   * with `response.done` status `failed`.
   */
  switchEngine(engine: Engine, reason: SwitchReason, detail?: string): Promise<void> {
    return this.#link.switchEngine(engine, reason, detail);
  }

  handleClientEvent(event: ClientEvent): void {
    const state = this.#link.state;
    if (state === 'closed') return;
    if (state !== 'open') {
      if (this.#queue.length >= MAX_QUEUED_CLIENT_EVENTS && event.type === 'input_audio_buffer.append') return;
      // the door reuses its chunk: keep a copy while the engine opens
      this.#queue.push(event.type === 'input_audio_buffer.append' ? { ...event, audio: event.audio.copy() } : event);
      return;
    }
    switch (event.type) {
      case 'transcription_session.update':
        // the beta-era event: its fields are beta-shaped, and a GA upstream ends the session on them
        this.#emit(errorEvent({ code: 'unsupported_event', message: "transcription_session.update is the Realtime beta's event: send session.update with the GA session shape instead.", param: 'type', event_id: event.event_id ?? null }));
        return;
      case 'session.update': {
        const update = this.#config.update(event.session, event.event_id);
        if (update === null) return;
        this.#turns.setOutputFormat(update.session.audio?.output?.format);
        this.#sendToEngine(update);
        return;
      }
      case 'input_audio_buffer.append':
        event.audio.format = this.#config.effective.audio?.input?.format ?? PCM24K;
        this.#observers.callerAudio(event.audio);
        break;
      case 'conversation.item.create':
        if (this.#conversation.full) {
          this.#emit(errorEvent({ code: 'conversation_too_large', message: `The conversation holds ${this.#conversation.size} items, the most a session keeps; delete items first.`, param: 'item', event_id: event.event_id ?? null }));
          return;
        }
        break;
      case 'conversation.item.truncate':
        this.#observers.emit('agentAudioTruncated', { itemId: event.item_id, contentIndex: event.content_index, audioEndMs: event.audio_end_ms });
        break;
      case 'response.create':
        this.#responses.create(event);
        return;
      default:
        break;
    }
    this.#sendToEngine(event);
  }

  #sendToEngine(event: ClientEvent): void {
    const conn = this.#link.conn;
    if (!conn) {
      if (!this.#link.closed) this.#queue.push(event);
      return;
    }
    this.#observers.clientEvent(event);
    if (event.type !== 'response.create') {
      try {
        conn.send(event);
      } catch (err) {
        logInternalError(this.log, err, event.type);
        this.#emit(errorEvent({ type: 'server_error', code: 'internal_error', message: 'The server failed to handle this event.', event_id: event.event_id ?? null }));
      }
      return;
    }
    this.#responses.send(conn, event);
  }

  #emit(event: ServerEvent): void {
    this.#observers.serverEvent(event);
    this.#client.send(event);
  }

  #onEngineEvent(ev: ServerEvent): void {
    if (this.#link.closed) return;
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
        // a call's id is the session's id (records, webhooks, /v1/calls): whatever the engine called its session
        ev.session.id = this.id;
        this.#link.created(ev);
        return;
      case 'conversation.created':
        this.#link.created(ev);
        return;
      case 'session.updated':
        ev.session.id = this.id;
        break;
      case 'error':
        if (this.#responses.onError(ev.error.code, ev.error.event_id)) {
          this.log.debug('response.create collided with an active response; retrying after it');
          return;
        }
        if (ev.error.code) this.#observers.emit('engineError', { engine: this.#link.engine?.name ?? 'unknown', code: ev.error.code });
        break;
      default:
        break;
    }
    this.#link.beforeEvent();
    this.#emit(ev);
  }

  /** Bookkeeping on every engine event, hidden or not: conversation, responses, tools, turns. */
  #track(ev: ServerEvent): void {
    switch (ev.type) {
      case 'response.output_audio.delta':
        ev.delta.format = this.#config.effective.audio?.output?.format ?? PCM24K;
        this.#turns.agentAudio(ev);
        return;
      case 'response.created':
        this.#responses.created(ev.response);
        return;
      case 'response.output_item.done':
        if (!this.#responses.outOfBand(ev.response_id)) this.#conversation.upsert(ev.item);
        this.#toolRunner.itemDone(ev.item, ev.response_id);
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

  #onResponseDone(ev: ResponseDoneEvent): void {
    const r = ev.response;
    if (r.conversation_id === null) this.#responses.outOfBandDone(r.id);
    else for (const item of r.output ?? []) this.#conversation.upsert(item);
    this.#turns.responseDone(ev);
    const tools = this.#toolRunner.responseDone(r.id, r.status);
    // send queued response.create only after our bookkeeping, so tool outputs go first
    queueMicrotask(() => {
      this.#responses.settled(r.id);
      this.#toolRunner.settle(r.id, tools);
      this.#link.maybeRotate();
    });
  }

  /** The engine failed for good: the client gets a GA error and a clean close. */
  #fail(err: EngineError): void {
    if (this.closed) return;
    this.#emit(errorEvent({ type: 'server_error', code: err.upstreamCode ?? err.code.toLowerCase(), message: err.message }));
    this.#finish(1011, 'engine failed', 'error');
  }

  #finish(code: number, reason: string, endReason: EndReason): void {
    if (this.closed) return;
    this.#closeCode = code;
    this.#endReason = endReason;
    this.#teardown(reason);
    this.#client.close(code, reason);
  }

  #teardown(reason: string): void {
    const conn = this.#link.shutdown();
    this.#abort.abort();
    this.#responses.reset();
    this.#queue = [];
    conn?.close(reason);
    const durationMs = Date.now() - this.startedAt;
    this.log.info({ reason, durationMs }, 'session closed');
    this.#observers.emit('closed', this, { reason, endReason: this.#endReason ?? 'caller_hangup', code: this.#closeCode, durationMs, engine: this.#link.engine?.name ?? null });
    this.#onClosed(this);
  }

  /**
   * Backpressure from the door: the client cannot take more (its outbound buffer is full), so
   * stop reading from the engine until it drains.
   */
  setClientCongested(congested: boolean): void {
    const conn = this.#link.conn;
    if (congested) {
      this.#observers.emit('backpressure', 'client');
      conn?.pause?.();
    } else conn?.resume?.();
  }

  /**
   * The door ended the session (client hung up / disconnected; SIP: the call ended for `endReason`).
   * Does not call client.close.
   */
  close(reason: string, endReason: EndReason = 'caller_hangup'): void {
    if (this.closed) return;
    this.#endReason ??= endReason;
    this.#teardown(reason);
  }

  /** Ends the session from the server side: closes the client too. */
  end(code: number, reason: string, endReason: EndReason = code === 1001 ? 'shutdown' : code === 1000 ? 'agent_ended' : 'error'): void {
    this.#finish(code, reason, endReason);
  }

  /** The door answered the call (SIP 200 OK; WS: when the engine opened). Observers hear it once. */
  markAnswered(atMs: number = Date.now()): void {
    if (this.#answered || this.closed) return;
    this.#answered = true;
    this.#observers.emit('answered', atMs);
  }

  /** The caller pressed a key (the door decides what it means for the conversation). */
  reportDtmf(digit: string, atMs: number = Date.now()): void {
    this.#observers.emit('dtmf', { digit, atMs });
  }

  /** The door handed the call to `target`; the session ends next with endReason `transferred`. */
  reportTransfer(target: string, atMs: number = Date.now()): void {
    this.#endReason ??= 'transferred';
    this.#observers.emit('transferred', { target, atMs });
  }
}

const PCM24K = { type: 'audio/pcm', rate: 24_000 } as const;
