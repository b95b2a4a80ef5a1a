/**
 * RTP jitter buffer (RFC 3550 sequence numbers): reorders packets, drops late and duplicate ones,
 * holds at most `maxFrames`, starts playout once `depthFrames` frames of time are buffered, and
 * reports each missing frame as `lost` when its turn comes (with the next packet, when it is
 * already here, so an Opus decoder can recover the loss from its FEC), or hands it to a `conceal`
 * hook. One pop() per frame time (the FramePacer's tick). Storage is preallocated; pop() reuses its
 * result objects (read them before the next pop()).
 */
import { AudioError } from './errors.ts';

export interface JitterBufferOptions<T> {
  /**
   * Frames of time buffered before playout starts (and after an underrun). Default 3 (60 ms).
   * 0 = no playout delay: pop() returns each packet as soon as it is next in order (drain with
   * pop() until `empty` after every push); a gap is reported `lost` at once, so its packet, if it
   * comes later, is dropped as late.
   */
  depthFrames?: number;
  /** Capacity in frames; packets further ahead push the oldest out. Default 50 (1 s at 20 ms). */
  maxFrames?: number;
  /** RTP timestamp units per frame (160 for 20 ms at 8 kHz, 960 for Opus at 48 kHz). */
  frameTimestampStep: number;
  /**
   * Loss-concealment hook: called when a frame is missing at its turn. Return a payload to play in
   * its place (pop() then returns it as a frame with `concealed: true`), or undefined to get `lost`.
   */
  conceal?: (lostSeq: number, next: T | undefined) => T | undefined;
}

export type JitterPop<T> =
  | { kind: 'frame'; payload: T; seq: number; timestamp: number; concealed: boolean }
  | { kind: 'lost'; seq: number; next: T | undefined }
  | { kind: 'empty' };

export interface JitterStats {
  /** Packets pushed. */
  received: number;
  /** Arrived after their turn had passed (dropped). */
  late: number;
  /** Already buffered (dropped). */
  duplicate: number;
  /** Frames missing at their turn (concealed or reported lost). */
  lost: number;
  /** Arrived after a packet with a higher sequence number. */
  reordered: number;
  /** Frames pushed out because the buffer was full. */
  overflow: number;
  /** Sequence jumps that restarted the buffer (new sender, SSRC change). */
  resyncs: number;
  /** pop() found nothing buffered while playing. */
  underruns: number;
  /** Frames buffered now. */
  depth: number;
}

/** A sequence jump this far (in frames) beyond the buffer restarts it instead of dropping frames. */
const RESYNC_FRAMES = 1000;

export class JitterBuffer<T> {
  readonly depthFrames: number;
  readonly maxFrames: number;
  readonly frameTimestampStep: number;
  private readonly conceal: JitterBufferOptions<T>['conceal'];
  private readonly payloads: (T | undefined)[];
  private readonly seqs: Float64Array; // extended sequence number in each slot, −1 = empty
  private readonly stamps: Float64Array;
  private started = false;
  private playing = false;
  private nextExt = 0;
  private highestExt = 0;
  private count = 0;
  private readonly s: Omit<JitterStats, 'depth'> = { received: 0, late: 0, duplicate: 0, lost: 0, reordered: 0, overflow: 0, resyncs: 0, underruns: 0 };
  private readonly frameResult: { kind: 'frame'; payload: T; seq: number; timestamp: number; concealed: boolean };
  private readonly lostResult: { kind: 'lost'; seq: number; next: T | undefined } = { kind: 'lost', seq: 0, next: undefined };
  private static readonly EMPTY = Object.freeze({ kind: 'empty' as const });

  constructor(opts: JitterBufferOptions<T>) {
    this.depthFrames = opts.depthFrames ?? 3;
    this.maxFrames = opts.maxFrames ?? 50;
    this.frameTimestampStep = opts.frameTimestampStep;
    if (!Number.isInteger(this.maxFrames) || this.maxFrames < 2) throw new AudioError('AUDIO_ERR_BAD_INPUT', `maxFrames must be an integer ≥ 2, got ${this.maxFrames}`);
    if (!Number.isInteger(this.depthFrames) || this.depthFrames < 0 || this.depthFrames > this.maxFrames) {
      throw new AudioError('AUDIO_ERR_BAD_INPUT', `depthFrames must be an integer within 0..maxFrames, got ${this.depthFrames}`);
    }
    if (!(this.frameTimestampStep > 0)) throw new AudioError('AUDIO_ERR_BAD_INPUT', `frameTimestampStep must be > 0, got ${this.frameTimestampStep}`);
    this.conceal = opts.conceal;
    this.payloads = new Array<T | undefined>(this.maxFrames).fill(undefined);
    this.seqs = new Float64Array(this.maxFrames).fill(-1);
    this.stamps = new Float64Array(this.maxFrames);
    this.frameResult = { kind: 'frame', payload: undefined as T, seq: 0, timestamp: 0, concealed: false };
  }

  /** Add a packet: RTP sequence number (16-bit), RTP timestamp, and what to play. */
  push(seq: number, timestamp: number, payload: T): void {
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) throw new AudioError('AUDIO_ERR_BAD_INPUT', `RTP sequence number must be 0..65535, got ${seq}`);
    this.s.received++;
    if (!this.started) {
      this.started = true;
      const ext = seq + 0x10000; // keep extended numbers positive even if the first packets wrap back
      this.nextExt = ext;
      this.highestExt = ext;
      this.store(ext, timestamp, payload);
      return;
    }
    // RFC 3550 A.1: unwrap relative to the highest sequence number seen
    const delta = ((seq - (this.highestExt & 0xffff) + 0x18000) & 0xffff) - 0x8000;
    const ext = this.highestExt + delta;
    if (ext < this.nextExt) {
      // before playout starts, an earlier packet just moves the start back (if it fits)
      if (!this.playing && this.highestExt - ext < this.maxFrames) {
        if (this.has(ext)) {
          this.s.duplicate++;
          return;
        }
        this.nextExt = ext;
        this.s.reordered++;
        this.store(ext, timestamp, payload);
        return;
      }
      this.s.late++;
      return;
    }
    if (ext - this.nextExt >= this.maxFrames) {
      if (ext - this.highestExt > RESYNC_FRAMES) {
        this.resync(ext, timestamp, payload);
        return;
      }
      // full: push the oldest frames out until this one fits
      while (ext - this.nextExt >= this.maxFrames) {
        const slot = this.nextExt % this.maxFrames;
        if (this.seqs[slot] === this.nextExt) this.take(slot);
        this.s.overflow++;
        this.nextExt++;
      }
    }
    if (this.has(ext)) {
      this.s.duplicate++;
      return;
    }
    if (ext < this.highestExt) this.s.reordered++;
    else this.highestExt = ext;
    this.store(ext, timestamp, payload);
  }

  /** The next frame in playout order; call once per frame time. */
  pop(): JitterPop<T> {
    if (!this.started) return JitterBuffer.EMPTY;
    if (this.count === 0) {
      if (this.playing && this.depthFrames > 0) {
        this.playing = false; // underrun: rebuffer to depth before playing again
        this.s.underruns++;
      }
      return JitterBuffer.EMPTY;
    }
    if (!this.playing) {
      if (this.highestExt - this.nextExt + 1 < this.depthFrames) return JitterBuffer.EMPTY;
      this.playing = true;
    }
    const ext = this.nextExt++;
    const slot = ext % this.maxFrames;
    if (this.seqs[slot] === ext) {
      const r = this.frameResult;
      r.timestamp = this.stamps[slot] as number;
      r.payload = this.take(slot);
      r.seq = ext & 0xffff;
      r.concealed = false;
      return r;
    }
    this.s.lost++;
    const nextSlot = this.nextExt % this.maxFrames;
    const next = this.seqs[nextSlot] === this.nextExt ? this.payloads[nextSlot] : undefined;
    if (this.conceal) {
      const p = this.conceal(ext & 0xffff, next);
      if (p !== undefined) {
        const r = this.frameResult;
        r.payload = p;
        r.seq = ext & 0xffff;
        r.timestamp = Number.NaN;
        r.concealed = true;
        return r;
      }
    }
    const l = this.lostResult;
    l.seq = ext & 0xffff;
    l.next = next;
    return l;
  }

  stats(): JitterStats {
    return { ...this.s, depth: this.count };
  }

  /** Frames buffered now. */
  get depth(): number {
    return this.count;
  }

  /** Drop everything and wait for a new first packet. Stats are kept. */
  reset(): void {
    this.seqs.fill(-1);
    this.payloads.fill(undefined);
    this.count = 0;
    this.started = false;
    this.playing = false;
  }

  private resync(ext: number, timestamp: number, payload: T): void {
    this.s.resyncs++;
    this.seqs.fill(-1);
    this.payloads.fill(undefined);
    this.count = 0;
    this.playing = false;
    this.nextExt = ext;
    this.highestExt = ext;
    this.store(ext, timestamp, payload);
  }

  private has(ext: number): boolean {
    return this.seqs[ext % this.maxFrames] === ext;
  }

  private store(ext: number, timestamp: number, payload: T): void {
    const slot = ext % this.maxFrames;
    this.seqs[slot] = ext;
    this.stamps[slot] = timestamp;
    this.payloads[slot] = payload;
    this.count++;
  }

  private take(slot: number): T {
    const p = this.payloads[slot] as T;
    this.payloads[slot] = undefined;
    this.seqs[slot] = -1;
    this.count--;
    return p;
  }
}
