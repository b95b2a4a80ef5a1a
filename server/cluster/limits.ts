/**
 * Cluster-wide rate limits (issue 13, docs/cluster.md): outbound calls per second per trunk.
 *
 * `RateLimiter.take(name, perSecond)` asks for one slot under `name` (e.g. the trunk URI) and answers at
 * once: taken, or not and how long until the next slot frees. The rule is GCRA (the generic cell rate
 * algorithm, a leaky bucket kept as one timestamp): with `burst` 1 (the default) slots are spaced
 * 1/perSecond apart, so no window of one second ever holds more than `perSecond` of them, which is what a
 * carrier's CPS limit counts. `burst` > 1 lets that many go at once after a quiet spell.
 *
 * - `LocalRateLimiter`: in-process (one instance, or the fallback while Redis is down).
 * - `RedisRateLimiter` (server/cluster/redis.ts): the same rule over one Redis key per name, the clock
 *   being Redis's own (no skew between instances); when Redis cannot answer it falls back to its local
 *   limiter, so each instance then holds the limit on its own (`scope: 'instance'`).
 */

export interface RateDecision {
  /** The slot was taken: go ahead. */
  ok: boolean;
  /** When refused: milliseconds until a slot frees (0 when ok). */
  retryAfterMs: number;
  /** Who held the limit: the whole cluster (Redis) or this instance alone (in-process, or Redis down). */
  scope: 'cluster' | 'instance';
}

export interface RateLimitOptions {
  /** Slots that may go at once after a quiet spell (default 1: evenly spaced). */
  burst?: number;
}

export interface RateLimiter {
  /** Takes one slot under `name` at `perSecond` (> 0). Rejects only on bad arguments (RangeError); a Redis failure falls back to the local limiter. */
  take(name: string, perSecond: number, opts?: RateLimitOptions): Promise<RateDecision>;
  /**
   * Books the next free slot under `name` and resolves to the ms to wait before using it (0: now): slots
   * 1/perSecond apart, queued rather than refused (server/outbound/limiter.ts's interface: the outbound
   * queue waits for its slot). Never rejects for a Redis failure (falls back to the local limiter).
   */
  reserve(name: string, perSecond: number): Promise<number>;
  close(): void;
}

/** Names not used for this long are forgotten (their bucket is full again anyway). */
const IDLE_FORGET_MS = 60_000;

export function checkRate(perSecond: number, burst: number): void {
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new RangeError(`perSecond must be a positive number (got ${perSecond})`);
  if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`burst must be an integer >= 1 (got ${burst})`);
}

/** GCRA over a theoretical arrival time (ms); returns the new one, or null and the wait. */
export function gcra(tatMs: number | undefined, nowMs: number, perSecond: number, burst: number): { tat: number } | { wait: number } {
  const interval = 1000 / perSecond;
  const tolerance = (burst - 1) * interval;
  const tat = tatMs === undefined || tatMs < nowMs ? nowMs : tatMs;
  if (tat - tolerance > nowMs) return { wait: Math.ceil(tat - tolerance - nowMs) };
  return { tat: tat + interval };
}

export class LocalRateLimiter implements RateLimiter {
  readonly #tat = new Map<string, number>();
  readonly #now: () => number;
  #sweeps = 0;

  constructor(now: () => number = () => performance.timeOrigin + performance.now()) {
    this.#now = now;
  }

  takeNow(name: string, perSecond: number, opts: RateLimitOptions = {}): RateDecision {
    const burst = opts.burst ?? 1;
    checkRate(perSecond, burst);
    const now = this.#now();
    if (++this.#sweeps >= 1024) this.#sweep(now);
    const r = gcra(this.#tat.get(name), now, perSecond, burst);
    if ('wait' in r) return { ok: false, retryAfterMs: r.wait, scope: 'instance' };
    this.#tat.set(name, r.tat);
    return { ok: true, retryAfterMs: 0, scope: 'instance' };
  }

  reserveNow(name: string, perSecond: number): number {
    checkRate(perSecond, 1);
    const now = this.#now();
    if (++this.#sweeps >= 1024) this.#sweep(now);
    const at = Math.max(now, this.#tat.get(name) ?? 0);
    this.#tat.set(name, at + 1000 / perSecond);
    return at - now;
  }

  reserve(name: string, perSecond: number): Promise<number> {
    try {
      return Promise.resolve(this.reserveNow(name, perSecond));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  take(name: string, perSecond: number, opts?: RateLimitOptions): Promise<RateDecision> {
    try {
      return Promise.resolve(this.takeNow(name, perSecond, opts));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): void {
    this.#tat.clear();
  }

  #sweep(now: number): void {
    this.#sweeps = 0;
    for (const [k, tat] of this.#tat) if (tat < now - IDLE_FORGET_MS) this.#tat.delete(k);
  }
}
