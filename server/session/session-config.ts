/**
 * The session's config: defaults ⊕ initial ⊕ each client session.update, merged, then enforced by
 * the server's policy (contracts §4). A rejected update leaves the config exactly as it was; an
 * adjusted field is reported to the client as an `invalid_value` error.
 */
import type { Logger } from 'pino';
import { errorEvent, type RealtimeSession, type ServerEvent, type SessionPatch, type SessionUpdateEvent } from '../protocol/index.ts';
import { enforceSession, mergeSession, type SessionPolicy } from './config-merge.ts';

export class SessionConfig {
  readonly policy: SessionPolicy;
  readonly #log: Logger;
  readonly #emit: (ev: ServerEvent) => void;
  /** Merged config before enforcement (defaults ⊕ initial ⊕ client updates). */
  #merged: RealtimeSession;
  #effective: RealtimeSession;

  constructor(policy: SessionPolicy, initial: SessionPatch | undefined, log: Logger, emit: (ev: ServerEvent) => void) {
    this.policy = policy;
    this.#log = log;
    this.#emit = emit;
    this.#merged = initial ? mergeSession(policy.defaults, initial) : { ...policy.defaults };
    const { session, violations } = enforceSession(this.#merged, policy);
    this.#effective = session;
    // what the policy refused is replaced by what is in force, so it is reported once, not on every update
    if (violations.length > 0) this.#merged = session;
    if (violations.length > 0) log.info({ violations: violations.map((v) => v.param) }, 'initial session config adjusted');
  }

  /** The effective GA session (what the engine is told). */
  get effective(): RealtimeSession {
    return this.#effective;
  }

  /** Applies a client's update: the session.update to hand the engine, or null when it was rejected (the client has its error). */
  update(patch: SessionPatch, eventId: string | undefined): SessionUpdateEvent | null {
    let merged: RealtimeSession;
    let enforced: ReturnType<typeof enforceSession>;
    try {
      merged = mergeSession(this.#merged, patch);
      enforced = enforceSession(merged, this.policy);
    } catch (err) {
      // a rejected update leaves the config exactly as it was
      this.#log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'session.update could not be applied');
      this.#emit(errorEvent({ type: 'invalid_request_error', code: 'invalid_value', message: 'The session update could not be applied; the session is unchanged.', param: 'session', event_id: eventId ?? null }));
      return null;
    }
    // a refused field is replaced by what is in force (reported once here, not again on every later update)
    this.#merged = enforced.violations.length > 0 ? enforced.session : merged;
    this.#effective = enforced.session;
    for (const v of enforced.violations) {
      this.#emit(errorEvent({ type: 'invalid_request_error', code: 'invalid_value', message: v.message, param: v.param, event_id: eventId ?? null }));
    }
    return eventId === undefined ? { type: 'session.update', session: enforced.session } : { type: 'session.update', event_id: eventId, session: enforced.session };
  }
}
