/**
 * One call's recorder: a session observer that decodes the caller's and the agent's audio (by each
 * chunk's GA format: G.711 μ-law / A-law, pcm16) into one preallocated scratch buffer and places it on
 * the call's timeline (timeline.ts), which streams the WAV to disk (wav-stream.ts).
 *
 * The recording's rate is the call's own: 8 kHz when its audio is G.711 (a phone call: nothing above
 * 4 kHz exists, and the file stays small), 24 kHz when it is pcm16 (the GA `audio/pcm` rate: a WS or
 * Opus call is kept exactly as it was, without resampling). It is fixed by the first audio of either
 * side; audio of the other rate (a session whose input and output formats differ, or that changes
 * format) goes through a stateful resampler.
 */
import type { Logger } from 'pino';
import { Resampler, alawDecode, mulawDecode } from '../../audio/index.ts';
import type { AudioChunk, AudioFormat } from '../protocol/index.ts';
import type { AgentAudioPosition, SessionEnd, SessionInfo, SessionObserver } from '../session/index.ts';
import { Timeline, type SampleCodec, type TimelineOptions } from './timeline.ts';
import { WavStream } from './wav-stream.ts';


/** Resampled audio is decoded this much at a time (bigger chunks go in slices). */
const SCRATCH_MS = 500;

export interface CallRecorderOptions {
  mode: 'mono' | 'stereo';
  path: string;
  log: Logger;
  /** ms clock (default performance.now); the session started at `startedAtMs` on it. */
  clock?: () => number;
  startedAtMs?: number;
  /** Timeline tuning (tests). */
  timeline?: Partial<Omit<TimelineOptions, 'channels' | 'sampleRateHz' | 'sink'>>;
  /** WAV stream tuning (tests, bench). */
  stream?: { blockFrames?: number; poolBlocks?: number; patchEveryBlocks?: number };
  /** The call ended: `done` settles when the file is complete (closed) or has failed. */
  onFinish?: (done: Promise<void>, r: CallRecorder) => void;
}

export class CallRecorder implements SessionObserver {
  readonly sessionId: string;
  readonly mode: 'mono' | 'stereo';
  readonly path: string;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #origin: number;
  readonly #opts: CallRecorderOptions;
  #rate = 0;
  #timeline: Timeline | null = null;
  #stream: WavStream | null = null;
  #scratch = new Int16Array(0);
  #callerResampler: Resampler | null = null;
  #agentResampler: Resampler | null = null;
  #paused = false;
  #closed = false;
  // the last format seen on each side and what it means (a door keeps one format object per call: no string compares per frame)
  #callerFormat: AudioFormat | null = null;
  #callerCodec: SampleCodec = 'pcm16';
  #callerRate = 0;
  #agentFormat: AudioFormat | null = null;
  #agentCodec: SampleCodec = 'pcm16';
  #agentRate = 0;
  /** The timeline's largest chunk (fixed when it is made). */
  #maxChunk = 0;
  #done: Promise<void> | null = null;

  constructor(s: SessionInfo, o: CallRecorderOptions) {
    this.sessionId = s.id;
    this.mode = o.mode;
    this.path = o.path;
    this.#log = o.log;
    this.#opts = o;
    this.#clock = o.clock ?? (() => performance.now());
    // the session clock: ms since the session was created
    this.#origin = o.startedAtMs ?? this.#clock() - (Date.now() - s.startedAt);
  }

  /** The session clock now, in frames of the recording's rate. */
  #now(): number {
    return Math.floor(((this.#clock() - this.#origin) * this.#rate) / 1000);
  }

  get sampleRateHz(): number {
    return this.#rate;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The call ended (the file is being finished or is complete). */
  get ended(): boolean {
    return this.#closed;
  }

  /**
   * The call's own audio memory (the timeline's rings + the resampling scratch), bytes. The blocks being
   * written are not the call's: they come from the process's pool for the write (`WavStream.poolBytes`).
   */
  get memoryBytes(): number {
    return (this.#timeline?.memoryBytes ?? 0) + this.#scratch.byteLength;
  }

  get timeline(): Timeline | null {
    return this.#timeline;
  }

  get stream(): WavStream | null {
    return this.#stream;
  }

  /** The first audio fixes the rate and opens the file. */
  #start(format: AudioFormat): Timeline {
    const rate = format.type === 'audio/pcm' ? (format.rate ?? 24_000) : 8000;
    this.#rate = rate;
    const channels = this.mode === 'stereo' ? 2 : 1;
    const stream = new WavStream({ path: this.path, channels, sampleRateHz: rate, log: this.#log, ...this.#opts.stream });
    // whole blocks: the frames wait in the rings and each block is filled and written in one go
    const timeline = new Timeline({ channels, sampleRateHz: rate, sink: stream, blockFrames: stream.blockFrames, ...this.#opts.timeline });
    this.#stream = stream;
    this.#timeline = timeline;
    this.#maxChunk = timeline.maxChunkFrames;
    if (this.#paused) timeline.pause(this.#now());
    this.#log.info({ path: this.path, mode: this.mode, sampleRateHz: rate }, 'recording the call');
    return timeline;
  }

  callerAudio(chunk: AudioChunk): void {
    if (this.#closed) return;
    const t = this.#timeline ?? this.#start(chunk.format);
    const f = chunk.format;
    if (f !== this.#callerFormat) {
      this.#callerFormat = f;
      this.#callerCodec = codecOf(f);
      this.#callerRate = rateOf(f);
    }
    const codec = this.#callerCodec;
    const per = codec === 'pcm16' ? 2 : 1;
    const bytes = chunk.bytes();
    const total = (bytes.length / per) | 0;
    const rate = this.#callerRate;
    if (rate === this.#rate) {
      // the usual case: decoded straight into the timeline's ring
      const max = this.#maxChunk;
      if (total <= max) {
        t.pushCallerBytes(bytes, 0, total, codec, this.#now());
        return;
      }
      for (let k = 0; k < total; k += max) t.pushCallerBytes(bytes, k * per, Math.min(max, total - k), codec, this.#now());
      return;
    }
    const step = this.#sliceSamples(rate);
    for (let k = 0; k < total; k += step) {
      const n = decodeInto(bytes, k * per, Math.min(step, total - k), codec, this.#scratch);
      const out = this.#resampler('caller', rate).process(this.#scratch.subarray(0, n));
      t.pushCaller(out, out.length, this.#now());
    }
  }

  agentAudio(chunk: AudioChunk, at: AgentAudioPosition): void {
    if (this.#closed) return;
    const t = this.#timeline ?? this.#start(chunk.format);
    const f = chunk.format;
    if (f !== this.#agentFormat) {
      this.#agentFormat = f;
      this.#agentCodec = codecOf(f);
      this.#agentRate = rateOf(f);
    }
    const codec = this.#agentCodec;
    const per = codec === 'pcm16' ? 2 : 1;
    const bytes = chunk.bytes();
    const total = (bytes.length / per) | 0;
    const rate = this.#agentRate;
    if (rate === this.#rate) {
      const max = this.#maxChunk;
      if (total <= max) {
        t.pushAgentBytes(bytes, 0, total, codec, at.itemId, at.contentIndex, at.offsetMs, this.#now());
        return;
      }
      for (let k = 0; k < total; k += max) {
        t.pushAgentBytes(bytes, k * per, Math.min(max, total - k), codec, at.itemId, at.contentIndex, at.offsetMs + (k * 1000) / rate, this.#now());
      }
      return;
    }
    const step = this.#sliceSamples(rate);
    for (let k = 0; k < total; k += step) {
      const n = decodeInto(bytes, k * per, Math.min(step, total - k), codec, this.#scratch);
      const out = this.#resampler('agent', rate).process(this.#scratch.subarray(0, n));
      t.pushAgent(out, out.length, at.itemId, at.contentIndex, at.offsetMs + (k * 1000) / rate, this.#now());
    }
  }

  agentAudioTruncated(tr: { itemId: string; contentIndex: number; audioEndMs: number }): void {
    if (this.#closed) return;
    this.#timeline?.truncate(tr.itemId, tr.contentIndex, tr.audioEndMs);
  }

  closed(_s: SessionInfo, _end: SessionEnd): void {
    void this.finish();
  }

  /** Input samples per slice so that the decoded (and resampled) slice fits the scratch and the timeline. */
  #sliceSamples(rate: number): number {
    // only a call whose two sides differ in rate needs the scratch: made then, once
    if (this.#scratch.length === 0) this.#scratch = new Int16Array(Math.min(this.#timeline!.maxChunkFrames, Math.round((SCRATCH_MS * this.#rate) / 1000)));
    const cap = this.#scratch.length;
    return rate <= this.#rate ? Math.max(1, Math.floor((cap * rate) / this.#rate) - 1) : cap;
  }

  #resampler(side: 'caller' | 'agent', rate: number): Resampler {
    let r = side === 'caller' ? this.#callerResampler : this.#agentResampler;
    if (r === null || r.inputRateHz !== rate) {
      r = new Resampler({ inputRateHz: rate, outputRateHz: this.#rate });
      if (side === 'caller') this.#callerResampler = r;
      else this.#agentResampler = r;
    }
    return r;
  }

  /** Both channels silent from now until resume() (card numbers). Returns false when already paused. */
  pause(): boolean {
    if (this.#closed || this.#paused) return false;
    this.#paused = true;
    this.#timeline?.pause(this.#now());
    this.#log.info('recording paused');
    return true;
  }

  resume(): boolean {
    if (this.#closed || !this.#paused) return false;
    this.#paused = false;
    this.#timeline?.resume(this.#now());
    this.#log.info('recording resumed');
    return true;
  }

  /** Periodic: write what is final even when no audio flows. */
  tick(): void {
    if (this.#closed || this.#timeline === null) return;
    this.#timeline.tick(this.#now());
  }

  /** The call ended: the last frames, the final header, close. Idempotent. */
  finish(): Promise<void> {
    if (this.#done !== null) return this.#done;
    this.#closed = true;
    const t = this.#timeline;
    const stream = this.#stream;
    this.#done = (t === null || stream === null ? Promise.resolve() : drainTo(t, stream, t.endAt(this.#now()))).then(() => {
      if (t !== null && stream !== null) {
        const s = { path: this.path, seconds: Math.round(stream.frames / this.#rate), droppedFrames: stream.droppedFrames, agentDroppedFrames: t.agentDroppedFrames, lateCutFrames: t.lateCutFrames };
        if (stream.failed) this.#log.warn(s, 'recording incomplete');
        else this.#log.info(s, 'recording complete');
      }
    });
    this.#opts.onFinish?.(this.#done, this);
    return this.#done;
  }
}

/** The last frames (the held-back second and the agent's look-ahead up to the end), a block at a time as the disk takes them. */
async function drainTo(t: Timeline, stream: WavStream, end: number): Promise<void> {
  while (t.written < end && !stream.failed) {
    if (!stream.hasSpare) await stream.idle();
    t.flushTo(Math.min(end, t.written + stream.blockFrames));
  }
  await stream.close();
}

function rateOf(f: AudioFormat): number {
  return f.type === 'audio/pcm' ? (f.rate ?? 24_000) : 8000;
}

function codecOf(f: AudioFormat): SampleCodec {
  return f.type === 'audio/pcmu' ? 'pcmu' : f.type === 'audio/pcma' ? 'pcma' : 'pcm16';
}

/** `n` samples of `bytes` from byte `at`, decoded into dst[0..n) (the resampled path). */
function decodeInto(bytes: Uint8Array, at: number, n: number, codec: SampleCodec, dst: Int16Array): number {
  if (codec === 'pcmu') return mulawDecode(bytes.subarray(at, at + n), dst).length;
  if (codec === 'pcma') return alawDecode(bytes.subarray(at, at + n), dst).length;
  for (let i = 0, j = at; i < n; i++, j += 2) dst[i] = ((bytes[j]! | (bytes[j + 1]! << 8)) << 16) >> 16;
  return n;
}
