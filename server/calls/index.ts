/**
 * server/calls: call records (issue 11 §3, docs/notes/calls.md). `CallRecords` owns the app-wide
 * session observer that writes every call's record as it goes (server/calls/observer.ts), reads records
 * back for the API (server/routes/calls.ts), closes the calls a dead process left open (`interrupted`),
 * and sweeps old calls (PARLEY_RETENTION_DAYS). Whoever needs the final record of each call (the
 * end-of-call webhook) subscribes with `onEnded`.
 */
import { stat, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ParleyConfig } from '../config.ts';
import type { SessionObserverFactory } from '../session/index.ts';
import type { CallEventRow, CallFilter, CallRow, OutboxInput, Store } from '../store/index.ts';
import { recordingPath } from '../recording/index.ts';
import { CallRecorder, type EngineModels } from './observer.ts';
import { assembleRecord, usageAndCost, type CallRecord } from './record.ts';

export { CallRecorder, MAX_EVENTS_IN_MEMORY, type EngineModels, type RecorderDeps } from './observer.ts';
export { assembleRecord, usageAndCost, heardText, type CallRecord, type CallUsage, type CallCost, type CostItem, type TranscriptEntry, type TranscriptMark } from './record.ts';
export { DEFAULT_PRICING, mergePricing, priceOf, PRICE_FIELDS, type ModelPrice, type Pricing } from './pricing.ts';

/** The default heartbeat TTL (PARLEY_INSTANCE_TTL_MS): an open call whose instance has not beaten for this long is closed as `interrupted`. */
export const ORPHAN_AFTER_MS = 20_000;
/** An instance beats every TTL/4 … */
export const HEARTBEAT_SHARE = 4;
/** … and sweeps for dead instances' calls every TTL/2. */
const SWEEP_SHARE = 2;
const RETENTION_SWEEP_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** How a call's end was reported. */
export interface EndedInfo {
  /** The rows of `onEndedOutbox` producers were already committed with the close (a crash sweep): do not enqueue them again. */
  outboxWritten: boolean;
}

export type EndedListener = (record: CallRecord, info: EndedInfo) => void;
/** Makes the outbox row of a call's end (its `call.ended`), written in the sweep's own transaction. */
export type EndedOutboxProducer = (record: CallRecord) => OutboxInput | null;

export interface CallRecordsDeps {
  store: Store;
  config: Pick<ParleyConfig, 'dataDir' | 'retentionDays' | 'pricing' | 'cascade' | 'instanceId'> & Partial<Pick<ParleyConfig, 'instanceTtlMs'>>;
  log: Logger;
}

/** The relative URL of a call's recording (server/routes/recording.ts serves it). */
export function recordingUrlOf(id: string): string {
  return `/v1/calls/${encodeURIComponent(id)}/recording`;
}

export class CallRecords {
  /** This process, as the `instances` table and its calls' rows know it (PARLEY_INSTANCE_ID). */
  readonly instance: string;
  /** The heartbeat TTL (PARLEY_INSTANCE_TTL_MS). */
  readonly ttlMs: number;
  /** Calls in progress in this process. */
  readonly live = new Map<string, CallRecorder>();
  readonly #d: CallRecordsDeps;
  readonly #models: EngineModels;
  readonly #listeners: EndedListener[] = [];
  readonly #outboxProducers: EndedOutboxProducer[] = [];
  /** Heartbeat health: the last beat worked; when one last failed (local clock); the database's uptime then. */
  #beatOk = false;
  #beatFailedAt = -Infinity;
  #dbUp = { upMs: 0, atMs: 0 };
  #beating = false;  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #sweeping: Promise<unknown> = Promise.resolve();

  constructor(d: CallRecordsDeps) {
    this.#d = d;
    this.instance = d.config.instanceId;
    this.ttlMs = d.config.instanceTtlMs ?? ORPHAN_AFTER_MS;
    this.#models = { cascade: { chat: d.config.cascade.chat.model, stt: d.config.cascade.stt.model, tts: d.config.cascade.tts.model } };
  }

  /** For `sessions.observe(...)`: one recorder per session. */
  readonly observer: SessionObserverFactory = (s) =>
    new CallRecorder(s, { calls: this.#d.store.calls, models: this.#models, live: this.live, instance: this.instance, ended: (row, events) => this.#ended(row, events) });

  /** `fn(record, info)` for every call that ends (also those closed as `interrupted`); called synchronously, must not block. */
  onEnded(fn: EndedListener): void {
    this.#listeners.push(fn);
  }

  /**
   * `fn(record)` makes the outbox row of a call's end. A call a dead instance left open is closed and
   * its row inserted in one transaction (so neither a second sweeper nor a crash of this one makes
   * it twice or loses it); its `onEnded` listeners then hear `outboxWritten: true`.
   */
  onEndedOutbox(fn: EndedOutboxProducer): void {
    this.#outboxProducers.push(fn);
  }

  #emit(record: CallRecord, info: EndedInfo = { outboxWritten: false }): void {
    for (const fn of this.#listeners) {
      try {
        fn(record, info);
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

  /**
   * One heartbeat (off the media path: a timer, one statement on the pool, never behind the write
   * queue). A failure is remembered: a sweeper that could not reach the database lately does not judge
   * others' heartbeats (they could not beat either).
   */
  async beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const r = await this.#d.store.calls.heartbeat(this.instance, this.ttlMs);
      if (!this.#beatOk && this.#beatFailedAt > -Infinity) this.#d.log.info({ instance: this.instance }, 'calls: heartbeat works again');
      this.#beatOk = true;
      this.#dbUp = { upMs: r.upMs, atMs: Date.now() };
    } catch (err) {
      if (this.#beatOk || this.#beatFailedAt === -Infinity) this.#d.log.warn({ instance: this.instance, err: { message: (err as Error).message } }, 'calls: heartbeat failed (database unreachable?); not sweeping others until it works for a TTL');
      this.#beatOk = false;
      this.#beatFailedAt = Date.now();
    } finally {
      this.#beating = false;
    }
  }

  /**
   * May this process close other instances' calls now? Only when its own heartbeat works and has
   * worked for a whole TTL, and the database itself has been up a TTL (after a PostgreSQL restart no
   * instance could beat: their rows look expired until they beat again).
   */
  canJudgeOthers(nowMs: number = Date.now()): boolean {
    if (!this.#beatOk || nowMs - this.#beatFailedAt < this.ttlMs) return false;
    return this.#dbUp.upMs + (nowMs - this.#dbUp.atMs) >= this.ttlMs;
  }

  /** Heartbeat; this instance's own calls an earlier process of the same id left open; the first sweep; then timers (unref'd). */
  async start(): Promise<void> {
    const prev = await this.#d.store.calls.instanceRow(this.instance).catch(() => null);
    await this.beat();
    if (prev !== null && this.#beatOk && prev.expiresAtMs > Date.now()) {
      this.#d.log.warn({ instance: this.instance }, 'calls: an earlier process with this PARLEY_INSTANCE_ID beat less than a TTL ago: a restart, or two live processes sharing one id (they would close each other\'s calls)');
    }
    await this.closeOwnLeftovers().catch((err: unknown) => this.#d.log.warn({ err: { message: (err as Error).message } }, 'calls: closing this instance\'s calls left open failed; the sweeps will retry'));
    if (this.canJudgeOthers()) await this.closeOrphans().catch(() => 0);
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => {
        if (this.#stopped) return;
        this.#sweeping = this.#sweeping.then(fn).catch((err: unknown) => this.#d.log.warn({ err: { message: (err as Error).message } }, 'calls: a sweep failed'));
      }, ms);
      t.unref();
      this.#timers.push(t);
    };
    // the heartbeat has its own timer: a long sweep never delays it
    const hb = setInterval(() => {
      if (!this.#stopped) void this.beat();
    }, Math.max(250, Math.floor(this.ttlMs / HEARTBEAT_SHARE)));
    hb.unref();
    this.#timers.push(hb);
    every(Math.max(500, Math.floor(this.ttlMs / SWEEP_SHARE)), async () => {
      // the database unreachable: nothing to sweep with (the heartbeat says so, once)
      if (!this.#beatOk) return;
      await this.closeOwnLeftovers();
      if (this.canJudgeOthers()) await this.closeOrphans();
    });
    if (this.#d.config.retentionDays !== null) {
      const first = setTimeout(() => void (this.#sweeping = this.#sweeping.then(() => this.sweepRetention()).catch(() => {})), 10_000);
      first.unref();
      this.#timers.push(first);
      every(RETENTION_SWEEP_MS, () => this.sweepRetention());
    }
  }

  /**
   * Open calls with this instance's id that no session here holds: an earlier process of this id
   * died with them (a restart with a fixed PARLEY_INSTANCE_ID). Closed as `interrupted` at once.
   */
  async closeOwnLeftovers(): Promise<number> {
    let closed = 0;
    const rows = (await this.#d.store.calls.openCallsOf(this.instance, 200)).filter((r) => !this.live.has(r.id));
    if (rows.length === 0) return 0;
    const events = await this.#d.store.calls.events(rows.map((r) => r.id));
    for (const row of rows) {
      // a session that started after the read above is in `live` now
      if (this.live.has(row.id)) continue;
      if (await this.#closeInterrupted(row, events.get(row.id) ?? [])) closed++;
    }
    if (closed > 0) this.#d.log.warn({ calls: closed, instance: this.instance }, 'calls: records an earlier process of this instance left open closed as interrupted');
    return closed;
  }

  /**
   * Closes the calls no live process holds (a crash, a kill -9: their instance's heartbeat expired)
   * with end reason `interrupted`: ended at their last recorded moment, usage and cost summed from
   * what was written, the `call.ended` row in the same transaction. Returns how many this process
   * closed (another sweeper may have closed some first). `asOfMs` (tests): judge heartbeats as of
   * this moment on this process's clock instead of the database's.
   */
  async closeOrphans(asOfMs?: number): Promise<number> {
    const calls = this.#d.store.calls;
    let closed = 0;
    for (;;) {
      const rows = await calls.orphans(asOfMs ?? null, this.instance, 100);
      if (rows.length === 0) break;
      const events = await calls.events(rows.map((r) => r.id));
      for (const row of rows) if (await this.#closeInterrupted(row, events.get(row.id) ?? [])) closed++;
      if (rows.length < 100 || this.#stopped) break;
    }
    if (closed > 0) this.#d.log.warn({ calls: closed }, 'calls: records left open by a process that is gone closed as interrupted');
    await calls.pruneInstances((asOfMs ?? Date.now()) - DAY_MS);
    return closed;
  }

  /** One call closed as `interrupted` with its end-of-call outbox rows, in one transaction; false when someone else closed it first. */
  async #closeInterrupted(row: CallRow, ev: readonly CallEventRow[]): Promise<boolean> {
    const last = ev.reduce((m, e) => Math.max(m, e.atMs), Math.max(row.startedAtMs, row.answeredAtMs ?? 0));
    const { usage, cost } = usageAndCost(ev, this.#d.config.pricing);
    const final: CallRow = { ...row, endedAtMs: last, endReason: 'interrupted', usage: usage as unknown as Record<string, unknown>, cost: cost as unknown as Record<string, unknown> };
    const record = assembleRecord(final, ev, { pricing: this.#d.config.pricing, recordingUrl: await this.#recordingUrl(row.id) });
    const outbox: OutboxInput[] = [];
    for (const fn of this.#outboxProducers) {
      const r = fn(record);
      if (r !== null) outbox.push(r);
    }
    if (!(await this.#d.store.calls.closeOrphan(row.id, { endedAtMs: last, endReason: 'interrupted', usage: final.usage!, cost: final.cost! }, outbox))) return false;
    this.#emit(record, { outboxWritten: outbox.length > 0 });
    return true;
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

  /**
   * Stops the timers, waits for a sweep under way, then leaves: the heartbeat row expires now (what
   * this process wrote is committed first), so nothing of ours looks alive after a clean stop.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#sweeping.catch(() => {});
    await this.#d.store.calls.leave(this.instance).catch(() => {});
  }
}
