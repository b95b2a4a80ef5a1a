/**
 * The cascade's conversation part: item create / retrieve / delete / truncate on the session's
 * store (server/conversation.ts, the one copy of the items). What only the cascade needs about an
 * item (a transcript still being recognised, where each spoken piece of an assistant reply starts)
 * is kept beside it here, keyed by item id. The door has validated every event's shape
 * (server/protocol/validate.ts); what is checked here is the conversation's state.
 */
import { AudioChunk, newItemId } from '../../protocol/index.ts';
import type {
  ContentPart,
  ConversationItem,
  ConversationItemCreateEvent,
  ConversationItemDeleteEvent,
  ConversationItemRetrieveEvent,
  ConversationItemTruncateEvent,
} from '../../protocol/types.ts';
import type { Conversation } from '../../conversation.ts';
import { snapshot } from './context.ts';
import type { CascadeContext } from './context.ts';

export type StoredItem = ConversationItem & { id: string };

/** Where each spoken piece of an assistant audio item starts, and the audio generated (ms). */
export interface Spoken {
  audioMs: number;
  pieces: { startMs: number; text: string }[];
}

export interface ItemHooks {
  /** Recognise a client item's input audio (content part 0 gets the transcript). */
  transcribe(itemId: string, audio: AudioChunk): void;
  /** A truncate of `itemId` is coming: a response still speaking it is cancelled first. */
  truncating(itemId: string): void;
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

export class CascadeItems {
  readonly #ctx: CascadeContext;
  readonly #conv: Conversation;
  readonly #hooks: ItemHooks;
  /** Transcripts still being recognised (they gate the next response). */
  readonly #pending = new Map<string, Promise<void>>();
  /** Assistant audio items of this conversation. */
  readonly #spoken = new Map<string, Spoken>();

  constructor(ctx: CascadeContext, hooks: ItemHooks) {
    this.#ctx = ctx;
    this.#conv = ctx.conversation;
    this.#hooks = hooks;
  }

  get items(): readonly ConversationItem[] {
    return this.#conv.items;
  }

  find(id: string): ConversationItem | undefined {
    return this.#conv.find(id);
  }

  /** Stores an item after `previousId` (undefined = last); returns the id before it. Emits nothing. */
  insert(item: StoredItem, previousId?: string | null): string | null {
    return this.#conv.insert(item, previousId);
  }

  /** `conversation.item.added` for an item just inserted. */
  added(item: ConversationItem, previousId: string | null): void {
    this.#ctx.emit({ type: 'conversation.item.added', previous_item_id: previousId, item: snapshot(item) });
  }

  /** `conversation.item.done` for an item still in the conversation. */
  done(id: string): void {
    const item = this.#conv.find(id);
    if (!item) return;
    const items = this.#conv.items;
    const at = items.indexOf(item);
    this.#ctx.emit({ type: 'conversation.item.done', previous_item_id: at > 0 ? items[at - 1]!.id ?? null : null, item: snapshot(item) });
  }

  /**
   * Sets the transcript of an item's first content part, as a new part: a part already emitted
   * (and perhaps kept by a receiver, or shared with it by the store's upsert) is never changed.
   */
  setTranscript(id: string, transcript: string): void {
    const item = this.#conv.find(id);
    const first = item?.content?.[0];
    if (!item?.content || !first || (first.type !== 'input_audio' && first.type !== 'output_audio')) return;
    item.content = [{ ...first, transcript }, ...item.content.slice(1)];
  }

  /** A transcript being recognised for `id`: responses wait for it. */
  transcribing(id: string, done: Promise<void>): void {
    this.#pending.set(id, done);
    void done.then(() => { if (this.#pending.get(id) === done) this.#pending.delete(id); });
  }

  /** The transcripts still pending for items in the conversation. */
  pendingTranscripts(): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const [id, p] of this.#pending) if (this.#conv.find(id)) out.push(p);
    return out;
  }

  /** Tracks an assistant audio item's spoken pieces (for truncate). */
  speaking(id: string, spoken: Spoken): void {
    if (this.#spoken.size > this.#conv.size) this.#prune();
    this.#spoken.set(id, spoken);
  }

  // ───────────────────────────── client events ─────────────────────────────

  create(ev: ConversationItemCreateEvent): void {
    const src = ev.item;
    if (src.id !== undefined && this.#conv.find(src.id)) {
      return this.#ctx.error('invalid_value', `Item id '${src.id}' is already in the conversation.`, ev.event_id, 'item.id');
    }
    const previous = ev.previous_item_id;
    if (previous !== undefined && previous !== null && previous !== 'root' && !this.#conv.find(previous)) {
      return this.#ctx.error('invalid_value', `Previous item '${previous}' is not in the conversation.`, ev.event_id, 'previous_item_id');
    }
    const item: StoredItem = { ...src, id: src.id ?? newItemId(), object: 'realtime.item', status: src.status ?? 'completed' };
    // A user message with input audio is transcribed like a committed buffer (the audio is not kept).
    let audio: string | undefined;
    if (src.content) {
      const parts: ContentPart[] = [];
      for (const p of src.content) {
        if (audio === undefined && item.role === 'user' && p.type === 'input_audio' && 'audio' in p && typeof p.audio === 'string') {
          audio = p.audio;
          parts.unshift({ type: 'input_audio', transcript: null });
        } else {
          parts.push({ ...p });
        }
      }
      item.content = parts;
    }
    const prev = this.#conv.insert(item, previous);
    this.added(item, prev);
    const format = this.#ctx.session.audio?.input?.format;
    if (audio !== undefined) this.#hooks.transcribe(item.id, format ? AudioChunk.fromBase64(audio, format) : AudioChunk.fromBase64(audio));
    else this.done(item.id);
  }

  retrieve(ev: ConversationItemRetrieveEvent): void {
    const item = this.#conv.find(ev.item_id);
    if (!item) return this.#ctx.error('item_retrieve_invalid_item_id', `Item '${ev.item_id}' does not exist.`, ev.event_id, 'item_id');
    this.#ctx.emit({ type: 'conversation.item.retrieved', item: snapshot(item) });
  }

  remove(ev: ConversationItemDeleteEvent): void {
    const id = ev.item_id;
    if (!this.#conv.delete(id)) return this.#ctx.error('item_delete_invalid_item_id', `Item '${id}' does not exist.`, ev.event_id, 'item_id');
    this.#spoken.delete(id);
    this.#pending.delete(id);
    this.#ctx.emit({ type: 'conversation.item.deleted', item_id: id });
  }

  truncate(ev: ConversationItemTruncateEvent): void {
    const id = ev.item_id;
    const item = this.#conv.find(id);
    if (!item) return this.#ctx.error('item_truncate_invalid_item_id', `Item '${id}' does not exist.`, ev.event_id, 'item_id');
    const spoken = this.#spoken.get(id);
    if (item.role !== 'assistant' || !spoken) return this.#ctx.error('invalid_value', 'Only assistant audio items can be truncated.', ev.event_id, 'item_id');
    if (ev.content_index !== 0) return this.#ctx.error('invalid_value', 'content_index must be 0.', ev.event_id, 'content_index');
    this.#hooks.truncating(id);
    const endMs = ev.audio_end_ms;
    const audioMs = Math.floor(spoken.audioMs);
    if (endMs > audioMs) {
      return this.#ctx.error('invalid_value', `Audio content of ${audioMs}ms is already shorter than ${endMs}ms`, ev.event_id, 'audio_end_ms');
    }
    this.setTranscript(id, heardText(spoken.pieces, audioMs, endMs));
    spoken.audioMs = endMs;
    spoken.pieces = spoken.pieces.filter((p) => p.startMs < endMs);
    this.#ctx.emit({ type: 'conversation.item.truncated', item_id: id, content_index: 0, audio_end_ms: endMs });
  }

  /** Forgets side data of items no longer in the conversation (deleted by the session, or dropped as the oldest). */
  #prune(): void {
    for (const id of this.#spoken.keys()) if (!this.#conv.find(id)) this.#spoken.delete(id);
  }
}
