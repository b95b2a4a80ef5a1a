/**
 * One cascade conversation: GA client events in, GA server events out (docs/protocol.md §1.10).
 *
 *   input_audio_buffer.append ─► InputDecoder (→16 kHz) ─► TurnDetector (server VAD)
 *        speech_started ─► STT stream opened, fed while the caller speaks (barge-in cancels the reply)
 *        speech_stopped ─► committed ─► item.added ─► response.created ─► STT final ─► transcript events
 *   response ─► chat stream ─► sentences ─► TTS (first sentence while the model still writes)
 *            ─► OutputEncoder (session output format) ─► response.output_audio.delta …
 */
import type { Logger } from 'pino';
import { TurnDetector } from '../../../audio/index.ts';
import type { VoiceActivityDetector } from '../../../audio/index.ts';
import { errorEvent, newConversationId, newEventId, newItemId, newResponseId, newSessionId } from '../../protocol/index.ts';
import type { AudioFormat, ClientEvent, ConversationItem, RealtimeSession, ServerEvent, TurnDetection } from '../../protocol/index.ts';
import type { EngineCallbacks, EngineConnection } from '../types.ts';
import type { ChatUsage, SttProvider, SttStream, ChatProvider, TtsProvider } from '../providers/index.ts';
import { InputDecoder, OutputEncoder, PIPELINE_RATE_HZ } from './audio-io.ts';
import type { Upsample8kMethod } from './audio-io.ts';
import { Conversation, itemText, toChatMessages, toChatToolChoice, toChatTools } from './conversation.ts';
import type { StoredItem } from './conversation.ts';
import { audioDeltaEvent, gaUsage } from './events.ts';
import { SentenceSplitter } from './sentences.ts';

export interface CascadeStages { stt: SttProvider; chat: ChatProvider; tts: TtsProvider }

export interface CascadeConnectionOptions {
  stages: CascadeStages;
  session: RealtimeSession;
  callbacks: EngineCallbacks;
  log: Logger;
  vad: VoiceActivityDetector;
  upsample8k: Upsample8kMethod;
  history?: ConversationItem[];
  /** Per-turn stage timings (benchmarks, metrics). */
  onTurnTiming?: (t: TurnTiming) => void;
}

/** Where the time went between speech_stopped and the first audio delta of the reply. */
export interface TurnTiming {
  responseId: string;
  /** speech_stopped → transcript known. */
  sttMs: number;
  /** transcript known → first sentence ready from the chat stage. */
  chatMs: number;
  /** first sentence ready → first output_audio.delta emitted. */
  ttsMs: number;
  /** speech_stopped → first output_audio.delta. */
  totalMs: number;
}

type Status = 'completed' | 'cancelled' | 'incomplete' | 'failed';
type StatusDetails = null | { type: Status; reason?: string; error?: { type: string; code: string; message: string } };

interface MessageState {
  stored: StoredItem;
  item: ConversationItem;
  outputIndex: number;
  audio: boolean;
  /** Text (or transcript) emitted so far. */
  text: string;
  splitter: SentenceSplitter;
  queue: string[];
  closing: boolean;
  wake: (() => void) | null;
  loop: Promise<void> | null;
  samples: number;
}

interface CallState { stored: StoredItem; item: ConversationItem; outputIndex: number; args: string }

interface Run {
  id: string;
  conversation: boolean;
  ctrl: AbortController;
  finished: boolean;
  output: ConversationItem[];
  modalities: Array<'audio' | 'text'>;
  format: AudioFormat | undefined;
  voice: string | undefined;
  encoder: OutputEncoder | null;
  metadata: unknown;
  maxOutputTokens: number | 'inf';
  msg: MessageState | null;
  call: CallState | null;
  usage: ChatUsage | undefined;
  finishReason: string;
  /** When the first audio delta went out, and how much audio the response generated (ms). */
  firstAudioAt: number | null;
  audioMs: number;
  /** Set for responses created by a VAD turn: timing marks (performance.now()). */
  marks: { stoppedAt: number; sttAt?: number; sentenceAt?: number; firstAudioAt?: number } | null;
}

const MIN_COMMIT_MS = 100;
const SAMPLES_PER_MS = PIPELINE_RATE_HZ / 1000;
/** Idle input kept for the prefix padding of the next turn (plus slack). */
const IDLE_KEEP_MS = 1_500;

function turnDetection(s: RealtimeSession): TurnDetection | null {
  const td = s.audio?.input?.turn_detection;
  if (td === undefined) return { type: 'server_vad' };
  return td;
}

const clone = <T>(v: T): T => structuredClone(v);

export class CascadeConnection implements EngineConnection {
  private session: RealtimeSession;
  private readonly sessionId: string;
  private readonly conversationId = newConversationId();
  private readonly conv = new Conversation();
  private readonly stages: CascadeStages;
  private readonly cb: EngineCallbacks;
  private readonly log: Logger;
  private readonly vad: VoiceActivityDetector;
  private readonly upsample8k: Upsample8kMethod;
  private readonly onTurnTiming: ((t: TurnTiming) => void) | undefined;

  private decoder: InputDecoder;
  private turn: TurnDetector | null = null;
  private turnBaseMs = 0;
  /** 16 kHz input since the last commit; buf[0] is stream sample `bufStart`. */
  private buf = new Int16Array(PIPELINE_RATE_HZ * 30);
  private bufLen = 0;
  private bufStart = 0;
  private streamSamples = 0;
  private speech: { itemId: string; stt: SttStream; startMs: number } | null = null;

  private active: Run | null = null;
  /** A VAD turn ended while a response was active: its automatic response starts after that one. */
  private pendingAuto: { stoppedAt: number } | null = null;
  /** server_vad idle_timeout_ms: armed when a reply ends, for its remaining playout + the timeout. */
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly outOfBand = new Set<Run>();
  private closed = false;
  private started = false;

  constructor(o: CascadeConnectionOptions) {
    this.stages = o.stages;
    this.cb = o.callbacks;
    this.log = o.log;
    this.vad = o.vad;
    this.upsample8k = o.upsample8k;
    this.onTurnTiming = o.onTurnTiming;
    this.sessionId = typeof o.session.id === 'string' ? o.session.id : newSessionId();
    this.session = o.session;
    this.decoder = new InputDecoder(o.session.audio?.input?.format, this.upsample8k);
    this.configureTurns();
    for (const h of o.history ?? []) {
      const item = clone(h);
      item.id ??= newItemId();
      item.object = 'realtime.item';
      this.conv.insert({ item });
    }
  }

  /** Emits session.created and conversation.created, once (after open resolves, or before the first event's answer). */
  start(): void {
    if (this.closed || this.started) return;
    this.started = true;
    this.emit({ type: 'session.created', session: this.sessionObject() });
    this.emit({ type: 'conversation.created', conversation: { id: this.conversationId, object: 'realtime.conversation' } });
  }

  send(event: ClientEvent): void {
    if (this.closed) return;
    // session.created / conversation.created always come first, even when the caller sends
    // events before the deferred start() ran.
    this.start();
    try {
      this.dispatch(event);
    } catch (err) {
      this.log.error({ err, type: event.type }, 'cascade: client event failed');
      this.error('server_error', 'internal_error', `The server could not handle ${event.type}.`, event.event_id);
    }
  }

  close(_reason?: string): void {
    if (this.closed) return;
    for (const run of [this.active, ...this.outOfBand]) if (run) { run.ctrl.abort(); run.finished = true; }
    this.closed = true;
    this.disarmIdle();
    this.speech?.stt.abort();
    this.speech = null;
    this.vad.close();
  }

  // ───────────────────────────── events out ─────────────────────────────

  private emit(body: { type: string; [k: string]: unknown }): void {
    if (this.closed) return;
    const { type, ...rest } = body;
    const event: ServerEvent = { type, event_id: newEventId(), ...rest };
    this.cb.onEvent(event);
  }

  private error(type: string, code: string, message: string, eventId?: string, param?: string): void {
    if (this.closed) return;
    this.cb.onEvent(errorEvent({ type, code, message, event_id: eventId ?? null, param: param ?? null }));
  }

  private sessionObject(): RealtimeSession {
    return { ...clone(this.session), id: this.sessionId, object: 'realtime.session', type: 'realtime' };
  }

  // ───────────────────────────── client events ─────────────────────────────

  private dispatch(ev: ClientEvent): void {
    switch (ev.type) {
      case 'session.update': return this.updateSession(ev);
      case 'input_audio_buffer.append': return this.append(ev);
      case 'input_audio_buffer.commit': return this.commit(ev);
      case 'input_audio_buffer.clear': return this.clearInput();
      case 'output_audio_buffer.clear':
        // WebRTC/SIP-only on OpenAI; over a WebSocket there is no server-side playout buffer.
        return this.emit({ type: 'output_audio_buffer.cleared', response_id: this.active?.id ?? null });
      case 'conversation.item.create': return this.createItem(ev);
      case 'conversation.item.retrieve': return this.retrieveItem(ev);
      case 'conversation.item.truncate': return this.truncateItem(ev);
      case 'conversation.item.delete': return this.deleteItem(ev);
      case 'response.create': return this.createResponse(ev);
      case 'response.cancel': return this.cancel(ev);
      default:
        return this.error('invalid_request_error', 'unknown_event', `The '${ev.type}' event is not supported by the ${this.stages.chat.name} cascade.`, ev.event_id, 'type');
    }
  }

  private updateSession(ev: ClientEvent): void {
    const next = ev.session as RealtimeSession | undefined;
    if (!next || typeof next !== 'object') return this.error('invalid_request_error', 'missing_required_parameter', 'session.update needs a session.', ev.event_id, 'session');
    const before = this.session;
    this.session = { ...before, ...next, type: 'realtime' };
    const fmtBefore = JSON.stringify(before.audio?.input?.format ?? null);
    if (JSON.stringify(this.session.audio?.input?.format ?? null) !== fmtBefore) {
      this.decoder = new InputDecoder(this.session.audio?.input?.format, this.upsample8k);
    }
    if (JSON.stringify(turnDetection(before)) !== JSON.stringify(turnDetection(this.session))) this.configureTurns();
    this.emit({ type: 'session.updated', session: this.sessionObject() });
  }

  private configureTurns(): void {
    this.disarmIdle();
    const td = turnDetection(this.session);
    if (!td) {
      if (this.speech) { this.speech.stt.abort(); this.speech = null; }
      this.turn = null;
      return;
    }
    this.vad.reset();
    const opts: ConstructorParameters<typeof TurnDetector>[0] = { vad: this.vad };
    if (td.type === 'server_vad') {
      if (td.threshold !== undefined) opts.threshold = td.threshold;
      if (td.prefix_padding_ms !== undefined) opts.prefixPaddingMs = td.prefix_padding_ms;
      if (td.silence_duration_ms !== undefined) opts.silenceDurationMs = td.silence_duration_ms;
    } else {
      // semantic_vad: no end-of-turn model here; eagerness picks the silence window.
      opts.silenceDurationMs = td.eagerness === 'high' ? 300 : td.eagerness === 'low' ? 1000 : 600;
    }
    this.turn = new TurnDetector(opts);
    this.turnBaseMs = this.streamSamples / SAMPLES_PER_MS;
  }

  private append(ev: ClientEvent): void {
    const audio = ev.audio;
    if (typeof audio !== 'string') return this.error('invalid_request_error', 'missing_required_parameter', 'input_audio_buffer.append needs audio (base64).', ev.event_id, 'audio');
    const vadPcm = this.decoder.decode(audio);
    if (!vadPcm) return this.error('invalid_request_error', 'invalid_value', 'audio/pcm input must hold whole 16-bit samples (an even number of bytes).', ev.event_id, 'audio');
    // The STT stream can differ from the VAD stream (8 kHz input: zero insertion, see InputDecoder).
    const pcm = this.decoder.sttView;
    if (pcm.length === 0) return;
    this.bufferAudio(pcm);
    this.streamSamples += pcm.length;
    if (!this.turn) return;
    const speaking = this.speech;
    if (speaking) speaking.stt.push(pcm);
    for (const t of this.turn.push(vadPcm)) {
      if (t.type === 'speech_started') this.speechStarted(this.turnBaseMs + t.audioStartMs);
      else this.speechStopped(this.turnBaseMs + t.audioEndMs);
    }
    if (!this.speech && this.bufLen > 2 * IDLE_KEEP_MS * SAMPLES_PER_MS) this.dropInput(this.bufLen - IDLE_KEEP_MS * SAMPLES_PER_MS);
  }

  private bufferAudio(pcm: Int16Array): void {
    if (this.bufLen + pcm.length > this.buf.length) {
      const bigger = new Int16Array(Math.max(this.buf.length * 2, this.bufLen + pcm.length));
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
    }
    this.buf.set(pcm, this.bufLen);
    this.bufLen += pcm.length;
  }

  /** Forgets the first n buffered samples. */
  private dropInput(n: number): void {
    const k = Math.min(n, this.bufLen);
    this.buf.copyWithin(0, k, this.bufLen);
    this.bufLen -= k;
    this.bufStart += k;
  }

  private speechStarted(audioStartMs: number): void {
    const itemId = newItemId();
    const stt = this.stages.stt.open(this.sttOptions());
    // audioStartMs already includes the prefix padding (TurnDetector).
    const from = Math.min(this.bufStart + this.bufLen, Math.max(this.bufStart, Math.round(audioStartMs * SAMPLES_PER_MS)));
    stt.push(this.buf.subarray(from - this.bufStart, this.bufLen));
    this.dropInput(from - this.bufStart);
    this.speech = { itemId, stt, startMs: audioStartMs };
    this.disarmIdle();
    this.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(audioStartMs), item_id: itemId });
    const td = turnDetection(this.session);
    if (this.active && td?.interrupt_response !== false) this.finalize(this.active, 'cancelled', { type: 'cancelled', reason: 'turn_detected' });
  }

  private speechStopped(audioEndMs: number): void {
    const sp = this.speech;
    if (!sp) return;
    this.speech = null;
    const stoppedAt = performance.now();
    this.emit({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(audioEndMs), item_id: sp.itemId });
    this.commitUtterance(sp.itemId, sp.stt);
    this.dropInput(this.bufLen);
    const td = turnDetection(this.session);
    if (td?.create_response === false) return;
    // A reply still playing (interrupt_response false): answer this turn when it is done.
    if (this.active) this.pendingAuto = { stoppedAt };
    else this.startResponse({}, undefined, { stoppedAt });
  }

  private sttOptions(): { language?: string; prompt?: string } {
    const tr = this.session.audio?.input?.transcription;
    const o: { language?: string; prompt?: string } = {};
    if (tr?.language) o.language = tr.language;
    if (tr?.prompt) o.prompt = tr.prompt;
    return o;
  }

  /**
   * server_vad `idle_timeout_ms`: after the reply's audio has played (estimated from the audio
   * generated and the time since its first delta) plus the timeout, with no speech, the silent
   * stretch is committed as an empty user item (`input_audio_buffer.timeout_triggered`) and a
   * response is created, so the agent prompts the caller.
   */
  private armIdle(run: Run): void {
    this.disarmIdle();
    const td = turnDetection(this.session);
    if (td?.type !== 'server_vad' || typeof td.idle_timeout_ms !== 'number' || td.idle_timeout_ms <= 0) return;
    const timeoutMs = td.idle_timeout_ms;
    const playingMs = run.firstAudioAt === null ? 0 : Math.max(0, run.audioMs - (performance.now() - run.firstAudioAt));
    this.idleTimer = setTimeout(() => this.idleTimeout(timeoutMs), playingMs + timeoutMs);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private idleTimeout(timeoutMs: number): void {
    this.idleTimer = null;
    if (this.closed || this.speech || this.active) return;
    const endMs = Math.round(this.streamSamples / SAMPLES_PER_MS);
    const itemId = newItemId();
    this.emit({ type: 'input_audio_buffer.timeout_triggered', audio_start_ms: Math.max(0, endMs - timeoutMs), audio_end_ms: endMs, item_id: itemId });
    const item: ConversationItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: '' }] };
    const prev = this.conv.insert({ item });
    this.dropInput(this.bufLen);
    this.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
    this.emit({ type: 'conversation.item.added', previous_item_id: prev, item: clone(item) });
    this.emit({ type: 'conversation.item.done', previous_item_id: prev, item: clone(item) });
    if (turnDetection(this.session)?.create_response !== false) this.startResponse({}, undefined, null);
  }

  private commit(ev: ClientEvent): void {
    if (this.speech) {
      const sp = this.speech;
      this.speech = null;
      this.commitUtterance(sp.itemId, sp.stt);
      this.dropInput(this.bufLen);
      return;
    }
    const ms = this.bufLen / SAMPLES_PER_MS;
    if (ms < MIN_COMMIT_MS) {
      return this.error('invalid_request_error', 'input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`, ev.event_id);
    }
    const stt = this.stages.stt.open(this.sttOptions());
    stt.push(this.buf.subarray(0, this.bufLen));
    this.dropInput(this.bufLen);
    this.commitUtterance(newItemId(), stt);
  }

  private clearInput(): void {
    this.disarmIdle();
    this.speech?.stt.abort();
    this.speech = null;
    this.dropInput(this.bufLen);
    if (this.turn) { this.turn.reset(); this.vad.reset(); this.turnBaseMs = this.streamSamples / SAMPLES_PER_MS; }
    this.emit({ type: 'input_audio_buffer.cleared' });
  }

  /** A user audio item: committed, added now; transcript (and item.done) when the STT answers. */
  private commitUtterance(itemId: string, stt: SttStream): void {
    const item: ConversationItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
    const stored: StoredItem = { item };
    const prev = this.conv.insert(stored);
    this.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
    this.emit({ type: 'conversation.item.added', previous_item_id: prev, item: clone(item) });
    stored.transcript = this.transcribe(stored, stt);
  }

  private async transcribe(stored: StoredItem, stt: SttStream): Promise<void> {
    const item = stored.item;
    const part = item.content![0] as { type: 'input_audio'; transcript: string | null };
    const reported = this.session.audio?.input?.transcription != null;
    try {
      const r = await stt.finish();
      const text = r.text.trim();
      part.transcript = text;
      if (reported && !this.closed) {
        if (text) this.emit({ type: 'conversation.item.input_audio_transcription.delta', item_id: item.id, content_index: 0, delta: text });
        this.emit({ type: 'conversation.item.input_audio_transcription.completed', item_id: item.id, content_index: 0, transcript: text, usage: { type: 'duration', seconds: Math.round(r.audioMs / 100) / 10 } });
      }
    } catch (err) {
      part.transcript = '';
      const e = err as { code?: string; message?: string };
      this.log.warn({ err, itemId: item.id }, 'cascade: transcription failed');
      if (reported) this.emit({ type: 'conversation.item.input_audio_transcription.failed', item_id: item.id, content_index: 0, error: { type: 'server_error', code: e.code ?? 'transcription_failed', message: e.message ?? 'transcription failed', param: null } });
    }
    if (this.conv.find(item.id!)) {
      const idx = this.conv.items.indexOf(stored);
      this.emit({ type: 'conversation.item.done', previous_item_id: idx > 0 ? this.conv.items[idx - 1]!.item.id : null, item: clone(item) });
    }
  }

  // ───────────────────────────── items ─────────────────────────────

  private createItem(ev: ClientEvent): void {
    const raw = ev.item as ConversationItem | undefined;
    if (!raw || typeof raw !== 'object') return this.error('invalid_request_error', 'missing_required_parameter', 'conversation.item.create needs an item.', ev.event_id, 'item');
    const item = clone(raw);
    const bad = (msg: string, param: string): void => this.error('invalid_request_error', 'invalid_value', msg, ev.event_id, param);
    if (item.type === 'message') {
      if (item.role !== 'user' && item.role !== 'assistant' && item.role !== 'system') return bad(`Invalid role '${String(item.role)}'.`, 'item.role');
      if (!Array.isArray(item.content)) return bad('A message item needs content.', 'item.content');
    } else if (item.type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') return bad('A function_call item needs call_id and name.', 'item.call_id');
      item.arguments ??= '{}';
    } else if (item.type === 'function_call_output') {
      if (typeof item.call_id !== 'string') return bad('A function_call_output item needs a call_id.', 'item.call_id');
      if (typeof item.output !== 'string') item.output = JSON.stringify(item.output ?? '');
    } else {
      return bad(`Item type '${String(item.type)}' is not supported.`, 'item.type');
    }
    if (item.id !== undefined && (typeof item.id !== 'string' || this.conv.find(item.id))) return bad(`Item id '${String(item.id)}' is already in the conversation.`, 'item.id');
    item.id ??= newItemId();
    item.object = 'realtime.item';
    item.status ??= 'completed';
    const previous = ev.previous_item_id;
    if (previous !== undefined && previous !== null && previous !== 'root' && (typeof previous !== 'string' || !this.conv.find(previous))) {
      return this.error('invalid_request_error', 'invalid_value', `Previous item '${String(previous)}' is not in the conversation.`, ev.event_id, 'previous_item_id');
    }
    const stored: StoredItem = { item };
    const prev = this.conv.insert(stored, previous as string | null | undefined);
    this.emit({ type: 'conversation.item.added', previous_item_id: prev, item: clone(item) });
    // A user message with base64 input_audio is transcribed like a committed buffer.
    const audioPart = item.role === 'user' ? item.content?.find((p) => p.type === 'input_audio' && typeof (p as { audio?: unknown }).audio === 'string') : undefined;
    if (audioPart) {
      const b64 = (audioPart as { audio: string }).audio;
      delete (audioPart as { audio?: string }).audio;
      (audioPart as { transcript?: string | null }).transcript = null;
      const stt = this.stages.stt.open(this.sttOptions());
      const dec = new InputDecoder(this.session.audio?.input?.format, this.upsample8k);
      if (dec.decode(b64)) stt.push(dec.sttView);
      item.content = [audioPart, ...(item.content ?? []).filter((p) => p !== audioPart)];
      stored.transcript = this.transcribe(stored, stt);
      return;
    }
    this.emit({ type: 'conversation.item.done', previous_item_id: prev, item: clone(item) });
  }

  private retrieveItem(ev: ClientEvent): void {
    const s = typeof ev.item_id === 'string' ? this.conv.find(ev.item_id) : undefined;
    if (!s) return this.error('invalid_request_error', 'item_retrieve_invalid_item_id', `Item '${String(ev.item_id)}' does not exist.`, ev.event_id, 'item_id');
    this.emit({ type: 'conversation.item.retrieved', item: clone(s.item) });
  }

  private deleteItem(ev: ClientEvent): void {
    const id = ev.item_id;
    if (typeof id !== 'string' || !this.conv.delete(id)) return this.error('invalid_request_error', 'item_delete_invalid_item_id', `Item '${String(id)}' does not exist.`, ev.event_id, 'item_id');
    this.emit({ type: 'conversation.item.deleted', item_id: id });
  }

  private truncateItem(ev: ClientEvent): void {
    const id = ev.item_id;
    const s = typeof id === 'string' ? this.conv.find(id) : undefined;
    const endMs = ev.audio_end_ms;
    if (!s) return this.error('invalid_request_error', 'item_truncate_invalid_item_id', `Item '${String(id)}' does not exist.`, ev.event_id, 'item_id');
    if (s.item.role !== 'assistant' || s.audioMs === undefined) return this.error('invalid_request_error', 'invalid_value', 'Only assistant audio items can be truncated.', ev.event_id, 'item_id');
    if ((ev.content_index ?? 0) !== 0) return this.error('invalid_request_error', 'invalid_value', 'content_index must be 0.', ev.event_id, 'content_index');
    if (typeof endMs !== 'number' || !Number.isFinite(endMs) || endMs < 0) return this.error('invalid_request_error', 'invalid_value', 'audio_end_ms must be a number ≥ 0.', ev.event_id, 'audio_end_ms');
    if (this.active && this.active.msg?.stored === s) this.finalize(this.active, 'cancelled', { type: 'cancelled', reason: 'client_cancelled' });
    const audioMs = Math.floor(s.audioMs);
    if (endMs > audioMs) {
      return this.error('invalid_request_error', 'invalid_value', `Audio content of ${audioMs}ms is already shorter than ${endMs}ms`, ev.event_id, 'audio_end_ms');
    }
    const heard = heardText(s.pieces ?? [], audioMs, endMs);
    const part = s.item.content?.[0] as { transcript?: string } | undefined;
    if (part) part.transcript = heard;
    s.audioMs = endMs;
    s.pieces = (s.pieces ?? []).filter((p) => p.startMs < endMs);
    this.emit({ type: 'conversation.item.truncated', item_id: id, content_index: 0, audio_end_ms: endMs });
  }

  // ───────────────────────────── responses ─────────────────────────────

  private createResponse(ev: ClientEvent): void {
    const params = (ev.response && typeof ev.response === 'object' ? ev.response : {}) as Record<string, unknown>;
    this.startResponse(params, ev.event_id, null);
  }

  private cancel(ev: ClientEvent): void {
    const wanted = ev.response_id;
    const run = typeof wanted === 'string' ? [this.active, ...this.outOfBand].find((r) => r?.id === wanted) : this.active;
    if (!run) return this.error('invalid_request_error', 'response_cancel_not_active', 'Cancellation failed: no active response found.', ev.event_id);
    this.finalize(run, 'cancelled', { type: 'cancelled', reason: 'client_cancelled' });
  }

  private startResponse(params: Record<string, unknown>, eventId: string | undefined, marks: Run['marks']): void {
    const conversation = params.conversation !== 'none';
    if (conversation && this.active) {
      return this.error('invalid_request_error', 'conversation_already_has_active_response',
        `Conversation already has an active response in progress: ${this.active.id}. Wait until the response is finished before creating a new one.`, eventId);
    }
    const audioOut = (params.audio as { output?: { format?: AudioFormat; voice?: unknown } } | undefined)?.output;
    const format = audioOut?.format ?? this.session.audio?.output?.format;
    const voiceRaw = audioOut?.voice ?? this.session.audio?.output?.voice;
    const voice = typeof voiceRaw === 'string' ? voiceRaw : typeof (voiceRaw as { id?: unknown } | undefined)?.id === 'string' ? (voiceRaw as { id: string }).id : undefined;
    const modalities = (Array.isArray(params.output_modalities) ? params.output_modalities : this.session.output_modalities ?? ['audio']) as Array<'audio' | 'text'>;
    const run: Run = {
      id: newResponseId(),
      conversation,
      ctrl: new AbortController(),
      finished: false,
      output: [],
      modalities,
      format,
      voice,
      encoder: modalities.includes('audio') ? new OutputEncoder(format) : null,
      metadata: params.metadata ?? null,
      maxOutputTokens: (params.max_output_tokens ?? this.session.max_output_tokens ?? 'inf') as number | 'inf',
      msg: null,
      call: null,
      usage: undefined,
      finishReason: 'stop',
      firstAudioAt: null,
      audioMs: 0,
      marks,
    };
    if (conversation) { this.active = run; this.disarmIdle(); } else this.outOfBand.add(run);
    this.emit({ type: 'response.created', response: this.responseObject(run, 'in_progress', null) });
    void this.run(run, params);
  }

  private responseObject(run: Run, status: Status | 'in_progress', details: StatusDetails): Record<string, unknown> {
    const audio: Record<string, unknown> = { format: run.format ?? { type: 'audio/pcm', rate: 24_000 } };
    if (run.voice !== undefined) audio.voice = run.voice;
    return {
      id: run.id,
      object: 'realtime.response',
      status,
      status_details: details,
      output: run.output.map((i) => clone(i)),
      conversation_id: run.conversation ? this.conversationId : null,
      output_modalities: run.modalities,
      audio: { output: audio },
      max_output_tokens: run.maxOutputTokens,
      metadata: run.metadata,
      usage: status === 'in_progress' ? null : gaUsage(run.usage),
    };
  }

  private contextItems(params: Record<string, unknown>): ConversationItem[] {
    if (!Array.isArray(params.input)) return this.conv.items.map((s) => s.item);
    const out: ConversationItem[] = [];
    for (const x of params.input as Array<Record<string, unknown>>) {
      if (x.type === 'item_reference' && typeof x.id === 'string') { const s = this.conv.find(x.id); if (s) out.push(s.item); }
      else if (x && typeof x === 'object') out.push(x as ConversationItem);
    }
    return out;
  }

  private async run(run: Run, params: Record<string, unknown>): Promise<void> {
    try {
      const pending = this.conv.items.flatMap((s) => (s.transcript ? [s.transcript] : []));
      await Promise.all(pending);
      if (run.finished) return;
      if (run.marks) run.marks.sttAt = performance.now();
      const instructions = typeof params.instructions === 'string' ? params.instructions : this.session.instructions;
      const tools = toChatTools((Array.isArray(params.tools) ? params.tools : this.session.tools) as RealtimeSession['tools']);
      const toolChoice = toChatToolChoice(params.tool_choice ?? this.session.tool_choice);
      const req: Parameters<ChatProvider['stream']>[0] = { messages: toChatMessages(this.contextItems(params), instructions), tools, signal: run.ctrl.signal };
      if (toolChoice) req.toolChoice = toolChoice;
      if (typeof run.maxOutputTokens === 'number') req.maxOutputTokens = run.maxOutputTokens;
      for await (const chunk of this.stages.chat.stream(req)) {
        if (run.finished) return;
        switch (chunk.type) {
          case 'text': this.text(run, chunk.delta); break;
          case 'tool_call':
            await this.closeMessage(run);
            if (run.finished) return;
            this.closeCall(run);
            this.openCall(run, chunk.callId, chunk.name);
            break;
          case 'tool_arguments':
            if (run.call) {
              run.call.args += chunk.delta;
              this.emit({ type: 'response.function_call_arguments.delta', response_id: run.id, item_id: run.call.item.id, output_index: run.call.outputIndex, call_id: run.call.item.call_id, delta: chunk.delta });
            }
            break;
          case 'done':
            run.finishReason = chunk.finishReason;
            if (chunk.usage) run.usage = chunk.usage;
            break;
        }
      }
      if (run.finished) return;
      await this.closeMessage(run);
      if (run.finished) return;
      this.closeCall(run);
      if (run.finishReason === 'length') this.finalize(run, 'incomplete', { type: 'incomplete', reason: 'max_output_tokens' });
      else if (run.finishReason === 'content_filter') this.finalize(run, 'incomplete', { type: 'incomplete', reason: 'content_filter' });
      else this.finalize(run, 'completed', null);
    } catch (err) {
      if (run.finished) return;
      const e = err as { code?: string; message?: string };
      this.log.warn({ err, responseId: run.id }, 'cascade: response failed');
      this.finalize(run, 'failed', { type: 'failed', error: { type: 'server_error', code: e.code ?? 'internal_error', message: e.message ?? 'response failed' } });
    }
  }

  private addOutput(run: Run, item: ConversationItem): { stored: StoredItem; outputIndex: number } {
    const outputIndex = run.output.length;
    run.output.push(item);
    const stored: StoredItem = { item };
    this.emit({ type: 'response.output_item.added', response_id: run.id, output_index: outputIndex, item: clone(item) });
    if (run.conversation) {
      const prev = this.conv.insert(stored);
      this.emit({ type: 'conversation.item.added', previous_item_id: prev, item: clone(item) });
    }
    return { stored, outputIndex };
  }

  private text(run: Run, delta: string): void {
    let msg = run.msg;
    if (!msg) {
      if (run.call) this.closeCall(run);   // text after a call: the call item ends first
      const audio = run.encoder !== null;
      const item: ConversationItem = { id: newItemId(), object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
      const { stored, outputIndex } = this.addOutput(run, item);
      msg = { stored, item, outputIndex, audio, text: '', splitter: new SentenceSplitter(), queue: [], closing: false, wake: null, loop: null, samples: 0 };
      if (audio) { stored.audioMs = 0; stored.pieces = []; }
      run.msg = msg;
      this.emit({ type: 'response.content_part.added', response_id: run.id, item_id: item.id, output_index: outputIndex, content_index: 0, part: audio ? { type: 'audio', transcript: '' } : { type: 'text', text: '' } });
      if (audio) msg.loop = this.speak(run, msg);
    }
    if (!msg.audio) {
      msg.text += delta;
      this.emit({ type: 'response.output_text.delta', response_id: run.id, item_id: msg.item.id, output_index: msg.outputIndex, content_index: 0, delta });
      return;
    }
    const pieces = msg.splitter.push(delta);
    if (pieces.length > 0) this.enqueue(run, msg, pieces);
  }

  private enqueue(run: Run, msg: MessageState, pieces: string[]): void {
    if (run.marks && run.marks.sentenceAt === undefined) run.marks.sentenceAt = performance.now();
    msg.queue.push(...pieces);
    msg.wake?.();
  }

  /** TTS loop of one message: one piece at a time, in order, while the chat stream keeps writing. */
  private async speak(run: Run, msg: MessageState): Promise<void> {
    const tts = this.stages.tts;
    const language = this.session.audio?.input?.transcription?.language;
    const speed = this.session.audio?.output?.speed;
    for (;;) {
      if (run.finished) return;
      const piece = msg.queue.shift();
      if (piece === undefined) {
        if (msg.closing) return;
        await new Promise<void>((resolve) => { msg.wake = resolve; });
        msg.wake = null;
        continue;
      }
      const req: Parameters<TtsProvider['synthesize']>[0] = { text: piece, signal: run.ctrl.signal };
      if (run.voice !== undefined) req.voice = run.voice;
      if (typeof speed === 'number') req.speed = speed;
      if (language) req.language = language;
      let started = false;
      const startPiece = (): void => {
        started = true;
        msg.stored.pieces!.push({ startMs: (msg.samples / run.encoder!.rateHz) * 1000, text: piece });
        const delta = msg.text ? ` ${piece}` : piece;
        msg.text += delta;
        this.emit({ type: 'response.output_audio_transcript.delta', response_id: run.id, item_id: msg.item.id, output_index: msg.outputIndex, content_index: 0, delta });
      };
      for await (const chunk of tts.synthesize(req)) {
        if (run.finished) return;
        if (!started) startPiece();
        run.encoder!.write(chunk.pcm, chunk.sampleRateHz, (b64, samples) => this.audioDelta(run, msg, b64, samples));
      }
      if (run.finished) return;
      if (!started) startPiece();
    }
  }

  private audioDelta(run: Run, msg: MessageState, b64: string, samples: number): void {
    if (run.finished || this.closed) return;
    msg.samples += samples;
    msg.stored.audioMs = (msg.samples / run.encoder!.rateHz) * 1000;
    run.firstAudioAt ??= performance.now();
    run.audioMs += (samples / run.encoder!.rateHz) * 1000;
    if (run.marks && run.marks.firstAudioAt === undefined) {
      const m = run.marks;
      m.firstAudioAt = performance.now();
      const sttAt = m.sttAt ?? m.stoppedAt;
      const sentenceAt = m.sentenceAt ?? sttAt;
      this.onTurnTiming?.({ responseId: run.id, sttMs: sttAt - m.stoppedAt, chatMs: sentenceAt - sttAt, ttsMs: m.firstAudioAt - sentenceAt, totalMs: m.firstAudioAt - m.stoppedAt });
    }
    const { event, raw } = audioDeltaEvent(run.id, msg.item.id!, msg.outputIndex, b64);
    this.cb.onEvent(event, raw);
  }

  /** Ends the current message item normally: waits for its speech, then the done events. */
  private async closeMessage(run: Run): Promise<void> {
    const msg = run.msg;
    if (!msg) return;
    if (msg.audio) {
      const rest = msg.splitter.flush();
      if (rest) this.enqueue(run, msg, [rest]);
      msg.closing = true;
      msg.wake?.();
      await msg.loop;
      if (run.finished) return;
      run.encoder!.flush((b64, samples) => this.audioDelta(run, msg, b64, samples));
    }
    this.endMessage(run, msg, 'completed');
  }

  private endMessage(run: Run, msg: MessageState, status: 'completed' | 'incomplete'): void {
    run.msg = null;
    const base = { response_id: run.id, item_id: msg.item.id, output_index: msg.outputIndex, content_index: 0 };
    if (msg.audio) {
      this.emit({ type: 'response.output_audio.done', ...base });
      this.emit({ type: 'response.output_audio_transcript.done', ...base, transcript: msg.text });
      this.emit({ type: 'response.content_part.done', ...base, part: { type: 'audio', transcript: msg.text } });
      msg.item.content = [{ type: 'output_audio', transcript: msg.text }];
    } else {
      this.emit({ type: 'response.output_text.done', ...base, text: msg.text });
      this.emit({ type: 'response.content_part.done', ...base, part: { type: 'text', text: msg.text } });
      msg.item.content = [{ type: 'output_text', text: msg.text }];
    }
    msg.item.status = status;
    this.itemDone(run, msg.stored, msg.outputIndex);
  }

  private itemDone(run: Run, stored: StoredItem, outputIndex: number): void {
    this.emit({ type: 'response.output_item.done', response_id: run.id, output_index: outputIndex, item: clone(stored.item) });
    if (run.conversation && this.conv.items.includes(stored)) {
      const idx = this.conv.items.indexOf(stored);
      this.emit({ type: 'conversation.item.done', previous_item_id: idx > 0 ? this.conv.items[idx - 1]!.item.id : null, item: clone(stored.item) });
    }
  }

  private openCall(run: Run, callId: string, name: string): void {
    const item: ConversationItem = { id: newItemId(), object: 'realtime.item', type: 'function_call', status: 'in_progress', call_id: callId, name, arguments: '' };
    const { stored, outputIndex } = this.addOutput(run, item);
    run.call = { stored, item, outputIndex, args: '' };
  }

  private closeCall(run: Run, status: 'completed' | 'incomplete' = 'completed'): void {
    const call = run.call;
    if (!call) return;
    run.call = null;
    call.item.arguments = call.args || '{}';
    call.item.status = status;
    if (status === 'completed') {
      this.emit({ type: 'response.function_call_arguments.done', response_id: run.id, item_id: call.item.id, output_index: call.outputIndex, call_id: call.item.call_id, name: call.item.name, arguments: call.item.arguments });
    }
    this.itemDone(run, call.stored, call.outputIndex);
  }

  /** Ends a response now (idempotent): open items are closed, then response.done. */
  private finalize(run: Run, status: Status, details: StatusDetails): void {
    if (run.finished) return;
    if (status !== 'completed' && status !== 'incomplete') run.ctrl.abort();
    if (run.msg) this.endMessage(run, run.msg, status === 'completed' ? 'completed' : 'incomplete');
    if (run.call) this.closeCall(run, status === 'completed' ? 'completed' : 'incomplete');
    run.finished = true;
    if (this.active === run) this.active = null;
    this.outOfBand.delete(run);
    this.emit({ type: 'response.done', response: this.responseObject(run, status, details) });
    if (status !== 'completed') this.log.debug({ responseId: run.id, status, details }, 'cascade: response ended');
    const pending = this.pendingAuto;
    if (pending && !this.active && !this.closed) {
      this.pendingAuto = null;
      this.startResponse({}, undefined, pending);
    } else if (run.conversation && status === 'completed') {
      this.armIdle(run);
    }
  }
}

/** The transcript a listener heard when playback stopped at `endMs` (pieces cut by word share). */
export function heardText(pieces: { startMs: number; text: string }[], totalMs: number, endMs: number): string {
  const out: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (p.startMs >= endMs) break;
    const end = pieces[i + 1]?.startMs ?? totalMs;
    if (endMs >= end) { out.push(p.text); continue; }
    const words = p.text.split(/\s+/);
    const keep = Math.ceil((words.length * (endMs - p.startMs)) / Math.max(1, end - p.startMs));
    out.push(words.slice(0, keep).join(' '));
  }
  return out.join(' ');
}

export { itemText };
