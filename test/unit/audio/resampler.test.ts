import { describe, expect, it } from 'vitest';
import { AudioError, Resampler } from '../../../audio/index.ts';
import { concatInt16, fitSine, noise, rms, sine, toneAmplitude } from './signal.ts';

const PAIRS: Array<[number, number]> = [
  [8000, 16000], [8000, 24000], [8000, 48000],
  [16000, 8000], [16000, 24000], [16000, 48000],
  [24000, 8000], [24000, 16000], [24000, 48000],
  [48000, 8000], [48000, 16000], [48000, 24000],
  [44100, 8000], [44100, 16000], [44100, 24000], [44100, 48000],
];

/** Both kernels: WebAssembly SIMD (the default on this host) and the JavaScript fallback. */
const KERNELS = ['wasm', 'js'] as const;
type Kernel = (typeof KERNELS)[number];

function runChunked(inHz: number, outHz: number, x: Int16Array, sizes: readonly number[], kernel: Kernel = 'wasm'): Int16Array {
  const r = new Resampler({ inputRateHz: inHz, outputRateHz: outHz, kernel });
  expect(r.kernel).toBe(kernel);
  const parts: Int16Array[] = [];
  let off = 0;
  let k = 0;
  while (off < x.length) {
    const n = Math.min(sizes[k++ % sizes.length] as number, x.length - off);
    parts.push(r.process(x.subarray(off, off + n)).slice());
    off += n;
  }
  parts.push(r.flush().slice());
  return concatInt16(parts);
}

describe('Resampler', () => {
  it.each(PAIRS)('%i → %i Hz: 20 ms chunks and odd chunks give exactly the samples of one call (both kernels)', (inHz, outHz) => {
    const x = noise(Math.round(inHz * 0.5), 0.5, inHz + outHz);
    for (const kernel of KERNELS) {
      const whole = runChunked(inHz, outHz, x, [x.length], kernel);
      const frames = runChunked(inHz, outHz, x, [inHz / 50], kernel);
      const odd = runChunked(inHz, outHz, x, [1, 7, 333, 2, 1000, 13], kernel);
      expect(whole.length).toBeGreaterThan(0);
      expect(frames).toEqual(whole);
      expect(odd).toEqual(whole);
      // total length: every output up to the last input sample plus the filter delay
      const r = new Resampler({ inputRateHz: inHz, outputRateHz: outHz, kernel });
      const expected = ((x.length - 1) * outHz) / inHz + (r.delayMs * outHz) / 1000 + 1;
      expect(Math.abs(whole.length - expected)).toBeLessThanOrEqual(1);
    }
  });

  it.each([[16000, 24000], [24000, 16000], [8000, 24000], [8000, 16000], [24000, 8000], [44100, 48000], [48000, 16000], [8000, 48000], [48000, 44100]] as const)(
    '%i → %i Hz: one sample at a time gives exactly the samples of one call (every kernel state, both kernels)',
    (inHz, outHz) => {
      const x = noise(Math.round(inHz * 0.1), 0.5, 7);
      for (const kernel of KERNELS) {
        const whole = runChunked(inHz, outHz, x, [x.length], kernel);
        expect(runChunked(inHz, outHz, x, [1], kernel)).toEqual(whole);
        expect(runChunked(inHz, outHz, x, [2, 3, 1, 5], kernel)).toEqual(whole);
      }
    },
  );

  it('a long input (several SIMD blocks) gives exactly the samples of 20 ms chunks', () => {
    const x = noise(48000 * 3, 0.5, 3);
    expect(runChunked(48000, 16000, x, [x.length])).toEqual(runChunked(48000, 16000, x, [960]));
    expect(runChunked(44100, 48000, x, [x.length])).toEqual(runChunked(44100, 48000, x, [441, 9000]));
  });

  it.each(PAIRS)('%i → %i Hz: the SIMD and JavaScript kernels agree to within one int16 step', (inHz, outHz) => {
    const x = noise(Math.round(inHz * 0.2), 0.9, 11);
    const a = runChunked(inHz, outHz, x, [inHz / 50], 'wasm');
    const b = runChunked(inHz, outHz, x, [inHz / 50], 'js');
    expect(a.length).toBe(b.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it.each([[8000, 24000], [24000, 8000], [16000, 24000], [24000, 16000], [8000, 16000], [16000, 8000], [48000, 24000]] as const)(
    '%i → %i Hz → back: a 1 kHz sine keeps ≥ 100 dB SNR on the float path, 20 ms chunks (both kernels)',
    (aHz, bHz) => {
      const x = new Float32Array(aHz * 2);
      for (let i = 0; i < x.length; i++) x[i] = 0.9 * Math.sin((2 * Math.PI * 1000 * i) / aHz);
      for (const kernel of KERNELS) {
        const there = new Resampler({ inputRateHz: aHz, outputRateHz: bHz, kernel });
        const back = new Resampler({ inputRateHz: bHz, outputRateHz: aHz, kernel });
        const y: number[] = [];
        for (let o = 0; o < x.length; o += aHz / 50) {
          for (const v of back.processFloat32(there.processFloat32(x.subarray(o, o + aHz / 50)).slice())) y.push(v);
        }
        const fit = fitSine(y, aHz, 1000, Math.floor(y.length * 0.1), Math.floor(y.length * 0.9));
        expect(fit.snrDb, kernel).toBeGreaterThanOrEqual(100);
        expect(Math.abs(20 * Math.log10(fit.amplitude / 0.9)), kernel).toBeLessThan(0.01);
      }
    },
  );

  it('24k → 8k → 24k round trip of a 1 kHz sine keeps ≥ 90 dB SNR', () => {
    const x = sine(24000, 1000, 2, 0.9);
    const down = new Resampler({ inputRateHz: 24000, outputRateHz: 8000 });
    const up = new Resampler({ inputRateHz: 8000, outputRateHz: 24000 });
    const parts: Int16Array[] = [];
    for (let o = 0; o < x.length; o += 480) parts.push(up.process(down.process(x.subarray(o, o + 480))).slice());
    const y = concatInt16(parts);
    const fit = fitSine(y, 24000, 1000, Math.floor(y.length * 0.1), Math.floor(y.length * 0.9));
    expect(fit.snrDb).toBeGreaterThanOrEqual(90);
    expect(fit.amplitude / (0.9 * 32767)).toBeCloseTo(1, 3); // passband gain within 0.01 dB
  });

  it.each(PAIRS)('%i → %i Hz: a 1 kHz sine comes out clean (≥ 90 dB SNR) and at unity gain (both kernels)', (inHz, outHz) => {
    for (const kernel of KERNELS) {
      const r = new Resampler({ inputRateHz: inHz, outputRateHz: outHz, kernel });
      const y = r.process(sine(inHz, 1000, 1, 0.9)).slice();
      const fit = fitSine(y, outHz, 1000, Math.floor(y.length * 0.1), Math.floor(y.length * 0.9));
      expect(fit.snrDb, kernel).toBeGreaterThanOrEqual(90);
      expect(Math.abs(20 * Math.log10(fit.amplitude / (0.9 * 32767))), kernel).toBeLessThan(0.01);
    }
  });

  it('passband is flat to 0.85 of the lower Nyquist (300–3400 Hz at 8 kHz within ±0.05 dB)', () => {
    for (const [inHz, outHz] of [[24000, 8000], [8000, 24000]] as const) {
      for (const f of [300, 1000, 2000, 3000, 3400]) {
        const y = new Resampler({ inputRateHz: inHz, outputRateHz: outHz }).process(sine(inHz, f, 0.5, 0.5)).slice();
        const a = toneAmplitude(y, outHz, f, Math.floor(y.length * 0.2), Math.floor(y.length * 0.8));
        expect(Math.abs(20 * Math.log10(a / (0.5 * 32767)))).toBeLessThan(0.05);
      }
    }
  });

  it.each([
    [24000, 8000], [16000, 8000], [48000, 8000], [48000, 16000], [24000, 16000], [48000, 24000], [44100, 16000], [44100, 8000],
  ] as const)('downsampling %i → %i Hz: every tone above the output Nyquist is ≥ 80 dB down (nothing aliases)', (inHz, outHz) => {
    const nyq = outHz / 2;
    const tones = [nyq * 1.0125, nyq * 1.1, nyq * 1.3, nyq * 1.7, nyq * 2, inHz / 2 - 100].filter((f) => f < inHz / 2);
    for (const kernel of KERNELS) {
      for (const f of tones) {
        const amp = 0.9 * 32767;
        const y = new Resampler({ inputRateHz: inHz, outputRateHz: outHz, kernel }).process(sine(inHz, f, 0.5, 0.9)).slice();
        const level = rms(y, Math.floor(y.length * 0.1), Math.floor(y.length * 0.9)) / (amp / Math.SQRT2);
        expect(20 * Math.log10(level), `${kernel} ${f.toFixed(0)} Hz`).toBeLessThanOrEqual(-80);
      }
    }
  });

  it.each([[8000, 24000], [8000, 16000], [16000, 48000], [24000, 48000]] as const)(
    'upsampling %i → %i Hz: spectral images of passband tones are ≥ 80 dB down',
    (inHz, outHz) => {
      for (const f of [0.1 * inHz, 0.25 * inHz, 0.425 * inHz]) {
        const y = new Resampler({ inputRateHz: inHz, outputRateHz: outHz }).process(sine(inHz, f, 0.5, 0.9)).slice();
        const from = Math.floor(y.length * 0.1), to = Math.floor(y.length * 0.9);
        const main = toneAmplitude(y, outHz, f, from, to);
        for (let image = inHz - f; image < outHz / 2; image += inHz) {
          const a = toneAmplitude(y, outHz, image, from, to);
          expect(20 * Math.log10(a / main), `image ${image} Hz of ${f} Hz`).toBeLessThanOrEqual(-80);
        }
        for (let image = inHz + f; image < outHz / 2; image += inHz) {
          const a = toneAmplitude(y, outHz, image, from, to);
          expect(20 * Math.log10(a / main), `image ${image} Hz of ${f} Hz`).toBeLessThanOrEqual(-80);
        }
      }
    },
  );

  it('reports its real group delay', () => {
    for (const [inHz, outHz] of [[24000, 8000], [8000, 24000], [44100, 48000], [48000, 16000]] as const) {
      const r = new Resampler({ inputRateHz: inHz, outputRateHz: outHz });
      const f = 40; // period 25 ms, longer than any delay: no phase ambiguity
      const y = r.process(sine(inHz, f, 1, 0.5)).slice();
      const fit = fitSine(y, outHz, f, Math.floor(y.length * 0.1), Math.floor(y.length * 0.9));
      // input is sin(ωt); the output is sin(ω(t − delay)) → phase = −ω·delay (mod 2π)
      let lag = -fit.phase / (2 * Math.PI * f);
      if (lag < 0) lag += 1 / f;
      expect(Math.abs(lag * 1000 - r.delayMs), `${inHz}→${outHz}`).toBeLessThan(0.01);
      expect(r.delayMs).toBeGreaterThan(0);
      expect(r.delayMs).toBeLessThan(6);
    }
  });

  it('returns views over one reused buffer (no allocation per frame) and reset() starts a new stream', () => {
    const r = new Resampler({ inputRateHz: 8000, outputRateHz: 24000 });
    const x = noise(160 * 10);
    const a = r.process(x.subarray(0, 160));
    const b = r.process(x.subarray(160, 320));
    expect(a.buffer).toBe(b.buffer);
    expect(b.length).toBe(480);
    r.reset();
    const again = r.process(x.subarray(0, 160)).slice();
    const fresh = new Resampler({ inputRateHz: 8000, outputRateHz: 24000 }).process(x.subarray(0, 160)).slice();
    expect(again).toEqual(fresh);
  });

  it('equal rates pass samples through unchanged', () => {
    const r = new Resampler({ inputRateHz: 16000, outputRateHz: 16000 });
    const x = noise(321);
    expect(r.process(x)).toEqual(x);
    expect(r.delayMs).toBe(0);
  });

  it('processFloat32 shares the stream with process (both kernels)', () => {
    const x = noise(2400);
    const f = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) f[i] = (x[i] as number) / 32768;
    for (const kernel of KERNELS) {
      const viaInt = new Resampler({ inputRateHz: 24000, outputRateHz: 16000, kernel }).process(x).slice();
      const viaFloat = new Resampler({ inputRateHz: 24000, outputRateHz: 16000, kernel }).processFloat32(f);
      expect(viaFloat.length).toBe(viaInt.length);
      for (let i = 0; i < viaInt.length; i++) expect(Math.abs((viaFloat[i] as number) * 32768 - (viaInt[i] as number))).toBeLessThanOrEqual(0.5 + 1e-6);
      // mixed in one stream: the float half continues the int half's history
      const mixed = new Resampler({ inputRateHz: 24000, outputRateHz: 16000, kernel });
      const a = mixed.process(x.subarray(0, 1200)).slice();
      const b = mixed.processFloat32(f.subarray(1200));
      expect(a.length + b.length).toBe(viaInt.length);
      for (let i = 0; i < b.length; i++) expect(Math.abs((b[i] as number) * 32768 - (viaInt[a.length + i] as number))).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });

  it('rejects unusable rates with a coded error', () => {
    expect(() => new Resampler({ inputRateHz: 0, outputRateHz: 8000 })).toThrow(AudioError);
    try {
      new Resampler({ inputRateHz: 8000, outputRateHz: 8000.5 });
      expect.unreachable();
    } catch (e) {
      expect((e as AudioError).code).toBe('AUDIO_ERR_UNSUPPORTED_RATE');
    }
    expect(() => new Resampler({ inputRateHz: 44101, outputRateHz: 48000 })).toThrow(AudioError);
  });
});
