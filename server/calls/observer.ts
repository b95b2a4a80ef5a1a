/**
 * The call-record observer (docs/notes/calls.md): one per session, registered app-wide. It writes the
 * call's record as the call goes — the `calls` row at the start, then one append-only event per fact
 * (a transcript line, a tool call, a turn's timing, a response's usage, a DTMF digit, an engine switch),
 * then the end. Writes are queued in the store's writer (never awaited here), so a crash loses at most
 * what was queued in the last flush interval (50 ms), i.e. the turn in flight.
 *
 * It runs on the session's path: each hook is a switch on the event type and a push to the queue; per
 * audio frame (`agentAudio`, `serverEvent` for deltas) it compares a string and updates two numbers.
 */
import type { AgentAudioPosition, EngineSwitchReport, SessionEnd, SessionInfo, SessionObserver, ToolCallReport, TurnMark } from '../session/index.ts';
import type { AudioChunk, ClientEvent, ServerEvent } from '../protocol/index.ts';
import type { IgnoredSpeech } from '../engines/index.ts';
import type { CallEventRow, CallRow, CallStore } from '../store/index.ts';
import type {
  EngineBody, SpeechBody, SttBody, ToolCallBody, TranscriptBody, TruncationBody, TtsBody, TurnBody, UsageBody,
} from './record.ts';

/** Events kept in memory per call for the end-of-call record (past this, the record is read back from the database). */
export const MAX_EVENTS_IN_MEMORY = 5000;
/** Per-item facts kept while waiting for their transcript (audio lengths, speech times, pending client tools). */
const MAX_PENDING = 64;

/** The models behind each engine, for usage and cost (server/calls/pricing.ts). */
export interface EngineModels {
  /** cascade: the chat, STT and TTS stages' models (config.cascade). */
  cascade: { chat: string; stt: string; tts: string };
}

export interface RecorderDeps {
  calls: CallStore;
  models: EngineModels;
  /** Called once when the call's last write is queued, with the call's row and its events (null: over the memory cap). */
  ended(row: CallRow, events: CallEventRow[] | null): void;
  /** Calls live in this process (for DELETE, and the crash sweep of other instances' calls). */
  live: Map<string, CallRecorder>;
  /** This process's instance id (server/calls/index.ts). */
  instance: string;
}

function setBounded<K, V>(m: Map<K, V>, k: K, v: V): void {
  if (m.size >= MAX_PENDING && !m.has(k)) m.delete(m.keys().next().value as K);
  m.set(k, v);
}

export class CallRecorder implements SessionObserver {
  readonly #d: RecorderDeps;
  readonly row: CallRow;
  #seq = 0;
  #events: CallEventRow[] | null = [];
  #opened = false;
  #engine: string | null = null;
  /** The realtime model (session.model) and the transcription model the session reported. */
  #sessionModel: string | null = null;
  #transcriptionModel: string | null = null;
  // agent audio generated per item (ms): the current item, and the ones before it
  #audioItem: string | null = null;
  #audioEndMs = 0;
  readonly #audioMs = new Map<string, number>();
  readonly #speechStart = new Map<string, { atMs: number; audioStartMs: number }>();
  readonly #speechMs = new Map<string, number>();
  readonly #firstAudioAt = new Map<string, number>();
  #lastSpeechStoppedAt: number | null = null;
  readonly #written = new Set<string>();
  readonly #clientTools = new Map<string, { name: string; arguments: string; atMs: number }>();
  readonly #serverToolCalls = new Set<string>();

  constructor(s: SessionInfo, d: RecorderDeps) {
    this.#d = d;
    this.row = {
      id: s.id,
      door: s.leg,
      sipCallId: s.call.sipCallId ?? null,
      from: s.call.from ?? null,
      to: s.call.to ?? null,
      dialled: s.call.dialled ?? null,
      trunk: s.call.trunk ?? null,
      profile: s.profile,
      metadata: { ...s.metadata },
      startedAtMs: s.startedAt,
      answeredAtMs: null,
      endedAtMs: null,
      endReason: null,
      engines: [],
      recording: s.recording,
      usage: null,
      cost: null,
      instance: d.instance,
    };
  }

  #append(kind: string, atMs: number, body: object): void {
    const ev: CallEventRow = { callId: this.row.id, seq: ++this.#seq, kind, atMs, body: body as Record<string, unknown> };
    this.#d.calls.append(ev);
    if (this.#events !== null) {
      if (this.#events.length < MAX_EVENTS_IN_MEMORY) this.#events.push(ev);
      else this.#events = null;
    }
  }

  #open(engine: string | null): void {
    if (this.#opened) return;
    this.#opened = true;
    if (engine !== null) {
      this.#engine = engine;
      this.row.engines = [engine];
    }
    this.#d.live.set(this.row.id, this);
    this.#d.calls.open({ ...this.row });
  }

  opened(_s: SessionInfo, engine: string): void {
    this.#open(engine);
  }

  answered(atMs: number): void {
    if (this.row.answeredAtMs !== null) return;
    this.row.answeredAtMs = atMs;
    this.#d.calls.update(this.row.id, { answeredAtMs: atMs });
  }

  dtmf(d: { digit: string; atMs: number }): void {
    this.#append('dtmf', d.atMs, { digit: d.digit });
  }

  transferred(t: { target: string; atMs: number }): void {
    this.#append('transfer', t.atMs, { target: t.target });
  }

  engineSwitch(r: EngineSwitchReport): void {
    const body: EngineBody = { from: r.from, to: r.to, reason: r.reason };
    if (r.detail !== undefined) body.detail = r.detail;
    this.#append('engine', Date.now(), body);
    this.#engine = r.to;
    if (this.row.engines[this.row.engines.length - 1] !== r.to) {
      this.row.engines = [...this.row.engines, r.to];
      this.#d.calls.update(this.row.id, { engines: this.row.engines });
    }
  }

  engineError(r: { engine: string; code: string }): void {
    this.#append('engine_error', Date.now(), { engine: r.engine, code: r.code });
  }

  agentAudio(chunk: AudioChunk, at: AgentAudioPosition): void {
    if (at.itemId !== this.#audioItem) {
      if (this.#audioItem !== null) setBounded(this.#audioMs, this.#audioItem, this.#audioEndMs);
      this.#audioItem = at.itemId;
      this.#audioEndMs = 0;
    }
    const end = at.offsetMs + chunk.durationMs;
    if (end > this.#audioEndMs) this.#audioEndMs = end;
  }

  #audioOf(itemId: string): number {
    return itemId === this.#audioItem ? this.#audioEndMs : (this.#audioMs.get(itemId) ?? 0);
  }

  agentAudioTruncated(t: { itemId: string; contentIndex: number; audioEndMs: number }): void {
    const body: TruncationBody = { item_id: t.itemId, content_index: t.contentIndex, audio_end_ms: t.audioEndMs, audio_ms: this.#audioOf(t.itemId) };
    this.#append('truncation', Date.now(), body);
  }

  turn(m: TurnMark): void {
    switch (m.kind) {
      case 'speech_started':
        setBounded(this.#speechStart, m.itemId, { atMs: m.atMs, audioStartMs: m.audioStartMs });
        break;
      case 'speech_stopped': {
        this.#lastSpeechStoppedAt = m.atMs;
        const start = this.#speechStart.get(m.itemId);
        if (start) {
          const body: SpeechBody = { item_id: m.itemId, audio_start_ms: start.audioStartMs, audio_end_ms: m.audioEndMs, duration_ms: Math.max(0, m.audioEndMs - start.audioStartMs) };
          setBounded(this.#speechMs, m.itemId, body.duration_ms);
          this.#append('speech', start.atMs, body);
        }
        break;
      }
      case 'first_audio': {
        setBounded(this.#firstAudioAt, m.itemId, m.atMs);
        const body: TurnBody = {
          item_id: m.itemId, response_id: m.responseId, first_audio_at_ms: m.atMs, latency_ms: m.sinceSpeechStoppedMs,
          speech_stopped_at_ms: m.sinceSpeechStoppedMs === null ? null : this.#lastSpeechStoppedAt,
        };
        this.#append('turn', m.atMs, body);
        break;
      }
      case 'response_done': {
        const engine = this.#engine ?? 'unknown';
        const body: UsageBody = { response_id: m.responseId, status: m.status, engine, model: this.#chatModel(engine), usage: (m.usage as Record<string, unknown> | null) ?? null };
        this.#append('usage', m.atMs, body);
        break;
      }
    }
  }

  #chatModel(engine: string): string | null {
    if (engine === 'cascade') return this.#d.models.cascade.chat;
    if (engine === 'local') return 'local';
    return this.#sessionModel;
  }

  /** Speech over the agent that did not stop it: a marked transcript line at its start (docs/notes/turns.md). */
  speechIgnored(r: IgnoredSpeech): void {
    const body: TranscriptBody = { role: 'user', item_id: r.itemId, text: r.text, mark: r.kind };
    this.#append('transcript', r.startedAtMs, body);
  }

  toolCall(r: ToolCallReport): void {
    this.#serverToolCalls.add(r.callId);
    this.#clientTools.delete(r.callId);
    const body: ToolCallBody = { name: r.name, call_id: r.callId, arguments: r.arguments, output: r.output, ok: r.ok, duration_ms: r.durationMs };
    if (r.errorCode !== undefined) body.error_code = r.errorCode;
    // whole ms: the PostgreSQL column is BIGINT (a fractional tool duration made the insert fail and the event vanish)
    this.#append('tool_call', Math.round(Date.now() - r.durationMs), body);
  }

  clientEvent(ev: ClientEvent): void {
    // a client-side tool's output (the client ran the function the model called)
    if (ev.type !== 'conversation.item.create' || this.#clientTools.size === 0) return;
    const item = ev.item as { type?: string; call_id?: string; output?: string };
    if (item.type !== 'function_call_output' || typeof item.call_id !== 'string') return;
    const call = this.#clientTools.get(item.call_id);
    if (!call || this.#serverToolCalls.has(item.call_id)) return;
    this.#clientTools.delete(item.call_id);
    const body: ToolCallBody = { name: call.name, call_id: item.call_id, arguments: call.arguments, output: String(item.output ?? ''), ok: true, duration_ms: Date.now() - call.atMs };
    this.#append('tool_call', call.atMs, body);
  }

  serverEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case 'session.created':
      case 'session.updated': {
        const s = ev.session as { model?: unknown; audio?: { input?: { transcription?: { model?: unknown } | null } } };
        if (typeof s.model === 'string') this.#sessionModel = s.model;
        const tm = s.audio?.input?.transcription?.model;
        if (typeof tm === 'string') this.#transcriptionModel = tm;
        break;
      }
      case 'conversation.item.input_audio_transcription.completed': {
        const start = this.#speechStart.get(ev.item_id);
        const engine = this.#engine ?? 'unknown';
        const body: TranscriptBody = { role: 'user', item_id: ev.item_id, text: ev.transcript };
        this.#append('transcript', start?.atMs ?? Date.now(), body);
        const usage = ev.usage && typeof ev.usage === 'object' ? (ev.usage as Record<string, unknown>) : null;
        const stt: SttBody = { item_id: ev.item_id, engine, model: this.#sttModel(engine), usage, speech_ms: this.#speechMs.get(ev.item_id) ?? null };
        this.#append('stt', Date.now(), stt);
        break;
      }
      case 'conversation.item.added': {
        // a message the client typed
        const item = ev.item as { id?: string; type?: string; role?: string; content?: Array<{ type?: string; text?: string }> };
        if (item.type !== 'message' || item.role !== 'user' || typeof item.id !== 'string' || this.#written.has(item.id)) break;
        let text = '';
        for (const c of item.content ?? []) if (c.type === 'input_text' && typeof c.text === 'string') text += text === '' ? c.text : ` ${c.text}`;
        if (text === '') break;
        this.#written.add(item.id);
        this.#append('transcript', Date.now(), { role: 'user', item_id: item.id, text } satisfies TranscriptBody);
        break;
      }
      case 'response.output_audio_transcript.done':
        this.#assistant(ev.item_id, ev.response_id, ev.transcript);
        break;
      case 'response.output_text.done':
        this.#assistant(ev.item_id, ev.response_id, ev.text);
        break;
      case 'response.function_call_arguments.done':
        if (!this.#serverToolCalls.has(ev.call_id)) setBounded(this.#clientTools, ev.call_id, { name: ev.name ?? 'function', arguments: ev.arguments, atMs: Date.now() });
        break;
      default:
        break;
    }
  }

  #sttModel(engine: string): string | null {
    if (engine === 'cascade') return this.#d.models.cascade.stt;
    if (engine === 'local') return 'local';
    return this.#transcriptionModel;
  }

  #assistant(itemId: string, responseId: string, text: string): void {
    if (this.#written.has(itemId)) return;
    this.#written.add(itemId);
    if (this.#written.size > MAX_PENDING * 4) this.#written.delete(this.#written.values().next().value as string);
    const body: TranscriptBody = { role: 'assistant', item_id: itemId, text, response_id: responseId };
    const audio = this.#audioOf(itemId);
    if (audio > 0) body.audio_ms = audio;
    this.#append('transcript', this.#firstAudioAt.get(itemId) ?? Date.now(), body);
    const engine = this.#engine ?? 'unknown';
    if ((engine === 'cascade' || engine === 'local') && audio > 0) {
      const tts: TtsBody = { item_id: itemId, engine, model: engine === 'local' ? 'local' : this.#d.models.cascade.tts, characters: text.length };
      this.#append('tts', Date.now(), tts);
    }
  }

  closed(s: SessionInfo, end: SessionEnd): void {
    this.#open(end.engine);
    this.row.endedAtMs = Math.round(s.startedAt + end.durationMs);
    this.row.endReason = end.endReason;
    this.#d.calls.update(this.row.id, { endedAtMs: this.row.endedAtMs, endReason: this.row.endReason });
    this.#d.live.delete(this.row.id);
    this.#d.ended(this.row, this.#events);
  }
}
