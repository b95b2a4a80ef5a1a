/**
 * Retry delays: exponential backoff with full jitter (docs/notes/webhooks.md). The n-th retry
 * (attempt = 1 after the first failure) waits a uniform random time in [0, min(maxMs, baseMs·2^(n−1))):
 * retries of many calls spread out instead of hitting a receiver that just came back all at once.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** The ceiling of the n-th retry's wait (before jitter). attempt ≥ 1. */
export function backoffCeilingMs(attempt: number, o: BackoffOptions): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows nothing: past ~60 doublings min() has long taken the cap
  return n > 60 ? o.maxMs : Math.min(o.maxMs, o.baseMs * 2 ** (n - 1));
}

/**
 * The wait before the n-th retry: full jitter over [0, ceiling). `random` returns [0, 1)
 * (Math.random by default; tests pass their own). Never below 1 ms, so a retry never spins.
 */
export function backoffMs(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = backoffCeilingMs(attempt, o);
  return Math.max(1, Math.floor(random() * ceiling));
}
