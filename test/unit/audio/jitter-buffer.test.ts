import { describe, expect, it } from 'vitest';
import { AudioError, JitterBuffer } from '../../../audio/index.ts';
import type { JitterPop } from '../../../audio/index.ts';

type Out = string;
function drain(jb: JitterBuffer<number>, n: number): Out[] {
  const out: Out[] = [];
  for (let i = 0; i < n; i++) out.push(describePop(jb.pop()));
  return out;
}
function describePop(p: JitterPop<number>): Out {
  if (p.kind === 'frame') return p.concealed ? `c${p.seq}:${p.payload}` : `f${p.seq}`;
  if (p.kind === 'lost') return `l${p.seq}${p.next !== undefined ? `>${p.next}` : ''}`;
  return 'e';
}
function pushAll(jb: JitterBuffer<number>, seqs: number[]): void {
  for (const s of seqs) jb.push(s, s * 160, s);
}

describe('JitterBuffer', () => {
  it('waits for depthFrames of audio, then plays in order', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 3, frameTimestampStep: 160 });
    expect(jb.pop().kind).toBe('empty');
    pushAll(jb, [10, 11]);
    expect(drain(jb, 2)).toEqual(['e', 'e']);
    pushAll(jb, [12]);
    expect(drain(jb, 3)).toEqual(['f10', 'f11', 'f12']);
    pushAll(jb, [13]); // on time: plays at once
    expect(drain(jb, 2)).toEqual(['f13', 'e']); // then an underrun
    pushAll(jb, [14, 15]);
    expect(drain(jb, 1)).toEqual(['e']); // after an underrun, waits for depth again
    pushAll(jb, [16]);
    expect(drain(jb, 3)).toEqual(['f14', 'f15', 'f16']);
    expect(jb.stats()).toMatchObject({ received: 7, lost: 0, underruns: 1, depth: 0 });
  });

  it('depthFrames 0: every packet comes out at once, gaps are reported lost at once', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 0, maxFrames: 16, frameTimestampStep: 160 });
    const got: Out[] = [];
    const drainAll = (): void => {
      for (let p = jb.pop(); p.kind !== 'empty'; p = jb.pop()) got.push(describePop(p));
    };
    for (const s of [1, 2, 4, 3, 5]) {
      jb.push(s, s * 160, s);
      drainAll();
    }
    expect(got).toEqual(['f1', 'f2', 'l3>4', 'f4', 'f5']);
    expect(jb.stats()).toMatchObject({ late: 1, lost: 1, underruns: 0, depth: 0 });
  });

  it('reorders', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 4, frameTimestampStep: 160 });
    pushAll(jb, [1, 3, 2, 4, 6, 5]);
    expect(drain(jb, 6)).toEqual(['f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
    expect(jb.stats()).toMatchObject({ reordered: 2, lost: 0, late: 0 });
  });

  it('an earlier packet arriving before playout starts moves the start back', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 3, frameTimestampStep: 160 });
    pushAll(jb, [101, 100, 102]);
    expect(drain(jb, 3)).toEqual(['f100', 'f101', 'f102']);
  });

  it('reports a lost frame at its turn, with the next packet for FEC', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 2, frameTimestampStep: 160 });
    pushAll(jb, [1, 2, 4, 5, 8, 9]);
    expect(drain(jb, 9)).toEqual(['f1', 'f2', 'l3>4', 'f4', 'f5', 'l6', 'l7>8', 'f8', 'f9']);
    expect(jb.stats()).toMatchObject({ lost: 3, received: 6 });
  });

  it('drops duplicates and late packets', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 2, frameTimestampStep: 160 });
    pushAll(jb, [1, 1, 2, 2, 3]);
    expect(drain(jb, 2)).toEqual(['f1', 'f2']);
    pushAll(jb, [2, 1]); // their turn has passed
    pushAll(jb, [3]); // still buffered
    expect(drain(jb, 1)).toEqual(['f3']);
    expect(jb.stats()).toMatchObject({ duplicate: 3, late: 2 });
  });

  it('handles the 16-bit sequence wrap, also when reordered across it', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 3, frameTimestampStep: 160 });
    pushAll(jb, [65534, 0, 65535, 2, 1, 3]);
    expect(drain(jb, 6)).toEqual(['f65534', 'f65535', 'f0', 'f1', 'f2', 'f3']);
    expect(jb.stats().lost).toBe(0);
  });

  it('is bounded: packets too far ahead push the oldest out', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 2, maxFrames: 10, frameTimestampStep: 160 });
    pushAll(jb, Array.from({ length: 30 }, (_, i) => i));
    expect(jb.depth).toBe(10);
    expect(jb.stats().overflow).toBe(20);
    expect(drain(jb, 11)).toEqual([...Array.from({ length: 10 }, (_, i) => `f${20 + i}`), 'e']);
  });

  it('restarts on a large sequence jump (new sender)', () => {
    const jb = new JitterBuffer<number>({ depthFrames: 1, frameTimestampStep: 160 });
    pushAll(jb, [100, 101]);
    expect(drain(jb, 1)).toEqual(['f100']);
    pushAll(jb, [30000, 30001]);
    expect(drain(jb, 2)).toEqual(['f30000', 'f30001']);
    expect(jb.stats().resyncs).toBe(1);
  });

  it('calls the concealment hook for a missing frame', () => {
    const calls: Array<[number, number | undefined]> = [];
    const jb = new JitterBuffer<number>({
      depthFrames: 2,
      frameTimestampStep: 160,
      conceal: (seq, next) => {
        calls.push([seq, next]);
        return next === undefined ? undefined : -seq;
      },
    });
    pushAll(jb, [1, 3, 5, 6]);
    expect(drain(jb, 6)).toEqual(['f1', 'c2:-2', 'f3', 'c4:-4', 'f5', 'f6']);
    expect(calls).toEqual([[2, 3], [4, 5]]);
    expect(jb.stats().lost).toBe(2);
  });

  it('plays every packet exactly once, in order, under random jitter, loss and duplication', () => {
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const depth = 5;
    const jb = new JitterBuffer<number>({ depthFrames: depth, maxFrames: 64, frameTimestampStep: 160 });
    const N = 3000;
    const start = 65000; // crosses the wrap
    // packet i is sent at 20·i ms and arrives after 0–(depth−1)·20 ms of jitter; 5 % lost, 2 % doubled
    const arrivals: Array<{ t: number; seq: number; i: number }> = [];
    const dropped = new Set<number>();
    for (let i = 0; i < N; i++) {
      if (rnd() < 0.05) {
        dropped.add(i);
        continue;
      }
      const t = i * 20 + rnd() * (depth - 1) * 20;
      arrivals.push({ t, seq: (start + i) & 0xffff, i });
      if (rnd() < 0.02) arrivals.push({ t: t + rnd() * 30, seq: (start + i) & 0xffff, i });
    }
    arrivals.sort((a, b) => a.t - b.t);
    const played: number[] = [];
    const lost: number[] = [];
    let a = 0;
    for (let tick = 0; tick < N + 2 * depth; tick++) {
      const now = tick * 20 + 10;
      while (a < arrivals.length && (arrivals[a] as { t: number }).t <= now) {
        const x = arrivals[a++] as { t: number; seq: number; i: number };
        jb.push(x.seq, x.i * 160, x.i);
      }
      const p = jb.pop();
      if (p.kind === 'frame') played.push(p.payload);
      else if (p.kind === 'lost') lost.push(p.seq);
    }
    const expected = Array.from({ length: N }, (_, i) => i).filter((i) => !dropped.has(i));
    expect(played).toEqual(expected);
    const st = jb.stats();
    expect(st.late).toBe(0);
    expect(st.lost).toBe(dropped.size - (dropped.has(N - 1) ? 1 : 0) - (dropped.has(0) ? 1 : 0));
    expect(st.duplicate).toBeGreaterThan(20);
    expect(st.reordered).toBeGreaterThan(100);
  });

  it('rejects bad options and sequence numbers', () => {
    expect(() => new JitterBuffer({ depthFrames: -1, frameTimestampStep: 160 })).toThrow(AudioError);
    expect(() => new JitterBuffer({ depthFrames: 20, maxFrames: 10, frameTimestampStep: 160 })).toThrow(AudioError);
    const jb = new JitterBuffer<number>({ frameTimestampStep: 160 });
    expect(() => jb.push(70000, 0, 1)).toThrow(AudioError);
  });
});
