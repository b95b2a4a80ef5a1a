/**
 * Turn timings and the agent's audio positions, from the engine's events, for observers: when the
 * caller started and stopped speaking, when the reply's first audio came (the latency the caller
 * feels), where each chunk of agent audio sits in its item.
 */
import type { AudioFormat, ResponseAudioDeltaEvent, ResponseDoneEvent, ServerEventOf } from '../protocol/index.ts';
import { bytesPerMs } from '../protocol/index.ts';
import type { AgentAudioPosition, ObserverSet } from './observer.ts';

export class TurnClock {
  readonly #observers: ObserverSet;
  #bytesPerMs: number;
  #lastSpeechStoppedAt: number | null = null;
  #firstAudioOf: string | null = null;
  /** Reused for every chunk (observers copy what they keep). */
  readonly #at: AgentAudioPosition = { itemId: '', responseId: '', contentIndex: 0, offsetMs: 0 };

  constructor(observers: ObserverSet, outputFormat: AudioFormat | undefined) {
    this.#observers = observers;
    this.#bytesPerMs = bytesPerMs(outputFormat);
  }

  setOutputFormat(format: AudioFormat | undefined): void {
    this.#bytesPerMs = bytesPerMs(format);
  }

  speech(ev: ServerEventOf<'input_audio_buffer.speech_started'> | ServerEventOf<'input_audio_buffer.speech_stopped'>): void {
    const now = Date.now();
    if (ev.type === 'input_audio_buffer.speech_started') {
      this.#observers.emit('turn', { kind: 'speech_started', atMs: now, itemId: ev.item_id, audioStartMs: ev.audio_start_ms });
    } else {
      this.#lastSpeechStoppedAt = now;
      this.#observers.emit('turn', { kind: 'speech_stopped', atMs: now, itemId: ev.item_id, audioEndMs: ev.audio_end_ms });
    }
  }

  agentAudio(ev: ResponseAudioDeltaEvent): void {
    const at = this.#at;
    if (ev.item_id !== at.itemId || ev.content_index !== at.contentIndex) {
      at.itemId = ev.item_id;
      at.contentIndex = ev.content_index;
      at.offsetMs = 0;
    }
    at.responseId = ev.response_id;
    if (this.#firstAudioOf !== ev.response_id) {
      this.#firstAudioOf = ev.response_id;
      const now = Date.now();
      const since = this.#lastSpeechStoppedAt === null ? null : now - this.#lastSpeechStoppedAt;
      this.#lastSpeechStoppedAt = null;
      this.#observers.emit('turn', { kind: 'first_audio', atMs: now, responseId: ev.response_id, itemId: ev.item_id, sinceSpeechStoppedMs: since });
    }
    this.#observers.agentAudio(ev.delta, at);
    at.offsetMs += ev.delta.byteLength / this.#bytesPerMs;
  }

  responseDone(ev: ResponseDoneEvent): void {
    this.#observers.emit('turn', { kind: 'response_done', atMs: Date.now(), responseId: ev.response.id, status: ev.response.status, usage: ev.response.usage ?? null });
  }
}
