import { describe, expect, it } from 'vitest';
import { CapturePipeline } from '../../../client-demo/src/lib/capture.ts';

function tone(rateHz: number, seconds: number, amp = 0.25, freqHz = 440): Float32Array {
  const x = new Float32Array(Math.round(rateHz * seconds));
  for (let i = 0; i < x.length; i++) x[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / rateHz);
  return x;
}

/** Feed `input` in 128-sample render quanta, as an AudioWorklet does. */
function feed(p: CapturePipeline, input: Float32Array, onFrame: (pcm: Int16Array, rms: number) => void): void {
  for (let off = 0; off < input.length; off += 128) {
    p.push(input.subarray(off, Math.min(input.length, off + 128)), (f) => onFrame(f.pcm, f.rmsDbfs));
  }
}

describe('CapturePipeline (mic worklet logic): device rate → 24 kHz pcm16 frames of 20–40 ms', () => {
  for (const rate of [48000, 44100, 16000]) {
    for (const frameMs of [20, 40]) {
      it(`${rate} Hz in render quanta → exact ${frameMs} ms frames of 24 kHz pcm16`, () => {
        const p = new CapturePipeline({ inputRateHz: rate, frameMs });
        const sizes: number[] = [];
        const collected: number[] = [];
        feed(p, tone(rate, 2), (pcm) => {
          sizes.push(pcm.length);
          for (const s of pcm) collected.push(s);
          p.pool.give(pcm);
        });
        const frameSamples = (24000 * frameMs) / 1000;
        expect(new Set(sizes)).toEqual(new Set([frameSamples]));
        // 2 s of input → 2 s of output minus at most one frame still filling (and the filter delay)
        const frames = sizes.length;
        expect(frames).toBeGreaterThanOrEqual(2000 / frameMs - 1);
        expect(frames).toBeLessThanOrEqual(2000 / frameMs);
        // the samples are the tone at 24 kHz: zero crossings give 440 Hz
        let crossings = 0;
        for (let i = 1000; i < collected.length; i++) {
          if ((collected[i - 1] ?? 0) < 0 && (collected[i] ?? 0) >= 0) crossings++;
        }
        const seconds = (collected.length - 1000) / 24000;
        expect(crossings / seconds).toBeGreaterThan(435);
        expect(crossings / seconds).toBeLessThan(445);
        // and the pool recycles: only a couple of buffers ever allocated
        expect(p.pool.allocated).toBeLessThanOrEqual(2);
      });
    }
  }

  it('reports a level per frame that follows the input (for the meter)', () => {
    const p = new CapturePipeline({ inputRateHz: 48000, frameMs: 20 });
    const levels: number[] = [];
    feed(p, tone(48000, 0.5, 0.5), (pcm, rms) => {
      levels.push(rms);
      p.pool.give(pcm);
    });
    // a 0.5 amplitude sine has an RMS of 0.354 → −9 dBFS
    expect(levels.at(-1)).toBeCloseTo(-9.03, 0);
    const quiet: number[] = [];
    feed(p, new Float32Array(48000 * 0.2), (pcm, rms) => {
      quiet.push(rms);
      p.pool.give(pcm);
    });
    expect(quiet.at(-1)).toBe(-100);
  });

  it('muted: frames keep coming (the server VAD sees silence) but carry zeros', () => {
    const p = new CapturePipeline({ inputRateHz: 48000, frameMs: 20 });
    p.muted = true;
    let frames = 0;
    let nonZero = 0;
    feed(p, tone(48000, 0.5, 0.5), (pcm) => {
      frames++;
      for (const s of pcm) if (s !== 0) nonZero++;
      p.pool.give(pcm);
    });
    expect(frames).toBeGreaterThanOrEqual(24);
    expect(nonZero).toBe(0);
  });

  it('handles blocks larger than a render quantum', () => {
    const p = new CapturePipeline({ inputRateHz: 44100, frameMs: 30 });
    let samples = 0;
    p.push(tone(44100, 1), (f) => {
      samples += f.pcm.length;
      p.pool.give(f.pcm);
    });
    expect(samples).toBe(720 * 33);
  });

  it('refuses frame lengths outside 20–40 ms', () => {
    expect(() => new CapturePipeline({ inputRateHz: 48000, frameMs: 10 })).toThrow(/20–40/);
    expect(() => new CapturePipeline({ inputRateHz: 48000, frameMs: 100 })).toThrow(RangeError);
  });
});
