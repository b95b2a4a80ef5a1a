/**
 * FramePacer: one deadline timer drives many media streams (e.g. every RTP sender), one tick per
 * frame. Deadlines are absolute (start + k·frameMs on the monotonic clock), so timer lateness
 * never accumulates into drift; never setInterval. If the event loop was blocked, the missed ticks
 * run back to back (up to `maxCatchUpFrames`), beyond that the clock skips ahead and the skipped
 * frames are counted. A tick that throws is reported to `onError` and does not stop the others.
 */
import { performance } from 'node:perf_hooks';
import { AudioError } from './errors.ts';

export interface FramePacerOptions {
  frameMs?: number;
  /** Missed ticks replayed after a stall before the clock skips ahead. Default 10 (200 ms). */
  maxCatchUpFrames?: number;
  onError?: (err: unknown) => void;
  /** Clock in ms (monotonic). Default performance.now. */
  now?: () => number;
  /** Timer functions. Default the global setTimeout/clearTimeout (unref'd). */
  timer?: PacerTimer;
}

export interface PacerTimer {
  set(fn: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMER: PacerTimer = {
  set(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface FramePacerStats {
  /** Frames ticked since the timer started. */
  frames: number;
  /** Frames skipped after stalls longer than maxCatchUpFrames. */
  skippedFrames: number;
  /** Timer callbacks that ran more than one frame late. */
  lateWakeups: number;
  /** Worst lateness of a timer callback behind its deadline, in ms. */
  maxLatenessMs: number;
  streams: number;
}

interface Entry {
  tick: (frameIndex: number) => void;
  /** Pacer frame at which this stream joined: its own index is frame − startFrame. */
  startFrame: number;
  active: boolean;
}

export class FramePacer {
  readonly frameMs: number;
  private readonly maxCatchUp: number;
  private readonly onError: ((err: unknown) => void) | undefined;
  private readonly now: () => number;
  private readonly timerApi: PacerTimer;
  private entries: Entry[] = [];
  private activeCount = 0;
  private timer: unknown;
  private t0 = 0;
  private frame = 0; // next frame to tick
  private needsCompaction = false;
  private st = { frames: 0, skippedFrames: 0, lateWakeups: 0, maxLatenessMs: 0 };
  private readonly onTimer = (): void => this.wake();

  constructor(opts: FramePacerOptions = {}) {
    this.frameMs = opts.frameMs ?? 20;
    if (!(this.frameMs >= 1)) throw new AudioError('AUDIO_ERR_BAD_INPUT', `frameMs must be ≥ 1, got ${this.frameMs}`);
    this.maxCatchUp = opts.maxCatchUpFrames ?? 10;
    this.onError = opts.onError;
    this.now = opts.now ?? (() => performance.now());
    this.timerApi = opts.timer ?? NODE_TIMER;
  }

  /**
   * Add a stream; its tick gets its own frame index (0 on its first tick, which is the pacer's
   * next frame). Returns remove(). The timer starts with the first stream and stops with the last.
   */
  add(tick: (frameIndex: number) => void): () => void {
    const e: Entry = { tick, startFrame: 0, active: true };
    if (this.activeCount === 0 && this.timer === undefined) this.start();
    e.startFrame = this.frame;
    this.entries.push(e);
    this.activeCount++;
    return () => {
      if (!e.active) return;
      e.active = false;
      this.activeCount--;
      this.needsCompaction = true;
      if (this.activeCount === 0) this.halt();
    };
  }

  /** Stop the timer and drop every stream. */
  stop(): void {
    for (const e of this.entries) e.active = false;
    this.entries = [];
    this.activeCount = 0;
    this.halt();
  }

  get streams(): number {
    return this.activeCount;
  }

  stats(): FramePacerStats {
    return { ...this.st, streams: this.activeCount };
  }

  /** Time (ms, on the pacer clock) of frame k's deadline. */
  deadlineMs(frame: number): number {
    return this.t0 + frame * this.frameMs;
  }

  private start(): void {
    this.t0 = this.now();
    this.st = { frames: 0, skippedFrames: 0, lateWakeups: 0, maxLatenessMs: 0 };
    // frame 0 is due one frame after the start
    this.frame = 1;
    this.schedule();
  }

  private halt(): void {
    if (this.timer !== undefined) this.timerApi.clear(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const delay = Math.max(0, this.deadlineMs(this.frame) - this.now());
    this.timer = this.timerApi.set(this.onTimer, delay);
  }

  private wake(): void {
    this.timer = undefined;
    const now = this.now();
    // frames whose deadline has passed (allow waking up to 0.5 ms early: timers are ms-granular)
    let due = Math.floor((now + 0.5 - this.t0) / this.frameMs) - this.frame + 1;
    if (due < 1) {
      this.schedule(); // woke too early: wait for the deadline
      return;
    }
    const lateness = now - this.deadlineMs(this.frame);
    if (lateness > this.st.maxLatenessMs) this.st.maxLatenessMs = lateness;
    if (lateness > this.frameMs) this.st.lateWakeups++;
    if (due > this.maxCatchUp) {
      const skip = due - this.maxCatchUp;
      this.st.skippedFrames += skip;
      this.frame += skip;
      due = this.maxCatchUp;
    }
    for (let k = 0; k < due && this.activeCount > 0; k++) this.tickAll();
    if (this.needsCompaction) this.compact();
    if (this.activeCount > 0 && this.timer === undefined) this.schedule();
  }

  private tickAll(): void {
    const f = this.frame++;
    this.st.frames++;
    const list = this.entries;
    const n = list.length; // streams added during this tick start on the next one
    for (let i = 0; i < n; i++) {
      const e = list[i] as Entry;
      if (!e.active) continue;
      try {
        e.tick(f - e.startFrame);
      } catch (err) {
        this.onError?.(err);
      }
    }
  }

  private compact(): void {
    this.needsCompaction = false;
    this.entries = this.entries.filter((e) => e.active);
  }
}
