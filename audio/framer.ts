/**
 * Framers: cut a stream of arbitrary chunks into exact frames (e.g. 20 ms) with no allocation per
 * frame. Each frame handed to `onFrame` is a view that is only valid during the callback: copy it
 * if you keep it. Full frames are handed straight out of the input chunk when nothing is buffered,
 * so the common "chunk is a multiple of the frame" case copies nothing.
 */
import { AudioError } from './errors.ts';

interface TypedArrayLike<T> {
  readonly length: number;
  set(src: T, offset?: number): void;
  subarray(begin?: number, end?: number): T;
}

class Framer<T extends TypedArrayLike<T>> {
  readonly frameSize: number;
  private readonly buf: T;
  private fill = 0;

  constructor(frameSize: number, capacity: number, make: (n: number) => T) {
    if (!Number.isInteger(frameSize) || frameSize <= 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', `frame size must be a positive integer, got ${frameSize}`);
    if (capacity < frameSize) throw new AudioError('AUDIO_ERR_BAD_INPUT', `capacity ${capacity} is smaller than one frame (${frameSize})`);
    this.frameSize = frameSize;
    this.buf = make(this.frameSize);
  }

  get buffered(): number {
    return this.fill;
  }

  push(chunk: T, onFrame: (frame: T) => void): void {
    const F = this.frameSize;
    let off = 0;
    const n = chunk.length;
    if (this.fill > 0) {
      const take = Math.min(F - this.fill, n);
      this.buf.set(chunk.subarray(0, take), this.fill);
      this.fill += take;
      off = take;
      if (this.fill < F) return;
      this.fill = 0;
      onFrame(this.buf);
    }
    while (n - off >= F) {
      onFrame(chunk.subarray(off, off + F));
      off += F;
    }
    if (off < n) {
      this.buf.set(chunk.subarray(off, n), 0);
      this.fill = n - off;
    }
  }

  /** Pad the partial frame (if any) with zeros and emit it. */
  flush(onFrame: (frame: T) => void, zero: (buf: T, from: number) => void): void {
    if (this.fill === 0) return;
    zero(this.buf, this.fill);
    this.fill = 0;
    onFrame(this.buf);
  }

  reset(): void {
    this.fill = 0;
  }
}

/**
 * Cuts pcm16 chunks into frames of `frameSamples`. It never holds more than one partial frame, so
 * `capacitySamples` (accepted for the contract) only has to be at least one frame.
 */
export class PcmFramer {
  private readonly f: Framer<Int16Array>;
  constructor(frameSamples: number, capacitySamples?: number) {
    this.f = new Framer<Int16Array>(frameSamples, capacitySamples ?? frameSamples, (n) => new Int16Array(n));
  }
  get frameSamples(): number {
    return this.f.frameSize;
  }
  /** Samples held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.f.buffered;
  }
  push(chunk: Int16Array, onFrame: (frame: Int16Array) => void): void {
    this.f.push(chunk, onFrame);
  }
  /** Emit the partial frame padded with silence (end of stream). */
  flush(onFrame: (frame: Int16Array) => void): void {
    this.f.flush(onFrame, (b, from) => b.fill(0, from));
  }
  reset(): void {
    this.f.reset();
  }
}

/** Cuts byte chunks (e.g. G.711) into frames of `frameBytes`. */
export class ByteFramer {
  private readonly f: Framer<Uint8Array>;
  private readonly padByte: number;
  constructor(frameBytes: number, capacityBytes?: number, opts: { padByte?: number } = {}) {
    this.f = new Framer<Uint8Array>(frameBytes, capacityBytes ?? frameBytes, (n) => new Uint8Array(n));
    this.padByte = opts.padByte ?? 0;
  }
  get frameBytes(): number {
    return this.f.frameSize;
  }
  get buffered(): number {
    return this.f.buffered;
  }
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    this.f.push(chunk, onFrame);
  }
  /** Emit the partial frame padded with `padByte` (0xff = μ-law silence). */
  flush(onFrame: (frame: Uint8Array) => void): void {
    this.f.flush(onFrame, (b, from) => b.fill(this.padByte, from));
  }
  reset(): void {
    this.f.reset();
  }
}

/**
 * Fixed-capacity FIFO of pcm16 samples (e.g. a playout buffer). write() copies in, read() copies
 * out into a caller-provided buffer; nothing allocates after construction.
 */
export class PcmRingBuffer {
  private readonly buf: Int16Array;
  private head = 0; // next read index
  private size = 0;
  constructor(capacitySamples: number) {
    if (!Number.isInteger(capacitySamples) || capacitySamples <= 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', `capacity must be a positive integer, got ${capacitySamples}`);
    this.buf = new Int16Array(capacitySamples);
  }
  get capacity(): number {
    return this.buf.length;
  }
  get length(): number {
    return this.size;
  }
  get free(): number {
    return this.buf.length - this.size;
  }
  /** Append samples; returns how many fit (the rest are not written). */
  write(src: Int16Array): number {
    const cap = this.buf.length;
    const n = Math.min(src.length, cap - this.size);
    const tail = (this.head + this.size) % cap;
    const first = Math.min(n, cap - tail);
    this.buf.set(src.subarray(0, first), tail);
    if (n > first) this.buf.set(src.subarray(first, n), 0);
    this.size += n;
    return n;
  }
  /** Move up to dst.length samples into dst; returns how many were read. */
  read(dst: Int16Array): number {
    const cap = this.buf.length;
    const n = Math.min(dst.length, this.size);
    const first = Math.min(n, cap - this.head);
    dst.set(this.buf.subarray(this.head, this.head + first), 0);
    if (n > first) dst.set(this.buf.subarray(0, n - first), first);
    this.head = (this.head + n) % cap;
    this.size -= n;
    return n;
  }
  /** Drop up to n samples from the front; returns how many were dropped. */
  skip(n: number): number {
    const k = Math.min(n, this.size);
    this.head = (this.head + k) % this.buf.length;
    this.size -= k;
    return k;
  }
  clear(): void {
    this.head = 0;
    this.size = 0;
  }
}
