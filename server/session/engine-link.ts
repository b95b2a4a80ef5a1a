/**
 * The session's link to its engine: opens the first engine (falling back when it will not open),
 * switches engines mid-call keeping the conversation (fallback when an engine closes abnormally,
 * rotation at a turn boundary before the upstream's session cap), and tells the client which engine
 * serves it: `parley.engine` after conversation.created, and a later engine's session.created reaches
 * the client as session.updated (contracts §4).
 */
import { EngineError, ParleyError } from '../errors.ts';
import { newEventId, type ServerEvent, type ServerEventOf } from '../protocol/index.ts';
import type { Engine, EngineCloseInfo, EngineConnection, EngineName } from '../engines/index.ts';
import type { Conversation } from '../conversation.ts';
import type { ObserverSet } from './observer.ts';
import type { SessionClient } from './types.ts';
import type { RealtimeSessionHandle } from './session.ts';

/** parley.engine goes after conversation.created; if that never comes, after this delay. */
const ANNOUNCE_FALLBACK_MS = 100;

export type SwitchReason = 'fallback' | 'rotation';

/** Decides what to do when the engine closes abnormally: another engine, or null to end. */
export type FallbackPolicy = (ctx: {
  session: RealtimeSessionHandle;
  failed: EngineName;
  error: EngineError;
}) => { engine: Engine; reason: SwitchReason } | null;

export type LinkState = 'new' | 'opening' | 'open' | 'switching' | 'closed';

export interface EngineLinkDeps {
  /** The session (its log, effective config and identity; the fallback policy's context). */
  session: RealtimeSessionHandle;
  client: SessionClient;
  observers: ObserverSet;
  fallback: FallbackPolicy | null;
  /** Aborted when the session closes. */
  signal: AbortSignal;
  conversation: Conversation;
  /** Per engine: rotate to a fresh engine session after this long, at a turn boundary (0 = never). */
  rotateAfterMs: Partial<Record<EngineName, number>>;
  /** Every event of the current engine connection. */
  onEvent: (ev: ServerEvent) => void;
  /** An engine is about to open: no response runs on it yet. */
  onOpening: () => void;
  /** The engine is open: hand it what queued meanwhile. */
  onOpen: () => void;
  /** Leaving an engine mid-call: end its active response (`code`, `detail`) and forget its tool calls. */
  onLeave: (code: string, detail: string) => void;
  /** At a turn boundary: no response active or queued, no server tool running. */
  idle: () => boolean;
  /** To the client (and observers). */
  emit: (ev: ServerEvent) => void;
  /** The engine failed for good. */
  fail: (err: EngineError) => void;
  /** The engine ended the session normally. */
  finish: (code: number, reason: string) => void;
}

export class EngineLink {
  readonly #d: EngineLinkDeps;
  #state: LinkState = 'new';
  #engine: Engine | null = null;
  #conn: EngineConnection | null = null;
  /** Increments per engine connection; callbacks of older connections are ignored. */
  #generation = 0;
  /** When the current engine connection opened (ms, Date.now). */
  #openedAt = 0;
  /** The engine whose connection is (or last was) open. */
  #serving: EngineName | null = null;
  #announce: { reason: 'initial' | SwitchReason; detail?: string } | null = null;
  #announceTimer: NodeJS.Timeout | null = null;
  #swallowCreated = false;
  /**
   * session.created has gone to the client: parley.engine may follow it, never precede it, and a later
   * engine's session.created becomes session.updated (an engine that dropped before its own session.created
   * leaves the next one's as the client's first).
   */
  #sentSessionCreated = false;

  constructor(deps: EngineLinkDeps) {
    this.#d = deps;
  }

  get state(): LinkState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get generation(): number {
    return this.#generation;
  }

  /** The open connection (null while opening or switching). */
  get conn(): EngineConnection | null {
    return this.#conn;
  }

  /** The engine last opened or being opened. */
  get engine(): Engine | null {
    return this.#engine;
  }

  /** The engine serving the session now (null before the first one is open). */
  get serving(): EngineName | null {
    return this.#serving;
  }

  /** Opens the first engine. Rejects with EngineError when it (and any fallback) fails. */
  async start(engine: Engine): Promise<void> {
    const d = this.#d;
    this.#state = 'opening';
    d.observers.emit('opened', d.session, engine.name);
    try {
      await this.#open(engine, 'initial', undefined);
    } catch (err) {
      const e = toEngineError(err);
      const next = e.fallbackable && d.fallback && !this.closed ? d.fallback({ session: d.session, failed: engine.name, error: e }) : null;
      if (!next) throw e;
      d.session.log.warn({ engine: engine.name, code: e.code, next: next.engine.name }, 'engine failed to open; falling back');
      d.observers.emit('engineError', { engine: engine.name, code: e.upstreamCode ?? e.code });
      d.observers.emit('engineSwitch', { from: engine.name, to: next.engine.name, reason: next.reason, detail: e.message });
      await this.#open(next.engine, next.reason, e.message);
    }
  }

  async #open(engine: Engine, reason: 'initial' | SwitchReason, detail: string | undefined): Promise<void> {
    const d = this.#d;
    const gen = ++this.#generation;
    this.#engine = engine;
    d.onOpening();
    this.#announce = detail === undefined ? { reason } : { reason, detail };
    // after a switch the client already has session.created / conversation.created
    this.#swallowCreated = reason !== 'initial' && this.#sentSessionCreated;
    const history = reason === 'initial' ? undefined : d.conversation.textItems();
    const conn = await engine.open({
      session: d.session.effectiveSession,
      log: d.session.log,
      signal: d.signal,
      conversation: d.conversation,
      ...(history ? { history } : {}),
      callbacks: {
        onEvent: (ev) => {
          if (gen === this.#generation) d.onEvent(ev);
        },
        onClose: (info) => {
          if (gen === this.#generation) this.#onClose(info);
        },
        onSpeechIgnored: (speech) => {
          if (gen === this.#generation) d.observers.emit('speechIgnored', speech);
        },
        onBackpressure: (congested) => {
          if (gen !== this.#generation) return;
          if (congested) {
            d.observers.emit('backpressure', 'engine');
            d.client.pause?.();
          } else d.client.resume?.();
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
    this.#openedAt = Date.now();
    if (this.#swallowCreated) this.#flushAnnounce();
    else this.#armAnnounceTimer();
    d.onOpen();
  }

  /**
   * Switch to another engine, keeping the conversation: the new engine gets the effective config and
   * the conversation. The client gets `parley.engine`. A response in progress on the old engine ends
   * with `response.done` status `failed`.
   */
  async switchEngine(engine: Engine, reason: SwitchReason, detail?: string): Promise<void> {
    if (this.closed) return;
    const d = this.#d;
    const from = this.#engine?.name ?? engine.name;
    const old = this.#conn;
    this.#conn = null;
    this.#state = 'switching';
    this.#generation++;
    old?.close(`switching to ${engine.name}`);
    d.onLeave('engine_changed', detail ?? reason);
    d.observers.emit('engineSwitch', detail === undefined ? { from, to: engine.name, reason } : { from, to: engine.name, reason, detail });
    d.session.log.info({ from, to: engine.name, reason }, 'switching engine');
    try {
      await this.#open(engine, reason, detail);
    } catch (err) {
      const e = toEngineError(err);
      d.observers.emit('engineError', { engine: engine.name, code: e.upstreamCode ?? e.code });
      // The new engine would not open (e.g. the reconnect after the session cap was refused):
      // carry on with the fallback engine when the policy names another one.
      const next = !this.closed && e.fallbackable && d.fallback ? d.fallback({ session: d.session, failed: engine.name, error: e }) : null;
      if (next && next.engine.name !== engine.name) {
        await this.switchEngine(next.engine, next.reason, e.message);
        return;
      }
      d.fail(e);
    }
  }

  /** The engine's session.created / conversation.created: passed on, or swallowed after a switch. */
  created(ev: ServerEventOf<'session.created'> | ServerEventOf<'conversation.created'>): void {
    const d = this.#d;
    if (ev.type === 'session.created') {
      if (this.#swallowCreated) {
        // the client already had session.created: tell it the (same) effective session instead
        d.emit({ ...ev, type: 'session.updated' });
        return;
      }
      d.emit(ev);
      this.#sentSessionCreated = true;
      if (this.#announce !== null) this.#armAnnounceTimer();
      return;
    }
    if (this.#swallowCreated) return;
    d.emit(ev);
    this.#flushAnnounce();
  }

  /** Before any other engine event reaches the client: a pending parley.engine goes first. */
  beforeEvent(): void {
    if (this.#announce !== null && !this.#swallowCreated) this.#flushAnnounce();
  }

  /**
   * Proactive rotation at a turn boundary: the engine session is old (OpenAI ends sessions at
   * 60 minutes), no response is active or queued and no server tool is running.
   */
  maybeRotate(): void {
    const engine = this.#engine;
    if (!engine || this.#state !== 'open') return;
    const limit = this.#d.rotateAfterMs[engine.name] ?? 0;
    if (limit <= 0 || Date.now() - this.#openedAt < limit) return;
    if (!this.#d.idle()) return;
    void this.switchEngine(engine, 'rotation', `rotated after ${Math.round((Date.now() - this.#openedAt) / 1000)} s, before the upstream's session cap`);
  }

  /** The session closes: callbacks of any connection are ignored from now on. Returns the connection for the caller to close. */
  shutdown(): EngineConnection | null {
    this.#state = 'closed';
    this.#generation++;
    if (this.#announceTimer) clearTimeout(this.#announceTimer);
    this.#announceTimer = null;
    const conn = this.#conn;
    this.#conn = null;
    return conn;
  }

  #onClose(info: EngineCloseInfo): void {
    if (this.closed) return;
    const d = this.#d;
    this.#conn = null;
    const from = this.#engine?.name ?? 'unknown';
    if (info.error) {
      d.observers.emit('engineError', { engine: from, code: info.error.upstreamCode ?? info.error.code });
      d.session.log.warn({ engine: from, code: info.error.code, closeCode: info.code, reason: info.reason }, 'engine closed abnormally');
      const next = d.fallback ? d.fallback({ session: d.session, failed: from, error: info.error }) : null;
      if (next) {
        void this.switchEngine(next.engine, next.reason, info.error.message);
        return;
      }
      d.fail(info.error);
      return;
    }
    d.session.log.info({ engine: from, closeCode: info.code, reason: info.reason }, 'engine closed');
    d.finish(1000, info.reason || 'engine closed');
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
    this.#d.emit(a.detail === undefined ? base : { ...base, detail: a.detail });
  }
}

function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (ParleyError.is(err)) return new EngineError('ENGINE_UNAVAILABLE', err.message, { cause: err });
  return new EngineError('ENGINE_CONNECT_FAILED', err instanceof Error ? err.message : String(err), { cause: err, retryable: true, fallbackable: true });
}
