/**
 * One assistant message of a response: text deltas, or spoken audio. Spoken text is cut into
 * sentences as the chat model streams (`SentenceSplitter`); each sentence goes to TTS at once, in
 * order, while the model still writes; TTS pcm → the output format's bytes → an `AudioChunk` in each
 * `response.output_audio.delta` (≤ 200 ms). The first delta of a turn's reply reports `TurnTiming`.
 */
import { AudioChunk } from '../../protocol/index.ts';
import type { TtsRequest } from '../providers/index.ts';
import type { CascadeContext, TurnTiming } from './context.ts';
import type { Run } from './generation.ts';
import type { Spoken, StoredItem } from './items.ts';
import { SentenceSplitter } from './sentences.ts';

export interface MessageHooks {
  /** An exception on the way (TTS, emitting): the response ends as failed. */
  fail(err: unknown): void;
  /** The message speaks: its spoken pieces, kept for truncate. */
  speaking(spoken: Spoken): void;
  onTurnTiming?: (t: TurnTiming) => void;
}

export class MessageOutput {
  readonly item: StoredItem;
  readonly outputIndex: number;
  readonly #ctx: CascadeContext;
  readonly #run: Run;
  readonly #hooks: MessageHooks;
  readonly #audio: boolean;
  /** Text (or transcript) emitted so far. */
  #text = '';
  readonly #splitter = new SentenceSplitter();
  readonly #queue: string[] = [];
  #closing = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  /** Output samples generated (at the output format's rate). */
  #samples = 0;
  readonly #spoken: Spoken = { audioMs: 0, pieces: [] };

  /** Emits content_part.added; a spoken message starts its TTS loop. */
  constructor(ctx: CascadeContext, run: Run, item: StoredItem, outputIndex: number, hooks: MessageHooks) {
    this.#ctx = ctx;
    this.#run = run;
    this.item = item;
    this.outputIndex = outputIndex;
    this.#hooks = hooks;
    this.#audio = run.encoder !== null;
    if (this.#audio) hooks.speaking(this.#spoken);
    ctx.emit({ type: 'response.content_part.added', ...this.#ref(), part: this.#audio ? { type: 'audio', transcript: '' } : { type: 'text', text: '' } });
    if (this.#audio) this.#loop = this.#speak();
  }

  push(delta: string): void {
    if (!this.#audio) {
      this.#text += delta;
      this.#ctx.emit({ type: 'response.output_text.delta', ...this.#ref(), delta });
      return;
    }
    const pieces = this.#splitter.push(delta);
    if (pieces.length > 0) this.#enqueue(pieces);
  }

  /** The chat stream is done with this message: speak the rest, then drain the encoder. */
  async finish(): Promise<void> {
    if (!this.#audio) return;
    const rest = this.#splitter.flush();
    if (rest) this.#enqueue([rest]);
    this.#closing = true;
    this.#wake?.();
    await this.#loop;
    const run = this.#run;
    if (run.finished) return;
    run.encoder?.flush((bytes, samples) => this.#delta(bytes, samples));
  }

  /** The done events (audio / transcript or text, content part); the item gets its final content. */
  end(status: 'completed' | 'incomplete'): void {
    const ref = this.#ref();
    const text = this.#text;
    if (this.#audio) {
      this.item.content = [{ type: 'output_audio', transcript: text }];
      this.item.status = status;
      this.#ctx.emit({ type: 'response.output_audio.done', ...ref });
      this.#ctx.emit({ type: 'response.output_audio_transcript.done', ...ref, transcript: text });
      this.#ctx.emit({ type: 'response.content_part.done', ...ref, part: { type: 'audio', transcript: text } });
    } else {
      this.item.content = [{ type: 'output_text', text }];
      this.item.status = status;
      this.#ctx.emit({ type: 'response.output_text.done', ...ref, text });
      this.#ctx.emit({ type: 'response.content_part.done', ...ref, part: { type: 'text', text } });
    }
  }

  #ref(): { response_id: string; item_id: string; output_index: number; content_index: number } {
    return { response_id: this.#run.id, item_id: this.item.id, output_index: this.outputIndex, content_index: 0 };
  }

  #enqueue(pieces: string[]): void {
    const marks = this.#run.marks;
    if (marks && marks.sentenceAt === undefined) marks.sentenceAt = performance.now();
    this.#queue.push(...pieces);
    this.#wake?.();
  }

  /** TTS loop: one piece at a time, in order, while the chat stream keeps writing. Never rejects. */
  async #speak(): Promise<void> {
    const run = this.#run;
    try {
      for (;;) {
        if (run.finished) return;
        const piece = this.#queue.shift();
        if (piece === undefined) {
          if (this.#closing) return;
          await new Promise<void>((resolve) => { this.#wake = resolve; });
          this.#wake = null;
          continue;
        }
        let started = false;
        for await (const chunk of this.#ctx.stages.tts.synthesize(this.#ttsRequest(piece))) {
          if (run.finished) return;
          if (!started) { started = true; this.#startPiece(piece); }
          run.encoder?.write(chunk.pcm, chunk.sampleRateHz, (bytes, samples) => this.#delta(bytes, samples));
        }
        if (run.finished) return;
        if (!started) this.#startPiece(piece);
      }
    } catch (err) {
      this.#hooks.fail(err);
    }
  }

  #ttsRequest(text: string): TtsRequest {
    const req: TtsRequest = { text, signal: this.#run.ctrl.signal };
    const s = this.#ctx.session;
    if (this.#run.voice !== undefined) req.voice = this.#run.voice;
    const speed = s.audio?.output?.speed;
    if (typeof speed === 'number') req.speed = speed;
    const language = s.audio?.input?.transcription?.language;
    if (language) req.language = language;
    return req;
  }

  /** A piece's first audio is about to go out: its transcript delta first. */
  #startPiece(piece: string): void {
    const rate = this.#run.encoder?.rateHz ?? 24_000;
    this.#spoken.pieces.push({ startMs: (this.#samples / rate) * 1000, text: piece });
    const delta = this.#text ? ` ${piece}` : piece;
    this.#text += delta;
    this.#ctx.emit({ type: 'response.output_audio_transcript.delta', ...this.#ref(), delta });
  }

  #delta(bytes: Uint8Array, samples: number): void {
    const run = this.#run;
    const encoder = run.encoder;
    if (run.finished || this.#ctx.closed || !encoder) return;
    this.#samples += samples;
    this.#spoken.audioMs = (this.#samples / encoder.rateHz) * 1000;
    const now = performance.now();
    run.firstAudioAt ??= now;
    run.audioMs += (samples / encoder.rateHz) * 1000;
    const m = run.marks;
    if (m && m.firstAudioAt === undefined) {
      m.firstAudioAt = now;
      const sttAt = m.sttAt ?? m.stoppedAt;
      const sentenceAt = m.sentenceAt ?? sttAt;
      this.#hooks.onTurnTiming?.({ responseId: run.id, sttMs: sttAt - m.stoppedAt, chatMs: sentenceAt - sttAt, ttsMs: now - sentenceAt, totalMs: now - m.stoppedAt });
    }
    this.#ctx.emit({ type: 'response.output_audio.delta', ...this.#ref(), delta: AudioChunk.fromBytes(bytes, encoder.format) });
  }
}
