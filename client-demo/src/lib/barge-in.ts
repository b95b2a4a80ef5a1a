/**
 * Barge-in bookkeeping on the page (OpenAI Realtime over WebSocket leaves it to the client, and
 * Parley does not truncate for relayed WebSocket clients; docs/protocol.md §1.11):
 *
 * 1. When the user starts speaking (`input_audio_buffer.speech_started`, or push-to-talk pressed),
 *    `interrupt()` says whether playback must stop, and from then on late deltas of the interrupted
 *    responses are dropped.
 * 2. The playback worklet stops and reports the ms actually played per unfinished item;
 *    `truncationsFor()` turns that into `conversation.item.truncate` events: one per item, at most
 *    once ever, `audio_end_ms` = min(played, generated).
 */

export interface TruncateEvent {
  type: 'conversation.item.truncate';
  event_id: string;
  item_id: string;
  content_index: number;
  audio_end_ms: number;
}

interface TrackedItem {
  itemId: string;
  responseId: string;
  contentIndex: number;
  generatedSamples: number; // 24 kHz
  audioDone: boolean;
}

const RATE_HZ = 24_000;
const MEMORY = 64;

export class BargeInTracker {
  private readonly items = new Map<string, TrackedItem>();
  private readonly interruptedResponses: string[] = [];
  private readonly truncated: string[] = [];
  private seq = 0;
  truncatesSent = 0;
  lateDeltasDropped = 0;

  constructor(private readonly eventIdPrefix = 'evt_demo_trunc_') {}

  /**
   * An `response.output_audio.delta` arrived with `samples` 24 kHz samples. Returns false when the
   * delta belongs to an interrupted response or truncated item and must be dropped.
   */
  acceptDelta(responseId: string, itemId: string, contentIndex: number, samples: number): boolean {
    if (this.interruptedResponses.includes(responseId) || this.truncated.includes(itemId)) {
      this.lateDeltasDropped++;
      return false;
    }
    let item = this.items.get(itemId);
    if (!item) {
      item = { itemId, responseId, contentIndex, generatedSamples: 0, audioDone: false };
      this.items.set(itemId, item);
    }
    item.generatedSamples += samples;
    return true;
  }

  audioDone(itemId: string): void {
    const item = this.items.get(itemId);
    if (item) item.audioDone = true;
  }

  /** The whole item was played to the end: nothing to truncate any more. */
  itemFinished(itemId: string): void {
    this.items.delete(itemId);
  }

  /** Generated audio of an item so far, in ms. */
  generatedMs(itemId: string): number {
    const item = this.items.get(itemId);
    return item ? (item.generatedSamples / RATE_HZ) * 1000 : 0;
  }

  /**
   * The user started talking. Returns true when assistant audio is buffered, playing or still
   * streaming, i.e. playback must stop and the items be truncated. Idempotent.
   */
  interrupt(): boolean {
    if (this.items.size === 0) return false;
    for (const item of this.items.values()) {
      if (!this.interruptedResponses.includes(item.responseId)) {
        this.interruptedResponses.push(item.responseId);
        if (this.interruptedResponses.length > MEMORY) this.interruptedResponses.shift();
      }
    }
    return true;
  }

  /**
   * Playback stopped; `stopped` lists the unfinished items with the ms actually played. Returns the
   * truncate events to send (never two for one item).
   */
  truncationsFor(stopped: readonly { itemId: string; playedMs: number }[]): TruncateEvent[] {
    const out: TruncateEvent[] = [];
    for (const s of stopped) {
      const item = this.items.get(s.itemId);
      this.items.delete(s.itemId);
      if (!item || this.truncated.includes(s.itemId)) continue;
      const generatedMs = (item.generatedSamples / RATE_HZ) * 1000;
      const audioEndMs = Math.max(0, Math.floor(Math.min(s.playedMs, generatedMs)));
      this.truncated.push(s.itemId);
      if (this.truncated.length > MEMORY) this.truncated.shift();
      this.truncatesSent++;
      out.push({
        type: 'conversation.item.truncate',
        event_id: `${this.eventIdPrefix}${++this.seq}`,
        item_id: s.itemId,
        content_index: item.contentIndex,
        audio_end_ms: audioEndMs,
      });
    }
    // items the worklet no longer had (e.g. fully played but not yet reported) are forgotten too
    for (const item of this.items.values()) {
      if (this.interruptedResponses.includes(item.responseId)) this.items.delete(item.itemId);
    }
    return out;
  }

  /** True when `eventId` is one of our truncate events (its errors are not fatal: §1.13). */
  isTruncateEventId(eventId: unknown): boolean {
    return typeof eventId === 'string' && eventId.startsWith(this.eventIdPrefix);
  }

  reset(): void {
    this.items.clear();
    this.interruptedResponses.length = 0;
    this.truncated.length = 0;
  }
}
