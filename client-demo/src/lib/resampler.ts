/**
 * Streaming polyphase resampler for Float32 audio, any rate pair (48 kHz → 24 kHz, 44.1 kHz → 24 kHz,
 * 24 kHz → 48 kHz …). Runs inside the AudioWorklets, so it is pure and allocation-free after
 * construction: state (the last input samples and the fractional position) is kept across calls, so
 * chunked output equals whole-signal output sample for sample and the rate never drifts.
 *
 * Method: windowed-sinc (Kaiser) low-pass at min(in, out) Nyquist × `rolloff`, evaluated at the exact
 * output instants t = n · inRate / outRate. The position is kept as an integer numerator over
 * L = outRate / gcd(inRate, outRate), so for the usual rate pairs (L ≤ 1024) every phase has its own
 * exact filter row and there is no phase quantisation at all.
 *
 * Latency: `halfTaps` input samples (e.g. 27 samples = 0.56 ms at 48 kHz → 24 kHz).
 */

export interface ResamplerOptions {
  inputRateHz: number;
  outputRateHz: number;
  /** Passband edge as a fraction of the lower Nyquist frequency. Default 0.9. */
  rolloff?: number;
  /** Filter half-length in units of the output-rate period (quality). Default 12. */
  halfTapsAtOutput?: number;
  /** Largest input chunk processed in one internal pass; longer inputs are split. Default 4096. */
  blockSamples?: number;
}

const MAX_EXACT_PHASES = 1024;
const KAISER_BETA = 8.6;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (series), for the Kaiser window. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

export class StreamingResampler {
  readonly inputRateHz: number;
  readonly outputRateHz: number;
  /** Half the filter length, in input samples: the resampler's delay. */
  readonly halfTaps: number;
  readonly delayMs: number;

  private readonly step: number; // M: input units per output sample (numerator)
  private readonly denom: number; // L
  private readonly phases: number;
  private readonly taps: number;
  private readonly table: Float32Array; // phases × taps
  private readonly passthrough: boolean;

  private readonly work: Float32Array; // x[base .. base + fill)
  private readonly blockSamples: number;
  private fill: number;
  private base: number; // absolute input index of work[0]
  private received: number; // absolute count of input samples received
  private ipos: number; // floor of the next output instant, absolute input index
  private frac: number; // numerator in [0, denom)

  constructor(opts: ResamplerOptions) {
    const { inputRateHz, outputRateHz } = opts;
    if (!Number.isInteger(inputRateHz) || !Number.isInteger(outputRateHz) || inputRateHz <= 0 || outputRateHz <= 0) {
      throw new RangeError(`resampler rates must be positive integers (got ${inputRateHz} → ${outputRateHz})`);
    }
    this.inputRateHz = inputRateHz;
    this.outputRateHz = outputRateHz;
    const g = gcd(inputRateHz, outputRateHz);
    this.denom = outputRateHz / g;
    this.step = inputRateHz / g;
    this.passthrough = inputRateHz === outputRateHz;

    const ratio = Math.min(1, outputRateHz / inputRateHz);
    const fc = ratio * (opts.rolloff ?? 0.9); // cutoff as a fraction of the input Nyquist
    const halfTapsAtOutput = opts.halfTapsAtOutput ?? 12;
    this.halfTaps = this.passthrough ? 0 : Math.ceil(halfTapsAtOutput / ratio);
    this.taps = 2 * this.halfTaps;
    this.delayMs = (this.halfTaps / inputRateHz) * 1000;
    this.phases = this.passthrough ? 1 : Math.min(this.denom, MAX_EXACT_PHASES);
    this.table = new Float32Array(Math.max(1, this.phases * this.taps));
    if (!this.passthrough) this.buildTable(fc);

    this.blockSamples = opts.blockSamples ?? 4096;
    this.work = new Float32Array(this.taps + this.blockSamples + 1);
    this.fill = 0;
    this.base = 0;
    this.received = 0;
    this.ipos = 0;
    this.frac = 0;
    this.reset();
  }

  private buildTable(fc: number): void {
    const H = this.halfTaps;
    const i0Beta = besselI0(KAISER_BETA);
    for (let p = 0; p < this.phases; p++) {
      const phase = p / this.phases; // output instant = ipos + phase
      let sum = 0;
      const row = p * this.taps;
      for (let k = 0; k < this.taps; k++) {
        // tap k multiplies x[ipos - H + 1 + k]; its distance from the output instant:
        const d = -H + 1 + k - phase;
        const x = fc * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = d / H;
        const win = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta;
        const h = fc * sinc * win;
        this.table[row + k] = h;
        sum += h;
      }
      for (let k = 0; k < this.taps; k++) this.table[row + k] = (this.table[row + k] ?? 0) / sum;
    }
  }

  /** Drop all state: the next sample is treated as the first one. */
  reset(): void {
    // H zero samples stand for the (silent) past before the first input sample.
    this.work.fill(0);
    this.base = -this.halfTaps;
    this.fill = this.halfTaps;
    this.received = 0;
    this.ipos = 0;
    this.frac = 0;
  }

  /** Upper bound of output samples for an input of `inputSamples` (for sizing `output`). */
  maxOutputSamples(inputSamples: number): number {
    return Math.ceil(((inputSamples + this.halfTaps + 1) * this.outputRateHz) / this.inputRateHz) + 1;
  }

  /**
   * Resample `input` and write the samples that are ready into `output` (which must hold at least
   * `maxOutputSamples(input.length)`). Returns how many were written.
   */
  process(input: Float32Array, output: Float32Array): number {
    if (this.passthrough) {
      if (output.length < input.length) throw new RangeError('resampler output buffer too small');
      output.set(input);
      this.received += input.length;
      return input.length;
    }
    let written = 0;
    let offset = 0;
    while (offset < input.length) {
      const n = Math.min(this.blockSamples, input.length - offset);
      this.work.set(input.subarray(offset, offset + n), this.fill);
      this.fill += n;
      this.received += n;
      offset += n;
      written = this.drain(output, written);
    }
    return written;
  }

  /**
   * Emit the samples still held back by the filter delay, as if the input were followed by silence.
   * Call at the end of a stream (e.g. the end of an assistant audio item). Then `reset()` or go on.
   */
  flush(output: Float32Array): number {
    if (this.passthrough) return 0;
    const end = this.received; // produce outputs whose instant lies before the end of real input
    let written = 0;
    let pad = this.halfTaps;
    while (pad > 0) {
      const n = Math.min(pad, this.blockSamples);
      this.work.fill(0, this.fill, this.fill + n);
      this.fill += n;
      pad -= n;
      written = this.drain(output, written, end);
    }
    // The padding zeros are not input: rewind so further input continues seamlessly is not possible
    // without keeping them, so a flushed stream starts over.
    this.reset();
    return written;
  }

  private drain(output: Float32Array, written: number, limit = Infinity): number {
    const H = this.halfTaps;
    const taps = this.taps;
    const table = this.table;
    const work = this.work;
    const denom = this.denom;
    const step = this.step;
    const phases = this.phases;
    const exact = phases === denom;
    const available = this.base + this.fill; // absolute index one past the last sample held
    // output n needs x[ipos - H + 1 .. ipos + H]
    while (this.ipos + H < available && this.ipos < limit) {
      if (written >= output.length) throw new RangeError('resampler output buffer too small');
      let p = exact ? this.frac : Math.round((this.frac * phases) / denom);
      let ip = this.ipos;
      if (p === phases) {
        p = 0;
        ip += 1;
      }
      const start = ip - H + 1 - this.base;
      const row = p * taps;
      let acc = 0;
      for (let k = 0; k < taps; k++) acc += (work[start + k] ?? 0) * (table[row + k] ?? 0);
      output[written++] = acc;
      this.frac += step;
      if (this.frac >= denom) {
        const whole = Math.floor(this.frac / denom);
        this.ipos += whole;
        this.frac -= whole * denom;
      }
    }
    // keep only what future outputs can still need: from ipos - H + 1 on
    const keepFrom = this.ipos - H + 1 - this.base;
    if (keepFrom > 0) {
      const keep = Math.max(0, this.fill - keepFrom);
      if (keep > 0) work.copyWithin(0, keepFrom, this.fill);
      this.base += keepFrom;
      this.fill = keep;
    }
    return written;
  }
}
