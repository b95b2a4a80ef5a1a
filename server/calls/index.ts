/**
 * server/calls: call records (issue 11 §3, docs/notes/calls.md). `CallRecords` owns the app-wide
 * session observer that writes every call's record as it goes (server/calls/observer.ts), reads records
 * back for the API (server/routes/calls.ts), closes the calls a dead process left open (`interrupted`),
 * and sweeps old calls (PARLEY_RETENTION_DAYS). Whoever needs the final record of each call (the
 * end-of-call webhook) subscribes with `onEnded`.
 */
import { randomBytes } from 'node:crypto';
import { stat, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ParleyConfig } from '../config.ts';
import type { SessionObserverFactory } from '../session/index.ts';
import type { CallEventRow, CallFilter, CallRow, Store } from '../store/index.ts';
import { recordingPath } from '../recording/index.ts';
import { CallRecorder, type EngineModels } from './observer.ts';
import { assembleRecord, usageAndCost, type CallRecord } from './record.ts';

export { CallRecorder, MAX_EVENTS_IN_MEMORY, type EngineModels, type RecorderDeps } from './observer.ts';
export { assembleRecord, usageAndCost, heardText, type CallRecord, type CallUsage, type CallCost, type CostItem, type TranscriptEntry } from './record.ts';
export { DEFAULT_PRICING, mergePricing, priceOf, PRICE_FIELDS, type ModelPrice, type Pricing } from './pricing.ts';

/** A process proves it is alive this often (instances.seen_at). */
export const HEARTBEAT_MS = 5_000;
/** An open call whose process has not been seen for this long is closed as `interrupted`. */
export const ORPHAN_AFTER_MS = 20_000;
/** How often the sweeps (orphans; retention, every hour) run. */
const ORPHAN_SWEEP_MS = 15_000;
const RETENTION_SWEEP_MS = 3_600_000;
const DAY_MS = 86_400_000;

export type EndedListener = (record: CallRecord) => void;

export interface CallRecordsDeps {
  store: Store;
  config: Pick<ParleyConfig, 'dataDir' | 'retentionDays' | 'pricing' | 'cascade'>;
  log: Logger;
}

/** The relative URL of a call's recording (server/routes/recording.ts serves it). */
export function recordingUrlOf(id: string): string {
  return `/v1/calls/${encodeURIComponent(id)}/recording`;
}

export class CallRecords {
  /** This process, as the `instances` table knows it. */
  readonly instance = `inst_${randomBytes(8).toString('hex')}`;
  /** Calls in progress in this process. */
  readonly live = new Map<string, CallRecorder>();
  readonly #d: CallRecordsDeps;
  readonly #models: EngineModels;
  readonly #listeners: EndedListener[] = [];
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #sweeping: Promise<unknown> = Promise.resolve();

  constructor(d: CallRecordsDeps) {
    this.#d = d;
    this.#models = { cascade: { chat: d.config.cascade.chat.model, stt: d.config.cascade.stt.model, tts: d.config.cascade.tts.model } };
  }

  /** For `sessions.observe(...)`: one recorder per session. */
  readonly observer: SessionObserverFactory = (s) =>
    new CallRecorder(s, { calls: this.#d.store.calls, models: this.#models, live: this.live, instance: this.instance, ended: (row, events) => this.#ended(row, events) });

  /** `fn(record)` for every call that ends (also those closed as `interrupted`); called synchronously, must not block. */
  onEnded(fn: EndedListener): void {
    this.#listeners.push(fn);
  }

  #emit(record: CallRecord): void {
    for (const fn of this.#listeners) {
      try {
        fn(record);
      } catch (err) {
        this.#d.log.error({ err: { message: (err as Error).message }, callId: record.id }, 'calls: an end-of-call listener failed');
      }
    }
  }

  #ended(row: CallRow, events: CallEventRow[] | null): void {
    if (events === null) {
      // a call too long to keep in memory: its summary from the database
      void this.#d.store.flush().then(async () => {
        const all = (await this.#d.store.calls.events([row.id])).get(row.id) ?? [];
        this.#finish(row, all);
      }).catch((err: unknown) => this.#d.log.error({ err: { message: (err as Error).message }, callId: row.id }, 'calls: could not read a long call back'));
      return;
    }
    this.#finish(row, events);
  }

  #finish(row: CallRow, events: readonly CallEventRow[]): void {
    const { usage, cost } = usageAndCost(events, this.#d.config.pricing);
    const final: CallRow = { ...row, usage: usage as unknown as Record<string, unknown>, cost: cost as unknown as Record<string, unknown> };
    this.#d.store.calls.update(row.id, { usage: final.usage, cost: final.cost });
    if (this.#listeners.length === 0) return;
    const recording = row.recording !== null && row.recording !== 'off';
    this.#emit(assembleRecord(final, events, { pricing: this.#d.config.pricing, recordingUrl: recording ? recordingUrlOf(row.id) : null }));
  }

  /** Heartbeat, the first orphan sweep, then both sweeps on timers (unref'd). */
  async start(): Promise<void> {
    await this.#d.store.calls.heartbeat(this.instance, Date.now());
    await this.closeOrphans();
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => {
        if (this.#stopped) return;
        this.#sweeping = this.#sweeping.then(fn).catch((err: unknown) => this.#d.log.warn({ err: { message: (err as Error).message } }, 'calls: a sweep failed'));
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(HEARTBEAT_MS, () => this.#d.store.calls.heartbeat(this.instance, Date.now()));
    every(ORPHAN_SWEEP_MS, () => this.closeOrphans());
    if (this.#d.config.retentionDays !== null) {
      const first = setTimeout(() => void (this.#sweeping = this.#sweeping.then(() => this.sweepRetention()).catch(() => {})), 10_000);
      first.unref();
      this.#timers.push(first);
      every(RETENTION_SWEEP_MS, () => this.sweepRetention());
    }
  }

  /**
   * Closes the calls no live process holds (a crash, a kill) with end reason `interrupted`: ended at
   * their last recorded moment, usage and cost summed from what was written. Returns how many.
   */
  async closeOrphans(nowMs: number = Date.now()): Promise<number> {
    const calls = this.#d.store.calls;
    let closed = 0;
    for (;;) {
      const rows = await calls.orphans(nowMs - ORPHAN_AFTER_MS, this.instance, 100);
      if (rows.length === 0) break;
      const events = await calls.events(rows.map((r) => r.id));
      for (const row of rows) {
        const ev = events.get(row.id) ?? [];
        const last = ev.reduce((m, e) => Math.max(m, e.atMs), Math.max(row.startedAtMs, row.answeredAtMs ?? 0));
        const { usage, cost } = usageAndCost(ev, this.#d.config.pricing);
        const final: CallRow = { ...row, endedAtMs: last, endReason: 'interrupted', usage: usage as unknown as Record<string, unknown>, cost: cost as unknown as Record<string, unknown> };
        if (!(await calls.closeOrphan(row.id, { endedAtMs: last, endReason: 'interrupted', usage: final.usage!, cost: final.cost! }))) continue;
        closed++;
        this.#emit(assembleRecord(final, ev, { pricing: this.#d.config.pricing, recordingUrl: await this.#recordingUrl(row.id) }));
      }
      if (rows.length < 100) break;
    }
    if (closed > 0) this.#d.log.warn({ calls: closed }, 'calls: records left open by a process that is gone closed as interrupted');
    await calls.pruneInstances(nowMs - DAY_MS);
    return closed;
  }

  async #recordingUrl(id: string): Promise<string | null> {
    try {
      await stat(recordingPath(this.#d.config.dataDir, id));
      return recordingUrlOf(id);
    } catch {
      return null;
    }
  }

  /** One call's record (null when unknown). */
  async get(id: string): Promise<CallRecord | null> {
    const row = await this.#d.store.calls.get(id);
    if (row === null) return null;
    const events = (await this.#d.store.calls.events([id])).get(id) ?? [];
    return assembleRecord(row, events, { pricing: this.#d.config.pricing, recordingUrl: await this.#recordingUrl(id) });
  }

  /** Records newest first; `cursor` from the previous page. */
  async list(filter: CallFilter, limit: number, cursor: string | null): Promise<{ data: CallRecord[]; next_cursor: string | null }> {
    const page = await this.#d.store.calls.list(filter, limit, cursor);
    const events = await this.#d.store.calls.events(page.rows.map((r) => r.id));
    const data: CallRecord[] = [];
    for (const row of page.rows) {
      data.push(assembleRecord(row, events.get(row.id) ?? [], { pricing: this.#d.config.pricing, recordingUrl: await this.#recordingUrl(row.id) }));
    }
    return { data, next_cursor: page.nextCursor };
  }

  /** Deletes a call's record, events, outbox rows and recording. 'live': in progress here (not deleted). */
  async delete(id: string): Promise<'deleted' | 'not_found' | 'live'> {
    if (this.live.has(id)) return 'live';
    const existed = await this.#d.store.calls.delete(id);
    let file = false;
    try {
      await unlink(recordingPath(this.#d.config.dataDir, id));
      file = true;
    } catch {
      // no recording
    }
    return existed || file ? 'deleted' : 'not_found';
  }

  /** Deletes the calls started more than retentionDays ago (and their recordings). Returns how many. */
  async sweepRetention(nowMs: number = Date.now()): Promise<number> {
    const days = this.#d.config.retentionDays;
    if (days === null) return 0;
    let n = 0;
    for (;;) {
      const ids = await this.#d.store.calls.startedBefore(nowMs - days * DAY_MS, 200);
      for (const id of ids) if ((await this.delete(id)) === 'deleted') n++;
      if (ids.length < 200 || this.#stopped) break;
    }
    if (n > 0) this.#d.log.info({ calls: n, retentionDays: days }, 'calls: old calls deleted');
    return n;
  }

  /** Stops the timers and waits for a sweep under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#sweeping.catch(() => {});
  }
}
