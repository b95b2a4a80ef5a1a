/**
 * Calls-per-second per trunk (docs/notes/outbound.md). `RateLimiter.reserve(key, perSecond)` books the next
 * free slot for one INVITE on `key` and says how long to wait for it (0: now): slots are 1/perSecond apart,
 * so a burst of requests leaves evenly spaced, never faster than the limit (no burst allowance: carriers count
 * INVITEs per second and answer 503/403 beyond). In-process here; a shared (Redis) limiter for several
 * instances implements the same interface.
 */
export interface RateLimiter {
  /** Reserve a slot for one call on `key`; resolves to the ms to wait before sending it. */
  reserve(key: string, perSecond: number): number | Promise<number>;
}

export class InProcessRateLimiter implements RateLimiter {
  readonly #next = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  reserve(key: string, perSecond: number): number {
    const now = this.#now();
    const gapMs = 1000 / perSecond;
    const at = Math.max(now, this.#next.get(key) ?? 0);
    this.#next.set(key, at + gapMs);
    if (this.#next.size > 10_000) {
      for (const [k, t] of this.#next) if (t < now) this.#next.delete(k);
    }
    return at - now;
  }
}
