import { describe, expect, it } from 'vitest';
import { PlaybackBuffer } from '../../../client-demo/src/lib/playback-buffer.ts';

const QUANTUM = 128;

function pcm24k(ms: number, amp = 8000): Int16Array {
  const n = (24000 * ms) / 1000;
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.round(amp * Math.sin((2 * Math.PI * 300 * i) / 24000));
  return x;
}

function renderQuanta(b: PlaybackBuffer, quanta: number): { nonSilent: number; outputs: Float32Array[] } {
  const outputs: Float32Array[] = [];
  let nonSilent = 0;
  for (let q = 0; q < quanta; q++) {
    const out = new Float32Array(QUANTUM);
    b.render(out);
    if (out.some((s) => s !== 0)) nonSilent++;
    outputs.push(out);
  }
  return { nonSilent, outputs };
}

describe('PlaybackBuffer (playback worklet logic): jitter buffer and played-ms accounting', () => {
  it('waits for the start threshold, then plays; counts played ms exactly', () => {
    const events: string[] = [];
    const b = new PlaybackBuffer(
      { outputRateHz: 48000, startThresholdMs: 60 },
      { onItemStarted: (id) => events.push(`start:${id}`), onItemFinished: (id, ms) => events.push(`done:${id}:${Math.round(ms)}`) },
    );
    b.push('item_a', pcm24k(40)); // below the 60 ms threshold
    expect(renderQuanta(b, 5).nonSilent).toBe(0);
    expect(b.playedMs).toBe(0);
    b.push('item_a', pcm24k(40)); // now 80 ms buffered (minus the filter delay)
    renderQuanta(b, 10); // 10 quanta = 1280 samples = 26.67 ms at 48 kHz
    expect(b.playedMs).toBeCloseTo((10 * QUANTUM * 1000) / 48000, 6);
    expect(events).toEqual(['start:item_a']);
    b.end('item_a');
    renderQuanta(b, 100);
    // the whole 80 ms item was played, to the last sample (flush drains the resampler delay)
    expect(b.playedMs).toBeCloseTo(80, 6);
    expect(events).toEqual(['start:item_a', 'done:item_a:80']);
    expect(b.playState).toBe('idle');
  });

  it('an item shorter than the threshold still plays once its audio is complete', () => {
    const b = new PlaybackBuffer({ outputRateHz: 44100, startThresholdMs: 100 });
    b.push('short', pcm24k(30));
    b.end('short');
    renderQuanta(b, 20);
    expect(b.playedMs).toBeCloseTo(30, 0);
  });

  it('stop() silences the very next render quantum and reports the ms actually played per item', () => {
    const b = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 40 });
    b.push('item_1', pcm24k(1000));
    const played = renderQuanta(b, 75); // 75 × 128 = 9600 samples = 200 ms
    expect(played.nonSilent).toBe(75);
    const report = b.stop();
    expect(report).toHaveLength(1);
    expect(report[0]?.itemId).toBe('item_1');
    expect(report[0]?.playedMs).toBeCloseTo(200, 6);
    expect(report[0]?.receivedMs).toBeCloseTo(1000, 6);
    // within one render quantum: the next one is already silent
    const after = renderQuanta(b, 10);
    expect(after.nonSilent).toBe(0);
    expect(b.playedMs).toBeCloseTo(200, 6);
    // late chunks of the stopped item are dropped, not played
    b.push('item_1', pcm24k(100));
    expect(renderQuanta(b, 20).nonSilent).toBe(0);
    expect(b.stats.lateChunksDropped).toBe(1);
  });

  it('attributes played audio to the right item across item boundaries', () => {
    const b = new PlaybackBuffer({ outputRateHz: 24000, startThresholdMs: 20 });
    const finished: [string, number][] = [];
    const b2 = new PlaybackBuffer({ outputRateHz: 24000, startThresholdMs: 20 }, { onItemFinished: (id, ms) => finished.push([id, ms]) });
    for (const buf of [b, b2]) {
      buf.push('first', pcm24k(50));
      buf.end('first');
      buf.push('second', pcm24k(500));
    }
    // 50 ms (1200 samples) + 30 ms of the second = 1920 samples = 15 quanta
    renderQuanta(b, 15);
    const report = b.stop();
    expect(report.map((r) => r.itemId)).toEqual(['second']);
    expect(report[0]?.playedMs).toBeCloseTo(30, 6);
    renderQuanta(b2, 15);
    expect(finished).toEqual([['first', 50]]);
  });

  it('counts an underrun when audio stops arriving mid-item, and re-buffers before resuming', () => {
    const b = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 40 });
    const underruns: string[] = [];
    const b2 = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 40 }, { onUnderrun: (id) => underruns.push(id) });
    for (const buf of [b, b2]) {
      buf.push('x', pcm24k(60));
      renderQuanta(buf, 40); // 106 ms of output for 60 ms of audio
    }
    expect(b.stats.underruns).toBe(1);
    expect(underruns).toEqual(['x']);
    expect(b.playState).toBe('buffering');
    b.push('x', pcm24k(20)); // below threshold: stays silent
    expect(renderQuanta(b, 3).nonSilent).toBe(0);
    b.push('x', pcm24k(40));
    expect(renderQuanta(b, 3).nonSilent).toBe(3);
  });

  it('keeps a long reply that arrives much faster than real time (ring grows, nothing dropped)', () => {
    const b = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 60, capacityMs: 1000 });
    for (let i = 0; i < 30; i++) b.push('long', pcm24k(200)); // 6 s at once
    b.end('long');
    expect(b.bufferedMs).toBeCloseTo(6000, 0);
    expect(b.stats.droppedSamples).toBe(0);
    renderQuanta(b, Math.ceil((6000 * 48) / QUANTUM) + 2);
    expect(b.playedMs).toBeCloseTo(6000, 0);
  });

  it('renders the received audio faithfully (24 kHz → 48 kHz keeps the waveform)', () => {
    const b = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 0 });
    const src = pcm24k(100, 16000);
    b.push('w', src);
    b.end('w');
    const { outputs } = renderQuanta(b, 40);
    const all = new Float32Array(outputs.length * QUANTUM);
    outputs.forEach((o, i) => all.set(o, i * QUANTUM));
    // every second output sample sits on an input sample
    let maxErr = 0;
    for (let i = 50; i < src.length - 50; i++) maxErr = Math.max(maxErr, Math.abs((all[2 * i] ?? 0) - (src[i] ?? 0) / 32768));
    expect(maxErr).toBeLessThan(0.002);
  });
});
