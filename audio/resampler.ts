/**
 * Streaming rational resampler: polyphase windowed-sinc (Kaiser) FIR.
 *
 * Output rate / input rate = L / M (reduced). Conceptually the input is upsampled by L (zero
 * insertion), low-pass filtered by a Kaiser-windowed sinc h of length N = K·L, and decimated by M;
 * only the taps that meet a non-zero input sample are computed, so each output costs K multiply-adds.
 * The filter state (the last K−1 input samples and the phase) is kept across calls, so feeding a
 * signal in 20 ms chunks yields exactly the samples one call on the whole signal yields.
 *
 * Filter design (see docs/notes/audio.md):
 * - downsampling: the transition band sits *below* the output Nyquist (passband 0.85·Nyquist,
 *   stopband from Nyquist), so nothing above the output Nyquist aliases into the output;
 * - upsampling: the transition band is centred on the input Nyquist (0.85·N … 1.15·N), so the
 *   spectral images of everything in the passband are removed;
 * - Kaiser window for ATTENUATION_DB of stopband attenuation.
 */
import { AudioError } from './errors.ts';
import { simdRuntime, type SimdRuntime } from './resampler-simd.ts';

/** Stopband attenuation the Kaiser window is designed for (the tests assert ≥ 80 dB). */
export const RESAMPLER_ATTENUATION_DB = 85;
/** Passband edge as a fraction of the lower Nyquist frequency. */
export const RESAMPLER_PASSBAND_FRACTION = 0.85;
/** Largest number of polyphase branches accepted (44.1 kHz → 48 kHz needs 160). */
const MAX_PHASES = 1024;
const INITIAL_CHUNK_SAMPLES = 4096;
/** The SIMD path takes long inputs in blocks of this many samples (bounded scratch). */
const SIMD_BLOCK = 4096;

export interface ResamplerOptions {
  inputRateHz: number;
  outputRateHz: number;
  /**
   * Which kernels run the filter: 'auto' (default) = WebAssembly SIMD where the host has it, else
   * JavaScript; 'wasm' requires SIMD (AUDIO_ERR_BAD_INPUT when the host lacks it); 'js' forces the
   * JavaScript kernels (tests and the benchmark compare the two). Same filter either way.
   */
  kernel?: 'auto' | 'wasm' | 'js';
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x / 2) * (x / 2);
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

interface FilterDesign {
  readonly L: number;
  readonly M: number;
  readonly K: number;
  /** coef[p·K + k] = h[p + (K−1−k)·L]: phase p, reversed so the inner loop walks forward in time. */
  readonly coef: Float32Array;
  /** For integer upsampling by 2 or 3 and for 2:3: coefInterleaved[k·L + p] = coef[p·K + k]. */
  readonly coefInterleaved: Float32Array | undefined;
  /** Group delay in upsampled samples, (Np−1)/2. */
  readonly delayUp: number;
  /** The same delay in output samples (an integer by construction). */
  readonly delayOutputSamples: number;
  /** Byte address of the SIMD coefficient table (K8 floats per phase, zero-padded) once built. */
  simdCoef?: number;
}

const designCache = new Map<string, FilterDesign>();

function design(inputRateHz: number, outputRateHz: number): FilterDesign {
  const key = `${inputRateHz}:${outputRateHz}`;
  const cached = designCache.get(key);
  if (cached) return cached;
  const g = gcd(inputRateHz, outputRateHz);
  const L = outputRateHz / g;
  const M = inputRateHz / g;
  const upRateHz = inputRateHz * L;
  const lowNyquistHz = Math.min(inputRateHz, outputRateHz) / 2;
  const passHz = RESAMPLER_PASSBAND_FRACTION * lowNyquistHz;
  const stopHz = outputRateHz < inputRateHz ? lowNyquistHz : 2 * lowNyquistHz - passHz;
  const cutoff = (passHz + stopHz) / 2 / upRateHz; // cycles per upsampled sample
  const A = RESAMPLER_ATTENUATION_DB;
  const beta = A > 50 ? 0.1102 * (A - 8.7) : A >= 21 ? 0.5842 * (A - 21) ** 0.4 + 0.07886 * (A - 21) : 0;
  const dOmega = (2 * Math.PI * (stopHz - passHz)) / upRateHz;
  const nMin = Math.ceil((A - 7.95) / (2.285 * dOmega)) + 1;
  // Prototype length Np = 2·M·j + 1: the group delay (Np − 1)/2 is then exactly j output samples,
  // so a caller can remove it without a fractional-sample phase error. Zero-padded to K·L taps.
  const j = Math.ceil((nMin - 1) / (2 * M));
  const Np = 2 * M * j + 1;
  const K = Math.max(2, Math.ceil(Np / L));
  const N = K * L;
  const mid = (Np - 1) / 2;
  const i0Beta = besselI0(beta);
  const h = new Float64Array(N);
  for (let n = 0; n < Np; n++) {
    const x = n - mid;
    const r = x / mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    h[n] = L * sinc * (besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta);
  }
  const coef = new Float32Array(N);
  for (let p = 0; p < L; p++) {
    for (let k = 0; k < K; k++) coef[p * K + k] = h[p + (K - 1 - k) * L] as number;
  }
  // integer upsampling by 2 or 3 (and 2:3): each input position yields all L phases (2:3: a pair
  // of outputs one sample apart) from the same window, so the kernels load each input sample once
  // for several multiply-adds (coefficients interleaved by phase)
  let coefInterleaved: Float32Array | undefined;
  if ((M === 1 && (L === 2 || L === 3)) || (L === 2 && M === 3) || (L === 3 && M === 2)) {
    coefInterleaved = new Float32Array(N);
    for (let p = 0; p < L; p++) for (let k = 0; k < K; k++) coefInterleaved[k * L + p] = coef[p * K + k] as number;
  }
  const d: FilterDesign = { L, M, K, coef, coefInterleaved, delayUp: mid, delayOutputSamples: j };
  designCache.set(key, d);
  return d;
}

function checkRate(name: string, hz: number): void {
  if (!Number.isInteger(hz) || hz < 1000 || hz > 192000) {
    throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `${name} must be an integer between 1000 and 192000 Hz, got ${hz}`);
  }
}

export class Resampler {
  readonly inputRateHz: number;
  readonly outputRateHz: number;
  /** Group delay of the filter, in ms: output sample times lag the input by this much. */
  readonly delayMs: number;
  /** The group delay in whole output samples (exact: the filter is designed for it). */
  readonly delaySamples: number;
  /** Which kernels run: 'wasm' (WebAssembly SIMD), 'js', or 'copy' (equal rates). */
  readonly kernel: 'wasm' | 'js' | 'copy';
  private readonly passthrough: boolean;
  private readonly L: number;
  private readonly M: number;
  private readonly K: number;
  private readonly coef: Float32Array;
  private readonly coefI: Float32Array | undefined;
  /**
   * Kernel: 0 generic polyphase, 1 symmetric decimation (L = 1), 2 / 3 fused integer upsampling,
   * 4 = 2:3 (e.g. 24k→16k) in pairs whose windows are one sample apart (shared input loads),
   * 5 = 3:2 (e.g. 16k→24k) in groups of three outputs over two input positions.
   */
  private readonly jsKernel: 0 | 1 | 2 | 3 | 4 | 5;
  private readonly delayUp: number;
  private readonly nStep: number;
  private readonly pStep: number;
  /** History (K−1 samples) followed by unconsumed input, in int16 units. */
  private hist: Float32Array;
  private histLen: number;
  /** Buffer index of the first sample of the next output's window. */
  private pos = 0;
  /** Polyphase branch of the next output. */
  private phase = 0;
  private outI16: Int16Array;
  private outF32: Float32Array;
  private inCount = 0;
  private outCount = 0;
  private zeros: Float32Array | undefined;
  /** WebAssembly SIMD kernels (null: the JavaScript kernels run). */
  private readonly simd: SimdRuntime | null = null;
  private readonly simdCoef: number = 0;
  /** Taps per phase rounded up to a multiple of 8 (the SIMD loop's step). */
  private readonly K8: number = 0;
  /** SIMD path: the history (K−1 samples at most), copied into the shared scratch for each call. */
  private readonly wHist: Float32Array;
  private wHistLen: number;
  private retI16: Int16Array[] = [];
  private retF32: Float32Array[] = [];

  constructor(opts: ResamplerOptions) {
    checkRate('inputRateHz', opts.inputRateHz);
    checkRate('outputRateHz', opts.outputRateHz);
    this.inputRateHz = opts.inputRateHz;
    this.outputRateHz = opts.outputRateHz;
    this.passthrough = opts.inputRateHz === opts.outputRateHz;
    if (this.passthrough) {
      this.L = 1;
      this.M = 1;
      this.K = 1;
      this.coef = new Float32Array([1]);
      this.coefI = undefined;
      this.jsKernel = 0;
      this.delayUp = 0;
      this.delaySamples = 0;
    } else {
      const g = gcd(opts.inputRateHz, opts.outputRateHz);
      if (opts.outputRateHz / g > MAX_PHASES) {
        throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `${opts.inputRateHz} → ${opts.outputRateHz} Hz needs ${opts.outputRateHz / g} filter phases (max ${MAX_PHASES})`);
      }
      const d = design(opts.inputRateHz, opts.outputRateHz);
      this.L = d.L;
      this.M = d.M;
      this.K = d.K;
      this.coef = d.coef;
      this.coefI = d.coefInterleaved;
      // L = 1: the prototype has K = Np taps, odd and symmetric
      this.jsKernel = d.L === 2 && d.M === 3 ? 4 : d.L === 3 && d.M === 2 ? 5 : d.coefInterleaved ? (d.L as 2 | 3) : d.L === 1 ? 1 : 0;
      this.delayUp = d.delayUp;
      this.delaySamples = d.delayOutputSamples;
    }
    this.nStep = Math.floor(this.M / this.L);
    this.pStep = this.M % this.L;
    const kernel = opts.kernel ?? 'auto';
    const rt = this.passthrough || kernel === 'js' ? null : simdRuntime();
    if (kernel === 'wasm' && rt === null && !this.passthrough) {
      throw new AudioError('AUDIO_ERR_BAD_INPUT', 'this host has no WebAssembly SIMD for the resampler');
    }
    this.wHist = new Float32Array(Math.max(1, this.K - 1));
    this.wHistLen = this.K - 1;
    if (rt !== null) {
      const d = design(opts.inputRateHz, opts.outputRateHz);
      const K8 = (this.K + 7) & ~7;
      if (d.simdCoef === undefined) {
        const at = rt.alloc(K8 * this.L * 4);
        const f = rt.f32;
        const base = at >> 2;
        f.fill(0, base, base + K8 * this.L);
        for (let p = 0; p < this.L; p++) f.set(d.coef.subarray(p * this.K, (p + 1) * this.K), base + p * K8);
        d.simdCoef = at;
      }
      this.simd = rt;
      this.simdCoef = d.simdCoef;
      this.K8 = K8;
    }
    this.kernel = this.passthrough ? 'copy' : rt !== null ? 'wasm' : 'js';
    this.delayMs = (this.delayUp / (this.L * this.inputRateHz)) * 1000;
    this.hist = new Float32Array(this.K - 1 + INITIAL_CHUNK_SAMPLES);
    this.histLen = this.K - 1;
    const outCap = this.maxOutputFor(INITIAL_CHUNK_SAMPLES);
    this.outI16 = new Int16Array(outCap);
    this.outF32 = new Float32Array(outCap);
  }

  /** Upper bound of the samples one call with `inputSamples` new samples can return. */
  maxOutputFor(inputSamples: number): number {
    return Math.ceil(((inputSamples + this.K) * this.L) / this.M) + 2;
  }

  /** Resample a chunk of any length. Returns a view, valid until the next call. */
  process(input: Int16Array): Int16Array {
    if (this.passthrough) {
      this.ensureOut(input.length);
      this.outI16.set(input);
      this.inCount += input.length;
      this.outCount += input.length;
      return this.outI16.subarray(0, input.length);
    }
    if (this.simd !== null) return this.viewI16(this.simdRun(input, 1, 1, 1));
    this.append(input, 1);
    const n = this.run();
    const out = this.outI16;
    const f = this.outF32;
    for (let i = 0; i < n; i++) {
      const v = Math.round(f[i] as number);
      out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    return this.viewI16(n);
  }

  /**
   * Float variant: samples in [-1, 1]. Shares state with `process` (same stream), so the two may be
   * mixed. Returns a view, valid until the next call.
   */
  processFloat32(input: Float32Array): Float32Array {
    if (this.passthrough) {
      this.ensureOut(input.length);
      this.outF32.set(input);
      this.inCount += input.length;
      this.outCount += input.length;
      return this.outF32.subarray(0, input.length);
    }
    if (this.simd !== null) return this.viewF32(this.simdRun(input, 32768, 0, 1 / 32768));
    this.append(input, 32768);
    const n = this.run();
    const f = this.outF32;
    for (let i = 0; i < n; i++) f[i] = (f[i] as number) / 32768;
    return this.viewF32(n);
  }

  /** outI16[0, n) as a view, cached by length (no allocation per frame in steady state). */
  private viewI16(n: number): Int16Array {
    if (n > 16384) return this.outI16.subarray(0, n);
    return (this.retI16[n] ??= this.outI16.subarray(0, n));
  }

  private viewF32(n: number): Float32Array {
    if (n > 16384) return this.outF32.subarray(0, n);
    return (this.retF32[n] ??= this.outF32.subarray(0, n));
  }

  /**
   * SIMD path: appends `input` (× inScale) to the history in the shared scratch, computes every
   * output it allows there (mode 1: rounded int16 into outI16; mode 0: f32 × outScale into
   * outF32), and keeps the history for the next call. Long inputs go in blocks (the same samples
   * as one call: chunked == whole). Returns the number of outputs.
   */
  private simdRun(input: Int16Array | Float32Array, inScale: number, mode: 0 | 1, outScale: number): number {
    const rt = this.simd as SimdRuntime;
    const K = this.K;
    const L = this.L;
    const M = this.M;
    const ex = rt.exports;
    const pad = 5 * M + 16;
    let produced = 0;
    this.ensureOut(this.maxOutputFor(input.length));
    for (let off = 0; off < input.length; off += SIMD_BLOCK) {
      const n = Math.min(SIMD_BLOCK, input.length - off);
      const part = n === input.length ? input : input.subarray(off, off + n);
      rt.ensureScratch(K - 1 + n + pad + 8, n + 8, this.maxOutputFor(n) + 4 * L + 8);
      const X = rt.scratchX;
      const x4 = X >> 2;
      const f32 = rt.f32;
      f32.set(this.wHist, x4);
      const histLen = this.wHistLen;
      if (part instanceof Int16Array) {
        rt.i16.set(part, rt.scratchIn >> 1);
        ex.cvt(rt.scratchIn, X + histLen * 4, n);
      } else {
        f32.set(part, x4 + histLen);
        if (inScale !== 1) ex.scale(X + histLen * 4, n, inScale);
      }
      const total = histLen + n;
      f32.fill(0, x4 + total, x4 + total + pad);
      this.inCount += n;
      let pos = this.pos;
      let phase = this.phase;
      const last = total - K;
      const nOut = pos <= last ? Math.floor(((last - pos + 1) * L - phase + M - 1) / M) : 0;
      if (nOut > 0) {
        if (L <= 8) {
          ex.runA(this.simdCoef, this.K8 * 4, X, rt.scratchOut, Math.ceil(nOut / (4 * L)), phase, pos, L, M, this.nStep, this.pStep, mode, outScale);
        } else {
          ex.runB(this.simdCoef, this.K8 * 4, X, rt.scratchOut, Math.ceil(nOut / 4), phase, pos, L, this.nStep, this.pStep, mode, outScale);
        }
        if (mode === 1) this.outI16.set(rt.outView16(nOut), produced);
        else this.outF32.set(rt.outViewF32(nOut), produced);
        produced += nOut;
        const adv = phase + nOut * M;
        phase = adv % L;
        pos += Math.floor(adv / L);
      }
      // keep what the next windows need: the last K−1 samples at most
      const drop = Math.min(pos, total);
      f32.copyWithin(x4, x4 + drop, x4 + total);
      this.wHistLen = total - drop;
      this.wHist.set(rt.xView(this.wHist.length));
      this.pos = pos - drop;
      this.phase = phase;
    }
    this.outCount += produced;
    return produced;
  }

  /**
   * End of stream: feeds silence until every output sample up to the last input sample (plus the
   * filter's delay) has come out, returns those samples (a view), then resets the state.
   */
  flush(): Int16Array {
    if (this.passthrough || this.inCount === 0) {
      this.reset();
      return this.outI16.subarray(0, 0);
    }
    const target = Math.floor(((this.inCount - 1) * this.L + this.delayUp) / this.M) + 1;
    let need = Math.max(0, target - this.outCount);
    const zeros = (this.zeros ??= new Float32Array(this.K + 64));
    // collect into a private accumulation; the output views are reused by run()
    const acc = new Int16Array(need);
    let got = 0;
    while (need > 0) {
      let n: number;
      if (this.simd !== null) {
        n = this.simdRun(zeros, 1, 0, 1);
      } else {
        this.append(zeros, 1);
        n = this.run();
      }
      const take = Math.min(n, need);
      for (let i = 0; i < take; i++) {
        const v = Math.round(this.outF32[i] as number);
        acc[got++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
      need -= take;
      this.inCount -= zeros.length; // silence does not count as input
    }
    this.reset();
    this.ensureOut(acc.length);
    this.outI16.set(acc);
    return this.outI16.subarray(0, acc.length);
  }

  /** Forget all state: the next call starts a new stream. */
  reset(): void {
    this.hist.fill(0, 0, this.K - 1);
    this.histLen = this.K - 1;
    this.wHist.fill(0);
    this.wHistLen = this.K - 1;
    this.pos = 0;
    this.phase = 0;
    this.inCount = 0;
    this.outCount = 0;
  }

  private ensureOut(n: number): void {
    if (this.outI16.length < n) {
      const cap = Math.max(n, this.outI16.length * 2);
      this.outI16 = new Int16Array(cap);
      this.outF32 = new Float32Array(cap);
      this.retI16 = [];
      this.retF32 = [];
    }
  }

  private append(input: Int16Array | Float32Array, scale: number): void {
    const need = this.histLen + input.length;
    if (need > this.hist.length) {
      const grown = new Float32Array(Math.max(need, this.hist.length * 2));
      grown.set(this.hist.subarray(0, this.histLen));
      this.hist = grown;
      this.ensureOut(this.maxOutputFor(input.length));
    } else if (this.outI16.length < this.maxOutputFor(input.length)) {
      this.ensureOut(this.maxOutputFor(input.length));
    }
    const h = this.hist;
    const base = this.histLen;
    if (scale === 1) {
      h.set(input, base);
    } else {
      for (let i = 0; i < input.length; i++) h[base + i] = (input[i] as number) * scale;
    }
    this.histLen = need;
    this.inCount += input.length;
  }

  /** One output of phase p whose window starts at hist[at]: a sequential sum over the taps. */
  private dot(p: number, at: number): number {
    const K = this.K;
    const coef = this.coef;
    const x = this.hist;
    const cb = p * K;
    let a = 0;
    for (let k = 0; k < K; k++) a += (coef[cb + k] as number) * (x[at + k] as number);
    return a;
  }

  /** Compute every output the buffered input allows into outF32; returns the count. */
  private run(): number {
    const K = this.K;
    const x = this.hist;
    const out = this.outF32;
    const last = this.histLen - K; // the window [pos, pos+K) must fit: pos <= histLen-K
    let pos = this.pos;
    let phase = this.phase;
    let j = 0;
    if (this.jsKernel === 3 || this.jsKernel === 2) {
      // fused integer upsampling (M = 1): phase is always 0 between calls
      const c = this.coefI as Float32Array;
      if (this.jsKernel === 3) {
        // two input positions per pass share the coefficient loads
        for (; pos + 1 <= last; pos += 2) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let b0 = 0;
          let b1 = 0;
          let b2 = 0;
          let xv = x[pos] as number;
          for (let k = 0, ci = 0; k < K; k++, ci += 3) {
            const c0 = c[ci] as number;
            const c1 = c[ci + 1] as number;
            const c2 = c[ci + 2] as number;
            const xw = x[pos + k + 1] as number;
            a0 += c0 * xv;
            a1 += c1 * xv;
            a2 += c2 * xv;
            b0 += c0 * xw;
            b1 += c1 * xw;
            b2 += c2 * xw;
            xv = xw;
          }
          out[j++] = a0;
          out[j++] = a1;
          out[j++] = a2;
          out[j++] = b0;
          out[j++] = b1;
          out[j++] = b2;
        }
        for (; pos <= last; pos++) {
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          for (let k = 0, ci = 0; k < K; k++, ci += 3) {
            const xv = x[pos + k] as number;
            a0 += (c[ci] as number) * xv;
            a1 += (c[ci + 1] as number) * xv;
            a2 += (c[ci + 2] as number) * xv;
          }
          out[j++] = a0;
          out[j++] = a1;
          out[j++] = a2;
        }
      } else {
        // two input positions per pass share the coefficient loads
        for (; pos + 1 <= last; pos += 2) {
          let a0 = 0;
          let a1 = 0;
          let b0 = 0;
          let b1 = 0;
          let xv = x[pos] as number;
          for (let k = 0, ci = 0; k < K; k++, ci += 2) {
            const c0 = c[ci] as number;
            const c1 = c[ci + 1] as number;
            const xw = x[pos + k + 1] as number;
            a0 += c0 * xv;
            a1 += c1 * xv;
            b0 += c0 * xw;
            b1 += c1 * xw;
            xv = xw;
          }
          out[j++] = a0;
          out[j++] = a1;
          out[j++] = b0;
          out[j++] = b1;
        }
        for (; pos <= last; pos++) {
          let a0 = 0;
          let a1 = 0;
          for (let k = 0, ci = 0; k < K; k++, ci += 2) {
            const xv = x[pos + k] as number;
            a0 += (c[ci] as number) * xv;
            a1 += (c[ci + 1] as number) * xv;
          }
          out[j++] = a0;
          out[j++] = a1;
        }
      }
    } else if (this.jsKernel === 5) {
      // L = 3, M = 2: a group is (pos, phase 0), (pos, phase 2), (pos + 1, phase 1); next at pos + 2.
      // Every output is the same sequential sum whichever path computes it (chunked == whole).
      const c = this.coefI as Float32Array;
      if (phase === 2 && pos <= last) {
        out[j++] = this.dot(2, pos);
        phase = 1;
        pos += 1;
      }
      if (phase === 1 && pos <= last) {
        out[j++] = this.dot(1, pos);
        phase = 0;
        pos += 1;
      }
      if (phase === 0) {
        for (; pos + 1 <= last; pos += 2) {
          let a0 = 0;
          let a2 = 0;
          let b1 = 0;
          let xv = x[pos] as number;
          for (let k = 0, ci = 0; k < K; k++, ci += 3) {
            const xw = x[pos + k + 1] as number;
            a0 += (c[ci] as number) * xv;
            a2 += (c[ci + 2] as number) * xv;
            b1 += (c[ci + 1] as number) * xw;
            xv = xw;
          }
          out[j++] = a0;
          out[j++] = a2;
          out[j++] = b1;
        }
        if (pos <= last) {
          out[j++] = this.dot(0, pos);
          out[j++] = this.dot(2, pos);
          phase = 1;
          pos += 1;
        }
      }
    } else if (this.jsKernel === 4) {
      // L = 2, M = 3: outputs alternate phase 0 at pos and phase 1 at pos + 1, then pos += 3
      const c = this.coefI as Float32Array;
      const coef = this.coef;
      if (phase === 1 && pos <= last) {
        let a = 0;
        for (let k = 0; k < K; k++) a += (coef[K + k] as number) * (x[pos + k] as number);
        out[j++] = a;
        pos += 2;
        phase = 0;
      }
      // two pairs per pass (pos and pos + 3) share the coefficient loads
      for (; pos + 4 <= last; pos += 6) {
        let a0 = 0;
        let a1 = 0;
        let b0 = 0;
        let b1 = 0;
        let xp = x[pos] as number;
        let yp = x[pos + 3] as number;
        for (let k = 0, ci = 0; k < K; k++, ci += 2) {
          const c0 = c[ci] as number;
          const c1 = c[ci + 1] as number;
          const xn = x[pos + k + 1] as number;
          const yn = x[pos + k + 4] as number;
          a0 += c0 * xp;
          a1 += c1 * xn;
          b0 += c0 * yp;
          b1 += c1 * yn;
          xp = xn;
          yp = yn;
        }
        out[j++] = a0;
        out[j++] = a1;
        out[j++] = b0;
        out[j++] = b1;
      }
      for (; pos + 1 <= last; pos += 3) {
        let a0 = 0;
        let a1 = 0;
        let xp = x[pos] as number;
        for (let k = 0, ci = 0; k < K; k++, ci += 2) {
          const xn = x[pos + k + 1] as number;
          a0 += (c[ci] as number) * xp;
          a1 += (c[ci + 1] as number) * xn;
          xp = xn;
        }
        out[j++] = a0;
        out[j++] = a1;
      }
      if (pos <= last) {
        let a = 0;
        for (let k = 0; k < K; k++) a += (coef[k] as number) * (x[pos + k] as number);
        out[j++] = a;
        pos += 1;
        phase = 1;
      }
    } else if (this.jsKernel === 1) {
      // decimation by M with a symmetric, odd-length filter: fold the window around its centre,
      // two outputs per pass sharing the coefficient loads. Both paths sum in the same order, so
      // an output does not depend on whether it was computed in a pair (chunked == whole).
      const h = this.coef;
      const M = this.M;
      const half = K >> 1;
      const hMid = h[half] as number;
      for (; pos + M <= last; pos += 2 * M) {
        const e = pos + K - 1;
        const p2 = pos + M;
        const e2 = e + M;
        let a0 = hMid * (x[pos + half] as number);
        let a1 = 0;
        let b0 = hMid * (x[p2 + half] as number);
        let b1 = 0;
        let k = 0;
        for (; k + 1 < half; k += 2) {
          const h0 = h[k] as number;
          const h1 = h[k + 1] as number;
          a0 += h0 * ((x[pos + k] as number) + (x[e - k] as number));
          a1 += h1 * ((x[pos + k + 1] as number) + (x[e - k - 1] as number));
          b0 += h0 * ((x[p2 + k] as number) + (x[e2 - k] as number));
          b1 += h1 * ((x[p2 + k + 1] as number) + (x[e2 - k - 1] as number));
        }
        if (k < half) {
          const h0 = h[k] as number;
          a0 += h0 * ((x[pos + k] as number) + (x[e - k] as number));
          b0 += h0 * ((x[p2 + k] as number) + (x[e2 - k] as number));
        }
        out[j++] = a0 + a1;
        out[j++] = b0 + b1;
      }
      for (; pos <= last; pos += M) {
        const e = pos + K - 1;
        let a0 = hMid * (x[pos + half] as number);
        let a1 = 0;
        let k = 0;
        for (; k + 1 < half; k += 2) {
          a0 += (h[k] as number) * ((x[pos + k] as number) + (x[e - k] as number));
          a1 += (h[k + 1] as number) * ((x[pos + k + 1] as number) + (x[e - k - 1] as number));
        }
        if (k < half) a0 += (h[k] as number) * ((x[pos + k] as number) + (x[e - k] as number));
        out[j++] = a0 + a1;
      }
    } else {
      const L = this.L;
      const coef = this.coef;
      const nStep = this.nStep;
      const pStep = this.pStep;
      const K4 = K & ~3;
      while (pos <= last) {
        const c = phase * K;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let k = 0;
        for (; k < K4; k += 4) {
          a0 += (coef[c + k] as number) * (x[pos + k] as number);
          a1 += (coef[c + k + 1] as number) * (x[pos + k + 1] as number);
          a2 += (coef[c + k + 2] as number) * (x[pos + k + 2] as number);
          a3 += (coef[c + k + 3] as number) * (x[pos + k + 3] as number);
        }
        for (; k < K; k++) a0 += (coef[c + k] as number) * (x[pos + k] as number);
        out[j++] = a0 + a1 + (a2 + a3);
        phase += pStep;
        pos += nStep;
        if (phase >= L) {
          phase -= L;
          pos++;
        }
      }
    }
    // drop the samples no future window needs
    const drop = Math.min(pos, this.histLen);
    if (drop > 0) {
      x.copyWithin(0, drop, this.histLen);
      this.histLen -= drop;
      pos -= drop;
    }
    this.pos = pos;
    this.phase = phase;
    this.outCount += j;
    return j;
  }
}
