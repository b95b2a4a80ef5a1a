import type { Logger } from 'pino';
import { EngineError, ParleyError } from '../errors.ts';
import { newSessionId } from '../protocol/index.ts';
import type { Engine, EngineRegistry, EngineName } from '../engines/index.ts';
import type { ToolRegistry } from '../tools/index.ts';
import type { Metrics } from '../metrics.ts';
import type { ParleyConfig } from '../config.ts';
import { RealtimeSessionHandle, type FallbackPolicy } from './session.ts';
import { ObserverSet, type SessionObserverFactory } from './observer.ts';
import type { SessionOpenOptions } from './types.ts';

export interface SessionManagerDeps {
  config: ParleyConfig;
  engines: EngineRegistry;
  tools: ToolRegistry;
  metrics: Metrics;
  log: Logger;
  /** Overrides the default fallback policy (see defaultFallbackPolicy). */
  fallback?: FallbackPolicy | null;
}

/** A session reconnects after a mid-call drop at most PARLEY_OPENAI_RETRIES times in this window. */
const RECONNECT_WINDOW_MS = 60_000;

/**
 * The default policy when an engine fails in a way marked `fallbackable`:
 * - the OpenAI session hit its maximum duration (upstreamCode `session_expired`): reopen the
 *   same engine with the history (reason `rotation`);
 * - the OpenAI upstream dropped mid-call (or closed with a retryable error): reconnect to it with
 *   the history, as a rotation does, up to PARLEY_OPENAI_RETRIES times a minute
 *   (parley_upstream_retries_total{reason="drop"}); the reconnect's own connect retries and
 *   Retry-After handling are the engine's (server/engines/openai/index.ts);
 * - otherwise, or when that reconnect fails: the configured fallback engine (PARLEY_FALLBACK_ENGINE,
 *   default cascade) when it is registered (reason `fallback`); else end the session.
 */
export function defaultFallbackPolicy(config: ParleyConfig, engines: EngineRegistry, metrics?: Metrics): FallbackPolicy {
  const reconnects = new WeakMap<RealtimeSessionHandle, { count: number; since: number }>();
  return ({ session, failed, error }) => {
    if (!error.fallbackable) return null;
    if (error.upstreamCode === 'session_expired' && engines.has(failed)) {
      return { engine: engines.get(failed), reason: 'rotation' };
    }
    if (failed === 'openai' && isMidCallDrop(error) && engines.has(failed)) {
      const now = Date.now();
      let r = reconnects.get(session);
      if (r === undefined || now - r.since > RECONNECT_WINDOW_MS) r = { count: 0, since: now };
      if (r.count < config.openai.retries) {
        r.count++;
        reconnects.set(session, r);
        return { engine: countedReconnect(engines.get(failed), metrics), reason: 'rotation' };
      }
    }
    const fb = config.fallbackEngine;
    if (fb === null || fb === failed || !engines.has(fb)) return null;
    return { engine: engines.get(fb), reason: 'fallback' };
  };
}

/** The connection was up and then lost (not the session cap, not a refusal at connect). */
function isMidCallDrop(error: EngineError): boolean {
  return error.code === 'ENGINE_DROPPED' || (error.code === 'ENGINE_CLOSED' && error.retryable);
}

/** The engine, its next open counted as a reconnect after a drop (later opens, e.g. rotations, are not). */
function countedReconnect(engine: Engine, metrics: Metrics | undefined): Engine {
  let first = true;
  return {
    name: engine.name,
    open: async (o) => {
      if (!first) return engine.open(o);
      first = false;
      try {
        const conn = await engine.open(o);
        metrics?.upstreamRetries.inc(engine.name, 'drop', 'ok');
        return conn;
      } catch (err) {
        if (o.signal?.aborted !== true) metrics?.upstreamRetries.inc(engine.name, 'drop', 'failed');
        throw err;
      }
    },
  };
}

export class SessionManager {
  readonly #deps: SessionManagerDeps;
  readonly #sessions = new Map<string, RealtimeSessionHandle>();
  readonly #fallback: FallbackPolicy | null;
  #accepting = true;
  #drainWaiters: Array<() => void> = [];
  readonly #observerFactories: SessionObserverFactory[] = [];

  constructor(deps: SessionManagerDeps) {
    this.#deps = deps;
    this.#fallback = deps.fallback === undefined ? defaultFallbackPolicy(deps.config, deps.engines, deps.metrics) : deps.fallback;
    deps.metrics.sessionsActive.collect(() => this.#sessions.size);
  }

  /** Watch every session opened from now on (metrics, records, recordings, webhooks). */
  observe(factory: SessionObserverFactory): void {
    this.#observerFactories.push(factory);
  }

  get active(): number {
    return this.#sessions.size;
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  get(id: string): RealtimeSessionHandle | undefined {
    return this.#sessions.get(id);
  }

  list(): RealtimeSessionHandle[] {
    return [...this.#sessions.values()];
  }

  /** Throws ParleyError SERVER_SHUTTING_DOWN / SESSION_LIMIT when a new session cannot start. */
  checkCanOpen(): void {
    if (!this.#accepting) throw new ParleyError('SERVER_SHUTTING_DOWN', 'The server is shutting down.', { retryable: true });
    if (this.#sessions.size >= this.#deps.config.limits.maxSessions) {
      throw new ParleyError('SESSION_LIMIT', `The server is at its session limit (${this.#deps.config.limits.maxSessions}).`, { retryable: true });
    }
  }

  /**
   * Opens a session and its engine. Resolves once the engine is open (events may already have
   * gone to the client). Rejects with ParleyError (SESSION_LIMIT, SERVER_SHUTTING_DOWN) or
   * EngineError (ENGINE_UNAVAILABLE, ENGINE_CONNECT_FAILED, …).
   */
  async open(opts: SessionOpenOptions): Promise<RealtimeSessionHandle> {
    this.checkCanOpen();
    const { config, engines, tools, metrics } = this.#deps;
    const id = opts.id ?? newSessionId();
    const bindings: Record<string, string> = { sessionId: id, leg: opts.leg };
    if (opts.callId !== undefined) bindings['callId'] = opts.callId;
    const log = this.#deps.log.child(bindings);
    const engineName: EngineName = opts.engine ?? config.engine;
    const observers = new ObserverSet(log);
    const session = new RealtimeSessionHandle(
      {
        id,
        leg: opts.leg,
        callId: opts.callId,
        metadata: opts.metadata ?? {},
        profile: opts.profile ?? null,
        call: opts.call ?? {},
        recording: opts.recording ?? config.recording,
        client: opts.client,
        log,
        observers,
        tools: tools.extend(opts.tools ?? [], opts.toolNames ?? null),
        policy: {
          defaults: config.session.defaults,
          allowedModels: config.session.allowedModels,
          allowedVoices: config.session.allowedVoices,
          maxOutputTokens: config.session.maxOutputTokens,
        },
        fallback: this.#fallback,
        hideServerToolEvents: config.tools.events === 'hide',
        rotateAfterMs: { openai: config.openai.rotateAfterMs },
        onClosed: (s) => this.#onClosed(s),
      },
      opts.session,
    );
    for (const f of this.#observerFactories) {
      const o = f(session);
      if (o) observers.add(o);
    }
    for (const o of opts.observers ?? []) observers.add(o);
    this.#sessions.set(id, session);
    metrics.sessionsTotal.inc(opts.leg, engineName);
    log.info({ engine: engineName, ...(opts.metadata ? { metadata: opts.metadata } : {}) }, 'session opening');
    const onAbort = (): void => session.close('the door gave up while the engine was opening', 'caller_hangup');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const engine = engines.get(engineName);
      await session.start(engine);
      if (session.closed) throw new ParleyError('SESSION_CLOSED', 'The session closed while the engine was opening.');
    } catch (err) {
      this.#sessions.delete(id);
      this.#notifyDrain();
      const e = err instanceof EngineError ? err : ParleyError.is(err) ? err : new EngineError('ENGINE_CONNECT_FAILED', String(err), { cause: err });
      if (e.code !== 'SESSION_CLOSED') metrics.upstreamErrors.inc(engineName, e instanceof EngineError ? (e.upstreamCode ?? e.code) : e.code);
      log.warn({ code: e.code }, 'session failed to open');
      session.close('engine failed to open', 'error');
      throw e;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return session;
  }

  #onClosed(s: RealtimeSessionHandle): void {
    this.#sessions.delete(s.id);
    this.#notifyDrain();
  }

  #notifyDrain(): void {
    if (this.#sessions.size > 0) return;
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  /** Stop accepting new sessions. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Stops accepting, lets live sessions finish for up to graceMs, then ends the rest
   * (clients get close 1001 "server shutting down").
   */
  async closeAll(graceMs: number): Promise<void> {
    this.#accepting = false;
    if (this.#sessions.size > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const s of [...this.#sessions.values()]) s.end(1001, 'server shutting down');
  }
}
