/**
 * The seam between webhook delivery and the durable outbox: a table in the call store's database
 * (server/store/, `Store.outbox`). The webhooks code needs only these operations (the store's
 * `OutboxStore` has them, for SQLite and PostgreSQL). A fake in memory: test/fakes/memory-outbox.ts.
 */

/** One event to deliver, as enqueued. The body is final: every attempt sends these very bytes. */
export interface OutboxRowInput {
  /** The event's id (`evt_…`): the receiver's idempotency key; unique in the outbox. */
  id: string;
  /** The call the event belongs to: a call's events are delivered in order, one at a time. */
  callId: string | null;
  type: string;
  /** The JSON body, exactly as sent. */
  body: string;
  /** When the event happened (ms); the first attempt is due then. */
  createdAtMs?: number;
}

export interface OutboxRow {
  /** Order of enqueueing. */
  seq: number;
  id: string;
  callId: string | null;
  type: string;
  body: string;
  createdAtMs: number;
  /** Attempts made so far (0 for a new row). */
  attempts: number;
  nextAttemptAtMs: number;
}

export interface OutboxStats {
  /** Rows neither delivered nor given up. */
  depth: number;
  /** Age of the oldest such row (ms); 0 when none. */
  oldestAgeMs: number;
}

export interface WebhookOutbox {
  /** Appends rows, committed in this order; resolves once committed (callers never wait on it on a call's path). */
  enqueue(rows: readonly OutboxRowInput[]): Promise<void>;
  /**
   * Per call, its oldest pending row, when that row is due (nextAttemptAt ≤ nowMs); oldest first, at
   * most `limit`. Sees every write queued before it (a row just marked delivered is not returned).
   * With `leaseMs`, the rows are claimed (next attempt moved to now + leaseMs) so another instance on
   * the same database does not take them too. `leaseFrom`: the clock the lease runs from, read at the
   * claim (default nowMs; the claim may wait behind queued writes, e.g. through a database outage).
   */
  due(nowMs: number, limit: number, opts?: { leaseMs?: number; leaseFrom?: () => number }): Promise<OutboxRow[]>;
  markDelivered(id: string): Promise<void>;
  /** Another attempt failed: count it, keep the error, try again at nextAttemptAtMs. */
  reschedule(id: string, nextAttemptAtMs: number, error: string): Promise<void>;
  /** Given up (too old): no longer pending, kept with its error; the call's next event may go. */
  markDead(id: string, error: string): Promise<void>;
  stats(nowMs?: number): Promise<OutboxStats>;
}
