/**
 * The observer's side of the outbox: an event is pushed synchronously (a session never waits on it)
 * and handed to the outbox in a batch on the next turn of the event loop, in push order. The outbox
 * (the store's one write queue) commits it shortly after; until then it is in memory, which is the
 * window a crash can lose (docs/notes/webhooks.md). A batch the outbox refuses (the database failing
 * for long, a duplicate id) is logged and counted; the events after it go on.
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
    const p = this.#o.outbox.enqueue(batch).then(
      () => {
        if (this.#failing) this.#o.log.info('webhook outbox: writes work again');
        this.#failing = false;
        this.#o.onWritten?.();
      },
      (err: unknown) => {
        this.#o.onDropped?.(batch.length);
        if (!this.#failing) {
          this.#o.log.error({ err: { message: err instanceof Error ? err.message : String(err) }, rows: batch.length, types: batch.map((r) => r.type) }, 'webhook outbox: events could not be stored; they are lost');
        }
        this.#failing = true;
      },
    );
    this.#writing.add(p);
    void p.finally(() => this.#writing.delete(p));
    this.#o.onWritten?.();
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
