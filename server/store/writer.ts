/**
 * The one writer of a store: every write (call records, events, outbox rows) is queued here and
 * committed in batches — one transaction per batch, at most every `flushMs` or as soon as `maxBatch`
 * statements wait — in the order queued. Queueing is synchronous and cheap (observers call it on the
 * session's path); the database work happens off that path (the SQLite worker thread, or PostgreSQL).
 *
 * Failures: a batch that fails with a retryable error (the database unreachable, busy) is retried with
 * backoff, holding later writes behind it; the queue is bounded (`maxQueue` statements): past it the
 * oldest units are dropped and counted. A batch that fails otherwise is split into its units, each
 * retried on its own, so one bad unit (a duplicate outbox id) fails alone.
 */
import type { Logger } from 'pino';
import { StoreError } from '../errors.ts';
import type { Driver, Stmt, WriterStats } from './types.ts';

interface Unit {
  stmts: Stmt[];
  done?: { resolve(): void; reject(err: unknown): void };
}

export interface WriterOptions {
  /** Longest a write waits for its batch (default 50 ms). */
  flushMs?: number;
  /** Statements per transaction (default 1000). */
  maxBatch?: number;
  /** Statements held while the database is unreachable (default 200000); the oldest go past it. */
  maxQueue?: number;
  log?: Logger;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class BatchWriter {
  readonly #driver: Driver;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #log: Logger | undefined;
  #queue: Unit[] = [];
  #queuedStatements = 0;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;
  #flushWaiters: Array<() => void> = [];
  readonly #stats: WriterStats = { queued: 0, committedStatements: 0, committedBatches: 0, failedBatches: 0, droppedStatements: 0 };

  constructor(driver: Driver, opts: WriterOptions = {}) {
    this.#driver = driver;
    this.#flushMs = opts.flushMs ?? 50;
    this.#maxBatch = opts.maxBatch ?? 1000;
    this.#maxQueue = opts.maxQueue ?? 200_000;
    this.#log = opts.log;
  }

  /** Queue one statement; never throws, never waits. */
  push(st: Stmt): void {
    this.#add({ stmts: [st] });
  }

  /** Queue statements committed together; resolves once committed. */
  pushAwait(stmts: Stmt[]): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError('STORE_CLOSED', 'the store is closed'));
    return new Promise<void>((resolve, reject) => this.#add({ stmts, done: { resolve, reject } }));
  }

  #add(u: Unit): void {
    if (this.#closed) {
      u.done?.reject(new StoreError('STORE_CLOSED', 'the store is closed'));
      return;
    }
    this.#queue.push(u);
    this.#queuedStatements += u.stmts.length;
    while (this.#queuedStatements > this.#maxQueue && this.#queue.length > 1) {
      const old = this.#queue.shift()!;
      this.#queuedStatements -= old.stmts.length;
      this.#stats.droppedStatements += old.stmts.length;
      old.done?.reject(new StoreError('STORE_UNAVAILABLE', 'dropped: the write queue is full (the database has been unreachable)', { retryable: true }));
    }
    if (this.#running) return;
    if (this.#queuedStatements >= this.#maxBatch) this.#start();
    else if (this.#timer === null) this.#timer = setTimeout(() => this.#start(), this.#flushMs);
  }

  #start(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#running || this.#queue.length === 0) return;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
      if (this.#queue.length > 0) this.#start();
      else for (const w of this.#flushWaiters.splice(0)) w();
    });
  }

  #take(): Unit[] {
    const batch: Unit[] = [];
    let n = 0;
    while (this.#queue.length > 0 && (batch.length === 0 || n + this.#queue[0]!.stmts.length <= this.#maxBatch)) {
      const u = this.#queue.shift()!;
      n += u.stmts.length;
      batch.push(u);
    }
    this.#queuedStatements -= n;
    return batch;
  }

  async #drain(): Promise<void> {
    let backoff = RETRY_MIN_MS;
    while (this.#queue.length > 0) {
      const batch = this.#take();
      for (;;) {
        const err = await this.#commit(batch);
        if (err === null) {
          backoff = RETRY_MIN_MS;
          break;
        }
        this.#stats.failedBatches++;
        if (StoreError.is(err) && err.retryable && !this.#closed) {
          if (backoff === RETRY_MIN_MS) this.#log?.warn({ err: { code: err.code, message: err.message } }, 'store: writes failed; retrying');
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(RETRY_MAX_MS, backoff * 2);
          continue;
        }
        // not retryable (or closing): each unit alone, so one bad unit fails alone
        if (batch.length > 1) {
          for (const u of batch) {
            const e = await this.#commit([u]);
            if (e !== null) this.#fail(u, e);
          }
        } else {
          this.#fail(batch[0]!, err);
        }
        break;
      }
    }
  }

  #fail(u: Unit, err: unknown): void {
    this.#stats.droppedStatements += u.stmts.length;
    if (u.done) u.done.reject(err);
    else this.#log?.error({ err: { code: (err as StoreError).code, message: (err as Error).message }, sql: u.stmts[0]?.sql.slice(0, 80) }, 'store: a write failed and was dropped');
  }

  /** null when committed. */
  async #commit(batch: Unit[]): Promise<unknown> {
    const stmts: Stmt[] = [];
    for (const u of batch) for (const s of u.stmts) stmts.push(s);
    try {
      await this.#driver.transaction(stmts);
    } catch (err) {
      return err;
    }
    this.#stats.committedStatements += stmts.length;
    this.#stats.committedBatches++;
    for (const u of batch) u.done?.resolve();
    return null;
  }

  /** Commits everything queued so far (and anything queued meanwhile). */
  flush(): Promise<void> {
    if (this.#queue.length === 0 && !this.#running) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    this.#start();
    return p;
  }

  stats(): WriterStats {
    return { ...this.#stats, queued: this.#queuedStatements };
  }

  /** Flushes (giving up retries after `graceMs`), then refuses new writes. */
  async close(graceMs = 5000): Promise<void> {
    const flushed = this.flush();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([flushed, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const u of this.#queue.splice(0)) this.#fail(u, new StoreError('STORE_CLOSED', 'the store closed before this write was committed'));
    this.#queuedStatements = 0;
    // a batch under way ends (a retry loop stops once closed)
    if (this.#running) await this.#running.catch(() => {});
  }
}
