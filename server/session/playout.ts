/**
 * Barge-in accounting for a door that plays the agent's audio itself (the SIP door, media-stream doors):
 * one ledger per call. The door reports the agent audio it queues (with its own playout clock) and,
 * when the caller starts speaking, flushes its queue and asks the ledger for the truncation: the item
 * that was playing and how much of it the caller actually heard, clamped to what was generated
 * (docs/contracts.md §4). Late deltas of a cut item are refused.
 *
 * The door's playout clock is any monotonic ms count of audio queued/played on its line: SIP uses the
 * RTP playout queue's positions, a media-stream door the marks the carrier echoes back.
 */
import type { ConversationItemTruncateEvent, ResponseAudioDeltaEvent, ServerEvent } from '../protocol/index.ts';

/** Item ids remembered as cut (late deltas dropped); oldest forgotten first. */
const MAX_CUT_ITEMS = 64;
/** A partial last frame is never played out: within this of the end, the item counts as heard. */
const FINISHED_SLACK_MS = 20;

export class PlayoutLedger {
  #itemId: string | null = null;
  #contentIndex = 0;
  /** Door playout position where the current item's audio starts. */
  #itemStartMs = 0;
  #itemGeneratedMs = 0;
  #responseActive = false;
  readonly #cut = new Set<string>();

  /** A response is being generated now (between response.created and response.done). */
  get responseActive(): boolean {
    return this.#responseActive;
  }

  get itemId(): string | null {
    return this.#itemId;
  }

  /** Feed every server event the door gets (keeps the response state). */
  onEvent(ev: ServerEvent): void {
    if (ev.type === 'response.created') this.#responseActive = true;
    else if (ev.type === 'response.done') this.#responseActive = false;
  }

  /**
   * An agent audio delta the door is about to queue at `enqueuedAtMs` (its playout clock, where this
   * audio will start). Returns false when its item was cut: drop it.
   */
  onAudio(ev: ResponseAudioDeltaEvent, enqueuedAtMs: number): boolean {
    if (this.#cut.has(ev.item_id)) return false;
    if (ev.item_id !== this.#itemId) {
      this.#itemId = ev.item_id;
      this.#contentIndex = ev.content_index;
      this.#itemStartMs = enqueuedAtMs;
      this.#itemGeneratedMs = 0;
    }
    this.#itemGeneratedMs += ev.delta.durationMs;
    return true;
  }

  /**
   * Barge-in: the door has flushed its queue. `playedPositionMs` is where its playout stands now (what
   * the caller heard), `droppedMs` what the flush threw away. Returns the truncate to send to the
   * session, or null when nothing was cut short (the item had finished playing).
   */
  cut(playedPositionMs: number, droppedMs: number): ConversationItemTruncateEvent | null {
    const itemId = this.#itemId;
    if (itemId === null || this.#cut.has(itemId)) return null;
    const playedMs = Math.max(0, Math.min(playedPositionMs - this.#itemStartMs, this.#itemGeneratedMs));
    if (droppedMs === 0 && !this.#responseActive && playedMs >= this.#itemGeneratedMs - FINISHED_SLACK_MS) return null;
    this.#cut.add(itemId);
    if (this.#cut.size > MAX_CUT_ITEMS) {
      const oldest = this.#cut.values().next();
      if (!oldest.done) this.#cut.delete(oldest.value);
    }
    return { type: 'conversation.item.truncate', item_id: itemId, content_index: this.#contentIndex, audio_end_ms: Math.floor(playedMs) };
  }
}
