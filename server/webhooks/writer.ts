/**
 * The observer's side of the outbox: an event is pushed synchronously (a session never waits on it)
 * and handed to the outbox on the next turn of the event loop, in push order, one unit per row. The
 * outbox (the store's one write queue) commits it shortly after; until then it is in memory, which is
 * the window a crash can lose (docs/notes/webhooks.md). A row the outbox refuses (the database failing
 * for long, a duplicate id) is logged and counted; the others go on.
 */
import type { Logger } from 'pino';
import type { OutboxRowInput, WebhookOutbox } from './outbox.ts';

export interface OutboxWriterOptions {
  outbox: WebhookOutbox;
  log: Logger;
  /** Called once a batch is handed to the outbox, and again once it is committed (the worker looks for due rows). */
  onWritten?: () => void;
  /** Rows the outbox refused (count). */
  onDropped?: (n: number) => void;
}

export class OutboxWriter {
  readonly #o: OutboxWriterOptions;
  #pending: OutboxRowInput[] = [];
  #scheduled: NodeJS.Immediate | null = null;
  /** Batches handed to the outbox and not yet committed. */
  readonly #writing = new Set<Promise<void>>();
  #failing = false;

  constructor(o: OutboxWriterOptions) {
    this.#o = o;
  }

  /** Queue one row. Synchronous and cheap: no I/O here. */
  push(row: OutboxRowInput): void {
    this.#pending.push(row);
    this.#scheduled ??= setImmediate(() => this.#write());
  }

  #write(): void {
    this.#scheduled = null;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    // one unit per row: the store commits them together, in this order, but a row it refuses
    // (a call's end reported twice: the same id) fails alone
    for (const row of batch) {
      const p = this.#o.outbox.enqueue([row]).then(
        () => {
          if (this.#failing) this.#o.log.info('webhook outbox: writes work again');
          this.#failing = false;
        },
        (err: unknown) => {
          this.#o.onDropped?.(1);
          if (!this.#failing) {
            this.#o.log.error({ err: { message: err instanceof Error ? err.message : String(err) }, eventId: row.id, type: row.type }, 'webhook outbox: an event could not be stored; it is lost');
          }
          this.#failing = true;
        },
      );
      this.#writing.add(p);
      void p.finally(() => this.#writing.delete(p));
    }
    // the worker looks now (the outbox's due() sees queued writes) and again once they are committed
    this.#o.onWritten?.();
    void Promise.allSettled([...this.#writing]).then(() => this.#o.onWritten?.());
  }

  /** Hands over what is pending and resolves once everything pushed so far is committed or refused (or after timeoutMs). */
  async flush(timeoutMs = 5000): Promise<void> {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#write();
    }
    if (this.#writing.size === 0) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#writing]), new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
  }
}
