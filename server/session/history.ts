/**
 * The conversation as text, for replay into another engine (fallback, rotation).
 * Fed from the server events the engine emits (conversation.item.added/done/created, input
 * transcription completed, deleted). Bounded: oldest items drop first.
 */
import type { ContentPart, ConversationItem } from '../protocol/index.ts';

interface Entry {
  id: string;
  type: string;
  role?: 'user' | 'assistant' | 'system';
  texts: string[];
  callId?: string;
  name?: string;
  arguments?: string;
  output?: string;
}

export const MAX_HISTORY_ITEMS = 200;

function partText(p: ContentPart): string | null {
  const r = p as Record<string, unknown>;
  if (typeof r['text'] === 'string') return r['text'];
  if (typeof r['transcript'] === 'string') return r['transcript'];
  return null;
}

export class ConversationHistory {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;

  constructor(max = MAX_HISTORY_ITEMS) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Add or update an item from `conversation.item.added/done/created` or `response.output_item.done`. */
  upsert(item: ConversationItem): void {
    if (typeof item.id !== 'string') return;
    const prev = this.#entries.get(item.id);
    const e: Entry = prev ?? { id: item.id, type: item.type, texts: [] };
    if (item.role !== undefined) e.role = item.role;
    if (Array.isArray(item.content)) {
      item.content.forEach((p, i) => {
        const t = partText(p);
        if (t !== null && t !== '') e.texts[i] = t;
      });
    }
    if (typeof item.call_id === 'string') e.callId = item.call_id;
    if (typeof item.name === 'string') e.name = item.name;
    if (typeof item.arguments === 'string') e.arguments = item.arguments;
    if (typeof item.output === 'string') e.output = item.output;
    if (!prev) {
      this.#entries.set(item.id, e);
      if (this.#entries.size > this.#max) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
    }
  }

  /** `conversation.item.input_audio_transcription.completed`. */
  setTranscript(itemId: string, contentIndex: number, transcript: string): void {
    const e = this.#entries.get(itemId);
    if (e) e.texts[contentIndex] = transcript;
  }

  remove(itemId: string): void {
    this.#entries.delete(itemId);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Text-only GA items, in order; items without any text are left out. */
  items(): ConversationItem[] {
    const out: ConversationItem[] = [];
    for (const e of this.#entries.values()) {
      if (e.type === 'message' && e.role !== undefined) {
        const text = e.texts.filter((t) => typeof t === 'string' && t !== '').join(' ');
        if (text === '') continue;
        const partType = e.role === 'assistant' ? 'output_text' : 'input_text';
        out.push({ id: e.id, type: 'message', role: e.role, content: [{ type: partType, text }] });
      } else if (e.type === 'function_call' && e.callId !== undefined && e.name !== undefined) {
        out.push({ id: e.id, type: 'function_call', call_id: e.callId, name: e.name, arguments: e.arguments ?? '{}' });
      } else if (e.type === 'function_call_output' && e.callId !== undefined) {
        out.push({ id: e.id, type: 'function_call_output', call_id: e.callId, output: e.output ?? '' });
      }
    }
    return out;
  }
}
