/**
 * What the page shows, as a pure model fed with GA server events (docs/protocol.md §1.9–1.10): the chat of
 * user and assistant transcripts (ordered by item, not by arrival: transcripts of user audio come
 * late, §1.7), tool calls with their arguments and results, errors in plain words, the speech
 * indicator, each turn's latency (speech_stopped → first audio delta) and the engine in use
 * (`parley.engine`, contracts §6). The DOM view subscribes to `onChange`.
 */
import { describeServerError } from './plain-words.ts';
import type { RealtimeErrorBody } from './plain-words.ts';

export type EntryKind = 'user' | 'assistant' | 'tool' | 'error' | 'notice';

export interface ChatEntry {
  key: string;
  kind: EntryKind;
  text: string;
  /** Transcript complete (false while deltas are still arriving). */
  final: boolean;
  itemId?: string;
  interrupted?: boolean;
  /**
   * For an interrupted reply: the part of the transcript the listener heard, estimated from
   * audio_end_ms / audio generated (the server drops the unheard rest from the model's context).
   */
  heardText?: string;
  /** speech_stopped (or push-to-talk release) → first audio of this reply, in ms. */
  latencyMs?: number;
  tool?: { name: string; callId: string; arguments: string; output?: string };
}

export interface EngineInfo {
  engine: string;
  reason: string;
  detail?: string;
}

export interface ConversationListener {
  onChange?(entry: ChatEntry): void;
  onEngine?(info: EngineInfo): void;
  onSpeech?(userSpeaking: boolean): void;
}

type Ev = Record<string, unknown> & { type: string };

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function rec(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

/** Text of a GA item's content parts (input_text / input_audio transcript / output_*). */
function contentText(item: Record<string, unknown>): string {
  const content = Array.isArray(item.content) ? item.content : [];
  let text = '';
  for (const part of content) {
    const p = rec(part);
    const t = str(p.transcript) || str(p.text);
    if (t) text += (text ? ' ' : '') + t;
  }
  return text;
}

/** The first `fraction` of `text`, cut at a word boundary (speech time is roughly proportional to characters). */
export function heardPart(text: string, fraction: number): string {
  if (fraction >= 1) return text;
  const cut = Math.round(text.length * fraction);
  if (cut <= 0) return '';
  const space = text.lastIndexOf(' ', cut);
  return text.slice(0, space > 0 ? space : cut).trimEnd();
}

export class ConversationModel {
  readonly entries: ChatEntry[] = [];
  readonly latenciesMs: number[] = [];
  engine: EngineInfo | null = null;
  userSpeaking = false;
  sessionId = '';

  private readonly byItem = new Map<string, ChatEntry>();
  private readonly byCall = new Map<string, ChatEntry>();
  private readonly generatedMsByItem = new Map<string, number>();
  private readonly heardFraction = new Map<ChatEntry, number>();
  private turnEndAtMs: number | null = null;
  private seq = 0;

  constructor(private readonly listener: ConversationListener = {}) {}

  /** Turn end measured on the page (push-to-talk release), when there is no speech_stopped. */
  markTurnEnd(nowMs: number): void {
    this.turnEndAtMs = nowMs;
  }

  /** Show an error raised on the page itself (microphone, network, key endpoint). */
  addError(text: string): ChatEntry {
    return this.push({ key: `err_${++this.seq}`, kind: 'error', text, final: true });
  }

  addNotice(text: string): ChatEntry {
    return this.push({ key: `note_${++this.seq}`, kind: 'notice', text, final: true });
  }

  /**
   * Feed one server event. `nowMs` is the page clock at arrival. `errorFromTruncate` tells whether an
   * `error` event answers one of our truncate events.
   */
  handle(ev: Ev, nowMs: number, errorFromTruncate = false): void {
    switch (ev.type) {
      case 'session.created':
        this.sessionId = str(rec(ev.session).id);
        break;
      case 'parley.engine': {
        const info: EngineInfo = { engine: str(ev.engine) || 'unknown', reason: str(ev.reason) || 'initial' };
        const detail = str(ev.detail);
        if (detail) info.detail = detail;
        const changed = this.engine !== null && this.engine.engine !== info.engine;
        this.engine = info;
        this.listener.onEngine?.(info);
        if (changed) this.addNotice(`Switched to the ${info.engine} engine${detail ? ` (${detail})` : ''}.`);
        break;
      }
      case 'input_audio_buffer.speech_started':
        this.setSpeaking(true);
        break;
      case 'input_audio_buffer.speech_stopped':
        this.setSpeaking(false);
        this.turnEndAtMs = nowMs;
        break;
      case 'conversation.item.added':
      case 'conversation.item.created':
      case 'conversation.item.done':
      case 'response.output_item.added':
      case 'response.output_item.done':
        this.onItem(rec(ev.item), ev.type.endsWith('.done'));
        break;
      case 'conversation.item.input_audio_transcription.delta': {
        const e = this.ensureItem(str(ev.item_id), 'user');
        e.text += str(ev.delta);
        this.changed(e);
        break;
      }
      case 'conversation.item.input_audio_transcription.completed': {
        const e = this.ensureItem(str(ev.item_id), 'user');
        e.text = str(ev.transcript);
        e.final = true;
        this.changed(e);
        break;
      }
      case 'conversation.item.input_audio_transcription.failed': {
        const e = this.ensureItem(str(ev.item_id), 'user');
        if (!e.text) e.text = '(not understood)';
        e.final = true;
        this.changed(e);
        break;
      }
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta': {
        const e = this.ensureItem(str(ev.item_id), 'assistant');
        e.text += str(ev.delta);
        this.changed(e);
        break;
      }
      case 'response.output_audio_transcript.done':
      case 'response.output_text.done': {
        const e = this.ensureItem(str(ev.item_id), 'assistant');
        const full = str(ev.transcript) || str(ev.text);
        if (full && !e.interrupted) e.text = full;
        e.final = true;
        this.changed(e);
        break;
      }
      case 'response.output_audio.delta': {
        const itemId = str(ev.item_id);
        const b64 = str(ev.delta);
        const bytes = (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);
        this.generatedMsByItem.set(itemId, (this.generatedMsByItem.get(itemId) ?? 0) + (Math.max(0, bytes) / 2 / 24_000) * 1000);
        if (this.turnEndAtMs !== null) {
          const latency = Math.max(0, Math.round(nowMs - this.turnEndAtMs));
          this.turnEndAtMs = null;
          this.latenciesMs.push(latency);
          const e = this.ensureItem(str(ev.item_id), 'assistant');
          e.latencyMs = latency;
          this.changed(e);
        }
        break;
      }
      case 'response.function_call_arguments.delta': {
        const e = this.ensureCall(str(ev.call_id), str(ev.name), str(ev.item_id));
        if (e.tool) e.tool.arguments += str(ev.delta);
        this.changed(e);
        break;
      }
      case 'response.function_call_arguments.done': {
        const e = this.ensureCall(str(ev.call_id), str(ev.name), str(ev.item_id));
        if (e.tool) {
          e.tool.arguments = str(ev.arguments) || e.tool.arguments;
          if (str(ev.name)) e.tool.name = str(ev.name);
        }
        this.changed(e);
        break;
      }
      case 'conversation.item.truncated': {
        const e = this.byItem.get(str(ev.item_id));
        if (e) {
          e.interrupted = true;
          e.final = true;
          const generated = this.generatedMsByItem.get(str(ev.item_id)) ?? 0;
          const endMs = typeof ev.audio_end_ms === 'number' ? ev.audio_end_ms : 0;
          if (generated > 0) this.heardFraction.set(e, Math.min(1, Math.max(0, endMs / generated)));
          this.changed(e);
        }
        break;
      }
      case 'response.done': {
        const response = rec(ev.response);
        if (response.status === 'failed') {
          const details = rec(response.status_details);
          const text = describeServerError(rec(details.error) as RealtimeErrorBody);
          if (text) this.addError(text);
        }
        break;
      }
      case 'error': {
        const text = describeServerError(rec(ev.error) as RealtimeErrorBody, { fromTruncate: errorFromTruncate });
        if (text) this.addError(text);
        break;
      }
      default:
        break;
    }
  }

  /** User transcripts so far (for tests and the page's stats). */
  userTexts(): string[] {
    return this.entries.filter((e) => e.kind === 'user').map((e) => e.text);
  }

  assistantTexts(): string[] {
    return this.entries.filter((e) => e.kind === 'assistant').map((e) => e.text);
  }

  private setSpeaking(on: boolean): void {
    if (this.userSpeaking === on) return;
    this.userSpeaking = on;
    this.listener.onSpeech?.(on);
  }

  private onItem(item: Record<string, unknown>, done: boolean): void {
    const id = str(item.id);
    const type = str(item.type);
    if (type === 'message') {
      const role = str(item.role);
      if (role !== 'user' && role !== 'assistant') return;
      const e = this.ensureItem(id, role);
      const text = contentText(item);
      // keep streamed text unless the item carries a fuller one; an interrupted reply keeps what was heard
      if (text && !e.interrupted && text.length >= e.text.length) e.text = text;
      if (done && (role === 'assistant' || text)) e.final = true;
      this.changed(e);
    } else if (type === 'function_call') {
      const e = this.ensureCall(str(item.call_id), str(item.name), id);
      if (e.tool && typeof item.arguments === 'string' && item.arguments.length >= e.tool.arguments.length) {
        e.tool.arguments = item.arguments;
      }
      if (done) e.final = true;
      this.changed(e);
    } else if (type === 'function_call_output') {
      const e = this.ensureCall(str(item.call_id), '', '');
      if (e.tool) e.tool.output = str(item.output);
      e.final = true;
      this.changed(e);
    }
  }

  private ensureItem(itemId: string, kind: 'user' | 'assistant'): ChatEntry {
    const existing = this.byItem.get(itemId);
    if (existing) return existing;
    const e: ChatEntry = { key: itemId || `item_${++this.seq}`, kind, text: '', final: false, itemId };
    if (itemId) this.byItem.set(itemId, e);
    return this.push(e);
  }

  private ensureCall(callId: string, name: string, itemId: string): ChatEntry {
    const existing = this.byCall.get(callId) ?? (itemId ? this.byItem.get(itemId) : undefined);
    if (existing) {
      if (callId && !this.byCall.has(callId)) this.byCall.set(callId, existing);
      if (existing.tool && name && !existing.tool.name) existing.tool.name = name;
      return existing;
    }
    const e: ChatEntry = {
      key: callId || itemId || `call_${++this.seq}`,
      kind: 'tool',
      text: '',
      final: false,
      tool: { name, callId, arguments: '' },
    };
    if (itemId) e.itemId = itemId;
    if (callId) this.byCall.set(callId, e);
    if (itemId) this.byItem.set(itemId, e);
    return this.push(e);
  }

  private push(e: ChatEntry): ChatEntry {
    this.entries.push(e);
    this.changed(e);
    return e;
  }

  private changed(e: ChatEntry): void {
    const fraction = this.heardFraction.get(e);
    if (fraction !== undefined) e.heardText = heardPart(e.text, fraction);
    this.listener.onChange?.(e);
  }
}
