/**
 * The store over one driver: call records (calls + call_events) and the webhook outbox, written
 * through one BatchWriter (server/store/writer.ts) and read directly. SQL here is the same for both
 * dialects (`?` placeholders, `ON CONFLICT`, `RETURNING`, partial indexes: SQLite ≥ 3.35 and
 * PostgreSQL ≥ 9.5 both have them).
 */
import type { Logger } from 'pino';
import { StoreError } from '../errors.ts';
import { BatchWriter, type WriterOptions } from './writer.ts';
import type {
  CallEventRow, CallFilter, CallPage, CallRow, CallStore, Dialect, Driver, OutboxInput, OutboxRow, OutboxStats, OutboxStore, Row, SqlValue, Stmt, Store, WriterStats,
} from './types.ts';

const CALL_COLUMNS = 'id, door, sip_call_id, from_number, to_number, dialled, trunk, profile, metadata, started_at, answered_at, ended_at, end_reason, engines, recording, usage, cost, instance';
const OUTBOX_COLUMNS = 'seq, id, call_id, type, created_at, body, attempts, next_attempt_at, delivered_at, last_error';
const PENDING = 'delivered_at IS NULL AND dead_at IS NULL';

/** The database's clock in ms since the epoch, as SQL (every instance judges heartbeats by this one clock). */
const NOW_MS: Record<Dialect, string> = {
  sqlite: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
  postgres: '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT',
};
/** How long the database server has been up (ms), as SQL; SQLite is never "down" for the others. */
const UP_MS: Record<Dialect, string | null> = {
  sqlite: null,
  postgres: '(EXTRACT(EPOCH FROM clock_timestamp() - pg_postmaster_start_time()) * 1000)::BIGINT',
};

/** Times are integer ms in both dialects (PostgreSQL's BIGINT refuses a fraction; SQLite would keep it). */
const ms = (v: number): number => Math.round(v);
const msOrNull = (v: number | null): number | null => (v === null ? null : Math.round(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
function json<T>(v: unknown, def: T): T {
  if (typeof v !== 'string') return def;
  try {
    return JSON.parse(v) as T;
  } catch {
    return def;
  }
}

function callFromRow(r: Row): CallRow {
  return {
    id: String(r['id']),
    door: String(r['door']),
    sipCallId: strOrNull(r['sip_call_id']),
    from: strOrNull(r['from_number']),
    to: strOrNull(r['to_number']),
    dialled: strOrNull(r['dialled']),
    trunk: strOrNull(r['trunk']),
    profile: strOrNull(r['profile']),
    metadata: json<Record<string, string>>(r['metadata'], {}),
    startedAtMs: num(r['started_at']),
    answeredAtMs: numOrNull(r['answered_at']),
    endedAtMs: numOrNull(r['ended_at']),
    endReason: strOrNull(r['end_reason']),
    engines: json<string[]>(r['engines'], []),
    recording: strOrNull(r['recording']),
    usage: json<Record<string, unknown> | null>(r['usage'], null),
    cost: json<Record<string, unknown> | null>(r['cost'], null),
    instance: strOrNull(r['instance']),
  };
}

function outboxFromRow(r: Row): OutboxRow {
  return {
    seq: num(r['seq']),
    id: String(r['id']),
    callId: strOrNull(r['call_id']),
    type: String(r['type']),
    createdAtMs: num(r['created_at']),
    body: String(r['body']),
    attempts: num(r['attempts']),
    nextAttemptAtMs: num(r['next_attempt_at']),
    deliveredAtMs: numOrNull(r['delivered_at']),
    lastError: strOrNull(r['last_error']),
  };
}

/** Opaque page cursor: the last row's (started_at, id). */
export function encodeCursor(startedAtMs: number, id: string): string {
  return Buffer.from(JSON.stringify([startedAtMs, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { startedAtMs: number; id: string } | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string') return { startedAtMs: v[0] as number, id: v[1] };
  } catch {
    // falls through
  }
  return null;
}

const UPDATABLE: Record<string, { column: string; json?: true }> = {
  answeredAtMs: { column: 'answered_at' },
  endedAtMs: { column: 'ended_at' },
  endReason: { column: 'end_reason' },
  engines: { column: 'engines', json: true },
  usage: { column: 'usage', json: true },
  cost: { column: 'cost', json: true },
  profile: { column: 'profile' },
  recording: { column: 'recording' },
};

/** `list()`'s one-value filters: the field and its condition (one `?`). */
const LIST_FILTERS: ReadonlyArray<readonly [Exclude<keyof CallFilter, 'number'>, string]> = [
  ['fromMs', 'started_at >= ?'],
  ['toMs', 'started_at < ?'],
  ['door', 'door = ?'],
  ['endReason', 'end_reason = ?'],
  ['profile', 'profile = ?'],
];

class Calls implements CallStore {
  constructor(
    private readonly driver: Driver,
    private readonly writer: BatchWriter,
  ) {}

  open(c: CallRow): void {
    this.writer.push({
      sql: `INSERT INTO calls (${CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      params: [
        c.id, c.door, c.sipCallId, c.from, c.to, c.dialled, c.trunk, c.profile, JSON.stringify(c.metadata), ms(c.startedAtMs), msOrNull(c.answeredAtMs), msOrNull(c.endedAtMs), c.endReason,
        JSON.stringify(c.engines), c.recording, c.usage === null ? null : JSON.stringify(c.usage), c.cost === null ? null : JSON.stringify(c.cost), c.instance,
      ],
    });
  }

  update(id: string, fields: Parameters<CallStore['update']>[1]): void {
    const sets: string[] = [];
    const params: SqlValue[] = [];
    for (const [k, v] of Object.entries(fields)) {
      const col = UPDATABLE[k];
      if (!col || v === undefined) continue;
      sets.push(`${col.column} = ?`);
      params.push(v === null ? null : col.json ? JSON.stringify(v) : typeof v === 'number' ? ms(v) : (v as string));
    }
    if (sets.length === 0) return;
    params.push(id);
    this.writer.push({ sql: `UPDATE calls SET ${sets.join(', ')} WHERE id = ?`, params });
  }

  append(ev: CallEventRow): void {
    this.writer.push({ sql: 'INSERT INTO call_events (call_id, seq, kind, at_ms, body) VALUES (?, ?, ?, ?, ?)', params: [ev.callId, ev.seq, ev.kind, ms(ev.atMs), JSON.stringify(ev.body)] });
  }

  async get(id: string): Promise<CallRow | null> {
    await this.writer.flush();
    const rows = await this.driver.query(`SELECT ${CALL_COLUMNS} FROM calls WHERE id = ?`, [id]);
    return rows[0] ? callFromRow(rows[0]) : null;
  }

  async events(ids: readonly string[]): Promise<Map<string, CallEventRow[]>> {
    const out = new Map<string, CallEventRow[]>();
    if (ids.length === 0) return out;
    await this.writer.flush();
    for (const id of ids) out.set(id, []);
    const rows = await this.driver.query(`SELECT call_id, seq, kind, at_ms, body FROM call_events WHERE call_id IN (${ids.map(() => '?').join(', ')}) ORDER BY call_id, seq`, [...ids]);
    for (const r of rows) {
      const id = String(r['call_id']);
      out.get(id)?.push({ callId: id, seq: num(r['seq']), kind: String(r['kind']), atMs: num(r['at_ms']), body: json<Record<string, unknown>>(r['body'], {}) });
    }
    return out;
  }

  async list(f: CallFilter, limit: number, cursor: string | null): Promise<CallPage> {
    await this.writer.flush();
    const where: string[] = [];
    const params: SqlValue[] = [];
    for (const [key, sql] of LIST_FILTERS) {
      const v = f[key];
      if (v === undefined) continue;
      where.push(sql);
      params.push(v);
    }
    if (f.number !== undefined) {
      const like = `%${f.number.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push("(LOWER(COALESCE(from_number, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(to_number, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(dialled, '')) LIKE ? ESCAPE '\\')");
      params.push(like, like, like);
    }
    if (cursor !== null) {
      const c = decodeCursor(cursor);
      if (c === null) throw new StoreError('STORE_FAILED', 'bad cursor');
      where.push('(started_at < ? OR (started_at = ? AND id < ?))');
      params.push(c.startedAtMs, c.startedAtMs, c.id);
    }
    params.push(limit + 1);
    const rows = await this.driver.query(
      `SELECT ${CALL_COLUMNS} FROM calls${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ?`,
      params,
    );
    const calls = rows.slice(0, limit).map(callFromRow);
    const last = calls[calls.length - 1];
    return { rows: calls, nextCursor: rows.length > limit && last ? encodeCursor(last.startedAtMs, last.id) : null };
  }

  async openCalls(): Promise<CallRow[]> {
    await this.writer.flush();
    return (await this.driver.query(`SELECT ${CALL_COLUMNS} FROM calls WHERE ended_at IS NULL ORDER BY started_at`, [])).map(callFromRow);
  }

  async heartbeat(instance: string, ttlMs: number): Promise<{ nowMs: number; upMs: number }> {
    const d = this.driver.dialect;
    const now = NOW_MS[d];
    const rows = await this.driver.query(
      `INSERT INTO instances (id, started_at, seen_at, expires_at) VALUES (?, ${now}, ${now}, ${now} + ?)
        ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, expires_at = excluded.expires_at RETURNING seen_at${UP_MS[d] !== null ? `, ${UP_MS[d]} AS up` : ''}`,
      [instance, ms(ttlMs)],
    );
    const r = rows[0] ?? {};
    return { nowMs: num(r['seen_at']), upMs: r['up'] === undefined ? Infinity : num(r['up']) };
  }

  async instanceRow(instance: string): Promise<{ startedAtMs: number; seenAtMs: number; expiresAtMs: number } | null> {
    const r = (await this.driver.query('SELECT started_at, seen_at, expires_at FROM instances WHERE id = ?', [instance]))[0];
    return r ? { startedAtMs: num(r['started_at']), seenAtMs: num(r['seen_at']), expiresAtMs: num(r['expires_at']) } : null;
  }

  async leave(instance: string): Promise<void> {
    await this.writer.flush();
    await this.driver.query(`UPDATE instances SET expires_at = ${NOW_MS[this.driver.dialect]} - 1 WHERE id = ?`, [instance]);
  }

  async orphans(asOfMs: number | null, exceptInstance: string, limit: number): Promise<CallRow[]> {
    await this.writer.flush();
    const asOf = asOfMs === null ? NOW_MS[this.driver.dialect] : '?';
    const rows = await this.driver.query(
      `SELECT ${CALL_COLUMNS} FROM calls c WHERE c.ended_at IS NULL AND (c.instance IS NULL OR c.instance <> ?)
        AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = c.instance AND i.expires_at >= ${asOf}) ORDER BY c.started_at LIMIT ?`,
      asOfMs === null ? [exceptInstance, limit] : [exceptInstance, ms(asOfMs), limit],
    );
    return rows.map(callFromRow);
  }

  async openCallsOf(instance: string, limit: number): Promise<CallRow[]> {
    await this.writer.flush();
    return (await this.driver.query(`SELECT ${CALL_COLUMNS} FROM calls WHERE ended_at IS NULL AND instance = ? ORDER BY started_at LIMIT ?`, [instance, limit])).map(callFromRow);
  }

  async openElsewhere(exceptInstance: string, limit: number): Promise<CallRow[]> {
    const rows = await this.driver.query(
      `SELECT ${CALL_COLUMNS} FROM calls c WHERE c.ended_at IS NULL AND c.instance <> ?
        AND EXISTS (SELECT 1 FROM instances i WHERE i.id = c.instance AND i.expires_at >= ${NOW_MS[this.driver.dialect]}) ORDER BY c.started_at DESC LIMIT ?`,
      [exceptInstance, limit],
    );
    return rows.map(callFromRow);
  }

  async eventsAfter(id: string, afterSeq: number, limit: number): Promise<CallEventRow[]> {
    const rows = await this.driver.query('SELECT call_id, seq, kind, at_ms, body FROM call_events WHERE call_id = ? AND seq > ? ORDER BY seq LIMIT ?', [id, afterSeq, limit]);
    return rows.map((r) => ({ callId: id, seq: num(r['seq']), kind: String(r['kind']), atMs: num(r['at_ms']), body: json<Record<string, unknown>>(r['body'], {}) }));
  }

  async pruneInstances(beforeMs: number): Promise<void> {
    await this.driver.query('DELETE FROM instances WHERE expires_at < ? AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.instance = instances.id AND c.ended_at IS NULL)', [beforeMs]);
  }

  async closeOrphan(id: string, f: { endedAtMs: number; endReason: string; usage: Record<string, unknown>; cost: Record<string, unknown> }, outbox: readonly OutboxInput[] = []): Promise<boolean> {
    await this.writer.flush();
    const stmts: Stmt[] = [{
      // the row lock this takes makes a second sweeper wait, then find ended_at set: one close
      sql: 'UPDATE calls SET ended_at = ?, end_reason = ?, usage = ?, cost = ? WHERE id = ? AND ended_at IS NULL RETURNING id',
      params: [ms(f.endedAtMs), f.endReason, JSON.stringify(f.usage), JSON.stringify(f.cost), id],
    }];
    for (const r of outbox) {
      const created = r.createdAtMs ?? Date.now();
      // only for a call closed as interrupted (by us, or by a sweeper that got there first and wrote the same id)
      stmts.push({
        sql: `INSERT INTO outbox (id, call_id, type, created_at, body, attempts, next_attempt_at)
          SELECT ?, ?, ?, ?, ?, 0, ? WHERE EXISTS (SELECT 1 FROM calls WHERE id = ? AND end_reason = ?) ON CONFLICT (id) DO NOTHING`,
        params: [r.id, r.callId, r.type, ms(created), r.body, ms(r.nextAttemptAtMs ?? created), id, f.endReason],
      });
    }
    const res = await this.driver.transaction(stmts);
    return (res[0]?.length ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    await this.writer.flush();
    const res = await this.driver.transaction([
      { sql: 'DELETE FROM call_events WHERE call_id = ?', params: [id] },
      { sql: 'DELETE FROM outbox WHERE call_id = ?', params: [id] },
      { sql: 'DELETE FROM calls WHERE id = ? RETURNING id', params: [id] },
    ]);
    return (res[2]?.length ?? 0) > 0;
  }

  async startedBefore(beforeMs: number, limit: number): Promise<string[]> {
    const rows = await this.driver.query('SELECT id FROM calls WHERE started_at < ? AND ended_at IS NOT NULL ORDER BY started_at LIMIT ?', [beforeMs, limit]);
    return rows.map((r) => String(r['id']));
  }
}

/** A pending row that is due and has no older pending row of its call (NULL call ids never match: no order). */
const DUE_WHERE = `o.delivered_at IS NULL AND o.dead_at IS NULL AND o.next_attempt_at <= ?
  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.call_id = o.call_id AND p.delivered_at IS NULL AND p.dead_at IS NULL AND p.seq < o.seq)`;

class Outbox implements OutboxStore {
  constructor(
    private readonly driver: Driver,
    private readonly writer: BatchWriter,
  ) {}

  enqueue(rows: readonly OutboxInput[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const now = Date.now();
    const stmts: Stmt[] = rows.map((r) => {
      const created = r.createdAtMs ?? now;
      return {
        sql: 'INSERT INTO outbox (id, call_id, type, created_at, body, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        params: [r.id, r.callId, r.type, ms(created), r.body, 0, ms(r.nextAttemptAtMs ?? created)],
      };
    });
    return this.writer.pushAwait(stmts);
  }

  async due(nowMs: number, limit: number, opts: { leaseMs?: number; leaseFrom?: () => number } = {}): Promise<OutboxRow[]> {
    // what was marked delivered or rescheduled just before must be seen
    await this.writer.flush();
    let rows: Row[];
    if (opts.leaseMs === undefined) {
      rows = await this.driver.query(`SELECT ${OUTBOX_COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')} FROM outbox o WHERE ${DUE_WHERE} ORDER BY o.seq LIMIT ?`, [nowMs, limit]);
    } else {
      const lock = this.driver.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
      // the lease runs from the claim, not from `nowMs`: the flush above may have waited out a database
      // outage, and a lease that has already run out lets another instance take the row at once (sent twice);
      // `leaseFrom` is the caller's clock, read now
      const res = await this.driver.transaction([{
        sql: `UPDATE outbox SET next_attempt_at = ? WHERE seq IN (SELECT o.seq FROM outbox o WHERE ${DUE_WHERE} ORDER BY o.seq LIMIT ?${lock}) RETURNING ${OUTBOX_COLUMNS}`,
        params: [ms(Math.max(nowMs, opts.leaseFrom?.() ?? nowMs) + opts.leaseMs), ms(nowMs), limit],
      }]);
      rows = res[0] ?? [];
    }
    return rows.map(outboxFromRow).sort((a, b) => a.seq - b.seq);
  }

  markDelivered(id: string, atMs: number = Date.now()): Promise<void> {
    return this.writer.pushAwait([{ sql: 'UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?', params: [ms(atMs), id] }]);
  }

  reschedule(id: string, nextAttemptAtMs: number, error: string): Promise<void> {
    return this.writer.pushAwait([{ sql: 'UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?', params: [ms(nextAttemptAtMs), error.slice(0, 2000), id] }]);
  }

  markDead(id: string, error: string, atMs: number = Date.now()): Promise<void> {
    return this.writer.pushAwait([{ sql: 'UPDATE outbox SET dead_at = ?, last_error = ? WHERE id = ?', params: [ms(atMs), error.slice(0, 2000), id] }]);
  }

  async stats(nowMs: number = Date.now()): Promise<OutboxStats> {
    const r = (await this.driver.query(`SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM outbox WHERE ${PENDING}`, []))[0] ?? {};
    const oldest = numOrNull(r['oldest']);
    return { depth: num(r['depth'] ?? 0), oldestAgeMs: oldest === null ? 0 : Math.max(0, nowMs - oldest) };
  }

  async get(id: string): Promise<OutboxRow | null> {
    await this.writer.flush();
    const rows = await this.driver.query(`SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE id = ?`, [id]);
    return rows[0] ? outboxFromRow(rows[0]) : null;
  }
}

export class StoreImpl implements Store {
  readonly dialect: Dialect;
  readonly schemaVersion: number;
  readonly calls: CallStore;
  readonly outbox: OutboxStore;
  readonly #driver: Driver;
  readonly #writer: BatchWriter;
  #closing: Promise<void> | null = null;

  constructor(driver: Driver, schemaVersion: number, opts: WriterOptions & { log?: Logger } = {}) {
    this.dialect = driver.dialect;
    this.schemaVersion = schemaVersion;
    this.#driver = driver;
    this.#writer = new BatchWriter(driver, opts);
    this.calls = new Calls(driver, this.#writer);
    this.outbox = new Outbox(driver, this.#writer);
  }

  flush(): Promise<void> {
    return this.#writer.flush();
  }

  writerStats(): WriterStats {
    return this.#writer.stats();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#writer.close();
      await this.#driver.close();
    })();
    return this.#closing;
  }
}
