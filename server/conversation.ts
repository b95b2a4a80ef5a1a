/**
 * The conversation: one ordered store of GA items per session. The session keeps it from the events
 * its engine emits (so it survives an engine switch and is replayed as text into the next engine), and
 * hands the same store to the engine it opens: the cascade keeps its items here instead of a copy of
 * its own. Bounded: beyond `maxItems` the oldest items drop (as a realtime server truncates its
 * context); `full` tells a caller that wants to refuse new client items instead.
 */
import type { ContentPart, ConversationItem } from './protocol/index.ts';

export const MAX_CONVERSATION_ITEMS = 1000;

function partText(p: ContentPart): string {
  if ('text' in p && typeof p.text === 'string') return p.text;
  if ('transcript' in p && typeof p.transcript === 'string') return p.transcript;
  return '';
}

/** The item's text: its text parts and transcripts joined. */
export function itemText(item: ConversationItem): string {
  let out = '';
  for (const p of item.content ?? []) {
    const t = partText(p);
    if (t !== '') out = out === '' ? t : `${out} ${t}`;
  }
  return out;
}

export class Conversation {
  readonly #items: ConversationItem[] = [];
  readonly #byId = new Map<string, ConversationItem>();
  readonly maxItems: number;

  constructor(maxItems = MAX_CONVERSATION_ITEMS) {
    this.maxItems = maxItems;
  }

  get size(): number {
    return this.#items.length;
  }

  get full(): boolean {
    return this.#items.length >= this.maxItems;
  }

  /** The items in order (a live view: do not modify). */
  get items(): readonly ConversationItem[] {
    return this.#items;
  }

  find(id: string): ConversationItem | undefined {
    return this.#byId.get(id);
  }

  lastId(): string | null {
    return this.#items.at(-1)?.id ?? null;
  }

  /**
   * Inserts an item (it must have an id) after `previousId` ('root' = first; undefined/null = last).
   * Returns the id of the item before it, or null. Throws a RangeError when `previousId` is unknown.
   */
  insert(item: ConversationItem & { id: string }, previousId?: string | null): string | null {
    let prev: string | null;
    if (previousId === 'root') {
      this.#items.unshift(item);
      prev = null;
    } else if (previousId === undefined || previousId === null) {
      prev = this.lastId();
      this.#items.push(item);
    } else {
      const at = this.#items.findIndex((i) => i.id === previousId);
      if (at < 0) throw new RangeError(`no item ${previousId}`);
      this.#items.splice(at + 1, 0, item);
      prev = previousId;
    }
    const old = this.#byId.get(item.id);
    if (old && old !== item) this.#items.splice(this.#items.indexOf(old), 1);
    this.#byId.set(item.id, item);
    this.#trim();
    return prev;
  }

  /**
   * Adds or updates an item as an engine reported it (`conversation.item.added/done`,
   * `response.output_item.done`): fields present in `item` replace the stored ones, content parts
   * keep the text already known when the update has none.
   */
  upsert(item: ConversationItem): void {
    if (typeof item.id !== 'string') return;
    const prev = this.#byId.get(item.id);
    if (!prev) {
      this.insert({ ...item, id: item.id });
      return;
    }
    if (prev === item) return;
    const content = prev.content;
    Object.assign(prev, item);
    if (content && item.content) {
      prev.content = item.content.map((p, i) => {
        const old = content[i];
        return old !== undefined && partText(p) === '' && partText(old) !== '' ? old : p;
      });
    }
  }

  /** `conversation.item.input_audio_transcription.completed`. */
  setTranscript(itemId: string, contentIndex: number, transcript: string): void {
    const part = this.#byId.get(itemId)?.content?.[contentIndex];
    if (part && (part.type === 'input_audio' || part.type === 'output_audio')) part.transcript = transcript;
  }

  delete(id: string): boolean {
    const item = this.#byId.get(id);
    if (!item) return false;
    this.#byId.delete(id);
    this.#items.splice(this.#items.indexOf(item), 1);
    return true;
  }

  clear(): void {
    this.#items.length = 0;
    this.#byId.clear();
  }

  /** Text-only GA items, in order (for replay into another engine); items without text are left out. */
  textItems(): ConversationItem[] {
    const out: ConversationItem[] = [];
    for (const e of this.#items) {
      if (typeof e.id !== 'string') continue;
      if (e.type === 'message' && e.role !== undefined) {
        const text = itemText(e);
        if (text === '') continue;
        out.push({ id: e.id, type: 'message', role: e.role, content: [{ type: e.role === 'assistant' ? 'output_text' : 'input_text', text }] });
      } else if (e.type === 'function_call' && typeof e.call_id === 'string' && typeof e.name === 'string') {
        out.push({ id: e.id, type: 'function_call', call_id: e.call_id, name: e.name, arguments: e.arguments ?? '{}' });
      } else if (e.type === 'function_call_output' && typeof e.call_id === 'string') {
        out.push({ id: e.id, type: 'function_call_output', call_id: e.call_id, output: e.output ?? '' });
      }
    }
    return out;
  }

  #trim(): void {
    while (this.#items.length > this.maxItems) {
      const oldest = this.#items.shift();
      if (oldest?.id !== undefined) this.#byId.delete(oldest.id);
    }
  }
}
