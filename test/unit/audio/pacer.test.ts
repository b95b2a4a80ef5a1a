import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { AudioError, FramePacer } from '../../../audio/index.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* block the event loop */
  }
}

describe('FramePacer', () => {
  it('ticks every stream once per 20 ms frame from one timer, with no drift', async () => {
    const pacer = new FramePacer({ frameMs: 20 });
    const times: number[] = [];
    const indexes: number[] = [];
    let otherTicks = 0;
    const t0 = performance.now();
    const removeA = pacer.add((i) => {
      times.push(performance.now());
      indexes.push(i);
    });
    const removeB = pacer.add(() => otherTicks++);
    const seconds = 6;
    await new Promise((r) => setTimeout(r, seconds * 1000 + 10));
    removeA();
    removeB();
    expect(pacer.streams).toBe(0);
    const n = times.length;
    // the k-th tick is due at t0 + (k+1)·20 ms
    expect(n).toBeGreaterThanOrEqual(seconds * 50 - 1);
    expect(n).toBeLessThanOrEqual(seconds * 50 + 1);
    expect(indexes).toEqual(Array.from({ length: n }, (_, k) => k));
    expect(Math.abs(otherTicks - n)).toBeLessThanOrEqual(1);
    const lateness = times.map((t, k) => t - (t0 + (k + 1) * 20));
    // never early (timers are ms-granular: allow 1 ms), and typically on time
    expect(Math.min(...lateness)).toBeGreaterThan(-1);
    expect(median(lateness)).toBeLessThan(5);
    // drift: lateness at the end vs the start (medians of 50 ticks) — absolute deadlines do not accumulate
    const drift = median(lateness.slice(-50)) - median(lateness.slice(0, 50));
    expect(Math.abs(drift)).toBeLessThanOrEqual(1);
  }, 20_000);

  it('catches up after the event loop stalls, so no frame is lost', async () => {
    const pacer = new FramePacer({ frameMs: 20, maxCatchUpFrames: 20 });
    let ticks = 0;
    const t0 = performance.now();
    const remove = pacer.add(() => {
      ticks++;
      if (ticks === 5) busyWait(150); // 7.5 frames of stall
    });
    await new Promise((r) => setTimeout(r, 1000));
    const elapsed = performance.now() - t0;
    remove();
    expect(Math.abs(ticks - Math.floor(elapsed / 20))).toBeLessThanOrEqual(2);
    expect(pacer.stats().skippedFrames).toBe(0);
    expect(pacer.stats().lateWakeups).toBeGreaterThanOrEqual(1);
  });

  it('skips ahead (counting it) after a stall longer than maxCatchUpFrames', async () => {
    const pacer = new FramePacer({ frameMs: 20, maxCatchUpFrames: 2 });
    let ticks = 0;
    const remove = pacer.add(() => {
      ticks++;
      if (ticks === 3) busyWait(200);
    });
    await new Promise((r) => setTimeout(r, 500));
    remove();
    expect(pacer.stats().skippedFrames).toBeGreaterThanOrEqual(5);
  });

  it('streams join at their own frame 0, removal inside a tick is safe, errors do not stop others', async () => {
    const errors: unknown[] = [];
    const pacer = new FramePacer({ onError: (e) => errors.push(e) });
    const seenB: number[] = [];
    let a = 0;
    let removeB: () => void = () => undefined;
    const removeA = pacer.add(() => {
      a++;
      if (a === 3) removeB = pacer.add((i) => seenB.push(i));
      if (a === 8) removeB();
      if (a === 5) throw new Error('boom');
    });
    await new Promise((r) => setTimeout(r, 300));
    removeA();
    expect(a).toBeGreaterThanOrEqual(10);
    expect(seenB).toEqual([0, 1, 2, 3]); // joined after A's 3rd tick, removed in A's 8th (before B's turn)
    expect(errors).toHaveLength(1);
    pacer.stop();
  });

  it('stops its timer with the last stream (nothing keeps running)', async () => {
    const pacer = new FramePacer();
    let n = 0;
    const remove = pacer.add(() => n++);
    await new Promise((r) => setTimeout(r, 70));
    remove();
    const after = n;
    await new Promise((r) => setTimeout(r, 80));
    expect(n).toBe(after);
    expect(() => new FramePacer({ frameMs: 0 })).toThrow(AudioError);
  });
});
