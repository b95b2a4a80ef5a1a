/**
 * The recording timeline on a fake clock, at 1000 frames/s (1 frame = 1 ms) so positions read as ms:
 * caller and agent aligned on the session clock, gaps as silence, the agent's bursts queued as the door
 * plays them, the barge-in cut, pause/resume, the mono mix, bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { mulawDecode } from '../../../../audio/index.ts';
import { Timeline, type FrameSink } from '../../../../server/recording/timeline.ts';

const R = 1000;

/** Collects every frame the timeline writes. */
class MemSink implements FrameSink {
  readonly channels: number;
  block: Int16Array;
  block32: Int32Array;
  used = 0;
  readonly out: number[] = [];
  /** false: only count the frames (long runs). */
  readonly keep: boolean;
  counted = 0;
  constructor(channels: number, blockFrames = 37, keep = true) {
    this.channels = channels;
    this.keep = keep;
    this.block = new Int16Array(blockFrames * channels);
    this.block32 = new Int32Array(this.block.buffer, 0, this.block.length >> 1);
  }
  get free(): number {
    return this.block.length - this.used;
  }
  advance(frames: number): void {
    this.used += frames * this.channels;
    if (this.used === this.block.length) this.#take();
  }
  #take(): void {
    this.counted += this.used;
    if (this.keep) for (let i = 0; i < this.used; i++) this.out.push(this.block[i]!);
    this.used = 0;
    this.block = new Int16Array(this.block.length); // a fresh block, as the stream's pool gives
    this.block32 = new Int32Array(this.block.buffer, 0, this.block.length >> 1);
  }
  /** [left, right] (stereo) or [mono] of everything written so far. */
  channelsOut(): Int16Array[] {
    const all = [...this.out, ...Array.from(this.block.subarray(0, this.used))];
    const n = all.length / this.channels;
    const chans = Array.from({ length: this.channels }, () => new Int16Array(n));
    for (let i = 0; i < n; i++) for (let c = 0; c < this.channels; c++) chans[c]![i] = all[i * this.channels + c]!;
    return chans;
  }
}

const fill = (n: number, v: number): Int16Array => new Int16Array(n).fill(v);

/** The [start, end) runs where a channel holds value v. */
function runsOf(ch: Int16Array, v: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let i = 0; i <= ch.length; i++) {
    const on = i < ch.length && ch[i] === v;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      runs.push([start, i]);
      start = -1;
    }
  }
  return runs;
}

function make(channels: 1 | 2 = 2, o: Partial<ConstructorParameters<typeof Timeline>[0]> = {}): { t: Timeline; sink: MemSink } {
  const sink = new MemSink(channels);
  const t = new Timeline({ channels, sampleRateHz: R, sink, holdBackMs: 1000, gapMs: 250, ...o });
  return { t, sink };
}

/** The caller sends 20 ms frames of value v in real time from `from` to `to` (ms); returns the time after. */
function callerFrames(t: Timeline, from: number, to: number, v: number): void {
  for (let now = from + 20; now <= to; now += 20) t.pushCaller(fill(20, v), 20, now);
}

describe('recording timeline', () => {
  it('aligns the caller (real-time frames) and the agent (a burst, queued as played) on the session clock', () => {
    const { t, sink } = make();
    callerFrames(t, 0, 1000, 1);
    // at 1000 ms the agent's 2 s reply arrives at once, faster than real time
    t.pushAgent(fill(1200, 7), 1200, 'item_a', 0, 0, 1000);
    t.pushAgent(fill(800, 7), 800, 'item_a', 0, 1200, 1010);
    callerFrames(t, 1000, 4000, 2);
    t.finish(4000);
    const [left, right] = sink.channelsOut();
    expect(left!.length).toBe(4000);
    expect(runsOf(left!, 1)).toEqual([[0, 1000]]);
    expect(runsOf(left!, 2)).toEqual([[1000, 4000]]);
    // the agent's audio plays from when it came, for its own length, not compressed into the burst
    expect(runsOf(right!, 7)).toEqual([[1000, 3000]]);
    expect(runsOf(right!, 0)).toEqual([[0, 1000], [3000, 4000]]);
  });

  it('a second reply that arrives while the first still plays is placed after it', () => {
    const { t, sink } = make();
    t.pushAgent(fill(1000, 5), 1000, 'item_a', 0, 0, 100);
    t.pushAgent(fill(500, 6), 500, 'item_b', 0, 0, 600); // the door queues it behind item_a
    t.pushAgent(fill(300, 8), 300, 'item_c', 0, 0, 2500); // nothing playing at 2500: starts then
    t.finish(3000);
    const [, right] = sink.channelsOut();
    expect(runsOf(right!, 5)).toEqual([[100, 1100]]);
    expect(runsOf(right!, 6)).toEqual([[1100, 1600]]);
    expect(runsOf(right!, 8)).toEqual([[2500, 2800]]);
  });

  it('a caller who sends nothing for a while (muted, on hold) is silent there; the next audio lands when it came', () => {
    const { t, sink } = make();
    callerFrames(t, 0, 1000, 3);
    // nothing from 1000 to 3000
    callerFrames(t, 3000, 4000, 4);
    t.finish(4000);
    const [left] = sink.channelsOut();
    expect(runsOf(left!, 3)).toEqual([[0, 1000]]);
    expect(runsOf(left!, 4)).toEqual([[3000, 4000]]);
    expect(runsOf(left!, 0)).toEqual([[1000, 3000]]);
  });

  it('frames that come a little late (jitter below gapMs) are not shifted', () => {
    const { t, sink } = make();
    callerFrames(t, 0, 1000, 3);
    // a 200 ms stall, then the 10 frames arrive at once
    for (let i = 0; i < 10; i++) t.pushCaller(fill(20, 4), 20, 1200);
    callerFrames(t, 1200, 2000, 5);
    t.finish(2000);
    const [left] = sink.channelsOut();
    expect(runsOf(left!, 4)).toEqual([[1000, 1200]]);
    expect(runsOf(left!, 5)).toEqual([[1200, 2000]]);
  });

  it('barge-in: the agent audio past the truncation point is removed (it was never heard), late chunks of the item are dropped', () => {
    const { t, sink } = make();
    callerFrames(t, 0, 1000, 1);
    t.pushAgent(fill(5000, 7), 5000, 'item_a', 0, 0, 1000); // 5 s reply, all at once
    callerFrames(t, 1000, 2500, 1);
    // the caller speaks at 2500: the door flushed its queue; 1500 ms of the item were heard
    t.truncate('item_a', 0, 1500);
    t.pushAgent(fill(500, 7), 500, 'item_a', 0, 5000, 2510); // a late delta of the cut item
    callerFrames(t, 2500, 4000, 2);
    t.pushAgent(fill(400, 9), 400, 'item_b', 0, 0, 4000); // the next reply starts when it comes
    callerFrames(t, 4000, 6000, 2);
    t.finish(6000);
    const [left, right] = sink.channelsOut();
    expect(runsOf(right!, 7)).toEqual([[1000, 2500]]);
    expect(runsOf(right!, 9)).toEqual([[4000, 4400]]);
    expect(runsOf(left!, 2)).toEqual([[2500, 6000]]);
    expect(t.lateCutFrames).toBe(0);
  });

  it('the cut maps the item offset through the segments (an item that started late, in several chunks)', () => {
    const { t, sink } = make();
    t.pushAgent(fill(300, 5), 300, 'item_a', 0, 0, 0); // plays 0..300
    t.pushAgent(fill(400, 6), 400, 'item_b', 0, 0, 100); // queued: 300..700
    t.pushAgent(fill(400, 6), 400, 'item_b', 0, 400, 120); // 700..1100
    t.truncate('item_b', 0, 500); // 300 + 500 = 800 on the timeline
    t.finish(2000);
    const [, right] = sink.channelsOut();
    expect(runsOf(right!, 5)).toEqual([[0, 300]]);
    expect(runsOf(right!, 6)).toEqual([[300, 800]]);
  });

  it('a truncation after the audio was written can only count it (lateCutFrames)', () => {
    const { t, sink } = make(2, { holdBackMs: 100 });
    t.pushAgent(fill(2000, 7), 2000, 'item_a', 0, 0, 0);
    t.tick(1500); // written up to 1400
    t.truncate('item_a', 0, 1000); // the caller heard 1000 ms: 400 already written
    t.finish(3000);
    const [, right] = sink.channelsOut();
    expect(runsOf(right!, 7)).toEqual([[0, 1400]]);
    expect(t.lateCutFrames).toBe(400);
  });

  it('pause/resume: both channels silent in between (the caller audio sent meanwhile is never stored), alignment kept', () => {
    const { t, sink } = make();
    callerFrames(t, 0, 1000, 1);
    t.pushAgent(fill(2000, 7), 2000, 'item_a', 0, 0, 500); // 500..2500
    t.pause(1000);
    callerFrames(t, 1000, 2000, 4); // the card number
    t.resume(2000);
    callerFrames(t, 2000, 3000, 2);
    t.finish(3000);
    const [left, right] = sink.channelsOut();
    expect(left!.length).toBe(3000);
    expect(runsOf(left!, 4)).toEqual([]);
    expect(runsOf(left!, 1)).toEqual([[0, 1000]]);
    expect(runsOf(left!, 2)).toEqual([[2000, 3000]]);
    expect(runsOf(right!, 7)).toEqual([[500, 1000], [2000, 2500]]);
    expect(runsOf(right!, 0)).toEqual([[0, 500], [1000, 2000], [2500, 3000]]);
  });

  it('mono mixes the two sides (saturating)', () => {
    const { t, sink } = make(1);
    t.pushCaller(fill(100, 30000), 100, 100);
    t.pushAgent(fill(50, 10000), 50, 'item_a', 0, 0, 50);
    t.pushAgent(fill(100, -200), 100, 'item_b', 0, 0, 150);
    t.finish(300);
    const [mono] = sink.channelsOut();
    expect(runsOf(mono!, 30000)).toEqual([[0, 50]]);
    expect(runsOf(mono!, 32767)).toEqual([[50, 100]]);
    expect(runsOf(mono!, 0)).toEqual([[100, 150], [250, 300]]);
    expect(runsOf(mono!, -200)).toEqual([[150, 250]]);
  });

  it('memory is fixed: a 10-minute call with a burst reply every 10 s never grows the rings', () => {
    const sink = new MemSink(2, 500, false);
    const t = new Timeline({ channels: 2, sampleRateHz: R, sink, agentLookAheadMs: 8000 });
    let before = -1;
    const frame = fill(20, 1);
    const reply = fill(4000, 2);
    for (let now = 20; now <= 600_000; now += 20) {
      t.pushCaller(frame, 20, now);
      if (now % 10_000 === 0) t.pushAgent(reply, 4000, `item_${now}`, 0, 0, now);
      // the rings are made when each side's first audio comes
      if (now === 10_000) before = t.memoryBytes;
    }
    expect(before).toBeGreaterThan(0);
    t.finish(600_000);
    expect(t.memoryBytes).toBe(before);
    expect(sink.counted + sink.used).toBe(600_000 * 2);
    expect(t.agentDroppedFrames).toBe(0);
  });

  it('a reply longer than the look-ahead grows the ring (up to its cap); beyond the cap it is dropped and counted', () => {
    const { t, sink } = make(2, { agentLookAheadMs: 2000, agentLookAheadMaxMs: 8000 });
    t.pushAgent(fill(6000, 3), 6000, 'item_a', 0, 0, 0);
    expect(t.agentDroppedFrames).toBe(0);
    t.pushAgent(fill(6000, 3), 6000, 'item_a', 0, 6000, 0);
    expect(t.agentDroppedFrames).toBe(4000);
    t.finish(20_000);
    const [, right] = sink.channelsOut();
    expect(runsOf(right!, 3)).toEqual([[0, 8000]]);
  });

  it('a caller sending faster than real time runs ahead (bounded), never overwriting what it sent', () => {
    const { t, sink } = make(2, { callerAheadMs: 1000 });
    let v = 0;
    for (let i = 0; i < 300; i++) t.pushCaller(fill(20, ++v), 20, 10); // 6 s at once
    t.finish(10);
    const [left] = sink.channelsOut();
    expect(left!.length).toBe(6000);
    for (let k = 0; k < 300; k++) expect(runsOf(left!, k + 1)).toEqual([[k * 20, k * 20 + 20]]);
  });

  describe('μ-law kept as codes until interleaved', () => {
    /** A deterministic scenario: caller frames with a silent stretch, agent bursts queued, a barge-in cut, a pause, a long reply that grows the ring. */
    function scenario(push: {
      caller(b: Uint8Array, now: number): void;
      agent(b: Uint8Array, item: string, offsetMs: number, now: number): void;
    }, t: Timeline, switchAt = Infinity): void {
      let seed = 7;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
      const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, rnd);
      for (let now = 20; now <= 28_000; now += 20) {
        if (now === switchAt) break;
        // two stretches without audio (gaps), the second after the ring has wrapped
        if ((now < 3000 || now > 3600) && (now < 20_000 || now > 21_000)) push.caller(bytes(20), now);
        if (now === 1000) push.agent(bytes(1500), 'item_a', 0, now);
        if (now === 1200) push.agent(bytes(700), 'item_b', 0, now); // queued behind item_a
        if (now === 1900) t.truncate('item_b', 0, 300); // barge-in into item_b
        if (now === 5000) t.pause(now);
        if (now === 5600) t.resume(now);
        if (now === 7000) push.agent(bytes(12_000), 'item_c', 0, now); // longer than the look-ahead
        if (now === 9000) push.agent(bytes(300), 'item_d', 0, now);
        // nothing playing since 19.3 s: this starts at its time, over ring slots item_c used (the gap before it is silence)
        if (now === 26_000) push.agent(bytes(500), 'item_e', 0, now);
      }
    }
    /** The audio core's μ-law decoder (what the pcm16 path decodes with). */
    const MULAW_TABLE = mulawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
    const decode = (b: Uint8Array): Int16Array => Int16Array.from(b, (x) => MULAW_TABLE[x]!);

    for (const channels of [2, 1] as const) {
      it(`${channels === 2 ? 'stereo' : 'mono'}: the file is sample for sample what decoding first gives (gaps, queue, cut, pause, ring growth)`, () => {
        const a = make(channels, { agentLookAheadMs: 8000 });
        scenario({
          caller: (b, now) => a.t.pushCallerBytes(b, 0, b.length, 'pcmu', now),
          agent: (b, item, off, now) => a.t.pushAgentBytes(b, 0, b.length, 'pcmu', item, 0, off, now),
        }, a.t);
        a.t.finish(28_000);
        const b = make(channels, { agentLookAheadMs: 8000 });
        scenario({
          caller: (x, now) => b.t.pushCaller(decode(x), x.length, now),
          agent: (x, item, off, now) => b.t.pushAgent(decode(x), x.length, item, 0, off, now),
        }, b.t);
        b.t.finish(28_000);
        const got = a.sink.channelsOut();
        const want = b.sink.channelsOut();
        expect(got[0]!.length).toBe(28_000);
        for (let c = 0; c < channels; c++) expect(Array.from(got[c]!)).toEqual(Array.from(want[c]!));
        // μ-law rings: one byte a sample
        expect(a.t.memoryBytes * 2).toBe(b.t.memoryBytes);
      });
    }

    it('whole blocks (blockFrames, as the recorder runs it): the sink gets only whole blocks, holds no half-filled one between pushes, and the file is the same', () => {
      const BLOCK = 400;
      const sink = new MemSink(2, BLOCK);
      const t = new Timeline({ channels: 2, sampleRateHz: R, sink, holdBackMs: 1000, gapMs: 250, agentLookAheadMs: 8000, blockFrames: BLOCK });
      let half = 0;
      let pushes = 0;
      const check = (): void => {
        pushes++;
        if (sink.used !== 0) half++;
      };
      scenario({
        caller: (b, now) => {
          t.pushCallerBytes(b, 0, b.length, 'pcmu', now);
          check();
        },
        agent: (b, item, off, now) => {
          t.pushAgentBytes(b, 0, b.length, 'pcmu', item, 0, off, now);
          check();
        },
      }, t);
      for (let now = 28_000; now <= 30_000; now += 500) {
        t.tick(now); // no audio: whole blocks still
        check();
      }
      expect(pushes).toBeGreaterThan(1000);
      expect(half).toBe(0);
      expect(t.written).toBeGreaterThan(28_000); // the quiet end was written by the ticks
      expect(t.written % BLOCK).toBe(0);
      t.finish(30_000);
      const ref = make(2, { agentLookAheadMs: 8000 });
      scenario({
        caller: (b, now) => ref.t.pushCallerBytes(b, 0, b.length, 'pcmu', now),
        agent: (b, item, off, now) => ref.t.pushAgentBytes(b, 0, b.length, 'pcmu', item, 0, off, now),
      }, ref.t);
      ref.t.finish(30_000);
      const got = sink.channelsOut();
      const want = ref.sink.channelsOut();
      expect(got[0]!.length).toBe(30_000);
      for (let c = 0; c < 2; c++) expect(Array.from(got[c]!)).toEqual(Array.from(want[c]!));
    });

    it('a side that turns to pcm16 mid-call keeps what it held (decoded once) and goes on in pcm16', () => {
      const a = make(2);
      const b = make(2);
      const push = (t: Timeline, mu: boolean) => ({
        caller: (x: Uint8Array, now: number) => (mu ? t.pushCallerBytes(x, 0, x.length, 'pcmu', now) : t.pushCaller(decode(x), x.length, now)),
        agent: (x: Uint8Array, item: string, off: number, now: number) => (mu ? t.pushAgentBytes(x, 0, x.length, 'pcmu', item, 0, off, now) : t.pushAgent(decode(x), x.length, item, 0, off, now)),
      });
      scenario(push(a.t, true), a.t, 7000);
      scenario(push(b.t, false), b.t, 7000);
      // from 7 s on, both sides send pcm16 (little-endian bytes) into the μ-law timeline
      const pcm = new Int16Array(20).fill(-1234);
      const le = new Uint8Array(pcm.buffer);
      for (let now = 7020; now <= 8000; now += 20) {
        a.t.pushCallerBytes(le, 0, 20, 'pcm16', now);
        b.t.pushCaller(pcm, 20, now);
      }
      a.t.pushAgentBytes(le, 0, 20, 'pcm16', 'item_z', 0, 0, 8000);
      b.t.pushAgent(pcm, 20, 'item_z', 0, 0, 8000);
      a.t.finish(9000);
      b.t.finish(9000);
      const got = a.sink.channelsOut();
      const want = b.sink.channelsOut();
      expect(runsOf(got[0]!, -1234)).toEqual([[6980, 7980]]); // appended after the caller's last frame (jitter absorbed)
      expect(runsOf(got[1]!, -1234)).toEqual([[8000, 8020]]);
      for (let c = 0; c < 2; c++) expect(Array.from(got[c]!)).toEqual(Array.from(want[c]!));
    });
  });
});
