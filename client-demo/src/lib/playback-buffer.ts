/**
 * The playback path, as pure logic (the playback AudioWorklet is a thin shell around it):
 * assistant audio arrives as 24 kHz pcm16 chunks tagged with their item id, is resampled once to the
 * device rate into a ring buffer, and is rendered 128 samples at a time.
 *
 * - Jitter buffer: playback starts (and restarts after an underrun) only once `startThresholdMs` of
 *   audio is buffered, or the item's audio is complete; the OpenAI server streams faster than real
 *   time, so the threshold is only paid on the first chunk and after network stalls.
 * - Played-ms accounting: every rendered sample is attributed to its item, so `stop()` (barge-in)
 *   can report exactly how much of each unfinished item the listener heard: the `audio_end_ms` of
 *   `conversation.item.truncate`.
 * - `stop()` empties the buffer at once: the next render quantum is silence.
 */
import { StreamingResampler } from './resampler.ts';
import { REALTIME_RATE_HZ } from './pcm.ts';

export interface PlaybackOptions {
  outputRateHz: number;
  /** Audio buffered before playback starts or resumes. Default 60 ms. */
  startThresholdMs?: number;
  /** Initial ring capacity. Default 30 s. It doubles when a long reply arrives faster than real time. */
  capacityMs?: number;
  /** Hard limit of the ring (audio beyond it is dropped and counted). Default 10 min. */
  maxCapacityMs?: number;
  /** Largest input chunk (24 kHz samples) resampled in one step. Default 24000 (1 s). */
  maxChunkSamples?: number;
}

export interface PlaybackListener {
  /** First sample of an item reached the output. */
  onItemStarted?(itemId: string): void;
  /** The last sample of an ended item was rendered. */
  onItemFinished?(itemId: string, playedMs: number): void;
  onUnderrun?(itemId: string): void;
}

export interface StoppedItem {
  itemId: string;
  /** Audio of this item actually rendered, in ms. */
  playedMs: number;
  /** Audio of this item received so far (24 kHz input), in ms. */
  receivedMs: number;
}

interface ItemState {
  itemId: string;
  receivedSamples: number; // at 24 kHz
  playedSamples: number; // at the output rate
  queuedSamples: number; // at the output rate, still in the ring
  ended: boolean;
  started: boolean;
}

type PlayState = 'idle' | 'buffering' | 'playing';

const MAX_SEGMENTS = 1024;
const STOPPED_MEMORY = 32;

export class PlaybackBuffer {
  readonly outputRateHz: number;
  readonly startThresholdSamples: number;

  private ring: Float32Array;
  private readonly maxCapacity: number;
  private readIdx = 0;
  private writeIdx = 0;
  private count = 0;

  // segments: runs of consecutive ring samples that belong to one item (circular array)
  private readonly segItem: (ItemState | null)[] = new Array<ItemState | null>(MAX_SEGMENTS).fill(null);
  private readonly segRemaining = new Int32Array(MAX_SEGMENTS);
  private segHead = 0;
  private segCount = 0;

  private readonly items = new Map<string, ItemState>();
  private readonly stopped: string[] = [];
  private readonly resampler: StreamingResampler;
  private readonly scratchIn: Float32Array;
  private readonly scratchOut: Float32Array;
  private readonly maxChunk: number;
  private state: PlayState = 'idle';
  private tailEnded = false;

  /** Counters, exposed to the page (`window.parleyDemo.stats`). */
  readonly stats = {
    playedSamples: 0,
    receivedSamples: 0,
    underruns: 0,
    droppedSamples: 0,
    lateChunksDropped: 0,
    stops: 0,
  };

  constructor(opts: PlaybackOptions, private readonly listener: PlaybackListener = {}) {
    this.outputRateHz = opts.outputRateHz;
    this.startThresholdSamples = Math.round(((opts.startThresholdMs ?? 60) * opts.outputRateHz) / 1000);
    this.ring = new Float32Array(Math.round(((opts.capacityMs ?? 30_000) * opts.outputRateHz) / 1000));
    this.maxCapacity = Math.round(((opts.maxCapacityMs ?? 600_000) * opts.outputRateHz) / 1000);
    this.resampler = new StreamingResampler({ inputRateHz: REALTIME_RATE_HZ, outputRateHz: opts.outputRateHz });
    this.maxChunk = opts.maxChunkSamples ?? REALTIME_RATE_HZ;
    this.scratchIn = new Float32Array(this.maxChunk);
    this.scratchOut = new Float32Array(this.resampler.maxOutputSamples(this.maxChunk) + Math.ceil(this.resampler.halfTaps * 4) + 8);
  }

  get playedMs(): number {
    return (this.stats.playedSamples / this.outputRateHz) * 1000;
  }

  get bufferedMs(): number {
    return (this.count / this.outputRateHz) * 1000;
  }

  get playState(): PlayState {
    return this.state;
  }

  /** Audio is buffered or playing. */
  get active(): boolean {
    return this.count > 0 || this.state === 'playing';
  }

  /** Queue a chunk of 24 kHz pcm16 for `itemId`. Chunks of an item already stopped are dropped. */
  push(itemId: string, pcm: Int16Array): void {
    if (this.stopped.includes(itemId)) {
      this.stats.lateChunksDropped++;
      return;
    }
    let item = this.items.get(itemId);
    if (!item) {
      item = { itemId, receivedSamples: 0, playedSamples: 0, queuedSamples: 0, ended: false, started: false };
      this.items.set(itemId, item);
    }
    item.receivedSamples += pcm.length;
    this.stats.receivedSamples += pcm.length;
    this.tailEnded = false;
    for (let off = 0; off < pcm.length; off += this.maxChunk) {
      const n = Math.min(this.maxChunk, pcm.length - off);
      const src = this.scratchIn;
      for (let i = 0; i < n; i++) src[i] = (pcm[off + i] ?? 0) / 32768;
      const produced = this.resampler.process(src.subarray(0, n), this.scratchOut);
      this.enqueue(item, produced);
    }
    if (this.state === 'idle') this.state = 'buffering';
  }

  /** No more audio will come for `itemId` (response.output_audio.done): drain the filter tail. */
  end(itemId: string): void {
    const item = this.items.get(itemId);
    if (!item || item.ended) return;
    item.ended = true;
    const produced = this.resampler.flush(this.scratchOut);
    this.enqueue(item, produced);
    this.tailEnded = true;
    // an item whose audio already played out completely (or never had any) finishes now
    if (item.queuedSamples === 0) this.finish(item);
  }

  /**
   * Barge-in: silence from the next render quantum on. Returns the unfinished items with the audio
   * actually played of each (the caller truncates each one, once).
   */
  stop(): StoppedItem[] {
    const report: StoppedItem[] = [];
    for (const item of this.items.values()) {
      report.push({
        itemId: item.itemId,
        playedMs: (item.playedSamples / this.outputRateHz) * 1000,
        receivedMs: (item.receivedSamples / REALTIME_RATE_HZ) * 1000,
      });
      this.rememberStopped(item.itemId);
    }
    this.items.clear();
    this.readIdx = 0;
    this.writeIdx = 0;
    this.count = 0;
    for (let i = 0; i < this.segCount; i++) this.segItem[(this.segHead + i) % MAX_SEGMENTS] = null;
    this.segHead = 0;
    this.segCount = 0;
    this.resampler.reset();
    this.state = 'idle';
    this.tailEnded = false;
    this.stats.stops++;
    return report;
  }

  /** Fill one render quantum (or any block). Unfilled samples are silence. */
  render(out: Float32Array): void {
    if (this.state === 'buffering' && (this.count >= this.startThresholdSamples || this.tailEnded) && this.count > 0) {
      this.state = 'playing';
    }
    let written = 0;
    if (this.state === 'playing') {
      while (written < out.length && this.count > 0) {
        const item = this.segItem[this.segHead] ?? null;
        const segLeft = this.segRemaining[this.segHead] ?? 0;
        const contiguous = Math.min(out.length - written, segLeft, this.count, this.ring.length - this.readIdx);
        out.set(this.ring.subarray(this.readIdx, this.readIdx + contiguous), written);
        written += contiguous;
        this.readIdx = (this.readIdx + contiguous) % this.ring.length;
        this.count -= contiguous;
        this.stats.playedSamples += contiguous;
        const left = segLeft - contiguous;
        this.segRemaining[this.segHead] = left;
        if (item) {
          if (!item.started && contiguous > 0) {
            item.started = true;
            this.listener.onItemStarted?.(item.itemId);
          }
          item.playedSamples += contiguous;
          item.queuedSamples -= contiguous;
        }
        if (left === 0) {
          this.segItem[this.segHead] = null;
          this.segHead = (this.segHead + 1) % MAX_SEGMENTS;
          this.segCount--;
          if (item && item.ended && item.queuedSamples === 0) this.finish(item);
        }
      }
      if (this.count === 0) {
        if (this.tailEnded) {
          this.state = 'idle';
        } else {
          // more audio is expected: an underrun. Wait for the threshold again.
          this.state = 'buffering';
          if (written < out.length) {
            this.stats.underruns++;
            const last = this.lastOpenItem();
            if (last) this.listener.onUnderrun?.(last.itemId);
          }
        }
      }
    }
    if (written < out.length) out.fill(0, written);
  }

  private lastOpenItem(): ItemState | undefined {
    let last: ItemState | undefined;
    for (const item of this.items.values()) last = item;
    return last;
  }

  private finish(item: ItemState): void {
    this.items.delete(item.itemId);
    this.listener.onItemFinished?.(item.itemId, (item.playedSamples / this.outputRateHz) * 1000);
  }

  private rememberStopped(itemId: string): void {
    this.stopped.push(itemId);
    if (this.stopped.length > STOPPED_MEMORY) this.stopped.shift();
  }

  private enqueue(item: ItemState, n: number): void {
    if (n === 0) return;
    if (this.count + n > this.ring.length) this.grow(this.count + n);
    const free = this.ring.length - this.count;
    if (n > free) {
      this.stats.droppedSamples += n - free;
      n = free;
      if (n === 0) return;
    }
    // copy into the ring in at most two parts
    const first = Math.min(n, this.ring.length - this.writeIdx);
    this.ring.set(this.scratchOut.subarray(0, first), this.writeIdx);
    if (n > first) this.ring.set(this.scratchOut.subarray(first, n), 0);
    this.writeIdx = (this.writeIdx + n) % this.ring.length;
    this.count += n;
    item.queuedSamples += n;
    // extend the tail segment when it belongs to the same item
    const tail = (this.segHead + this.segCount - 1 + MAX_SEGMENTS) % MAX_SEGMENTS;
    if (this.segCount > 0 && this.segItem[tail] === item) {
      this.segRemaining[tail] = (this.segRemaining[tail] ?? 0) + n;
    } else if (this.segCount < MAX_SEGMENTS) {
      const idx = (this.segHead + this.segCount) % MAX_SEGMENTS;
      this.segItem[idx] = item;
      this.segRemaining[idx] = n;
      this.segCount++;
    } else {
      // pathological interleaving of more than MAX_SEGMENTS runs: attribute to the tail run
      this.segRemaining[tail] = (this.segRemaining[tail] ?? 0) + n;
    }
  }

  /** Grow the ring (rare: a long reply delivered much faster than real time). */
  private grow(needed: number): void {
    if (this.ring.length >= this.maxCapacity) return;
    let size = this.ring.length * 2;
    while (size < needed) size *= 2;
    size = Math.min(size, this.maxCapacity);
    const next = new Float32Array(size);
    const first = Math.min(this.count, this.ring.length - this.readIdx);
    next.set(this.ring.subarray(this.readIdx, this.readIdx + first), 0);
    if (this.count > first) next.set(this.ring.subarray(0, this.count - first), first);
    this.ring = next;
    this.readIdx = 0;
    this.writeIdx = this.count % size;
  }
}
