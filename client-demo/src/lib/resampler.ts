/**
 * The worklets' resampler (device rate → 24 kHz for the microphone, 24 kHz → device rate for
 * playback): the audio core's streaming polyphase `Resampler` (audio/resampler.ts), with the
 * contract the worklets need on top of it:
 * - Float32 samples in [-1, 1], written into the caller's buffer (allocation-free per block);
 * - time-aligned output: the filter's ramp-in (its group delay, `delayMs`) is dropped, so output
 *   sample k is the signal at k / outputRateHz, and a flushed stream of N input samples gives
 *   exactly round(N · out / in) samples in all: the playback's played-ms accounting relies on it.
 *
 * It imports audio/resampler.ts directly, not audio/index.ts: the index also exports the Opus and
 * VAD wrappers, whose native addons cannot go into a browser bundle. resampler.ts is pure (it
 * imports only audio/errors.ts).
 */
import { Resampler } from '../../../audio/resampler.ts';

export interface ResamplerOptions {
  inputRateHz: number;
  outputRateHz: number;
}

export class StreamingResampler {
  readonly inputRateHz: number;
  readonly outputRateHz: number;
  /** The filter delay in input samples (may be fractional): input held back until output can be made. */
  readonly halfTaps: number;
  readonly delayMs: number;

  readonly #r: Resampler;
  /** Ramp-in outputs still to drop (the group delay, in output samples). */
  #skip: number;
  #inCount = 0;
  #outCount = 0;

  constructor(opts: ResamplerOptions) {
    this.#r = new Resampler(opts);
    this.inputRateHz = opts.inputRateHz;
    this.outputRateHz = opts.outputRateHz;
    this.delayMs = this.#r.delayMs;
    this.halfTaps = (this.#r.delaySamples * opts.inputRateHz) / opts.outputRateHz;
    this.#skip = this.#r.delaySamples;
  }

  /** Upper bound of output samples for an input of `inputSamples` (for sizing `output`). */
  maxOutputSamples(inputSamples: number): number {
    return this.#r.maxOutputFor(inputSamples);
  }

  /**
   * Resample `input` and write the samples that are ready into `output` (which must hold at least
   * `maxOutputSamples(input.length)`). Returns how many were written.
   */
  process(input: Float32Array, output: Float32Array): number {
    let out = this.#r.processFloat32(input);
    this.#inCount += input.length;
    if (this.#skip > 0) {
      const drop = Math.min(this.#skip, out.length);
      this.#skip -= drop;
      out = out.subarray(drop);
    }
    if (output.length < out.length) throw new RangeError('resampler output buffer too small');
    output.set(out);
    this.#outCount += out.length;
    return out.length;
  }

  /**
   * Emit the samples still held back by the filter, as if the input were followed by silence, so
   * that the stream totals round(N · out / in) samples. Call at the end of a stream (e.g. the end
   * of an assistant audio item); the next sample starts a new stream.
   */
  flush(output: Float32Array): number {
    const want = Math.max(0, Math.round((this.#inCount * this.outputRateHz) / this.inputRateHz) - this.#outCount);
    const tail = this.#r.flush(); // int16 scale, a view; resets the resampler
    const from = Math.min(this.#skip, tail.length);
    const n = Math.min(want, output.length);
    for (let i = 0; i < n; i++) {
      const j = from + i;
      output[i] = j < tail.length ? (tail[j] as number) / 32768 : 0; // pad a last half-sample instant
    }
    this.#restart();
    return n;
  }

  /** Forget all state: the next call starts a new stream. */
  reset(): void {
    this.#r.reset();
    this.#restart();
  }

  #restart(): void {
    this.#skip = this.#r.delaySamples;
    this.#inCount = 0;
    this.#outCount = 0;
  }
}
