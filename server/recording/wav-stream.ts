/**
 * A WAV file written as the call goes: 16-bit PCM, 1 or 2 channels, one rate. The timeline
 * (timeline.ts) fills fixed blocks of interleaved frames; a full block is written at its own file
 * position (positional writes, one at a time, on a file handle) while the next one fills. Memory is the
 * block pool, whatever the call's length. The RIFF and data sizes are patched every few blocks and at
 * the end, so a crash leaves a playable file that holds all but the last seconds.
 *
 * Canonical 44-byte header (RIFF/WAVE, `fmt ` PCM = 1, `data`), little-endian:
 *   0 "RIFF" · 4 u32 36+dataBytes · 8 "WAVE" · 12 "fmt " · 16 u32 16 · 20 u16 1 · 22 u16 channels ·
 *   24 u32 rate · 28 u32 byteRate · 32 u16 blockAlign · 34 u16 16 · 36 "data" · 40 u32 dataBytes · 44 samples
 *
 * If the disk cannot keep up (every block still waiting to be written), the block being filled is
 * dropped: its frames become a hole in the file, which reads back as silence, so what follows stays
 * aligned. Failures are logged once; the call never notices.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export const WAV_HEADER_BYTES = 44;
/** The data chunk's size is a u32: stop before it would overflow. */
const MAX_DATA_BYTES = 0xffff_ffff - 36;

export interface WavStreamOptions {
  path: string;
  channels: 1 | 2;
  sampleRateHz: number;
  /** Frames per block (default: 0.5 s). */
  blockFrames?: number;
  /** Blocks in the pool: one filling, the others written or waiting (default 5: 2.5 s of audio). */
  poolBlocks?: number;
  /** Patch the header after this many block writes (default 4: every ~2 s of audio). */
  patchEveryBlocks?: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export function wavHeader(channels: number, sampleRateHz: number, dataBytes: number, out: Buffer = Buffer.alloc(WAV_HEADER_BYTES)): Buffer {
  const blockAlign = channels * 2;
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'latin1');
  out.write('fmt ', 12, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(sampleRateHz, 24);
  out.writeUInt32LE(sampleRateHz * blockAlign, 28);
  out.writeUInt16LE(blockAlign, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(dataBytes, 40);
  return out;
}

interface Block {
  samples: Int16Array;
  bytes: Buffer;
  /** Interleaved samples filled so far. */
  used: number;
  /** File frame index of the block's first frame. */
  startFrame: number;
}

type Op = { kind: 'block'; block: Block } | { kind: 'header' };

export class WavStream {
  readonly channels: 1 | 2;
  readonly sampleRateHz: number;
  readonly path: string;
  readonly #blockFrames: number;
  readonly #free: Block[] = [];
  #current: Block;
  readonly #queue: Op[] = [];
  readonly #header = Buffer.alloc(WAV_HEADER_BYTES);
  readonly #patchEvery: number;
  readonly #log: WavStreamOptions['log'];
  #fh: FileHandle | null = null;
  readonly #opening: Promise<void>;
  #writing = false;
  #failed = false;
  #closed = false;
  /** Frames handed to the stream (the file's length in frames, holes included). */
  #frames = 0;
  /** Frames on disk: the end of the last block written (writes go in order). */
  #onDisk = 0;
  /** Blocks written since the header was last patched. */
  #sincePatch = 0;
  #idleWaiters: Array<() => void> = [];
  /** Frames dropped because the disk was behind (written as a hole = silence). */
  droppedFrames = 0;
  /** Frames not written because the file reached the WAV size limit. */
  truncatedFrames = 0;

  constructor(o: WavStreamOptions) {
    this.channels = o.channels;
    this.sampleRateHz = o.sampleRateHz;
    this.path = o.path;
    this.#log = o.log;
    this.#blockFrames = Math.max(1, Math.round(o.blockFrames ?? o.sampleRateHz / 2));
    this.#patchEvery = Math.max(1, o.patchEveryBlocks ?? 4);
    const n = Math.max(2, o.poolBlocks ?? 5);
    this.memoryBytes = n * this.#blockFrames * this.channels * 2;
    for (let i = 0; i < n; i++) {
      const samples = new Int16Array(this.#blockFrames * this.channels);
      this.#free.push({ samples, bytes: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength), used: 0, startFrame: 0 });
    }
    this.#current = this.#free.pop()!;
    this.#queue.push({ kind: 'header' });
    this.#opening = this.#open();
  }

  async #open(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      this.#fh = await open(this.path, 'w');
    } catch (err) {
      this.#fail(err, 'recording: cannot open the file; this call is not recorded');
      return;
    }
    this.#pump();
  }

  /** Frames handed to the stream so far (its length, in frames). */
  get frames(): number {
    return this.#frames;
  }

  get blockFrames(): number {
    return this.#blockFrames;
  }

  /** A block can be sent now without dropping one (the pool has a spare). */
  get hasSpare(): boolean {
    return this.#free.length > 0;
  }

  /** Bytes of audio memory the stream holds (the block pool, fixed at construction). */
  readonly memoryBytes: number;

  /**
   * The block being filled and where in it: write up to `free` interleaved samples into
   * `samples` from index `used`, then call `advance(frames)`.
   */
  get block(): Int16Array {
    return this.#current.samples;
  }

  get used(): number {
    return this.#current.used;
  }

  get free(): number {
    return this.#current.samples.length - this.#current.used;
  }

  /** `frames` more frames were written into the block at `used`. */
  advance(frames: number): void {
    const b = this.#current;
    b.used += frames * this.channels;
    this.#frames += frames;
    if (b.used >= b.samples.length) this.#commit();
  }

  /** Send the partly filled block now (end of call, or a quiet stretch). */
  flush(): void {
    if (this.#current.used > 0) this.#commit();
  }

  #commit(): void {
    const b = this.#current;
    if (this.#failed) {
      b.used = 0;
      b.startFrame = this.#frames;
      return;
    }
    const next = this.#free.pop();
    if (next === undefined) {
      // the disk is behind: this block becomes a hole (silence) and is refilled
      this.droppedFrames += b.used / this.channels;
      if (this.droppedFrames === b.used / this.channels) this.#log?.warn({ path: this.path }, 'recording: the disk is behind; dropping audio (written as silence)');
      b.startFrame = this.#frames;
      b.used = 0;
      return;
    }
    this.#queue.push({ kind: 'block', block: b });
    next.used = 0;
    next.startFrame = this.#frames;
    this.#current = next;
    this.#pump();
  }

  #pump(): void {
    if (this.#writing || this.#fh === null) return;
    const op = this.#queue.shift();
    if (op === undefined) {
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const f of w) f();
      return;
    }
    this.#writing = true;
    void this.#run(op).then(() => {
      this.#writing = false;
      this.#pump();
    });
  }

  async #run(op: Op): Promise<void> {
    const fh = this.#fh;
    if (fh === null || this.#failed) {
      if (op.kind === 'block') this.#release(op.block);
      return;
    }
    try {
      if (op.kind === 'header') {
        wavHeader(this.channels, this.sampleRateHz, this.#dataBytes(this.#closed && this.#queue.length === 0 ? this.#frames : this.#onDisk), this.#header);
        await fh.write(this.#header, 0, WAV_HEADER_BYTES, 0);
        this.#sincePatch = 0;
        return;
      }
      const b = op.block;
      const pos = WAV_HEADER_BYTES + b.startFrame * this.channels * 2;
      const room = MAX_DATA_BYTES + WAV_HEADER_BYTES - pos;
      const len = Math.min(b.used * 2, Math.max(0, room - (room % (this.channels * 2))));
      if (len < b.used * 2) this.truncatedFrames += (b.used * 2 - len) / (this.channels * 2);
      if (len > 0) await fh.write(b.bytes, 0, len, pos);
      this.#onDisk = b.startFrame + b.used / this.channels;
      this.#release(b);
      if (++this.#sincePatch >= this.#patchEvery && !this.#queue.some((q) => q.kind === 'header')) this.#queue.push({ kind: 'header' });
    } catch (err) {
      if (op.kind === 'block') this.#release(op.block);
      this.#fail(err, 'recording: a write failed; the rest of this call is not recorded');
    }
  }

  #release(b: Block): void {
    b.used = 0;
    this.#free.push(b);
  }

  #dataBytes(frames: number): number {
    return Math.min(MAX_DATA_BYTES, frames * this.channels * 2);
  }

  #fail(err: unknown, msg: string): void {
    if (this.#failed) return;
    this.#failed = true;
    // nothing more will be written: the waiting blocks go back to the pool
    for (const op of this.#queue.splice(0)) if (op.kind === 'block') this.#release(op.block);
    this.#log?.error({ path: this.path, err: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown })?.code } }, msg);
  }

  /** Everything queued so far is on disk (tests, the periodic flush). */
  async idle(): Promise<void> {
    await this.#opening;
    if (this.#fh === null || (!this.#writing && this.#queue.length === 0)) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** The last block, the final sizes (the file is extended to its full length: a trailing hole reads as silence), close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.flush();
    this.#queue.push({ kind: 'header' });
    await this.#opening;
    this.#pump();
    await this.idle();
    const fh = this.#fh;
    this.#fh = null;
    if (fh === null) return;
    try {
      if (!this.#failed) await fh.truncate(WAV_HEADER_BYTES + this.#dataBytes(this.#frames));
    } catch (err) {
      this.#fail(err, 'recording: could not finish the file');
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  get failed(): boolean {
    return this.#failed;
  }
}
