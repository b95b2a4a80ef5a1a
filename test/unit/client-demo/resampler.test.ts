import { describe, expect, it } from 'vitest';
import { StreamingResampler } from '../../../client-demo/src/lib/resampler.ts';

function sine(rateHz: number, freqHz: number, samples: number, amp = 0.5): Float32Array {
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++) out[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / rateHz);
  return out;
}

/** Amplitude of `freqHz` in `x` (single-bin DFT, steady-state part only). */
function toneAmplitude(x: Float32Array, rateHz: number, freqHz: number, from: number): number {
  let re = 0;
  let im = 0;
  const n = x.length - from;
  for (let i = from; i < x.length; i++) {
    const ph = (2 * Math.PI * freqHz * i) / rateHz;
    re += (x[i] ?? 0) * Math.cos(ph);
    im += (x[i] ?? 0) * Math.sin(ph);
  }
  return (2 * Math.sqrt(re * re + im * im)) / n;
}

function run(r: StreamingResampler, input: Float32Array, chunk: number): Float32Array {
  const out = new Float32Array(r.maxOutputSamples(input.length) + 64);
  const tmp = new Float32Array(r.maxOutputSamples(chunk) + 8);
  let w = 0;
  for (let off = 0; off < input.length; off += chunk) {
    const n = r.process(input.subarray(off, Math.min(input.length, off + chunk)), tmp);
    out.set(tmp.subarray(0, n), w);
    w += n;
  }
  return out.subarray(0, w);
}

describe('StreamingResampler (device rate → 24 kHz and back)', () => {
  for (const [inRate, outRate] of [
    [48000, 24000],
    [44100, 24000],
    [16000, 24000],
    [24000, 48000],
    [24000, 44100],
    [96000, 24000],
  ] as const) {
    it(`${inRate} → ${outRate}: a 1 kHz tone keeps its frequency and level`, () => {
      const r = new StreamingResampler({ inputRateHz: inRate, outputRateHz: outRate });
      const input = sine(inRate, 1000, inRate); // 1 s
      const out = run(r, input, 128);
      // the output rate is exact: one second in, one second out (minus the filter delay)
      const expected = outRate - Math.ceil((r.halfTaps * outRate) / inRate);
      expect(Math.abs(out.length - expected)).toBeLessThanOrEqual(2);
      const amp = toneAmplitude(out, outRate, 1000, 200);
      expect(20 * Math.log10(amp / 0.5)).toBeGreaterThan(-0.2);
      expect(20 * Math.log10(amp / 0.5)).toBeLessThan(0.2);
      // nothing else: residual after removing the tone is small (SNR > 60 dB)
      const ideal = sine(outRate, 1000, out.length);
      let err = 0;
      let sig = 0;
      for (let i = 200; i < out.length - 200; i++) {
        const e = (out[i] ?? 0) - (ideal[i] ?? 0);
        err += e * e;
        sig += (ideal[i] ?? 0) ** 2;
      }
      expect(10 * Math.log10(sig / err)).toBeGreaterThan(60);
    });
  }

  it('chunked output equals whole-signal output sample for sample (state carried across quanta)', () => {
    const input = new Float32Array(44100);
    let seed = 7;
    for (let i = 0; i < input.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      input[i] = (seed / 0x7fffffff) * 2 - 1;
    }
    const whole = run(new StreamingResampler({ inputRateHz: 44100, outputRateHz: 24000 }), input, input.length);
    for (const chunk of [1, 7, 128, 441, 1000]) {
      const chunked = run(new StreamingResampler({ inputRateHz: 44100, outputRateHz: 24000 }), input, chunk);
      expect(chunked.length).toBe(whole.length);
      let maxDiff = 0;
      for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs((whole[i] ?? 0) - (chunked[i] ?? 0)));
      expect(maxDiff).toBe(0);
    }
  });

  it('does not drift: 60 s of 44.1 kHz in 128-sample quanta gives 24000 samples per second', () => {
    const r = new StreamingResampler({ inputRateHz: 44100, outputRateHz: 24000 });
    const block = new Float32Array(128);
    const tmp = new Float32Array(r.maxOutputSamples(128));
    let total = 0;
    const quanta = Math.floor((44100 * 60) / 128);
    for (let q = 0; q < quanta; q++) total += r.process(block, tmp);
    const inSamples = quanta * 128;
    const exact = Math.floor(((inSamples - r.halfTaps) * 24000) / 44100);
    expect(Math.abs(total - exact)).toBeLessThanOrEqual(1);
  });

  it('filters what the 24 kHz output cannot carry (no aliasing from a 48 kHz microphone)', () => {
    const r = new StreamingResampler({ inputRateHz: 48000, outputRateHz: 24000 });
    // 15 kHz is above the 12 kHz Nyquist of the output; undecimated it would alias to 9 kHz
    const out = run(r, sine(48000, 15000, 48000), 128);
    const alias = toneAmplitude(out, 24000, 9000, 200);
    expect(20 * Math.log10(alias / 0.5)).toBeLessThan(-50);
  });

  it('flush() emits the delayed tail so an item plays to its last sample', () => {
    const r = new StreamingResampler({ inputRateHz: 24000, outputRateHz: 48000 });
    const input = sine(24000, 500, 2400); // 100 ms
    const out = new Float32Array(r.maxOutputSamples(2400) + 256);
    const n = r.process(input, out);
    const tail = r.flush(out.subarray(n));
    expect(n + tail).toBe(4800);
  });

  it('same rate passes through untouched', () => {
    const r = new StreamingResampler({ inputRateHz: 24000, outputRateHz: 24000 });
    const input = sine(24000, 440, 480);
    const out = new Float32Array(480);
    expect(r.process(input, out)).toBe(480);
    expect(Array.from(out)).toEqual(Array.from(input));
    expect(r.delayMs).toBe(0);
  });

  it('rejects nonsense rates with a clear error', () => {
    // the audio core's coded error (match the code, never the message)
    expect(() => new StreamingResampler({ inputRateHz: 0, outputRateHz: 24000 })).toThrow(expect.objectContaining({ code: 'AUDIO_ERR_UNSUPPORTED_RATE' }));
    expect(() => new StreamingResampler({ inputRateHz: 44100.5, outputRateHz: 24000 })).toThrow(expect.objectContaining({ code: 'AUDIO_ERR_UNSUPPORTED_RATE' }));
  });
});
