/**
 * The microphone path, as pure logic (the mic AudioWorklet is a thin shell around it):
 * render quanta of Float32 at the device rate → streaming resample to 24 kHz → pcm16 → exact frames
 * of `frameMs` (20–40 ms), each with its RMS and peak level for the meter.
 *
 * Frames come from a pool of recycled buffers: the worklet transfers a frame's ArrayBuffer to the
 * page, which gives it back once the frame is sent, so steady state allocates nothing.
 */
import { StreamingResampler } from './resampler.ts';
import { REALTIME_RATE_HZ, floatToInt16 } from './pcm.ts';

export const MIN_FRAME_MS = 20;
export const MAX_FRAME_MS = 40;

export interface CaptureOptions {
  inputRateHz: number;
  /** Frame length sent in each `input_audio_buffer.append`: 20–40 ms. Default 20. */
  frameMs?: number;
  /** Largest input block expected per `push` (a render quantum is 128). Default 128. */
  maxBlockSamples?: number;
}

export interface CapturedFrame {
  pcm: Int16Array;
  rmsDbfs: number;
  peakDbfs: number;
}

/** A free list of equally sized Int16Array frames. */
export class FramePool {
  private readonly free: Int16Array[] = [];
  allocated = 0;
  constructor(readonly frameSamples: number) {}

  take(): Int16Array {
    const f = this.free.pop();
    if (f) return f;
    this.allocated++;
    return new Int16Array(this.frameSamples);
  }

  give(frame: Int16Array): void {
    if (frame.length === this.frameSamples && this.free.length < 64) this.free.push(frame);
  }

  get available(): number {
    return this.free.length;
  }
}

export class CapturePipeline {
  readonly frameMs: number;
  readonly frameSamples: number;
  readonly pool: FramePool;
  muted = false;

  private readonly resampler: StreamingResampler;
  private readonly resampled: Float32Array;
  private current: Int16Array | null = null;
  private filled = 0;
  private sumSquares = 0;
  private peak = 0;
  private readonly info: CapturedFrame = { pcm: new Int16Array(0), rmsDbfs: -100, peakDbfs: -100 };
  framesEmitted = 0;

  constructor(opts: CaptureOptions) {
    const frameMs = opts.frameMs ?? MIN_FRAME_MS;
    if (!(frameMs >= MIN_FRAME_MS && frameMs <= MAX_FRAME_MS)) {
      throw new RangeError(`frameMs must be ${MIN_FRAME_MS}–${MAX_FRAME_MS} (got ${frameMs})`);
    }
    this.frameMs = frameMs;
    this.frameSamples = Math.round((REALTIME_RATE_HZ * frameMs) / 1000);
    this.pool = new FramePool(this.frameSamples);
    this.resampler = new StreamingResampler({ inputRateHz: opts.inputRateHz, outputRateHz: REALTIME_RATE_HZ });
    this.resampled = new Float32Array(this.resampler.maxOutputSamples(opts.maxBlockSamples ?? 128) + 8);
  }

  /**
   * Push one block of device-rate samples. `onFrame` is called for every completed frame; the frame
   * (`info.pcm`) belongs to the callee, who hands it back with `pool.give()` when done. The `info`
   * object itself is reused for the next frame: read it inside the callback.
   */
  push(block: Float32Array, onFrame: (frame: CapturedFrame) => void): void {
    // split oversized blocks so the preallocated resampler output always fits
    const maxIn = Math.floor(((this.resampled.length - 8) * this.resampler.inputRateHz) / REALTIME_RATE_HZ - this.resampler.halfTaps) - 2;
    for (let off = 0; off < block.length; off += maxIn) {
      const part = block.length <= maxIn ? block : block.subarray(off, Math.min(block.length, off + maxIn));
      const n = this.resampler.process(part, this.resampled);
      this.consume(n, onFrame);
    }
  }

  private consume(n: number, onFrame: (frame: CapturedFrame) => void): void {
    let i = 0;
    while (i < n) {
      if (!this.current) {
        this.current = this.pool.take();
        this.filled = 0;
        this.sumSquares = 0;
        this.peak = 0;
      }
      const take = Math.min(n - i, this.frameSamples - this.filled);
      const frame = this.current;
      if (this.muted) {
        frame.fill(0, this.filled, this.filled + take);
      } else {
        floatToInt16(this.resampled.subarray(i, i + take), frame, this.filled);
        for (let k = this.filled; k < this.filled + take; k++) {
          const s = frame[k] ?? 0;
          this.sumSquares += s * s;
          const a = s < 0 ? -s : s;
          if (a > this.peak) this.peak = a;
        }
      }
      this.filled += take;
      i += take;
      if (this.filled === this.frameSamples) {
        const rms = Math.sqrt(this.sumSquares / this.frameSamples) / 32768;
        this.current = null;
        this.framesEmitted++;
        const info = this.info; // reused: no allocation per frame
        info.pcm = frame;
        info.rmsDbfs = rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
        info.peakDbfs = this.peak > 0 ? Math.max(-100, 20 * Math.log10(this.peak / 32768)) : -100;
        onFrame(info);
      }
    }
  }

  /** Forget partial frames and filter state (after stop / restart). */
  reset(): void {
    if (this.current) this.pool.give(this.current);
    this.current = null;
    this.filled = 0;
    this.resampler.reset();
  }
}
