/**
 * Admission control: an engine that knows how many sessions it can serve within its latency target
 * says so before a door opens a session, so that a caller beyond capacity is refused at once
 * (SIP 503 + Retry-After, so a proxy tries another instance; WS a GA `error` and close 1013)
 * instead of every caller getting slower. docs/contracts.md §3a.
 *
 * The optional engine methods (`admit`, `capacity`) are declared here until the Engine interface
 * (server/engines/types.ts) carries them; `admitSession` asks any engine, and says yes for engines
 * that have no limit.
 */
import { ParleyError } from '../errors.ts';
import type { Engine, EngineName } from './types.ts';

export type Admission =
  /** Admitted: a slot is held for this caller until its engine connection opens, or release(). */
  | { ok: true; release(): void }
  | { ok: false; code: 'engine_at_capacity'; retryAfterS: number; reason: string };

export interface EngineCapacity {
  /** Engine connections open now. */
  active: number;
  /** Admitted callers whose connection has not opened yet. */
  reserved: number;
  /** Sessions admitted at once; null = no limit. */
  max: number | null;
}

/** What an engine with admission control adds to the Engine interface. */
export interface AdmissionControl {
  /** Asks for a slot; never throws. */
  admit(): Admission;
  capacity(): EngineCapacity;
}

/** A door's refusal as a coded error (`ENGINE_AT_CAPACITY`, retryable, with `retryAfterS`). */
export class CapacityError extends ParleyError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS: number) {
    super('ENGINE_AT_CAPACITY', message, { retryable: true });
    this.retryAfterS = retryAfterS;
  }
}

const ADMITTED_FREELY: Admission = { ok: true, release: () => undefined };

/** An admitted caller whose engine connection never opens holds its slot this long at most. */
export const RESERVATION_TTL_MS = 30_000;

/**
 * Counts an engine's live connections against a maximum, plus the callers admitted whose
 * connection is still on its way (reservations). A connection that opens takes the oldest
 * reservation; a reservation ends at its connection, at release(), or after RESERVATION_TTL_MS.
 * Connections opened without admission (a fallback, a direct open) count all the same.
 */
export class AdmissionGate implements AdmissionControl {
  #max: number | null;
  readonly retryAfterS: number;
  readonly #label: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #active = 0;
  /** Reservation → its expiry time, oldest first. */
  readonly #reserved = new Map<object, number>();

  constructor(opts: { max: number | null; retryAfterS: number; label: string; reservationTtlMs?: number; now?: () => number }) {
    this.#max = opts.max !== null && opts.max > 0 ? opts.max : null;
    this.retryAfterS = opts.retryAfterS;
    this.#label = opts.label;
    this.#ttlMs = opts.reservationTtlMs ?? RESERVATION_TTL_MS;
    this.#now = opts.now ?? Date.now;
  }

  /** Sessions admitted at once; null = no limit. */
  get max(): number | null { return this.#max; }

  /**
   * A new maximum (an engine that measures what it holds, server/engines/local/capacity.ts).
   * Sessions already admitted stay; new ones are refused while they number `max` or more.
   */
  setMax(max: number | null): void {
    this.#max = max !== null && max > 0 ? max : null;
  }

  #prune(): void {
    const now = this.#now();
    for (const [r, expires] of this.#reserved) if (expires <= now) this.#reserved.delete(r);
  }

  admit(): Admission {
    const max = this.#max;
    if (max === null) return ADMITTED_FREELY;
    this.#prune();
    if (this.#active + this.#reserved.size >= max) {
      return { ok: false, code: 'engine_at_capacity', retryAfterS: this.retryAfterS, reason: `The ${this.#label} is at capacity (${max} sessions); retry in ${this.retryAfterS} s.` };
    }
    const ticket = {};
    this.#reserved.set(ticket, this.#now() + this.#ttlMs);
    return { ok: true, release: () => { this.#reserved.delete(ticket); } };
  }

  /** A connection is opening: counted until the returned leave() (idempotent). */
  enter(): () => void {
    const oldest = this.#reserved.keys().next();
    if (!oldest.done) this.#reserved.delete(oldest.value);
    this.#active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#active--;
    };
  }

  capacity(): EngineCapacity {
    this.#prune();
    return { active: this.#active, reserved: this.#reserved.size, max: this.#max };
  }
}

/** True when the engine does admission control. */
export function hasAdmission(engine: Engine): engine is Engine & AdmissionControl {
  return typeof engine.admit === 'function' && typeof engine.capacity === 'function';
}

/**
 * For a door, before it opens a session on `engineName`: asks that engine for a slot. Engines
 * without admission control, and names that resolve to no engine (the open reports that), are
 * admitted. Call release() once the session's open has settled, or when the caller goes away.
 */
export function admitSession(engines: { get(name: EngineName): Engine }, engineName: EngineName): Admission {
  let engine: Engine;
  try {
    engine = engines.get(engineName);
  } catch {
    return ADMITTED_FREELY;
  }
  return hasAdmission(engine) ? engine.admit() : ADMITTED_FREELY;
}

/** admitSession, throwing CapacityError (ENGINE_AT_CAPACITY, `retryAfterS`) when refused. */
export function admitOrThrow(engines: { get(name: EngineName): Engine }, engineName: EngineName): { release(): void } {
  const a = admitSession(engines, engineName);
  if (!a.ok) throw new CapacityError(a.reason, a.retryAfterS);
  return a;
}
