/**
 * Tiny shared benchmark helpers: timing loops, percentiles and ratio printing.
 * Benchmarks are not tests: run them serially with `npx tsx bench/<file>.ts`.
 * Figures are printed as ratios against a baseline measured in the same process, because
 * absolute numbers on a shared 2-core box move by ±30 % from run to run.
 */
import { performance } from 'node:perf_hooks';

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/** Percentile (0..100) of an already sorted array, nearest-rank. */
export function percentileSorted(sorted: ArrayLike<number>, pct: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((pct / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Summary statistics of a sample (the input is not modified). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i] as number;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    min: sorted.length ? (sorted[0] as number) : Number.NaN,
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
  };
}

export interface TimingResult {
  /** Mean microseconds per call of `fn`. */
  readonly usPerOp: number;
  /** Number of timed calls. */
  readonly ops: number;
  /** Total timed milliseconds. */
  readonly totalMs: number;
}

/**
 * Time `fn` (called with the op index): warm-up first, then repeated timed rounds;
 * reports the best round (least disturbed by the other tenants of the machine).
 */
export function timeOps(fn: (i: number) => void, opts: { ops: number; warmupOps?: number; rounds?: number }): TimingResult {
  const warm = opts.warmupOps ?? Math.min(opts.ops, 2000);
  for (let i = 0; i < warm; i++) fn(i);
  const rounds = opts.rounds ?? 3;
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < opts.ops; i++) fn(i);
    const ms = performance.now() - t0;
    if (ms < best) best = ms;
  }
  return { usPerOp: (best * 1000) / opts.ops, ops: opts.ops, totalMs: best };
}

/** Time each call separately (for percentiles of per-call latency). */
export function sampleOps(fn: (i: number) => void, opts: { ops: number; warmupOps?: number }): Summary {
  const warm = opts.warmupOps ?? Math.min(opts.ops, 200);
  for (let i = 0; i < warm; i++) fn(i);
  const us = new Float64Array(opts.ops);
  for (let i = 0; i < opts.ops; i++) {
    const t0 = performance.now();
    fn(i);
    us[i] = (performance.now() - t0) * 1000;
  }
  return summarize(us);
}

/** `x` as a ratio to `baseline`, e.g. "1.83×". */
export function ratio(x: number, baseline: number): string {
  return `${(x / baseline).toFixed(2)}×`;
}

/** Pad a table row: first column left-aligned, the rest right-aligned. */
export function row(cells: readonly (string | number)[], widths: readonly number[]): string {
  return cells
    .map((c, i) => {
      const s = typeof c === 'number' ? formatNumber(c) : c;
      const w = widths[i] ?? 10;
      return i === 0 ? s.padEnd(w) : s.padStart(w);
    })
    .join(' ');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return n.toFixed(0);
  if (a >= 100) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** Print a header line with the runtime, so saved output says where it came from. */
export function banner(title: string): void {
  console.log(`# ${title} — node ${process.version}, ${process.platform}/${process.arch}`);
}

/**
 * Time several functions in interleaved rounds (A, B, C, A, B, C, …) and keep each one's best
 * round, so a burst of load from other processes hurts all of them alike instead of one.
 * Returns µs per call for each function, in order.
 */
export function timeInterleaved(fns: ReadonlyArray<(i: number) => void>, opts: { ops: number; rounds?: number; warmupOps?: number }): number[] {
  const warm = opts.warmupOps ?? Math.min(opts.ops, 2000);
  for (const fn of fns) for (let i = 0; i < warm; i++) fn(i);
  const best = fns.map(() => Number.POSITIVE_INFINITY);
  const rounds = opts.rounds ?? 7;
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      for (let i = 0; i < opts.ops; i++) fn(i);
      const ms = performance.now() - t0;
      if (ms < (best[k] as number)) best[k] = ms;
    });
  }
  return best.map((ms) => (ms * 1000) / opts.ops);
}

/** Median and spread of a sample: the interquartile range and the extremes. */
export interface Spread {
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: ArrayLike<number>): Spread {
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  const at = (q: number): number => {
    if (s.length === 0) return Number.NaN;
    const i = q * (s.length - 1);
    const lo = Math.floor(i);
    const hi = Math.min(s.length - 1, lo + 1);
    return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (i - lo);
  };
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), min: s[0] ?? Number.NaN, max: s[s.length - 1] ?? Number.NaN };
}

/** "12.3 [11.9–13.0]": median and interquartile range. */
export function formatSpread(x: Spread, digits?: number): string {
  const f = (n: number): string => (digits === undefined ? formatNumber(n) : n.toFixed(digits));
  return `${f(x.median)} [${f(x.p25)}–${f(x.p75)}]`;
}

/**
 * Time several functions in interleaved rounds, the order rotating from round to round (A B C,
 * B C A, C A B, …), and keep every round: µs per call for each function and round. Ratios taken
 * round by round (`roundRatios`) compare runs made under the same load, so their median is far
 * steadier on a shared machine than a ratio of two separately measured figures.
 */
export function timeRounds(fns: ReadonlyArray<(i: number) => void>, opts: { ops: number; rounds?: number; warmupOps?: number }): number[][] {
  const warm = opts.warmupOps ?? Math.min(opts.ops, 2000);
  for (const fn of fns) for (let i = 0; i < warm; i++) fn(i);
  const rounds = opts.rounds ?? 21;
  const us: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < fns.length; j++) {
      const k = (r + j) % fns.length;
      const fn = fns[k] as (i: number) => void;
      const t0 = performance.now();
      for (let i = 0; i < opts.ops; i++) fn(i);
      (us[k] as number[]).push(((performance.now() - t0) * 1000) / opts.ops);
    }
  }
  return us;
}

/** Per-round ratios a[r] / b[r] of two rows of `timeRounds`. */
export function roundRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, r) => x / (b[r] as number));
}
