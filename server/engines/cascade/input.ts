/**
 * The cascade's input part: the input audio buffer, turn detection (server VAD), speech-to-text and
 * the idle timer, and their events (speech_started / speech_stopped, committed, cleared,
 * timeout_triggered, input transcription). A turn that ends asks the generation part for a
 * response through `InputHooks`.
 *
 *   input_audio_buffer.append ─► InputDecoder (bytes → 16 kHz) ─► TurnDetector (server VAD)
 *        speech_started ─► STT stream opened, fed while the caller speaks (barge-in)
 *        speech_stopped ─► committed ─► item.added ─► (response) ─► STT final ─► transcript events
 */
import { TurnDetector } from '../../../audio/index.ts';
import type { VoiceActivityDetector } from '../../../audio/index.ts';
import { newItemId } from '../../protocol/index.ts';
import type { AudioChunk, RealtimeSession } from '../../protocol/index.ts';
import type { InputAudioBufferAppendEvent, InputAudioBufferCommitEvent } from '../../protocol/types.ts';
import type { SttOpenOptions, SttStream } from '../providers/index.ts';
import { InputDecoder, PIPELINE_RATE_HZ } from './audio-io.ts';
import type { Upsample8kMethod } from './audio-io.ts';
import { errorInfo } from './context.ts';
import type { CascadeContext, TurnMarks } from './context.ts';
import type { CascadeItems, StoredItem } from './items.ts';

export interface InputHooks {
  /** The caller started speaking and the session lets speech interrupt: cancel the active response. */
  bargeIn(): void;
  /** A turn ended and wants a response (a VAD turn with its timing marks; an idle timeout: null). */
  respond(marks: TurnMarks | null): void;
  /** A response is running. */
  busy(): boolean;
}

const MIN_COMMIT_MS = 100;
const SAMPLES_PER_MS = PIPELINE_RATE_HZ / 1000;
/** Idle input kept for the prefix padding of the next turn (plus slack). */
const IDLE_KEEP_MS = 1_500;

export class CascadeInput {
  readonly #ctx: CascadeContext;
  readonly #items: CascadeItems;
  readonly #hooks: InputHooks;
  readonly #vad: VoiceActivityDetector;
  readonly #upsample8k: Upsample8kMethod;

  #decoder: InputDecoder;
  #turn: TurnDetector | null = null;
  #turnBaseMs = 0;
  /** 16 kHz input since the last commit; buf[0] is stream sample `bufStart`. */
  #buf = new Int16Array(PIPELINE_RATE_HZ * 30);
  #bufLen = 0;
  #bufStart = 0;
  #streamSamples = 0;
  #speech: { itemId: string; stt: SttStream } | null = null;
  /** server_vad idle_timeout_ms: armed when a reply ends, for its remaining playout + the timeout. */
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(ctx: CascadeContext, items: CascadeItems, vad: VoiceActivityDetector, upsample8k: Upsample8kMethod, hooks: InputHooks) {
    this.#ctx = ctx;
    this.#items = items;
    this.#vad = vad;
    this.#upsample8k = upsample8k;
    this.#hooks = hooks;
    this.#decoder = new InputDecoder(ctx.session.audio?.input?.format, upsample8k);
    this.#configureTurns();
  }

  /** The session changed (session.update): new input format, new turn detection. */
  sessionChanged(before: RealtimeSession): void {
    const after = this.#ctx.session;
    if (JSON.stringify(after.audio?.input?.format ?? null) !== JSON.stringify(before.audio?.input?.format ?? null)) {
      this.#decoder = new InputDecoder(after.audio?.input?.format, this.#upsample8k);
    }
    const td = before.audio?.input?.turn_detection;
    if (JSON.stringify(td === undefined ? { type: 'server_vad' } : td) !== JSON.stringify(this.#ctx.turnDetection)) this.#configureTurns();
  }

  close(): void {
    this.disarmIdle();
    this.#speech?.stt.abort();
    this.#speech = null;
    this.#vad.close();
  }

  append(ev: InputAudioBufferAppendEvent): void {
    const vadPcm = this.#decoder.decode(ev.audio.bytes());
    if (!vadPcm) return this.#ctx.error('invalid_value', 'audio/pcm input must hold whole 16-bit samples (an even number of bytes).', ev.event_id, 'audio');
    // The STT stream can differ from the VAD stream (8 kHz input: zero insertion, see InputDecoder).
    const pcm = this.#decoder.sttView;
    if (pcm.length === 0) return;
    this.#bufferAudio(pcm);
    this.#streamSamples += pcm.length;
    if (!this.#turn) return;
    this.#speech?.stt.push(pcm);
    for (const t of this.#turn.push(vadPcm)) {
      if (t.type === 'speech_started') this.#speechStarted(this.#turnBaseMs + t.audioStartMs);
      else this.#speechStopped(this.#turnBaseMs + t.audioEndMs);
    }
    if (!this.#speech && this.#bufLen > 2 * IDLE_KEEP_MS * SAMPLES_PER_MS) this.#dropInput(this.#bufLen - IDLE_KEEP_MS * SAMPLES_PER_MS);
  }

  commit(ev: InputAudioBufferCommitEvent): void {
    const sp = this.#speech;
    if (sp) {
      this.#speech = null;
      this.#commitUtterance(sp.itemId, sp.stt);
      this.#dropInput(this.#bufLen);
      return;
    }
    const ms = this.#bufLen / SAMPLES_PER_MS;
    if (ms < MIN_COMMIT_MS) {
      return this.#ctx.error('input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`, ev.event_id);
    }
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    stt.push(this.#buf.subarray(0, this.#bufLen));
    this.#dropInput(this.#bufLen);
    this.#commitUtterance(newItemId(), stt);
  }

  clear(): void {
    this.disarmIdle();
    this.#speech?.stt.abort();
    this.#speech = null;
    this.#dropInput(this.#bufLen);
    if (this.#turn) { this.#turn.reset(); this.#vad.reset(); this.#turnBaseMs = this.#streamSamples / SAMPLES_PER_MS; }
    this.#ctx.emit({ type: 'input_audio_buffer.cleared' });
  }

  /** A client item's input audio (conversation.item.create), recognised like a committed buffer. */
  transcribeItem(itemId: string, audio: AudioChunk): void {
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    const dec = new InputDecoder(audio.format, this.#upsample8k);
    if (dec.decode(audio.bytes())) stt.push(dec.sttView);
    this.#items.transcribing(itemId, this.#transcribe(itemId, stt));
  }

  // ───────────────────────────── idle timer ─────────────────────────────

  /**
   * server_vad `idle_timeout_ms`: after the reply's audio has played (`playingMs` from now) plus
   * the timeout, with no speech, the silent stretch is committed as an empty user item
   * (`input_audio_buffer.timeout_triggered`) and a response is asked for, so the agent prompts.
   */
  armIdle(playingMs: number): void {
    this.disarmIdle();
    const td = this.#ctx.turnDetection;
    if (td?.type !== 'server_vad' || typeof td.idle_timeout_ms !== 'number' || td.idle_timeout_ms <= 0) return;
    const timeoutMs = td.idle_timeout_ms;
    this.#idleTimer = setTimeout(() => this.#idleTimeout(timeoutMs), playingMs + timeoutMs);
    this.#idleTimer.unref();
  }

  disarmIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #idleTimeout(timeoutMs: number): void {
    this.#idleTimer = null;
    if (this.#ctx.closed || this.#speech || this.#hooks.busy()) return;
    try {
      const endMs = Math.round(this.#streamSamples / SAMPLES_PER_MS);
      const itemId = newItemId();
      this.#ctx.emit({ type: 'input_audio_buffer.timeout_triggered', audio_start_ms: Math.max(0, endMs - timeoutMs), audio_end_ms: endMs, item_id: itemId });
      const item: StoredItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: '' }] };
      const prev = this.#items.insert(item);
      this.#dropInput(this.#bufLen);
      this.#ctx.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
      this.#items.added(item, prev);
      this.#items.done(itemId);
      if (this.#ctx.turnDetection?.create_response !== false) this.#hooks.respond(null);
    } catch (err) {
      this.#ctx.log.error({ err }, 'cascade: idle timeout failed');
    }
  }

  // ───────────────────────────── turns ─────────────────────────────

  #configureTurns(): void {
    this.disarmIdle();
    const td = this.#ctx.turnDetection;
    if (!td) {
      this.#speech?.stt.abort();
      this.#speech = null;
      this.#turn = null;
      return;
    }
    this.#vad.reset();
    const opts: ConstructorParameters<typeof TurnDetector>[0] = { vad: this.#vad };
    if (td.type === 'server_vad') {
      if (td.threshold !== undefined) opts.threshold = td.threshold;
      if (td.prefix_padding_ms !== undefined) opts.prefixPaddingMs = td.prefix_padding_ms;
      if (td.silence_duration_ms !== undefined) opts.silenceDurationMs = td.silence_duration_ms;
    } else {
      // semantic_vad: no end-of-turn model here; eagerness picks the silence window.
      opts.silenceDurationMs = td.eagerness === 'high' ? 300 : td.eagerness === 'low' ? 1000 : 600;
    }
    this.#turn = new TurnDetector(opts);
    this.#turnBaseMs = this.#streamSamples / SAMPLES_PER_MS;
  }

  #speechStarted(audioStartMs: number): void {
    const itemId = newItemId();
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    // audioStartMs already includes the prefix padding (TurnDetector).
    const from = Math.min(this.#bufStart + this.#bufLen, Math.max(this.#bufStart, Math.round(audioStartMs * SAMPLES_PER_MS)));
    stt.push(this.#buf.subarray(from - this.#bufStart, this.#bufLen));
    this.#dropInput(from - this.#bufStart);
    this.#speech = { itemId, stt };
    this.disarmIdle();
    this.#ctx.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(audioStartMs), item_id: itemId });
    if (this.#ctx.turnDetection?.interrupt_response !== false) this.#hooks.bargeIn();
  }

  #speechStopped(audioEndMs: number): void {
    const sp = this.#speech;
    if (!sp) return;
    this.#speech = null;
    const stoppedAt = performance.now();
    this.#ctx.emit({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(audioEndMs), item_id: sp.itemId });
    this.#commitUtterance(sp.itemId, sp.stt);
    this.#dropInput(this.#bufLen);
    if (this.#ctx.turnDetection?.create_response === false) return;
    this.#hooks.respond({ stoppedAt });
  }

  #sttOptions(): SttOpenOptions {
    const tr = this.#ctx.session.audio?.input?.transcription;
    const o: SttOpenOptions = {};
    if (tr?.language) o.language = tr.language;
    if (tr?.prompt) o.prompt = tr.prompt;
    return o;
  }

  /** A user audio item: committed, added now; transcript (and item.done) when the STT answers. */
  #commitUtterance(itemId: string, stt: SttStream): void {
    const item: StoredItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
    const prev = this.#items.insert(item);
    this.#items.transcribing(itemId, this.#transcribe(itemId, stt));
    this.#ctx.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
    this.#items.added(item, prev);
  }

  /** Never rejects: a failed recognition is an empty transcript (and a `…transcription.failed`). */
  async #transcribe(itemId: string, stt: SttStream): Promise<void> {
    const reported = this.#ctx.session.audio?.input?.transcription != null;
    try {
      let text = '';
      let seconds = 0;
      let failure: { code: string; message: string } | null = null;
      try {
        const r = await stt.finish();
        text = r.text.trim();
        seconds = Math.round(r.audioMs / 100) / 10;
      } catch (err) {
        this.#ctx.log.warn({ err, itemId }, 'cascade: transcription failed');
        failure = errorInfo(err, 'transcription_failed');
      }
      this.#items.setTranscript(itemId, text);
      if (reported && failure) {
        this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.failed', item_id: itemId, content_index: 0, error: { type: 'server_error', ...failure } });
      } else if (reported) {
        if (text) this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: text });
        this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: text, usage: { type: 'duration', seconds } });
      }
      this.#items.done(itemId);
    } catch (err) {
      this.#ctx.log.error({ err, itemId }, 'cascade: transcript events failed');
    }
  }

  #bufferAudio(pcm: Int16Array): void {
    if (this.#bufLen + pcm.length > this.#buf.length) {
      const bigger = new Int16Array(Math.max(this.#buf.length * 2, this.#bufLen + pcm.length));
      bigger.set(this.#buf.subarray(0, this.#bufLen));
      this.#buf = bigger;
    }
    this.#buf.set(pcm, this.#bufLen);
    this.#bufLen += pcm.length;
  }

  /** Forgets the first n buffered samples. */
  #dropInput(n: number): void {
    const k = Math.min(n, this.#bufLen);
    this.#buf.copyWithin(0, k, this.#bufLen);
    this.#bufLen -= k;
    this.#bufStart += k;
  }
}
