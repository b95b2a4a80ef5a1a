/**
 * Turn detection with OpenAI Realtime `server_vad` semantics on top of a frame VAD.
 *
 * - speech_started when a frame's probability ≥ threshold; audioStartMs = start of that frame
 *   minus prefixPaddingMs, floored at 0 (the audio the model is given starts there).
 * - speech_stopped once the probability has stayed below threshold for silenceDurationMs;
 *   audioEndMs = the start of that silence.
 * Offsets are milliseconds of audio pushed since construction or reset(), counted in samples at the
 * VAD's rate. Audio is accepted in chunks of any size; it is cut into the VAD's frames here.
 */
import { AudioError } from './errors.ts';
import { PcmFramer } from './framer.ts';
import type { VoiceActivityDetector } from './vad.ts';

export type TurnEvent = { type: 'speech_started'; audioStartMs: number } | { type: 'speech_stopped'; audioEndMs: number };

export interface TurnDetectorOptions {
  vad: VoiceActivityDetector;
  /** Probability at or above which a frame is speech (OpenAI default 0.5). */
  threshold?: number;
  /** Audio before the detected start included in the turn (OpenAI default 300 ms). */
  prefixPaddingMs?: number;
  /** Silence that ends a turn (OpenAI default 500 ms). */
  silenceDurationMs?: number;
}

const NO_EVENTS: readonly TurnEvent[] = Object.freeze([]);

export class TurnDetector {
  readonly threshold: number;
  readonly prefixPaddingMs: number;
  /** The silence that ends the current turn; `setSilenceDuration` moves it (adaptive end of turn). */
  silenceDurationMs: number;
  private readonly vad: VoiceActivityDetector;
  private readonly framer: PcmFramer;
  private readonly msPerSample: number;
  private framesSeen = 0;
  private inSpeech = false;
  /** Frame index where the current run of below-threshold frames began, or −1. */
  private silenceStartFrame = -1;
  private lastProb = 0;
  private events: TurnEvent[] = [];
  private readonly onFrame = (frame: Int16Array): void => this.step(frame);

  constructor(opts: TurnDetectorOptions) {
    this.vad = opts.vad;
    this.threshold = opts.threshold ?? 0.5;
    this.prefixPaddingMs = opts.prefixPaddingMs ?? 300;
    this.silenceDurationMs = opts.silenceDurationMs ?? 500;
    if (!(this.threshold >= 0 && this.threshold <= 1)) throw new AudioError('AUDIO_ERR_BAD_INPUT', `threshold must be within 0..1, got ${this.threshold}`);
    if (!(this.prefixPaddingMs >= 0) || !(this.silenceDurationMs >= 0)) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'prefixPaddingMs and silenceDurationMs must be ≥ 0');
    this.framer = new PcmFramer(this.vad.frameSamples);
    this.msPerSample = 1000 / this.vad.sampleRateHz;
  }

  /** True between speech_started and speech_stopped. */
  get speaking(): boolean {
    return this.inSpeech;
  }

  /** Silence so far in the current turn (ms since the last speech frame), 0 outside a turn or while speech goes on. */
  get silenceMs(): number {
    if (!this.inSpeech || this.silenceStartFrame < 0) return 0;
    return this.frameStartMs(this.framesSeen) - this.frameStartMs(this.silenceStartFrame);
  }

  /**
   * Change the silence that ends a turn (e.g. from what the words so far say, docs/notes/turns.md).
   * When the current turn has already been silent that long it ends now: the speech_stopped is returned.
   */
  setSilenceDuration(ms: number): TurnEvent[] {
    if (!(ms >= 0)) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'silenceDurationMs must be ≥ 0');
    this.silenceDurationMs = ms;
    if (!this.inSpeech || this.silenceStartFrame < 0 || this.silenceMs < ms) return NO_EVENTS as TurnEvent[];
    this.inSpeech = false;
    const ev: TurnEvent = { type: 'speech_stopped', audioEndMs: Math.round(this.frameStartMs(this.silenceStartFrame)) };
    this.silenceStartFrame = -1;
    return [ev];
  }

  /** Probability of the last complete frame. */
  get lastProbability(): number {
    return this.lastProb;
  }

  /** Milliseconds of audio pushed so far. */
  get audioMs(): number {
    return (this.framesSeen * this.vad.frameSamples + this.framer.buffered) * this.msPerSample;
  }

  /** Push audio at the VAD's rate; returns the turn events it completed (usually none). */
  push(pcm: Int16Array): TurnEvent[] {
    this.framer.push(pcm, this.onFrame);
    if (this.events.length === 0) return NO_EVENTS as TurnEvent[];
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Forget the turn state and the audio clock (offsets restart at 0); resets the VAD too. */
  reset(): void {
    this.framer.reset();
    this.vad.reset();
    this.framesSeen = 0;
    this.inSpeech = false;
    this.silenceStartFrame = -1;
    this.lastProb = 0;
    this.events = [];
  }

  private frameStartMs(frameIndex: number): number {
    return frameIndex * this.vad.frameSamples * this.msPerSample;
  }

  private step(frame: Int16Array): void {
    const index = this.framesSeen++;
    const p = this.vad.process(frame);
    this.lastProb = p;
    const speech = p >= this.threshold;
    if (!this.inSpeech) {
      if (speech) {
        this.inSpeech = true;
        this.silenceStartFrame = -1;
        this.events.push({ type: 'speech_started', audioStartMs: Math.max(0, Math.round(this.frameStartMs(index) - this.prefixPaddingMs)) });
      }
      return;
    }
    if (speech) {
      this.silenceStartFrame = -1;
      return;
    }
    if (this.silenceStartFrame < 0) this.silenceStartFrame = index;
    const silenceMs = this.frameStartMs(index + 1) - this.frameStartMs(this.silenceStartFrame);
    if (silenceMs >= this.silenceDurationMs) {
      this.inSpeech = false;
      this.events.push({ type: 'speech_stopped', audioEndMs: Math.round(this.frameStartMs(this.silenceStartFrame)) });
      this.silenceStartFrame = -1;
    }
  }
}
