/**
 * The seam between webhook delivery and the durable outbox (a table in the call store's database,
 * server/store/). The webhooks code only needs these operations; the store implements them for
 * SQLite and PostgreSQL. A fake in memory lives in test/fakes/memory-outbox.ts.
 */

/** One event to deliver, as enqueued. The body is final: every attempt sends these very bytes. */
export interface OutboxRowInput {
  /** The event's id (`evt_…`): the receiver's idempotency key. */
  id: string;
  /** The call the event belongs to: a call's events are delivered in order, one at a time. */
  callId: string;
  type: string;
  /** The JSON body, exactly as sent. */
  body: string;
  /** When the event happened (ms); the first attempt is due then. */
  createdAtMs: number;
}

export interface OutboxRow extends OutboxRowInput {
  /** Attempts made so far (0 for a new row). */
  attempts: number;
  nextAttemptAtMs: number;
}

export interface OutboxStats {
  /** Rows not yet delivered nor given up. */
  depth: number;
  /** Age of the oldest such row (ms); 0 when none. */
  oldestAgeMs: number;
}

export interface WebhookOutbox {
  /** Appends rows in this order (one transaction). */
  enqueue(rows: readonly OutboxRowInput[]): Promise<void>;
  /** Per call, its oldest pending row, when that row is due (nextAttemptAt ≤ nowMs); oldest first, at most `limit`. */
  due(nowMs: number, limit: number): Promise<OutboxRow[]>;
  markDelivered(id: string): Promise<void>;
  /** Another attempt failed: count it, keep the error, try again at nextAttemptAtMs. */
  reschedule(id: string, nextAttemptAtMs: number, error: string): Promise<void>;
  /** Given up (too old): no longer pending, kept as failed; the call's next event may go. */
  markFailed(id: string, error: string): Promise<void>;
  stats(nowMs: number): Promise<OutboxStats>;
}
