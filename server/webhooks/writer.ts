/**
 * The observer's side of the outbox: events are pushed synchronously (never awaited by a session)
 * and written in batches, in push order, one write at a time, on the next turn of the event loop.
 * A failed write is retried (rows kept in memory, bounded); a row still in memory when the process
 * dies is lost, which is the window docs/notes/webhooks.md describes (one event loop turn plus a write).
 */
import type { Logger } from 'pino';
import type { OutboxRowInput, WebhookOutbox } from './outbox.ts';

export interface OutboxWriterOptions {
  outbox: WebhookOutbox;
  log: Logger;
  /** Called after each successful write (the delivery worker looks for due rows). */
  onWritten?: () => void;
  /** Called when rows are dropped because the database has been failing for long (count). */
  onDropped?: (n: number) => void;
  /** Rows kept in memory while the database fails (default 10000); beyond, the oldest go. */
  maxPending?: number;
  /** Wait before retrying a failed write (default 1000 ms). */
  retryMs?: number;
}

export class OutboxWriter {
  readonly #o: OutboxWriterOptions;
  #pending: OutboxRowInput[] = [];
  #scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  #writing: Promise<void> | null = null;
  #idle: Array<() => void> = [];
  #failing = false;

  constructor(o: OutboxWriterOptions) {
    this.#o = o;
  }

  /** Rows waiting in memory (not yet in the database). */
  get pending(): number {
    return this.#pending.length;
  }

  /** Queue one row. Synchronous and cheap: the write happens later. */
  push(row: OutboxRowInput): void {
    this.#pending.push(row);
    const max = this.#o.maxPending ?? 10_000;
    if (this.#pending.length > max) {
      const n = this.#pending.length - max;
      this.#pending.splice(0, n);
      this.#o.onDropped?.(n);
      this.#o.log.error({ dropped: n }, 'webhook outbox: the database has been failing; oldest unwritten events dropped');
    }
    if (this.#scheduled === null && this.#writing === null) this.#scheduled = setImmediate(() => this.#write());
  }

  #write(): void {
    this.#scheduled = null;
    if (this.#pending.length === 0) {
      this.#settle();
      return;
    }
    const batch = this.#pending;
    this.#pending = [];
    this.#writing = this.#o.outbox.enqueue(batch).then(
      () => {
        this.#writing = null;
        if (this.#failing) this.#o.log.info('webhook outbox: writes work again');
        this.#failing = false;
        this.#o.onWritten?.();
        if (this.#pending.length > 0) this.#scheduled = setImmediate(() => this.#write());
        else this.#settle();
      },
      (err: unknown) => {
        this.#writing = null;
        // keep the order: the failed batch goes back in front of what came since
        this.#pending = batch.concat(this.#pending);
        if (!this.#failing) this.#o.log.error({ err: { message: err instanceof Error ? err.message : String(err) }, rows: batch.length }, 'webhook outbox: write failed; retrying');
        this.#failing = true;
        this.#scheduled = setTimeout(() => this.#write(), this.#o.retryMs ?? 1000);
        this.#scheduled.unref();
      },
    );
  }

  #settle(): void {
    const w = this.#idle;
    this.#idle = [];
    for (const f of w) f();
  }

  /** Resolves once every row pushed so far is written (or after timeoutMs). */
  flush(timeoutMs = 5000): Promise<void> {
    if (this.#pending.length === 0 && this.#writing === null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
      this.#idle.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
