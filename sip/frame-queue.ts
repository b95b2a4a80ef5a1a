/**
 * A FIFO of encoded audio frames (one RTP payload each) in a preallocated ring. It grows by doubling when
 * an agent's reply outruns real time by more than its capacity (rare), never per frame. A frame is handed
 * out as a view kept per slot (made again only when that slot's frame length changes): nothing allocated
 * per frame.
 */
export class FrameQueue {
  private readonly slotBytes: number;
  private capacity: number;
  private data: Uint8Array;
  private lens: Uint16Array;
  /** Per slot: a view of its frame, and the length it was made for (−1: none yet). */
  private views: Uint8Array[];
  private viewLens: Int32Array;
  private head = 0;
  private count = 0;

  constructor(slotBytes: number, initialFrames = 256) {
    this.slotBytes = slotBytes;
    this.capacity = initialFrames;
    this.data = new Uint8Array(slotBytes * initialFrames);
    this.lens = new Uint16Array(initialFrames);
    this.views = new Array<Uint8Array>(initialFrames);
    this.viewLens = new Int32Array(initialFrames).fill(-1);
  }

  get length(): number {
    return this.count;
  }

  /** Queue a copy of `frame`; false (and nothing queued) if it is larger than a slot. */
  push(frame: Uint8Array): boolean {
    if (frame.length > this.slotBytes) return false;
    if (this.count === this.capacity) this.grow();
    const idx = (this.head + this.count) % this.capacity;
    this.data.set(frame, idx * this.slotBytes);
    this.lens[idx] = frame.length;
    this.count++;
    return true;
  }

  /** The oldest frame (a view, valid until the next push) or undefined. */
  shift(): Uint8Array | undefined {
    if (this.count === 0) return undefined;
    const idx = this.head;
    this.count--;
    // drained: start again at slot 0 (a queue that is refilled one frame per tick keeps using one slot, which
    // stays in the CPU's cache, instead of walking the whole ring); the view handed out stays valid until the next push
    this.head = this.count === 0 ? 0 : (this.head + 1) % this.capacity;
    const len = this.lens[idx] as number;
    if (this.viewLens[idx] !== len) {
      const off = idx * this.slotBytes;
      this.views[idx] = this.data.subarray(off, off + len);
      this.viewLens[idx] = len;
    }
    return this.views[idx] as Uint8Array;
  }

  /** Drop everything; returns how many frames were dropped. */
  clear(): number {
    const n = this.count;
    this.head = 0;
    this.count = 0;
    return n;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const data = new Uint8Array(this.slotBytes * cap);
    const lens = new Uint16Array(cap);
    for (let i = 0; i < this.count; i++) {
      const src = (this.head + i) % this.capacity;
      data.set(this.data.subarray(src * this.slotBytes, (src + 1) * this.slotBytes), i * this.slotBytes);
      lens[i] = this.lens[src] as number;
    }
    this.data = data;
    this.lens = lens;
    this.views = new Array<Uint8Array>(cap);
    this.viewLens = new Int32Array(cap).fill(-1);
    this.capacity = cap;
    this.head = 0;
  }
}
