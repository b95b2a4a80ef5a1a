/**
 * A WAV file written as the call goes: 16-bit PCM, 1 or 2 channels, one rate. The timeline
 * (timeline.ts) fills fixed blocks of interleaved frames; a full block is written at its own file
 * position (positional writes on the file's descriptor, one at a time, callback API: one request per
 * block (2 s of audio), nothing else allocated). The RIFF and data sizes are patched every few blocks and at
 * the end, so a crash leaves a playable file that holds all but the last seconds.
 *
 * The blocks are the process's, not the call's: a stream takes one from a shared pool when the timeline
 * starts filling it (the recorder's timeline fills a whole block at once, from its code rings) and gives it
 * back when it is on disk. So a call holds no block between writes: the memory of a recorded call is its
 * timeline's rings, and the pool holds about as many blocks as there are writes in flight (the same few
 * buffers go round, warm in the cache, instead of 3 cold ones per call).
 *
 * Canonical 44-byte header (RIFF/WAVE, `fmt ` PCM = 1, `data`), little-endian:
 *   0 "RIFF" · 4 u32 36+dataBytes · 8 "WAVE" · 12 "fmt " · 16 u32 16 · 20 u16 1 · 22 u16 channels ·
 *   24 u32 rate · 28 u32 byteRate · 32 u16 blockAlign · 34 u16 16 · 36 "data" · 40 u32 dataBytes · 44 samples
 *
 * If the disk cannot keep up (every block still waiting to be written), the block being filled is
 * dropped: its frames become a hole in the file, which reads back as silence, so what follows stays
 * aligned. Failures are logged once; the call never notices.
 */
import { close, ftruncate, mkdir, open, write } from 'node:fs';
import { dirname } from 'node:path';

export const WAV_HEADER_BYTES = 44;
/**
 * Seconds of audio per block, i.e. per write: 2 s (64 kB at 8 kHz stereo) halves the writes (each a trip
 * through libuv's thread pool and the kernel) against 1 s blocks: ≈ 9 % less recorder CPU in an in-process A/B
 * (docs/notes/recording.md "Figures").
 */
const BLOCK_SECONDS = 2;
/** The data chunk's size is a u32: stop before it would overflow. */
const MAX_DATA_BYTES = 0xffff_ffff - 36;

export interface WavStreamOptions {
  path: string;
  channels: 1 | 2;
  sampleRateHz: number;
  /** Frames per block (default: 2 s): one write each. */
  blockFrames?: number;
  /** Blocks in the pool: one filling, the others written or waiting (default 3: 6 s of audio). */
  poolBlocks?: number;
  /** Patch the header after this many block writes (default 3: every ~6 s of audio). */
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
  /** Bytes of audio the block holds (its pool). */
  size: number;
  samples: Int16Array;
  /** The same memory as 32-bit words (a stereo frame each). */
  words: Int32Array;
  bytes: Buffer;
  /** Interleaved samples filled so far. */
  used: number;
  /** File frame index of the block's first frame. */
  startFrame: number;
}

/** Directories this process has made (a recording's `mkdir -p` is done once per directory, not per call). */
const madeDirs = new Set<string>();
const MAX_MADE_DIRS = 64;

/** In the write queue: a block, or HEADER (patch the sizes). */
const HEADER = null;

/**
 * The process's free blocks, by size in bytes (8 kHz and 24 kHz calls, mono and stereo, have different
 * ones). A block is taken when a stream starts filling it and given back once written; at most
 * POOL_MAX_FREE_BYTES stay free (the rest go to the GC), so the pool is what the writes in flight need.
 */
const pool = new Map<number, Block[]>();
const POOL_MAX_FREE_BYTES = 8 * 1024 * 1024;
let poolFreeBytes = 0;
let poolMadeBytes = 0;

function takeBlock(size: number): Block {
  const b = pool.get(size)?.pop();
  if (b !== undefined) {
    poolFreeBytes -= size;
    b.used = 0;
    b.startFrame = 0;
    return b;
  }
  poolMadeBytes += size;
  const samples = new Int16Array(size >> 1);
  return { size, samples, words: new Int32Array(samples.buffer, 0, samples.length >> 1), bytes: Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength), used: 0, startFrame: 0 };
}

function giveBlock(b: Block): void {
  if (poolFreeBytes + b.size > POOL_MAX_FREE_BYTES) {
    poolMadeBytes -= b.size;
    return;
  }
  let free = pool.get(b.size);
  if (free === undefined) pool.set(b.size, (free = []));
  free.push(b);
  poolFreeBytes += b.size;
}

export class WavStream {
  readonly channels: 1 | 2;
  readonly sampleRateHz: number;
  readonly path: string;
  /** Bytes of one block (2 s of audio by default). */
  readonly blockBytes: number;
  readonly #blockFrames: number;
  /** Most blocks this stream holds at once (filling, waiting, being written): beyond, the disk is behind. */
  readonly #maxBlocks: number;
  /** The block being filled (null: none taken yet; the next `block` takes one). */
  #current: Block | null = null;
  /** Blocks waiting in the queue or being written. */
  #pending = 0;
  readonly #queue: Array<Block | typeof HEADER> = [];
  readonly #header = Buffer.alloc(WAV_HEADER_BYTES);
  readonly #patchEvery: number;
  readonly #log: WavStreamOptions['log'];
  #fd: number | null = null;
  readonly #opening: Promise<void>;
  /** The block being written (undefined: none; HEADER: the header). */
  #inFlight: Block | typeof HEADER | undefined = undefined;
  /** Made once: every write completes here (no closure per write). */
  readonly #onWritten: (err: NodeJS.ErrnoException | null) => void;
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
    this.#blockFrames = Math.max(1, Math.round(o.blockFrames ?? BLOCK_SECONDS * o.sampleRateHz));
    this.#patchEvery = Math.max(1, o.patchEveryBlocks ?? 3);
    this.#maxBlocks = Math.max(2, o.poolBlocks ?? 3);
    this.blockBytes = this.#blockFrames * this.channels * 2;
    this.#queue.push(HEADER);
    this.#onWritten = (err) => this.#written(err);
    this.#opening = new Promise<void>((resolve) => {
      const dir = dirname(this.path);
      const makeDir = (): void =>
        mkdir(dir, { recursive: true }, (mkErr) => {
          if (mkErr) {
            this.#fail(mkErr, 'recording: cannot make the directory; this call is not recorded');
            resolve();
            return;
          }
          if (madeDirs.size < MAX_MADE_DIRS) madeDirs.add(dir);
          openFile(false);
        });
      const openFile = (retry: boolean): void =>
        open(this.path, 'w', (err, fd) => {
          if (err && retry && err.code === 'ENOENT') {
            // the directory was removed since it was made: make it again
            madeDirs.delete(dir);
            makeDir();
            return;
          }
          if (err) this.#fail(err, 'recording: cannot open the file; this call is not recorded');
          else {
            this.#fd = fd;
            this.#pump();
          }
          resolve();
        });
      // the directory is made once per process (every call's file is in the same one), not per call
      if (madeDirs.has(dir)) openFile(true);
      else makeDir();
    });
  }

  /** Frames handed to the stream so far (its length, in frames). */
  get frames(): number {
    return this.#frames;
  }

  get blockFrames(): number {
    return this.#blockFrames;
  }

  /** A block can be sent now without dropping one (fewer than poolBlocks - 1 are waiting for the disk). */
  get hasSpare(): boolean {
    return this.#pending < this.#maxBlocks - 1;
  }

  /** Bytes of blocks this stream holds right now (0 between writes: they are the process's pool). */
  get memoryBytes(): number {
    return (this.#pending + (this.#current === null ? 0 : 1)) * this.blockBytes;
  }

  /** The process's write blocks (every stream's): made (in use or free) and free, bytes. */
  static get poolBytes(): { made: number; free: number } {
    return { made: poolMadeBytes, free: poolFreeBytes };
  }

  get failed(): boolean {
    return this.#failed;
  }

  /**
   * The block being filled and where in it: write up to `free` interleaved samples into
   * `block` (or `block32`, a stereo frame a word) from `used`, then call `advance(frames)`.
   */
  get block(): Int16Array {
    return this.#take().samples;
  }

  /** The block as 32-bit words: one stereo frame each (left in the low half). */
  get block32(): Int32Array {
    return this.#take().words;
  }

  get used(): number {
    return this.#current === null ? 0 : this.#current.used;
  }

  get free(): number {
    return this.#current === null ? this.#blockFrames * this.channels : this.#current.samples.length - this.#current.used;
  }

  #take(): Block {
    if (this.#current !== null) return this.#current;
    const b = takeBlock(this.blockBytes);
    b.startFrame = this.#frames;
    this.#current = b;
    return b;
  }

  /** `frames` more frames were written into the block at `used`. */
  advance(frames: number): void {
    const b = this.#take();
    b.used += frames * this.channels;
    this.#frames += frames;
    if (b.used >= b.samples.length) this.#commit();
  }

  /** Send the partly filled block now (end of call, or a quiet stretch). */
  flush(): void {
    if (this.#current !== null && this.#current.used > 0) this.#commit();
  }

  #commit(): void {
    const b = this.#current!;
    if (this.#failed) {
      b.used = 0;
      b.startFrame = this.#frames;
      return;
    }
    if (!this.hasSpare) {
      // the disk is behind: this block becomes a hole (silence) and is refilled
      const lost = b.used / this.channels;
      if (this.droppedFrames === 0) this.#log?.warn({ path: this.path }, 'recording: the disk is behind; dropping audio (written as silence)');
      this.droppedFrames += lost;
      b.startFrame = this.#frames;
      b.used = 0;
      return;
    }
    this.#queue.push(b);
    this.#pending++;
    this.#current = null;
    this.#pump();
  }

  /** Start the next write, one at a time, in order. */
  #pump(): void {
    if (this.#inFlight !== undefined || this.#fd === null) return;
    if (this.#queue.length === 0) {
      const w = this.#idleWaiters;
      if (w.length === 0) return;
      this.#idleWaiters = [];
      for (const f of w) f();
      return;
    }
    const op = this.#queue.shift()!;
    if (this.#failed) {
      if (op !== HEADER) this.#release(op);
      this.#pump();
      return;
    }
    this.#inFlight = op;
    if (op === HEADER) {
      const final = this.#closed && this.#queue.length === 0;
      wavHeader(this.channels, this.sampleRateHz, this.#dataBytes(final ? this.#frames : this.#onDisk), this.#header);
      write(this.#fd, this.#header, 0, WAV_HEADER_BYTES, 0, this.#onWritten);
      return;
    }
    const pos = WAV_HEADER_BYTES + op.startFrame * this.channels * 2;
    const room = MAX_DATA_BYTES + WAV_HEADER_BYTES - pos;
    const len = Math.min(op.used * 2, Math.max(0, room - (room % (this.channels * 2))));
    if (len < op.used * 2) this.truncatedFrames += (op.used * 2 - len) / (this.channels * 2);
    if (len > 0) write(this.#fd, op.bytes, 0, len, pos, this.#onWritten);
    else queueMicrotask(() => this.#written(null));
  }

  #written(err: NodeJS.ErrnoException | null): void {
    const op = this.#inFlight;
    this.#inFlight = undefined;
    if (op === HEADER) this.#sincePatch = 0;
    else if (op !== undefined) {
      if (!err) this.#onDisk = op.startFrame + op.used / this.channels;
      this.#release(op);
      if (!err && ++this.#sincePatch >= this.#patchEvery && !this.#queue.includes(HEADER)) this.#queue.push(HEADER);
    }
    if (err) this.#fail(err, 'recording: a write failed; the rest of this call is not recorded');
    this.#pump();
  }

  #release(b: Block): void {
    this.#pending--;
    giveBlock(b);
  }

  #dataBytes(frames: number): number {
    return Math.min(MAX_DATA_BYTES, frames * this.channels * 2);
  }

  #fail(err: unknown, msg: string): void {
    if (this.#failed) return;
    this.#failed = true;
    // nothing more will be written: the waiting blocks go back to the pool
    for (const op of this.#queue.splice(0)) if (op !== HEADER) this.#release(op);
    this.#log?.error({ path: this.path, err: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown })?.code } }, msg);
  }

  /** Everything queued so far is on disk (tests, the periodic flush). */
  async idle(): Promise<void> {
    await this.#opening;
    if (this.#fd === null || (this.#inFlight === undefined && this.#queue.length === 0)) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /** The last block, the final sizes (the file is extended to its full length: a trailing hole reads as silence), close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.flush();
    if (this.#current !== null) {
      // nothing more to fill (an empty block, or a failed stream's): back to the pool
      giveBlock(this.#current);
      this.#current = null;
    }
    this.#queue.push(HEADER);
    await this.#opening;
    this.#pump();
    await this.idle();
    const fd = this.#fd;
    this.#fd = null;
    if (fd === null) return;
    await new Promise<void>((resolve) => {
      const done = (): void => close(fd, () => resolve());
      if (this.#failed) done();
      else
        ftruncate(fd, WAV_HEADER_BYTES + this.#dataBytes(this.#frames), (err) => {
          if (err) this.#fail(err, 'recording: could not finish the file');
          done();
        });
    });
  }
}
