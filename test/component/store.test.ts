/**
 * The store (server/store/) on a real SQLite file and on a real PostgreSQL server (test/support/postgres.ts):
 * one suite, run against both. Migrations, call records, the webhook outbox's ordering rules, the writer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadSqlite, openStore, type CallRow, type Store, type StoreOptions } from '../../server/store/index.ts';
import { ParleyError } from '../../server/errors.ts';
import { startPostgres, type PgCluster } from '../support/postgres.ts';

let cluster: PgCluster;
const tmp = mkdtempSync(join(tmpdir(), 'parley-store-'));
let n = 0;

beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

type Kind = 'sqlite' | 'postgres';
/** A fresh, empty database of the kind: its settings. */
async function fresh(kind: Kind): Promise<StoreOptions> {
  if (kind === 'postgres') return { dataDir: tmp, databaseUrl: await cluster.createDatabase() };
  return { dataDir: join(tmp, `db${++n}`), databaseUrl: null };
}

function call(id: string, over: Partial<CallRow> = {}): CallRow {
  return {
    id, door: 'ws', sipCallId: null, from: null, to: null, dialled: null, trunk: null, profile: null, metadata: {},
    startedAtMs: 1_700_000_000_000, answeredAtMs: null, endedAtMs: null, endReason: null, engines: ['local'], recording: null, usage: null, cost: null, instance: null,
    ...over,
  };
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return ParleyError.is(err) ? err.code : `not a ParleyError: ${String(err)}`;
  }
  return undefined;
}

describe.each(['sqlite', 'postgres'] as const)('store on %s', (kind) => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore(await fresh(kind));
  });
  afterAll(async () => {
    await store?.close();
  });

  it('migrates a new database to the current version once, and refuses a schema newer than it knows', async () => {
    const opts = await fresh(kind);
    const a = await openStore(opts);
    expect(a.dialect).toBe(kind);
    expect(a.schemaVersion).toBe(3);
    await a.close();
    const b = await openStore(opts); // again: nothing to apply, no error
    expect(b.schemaVersion).toBe(3);
    await b.close();
    // a newer Parley migrated it to version 99
    if (kind === 'sqlite') {
      const Database = loadSqlite();
      const db = new Database(join(opts.dataDir, 'parley.db'));
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
      const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
      db.close();
      expect(versions).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 99 }]);
    } else {
      const c = new pg.Client({ connectionString: opts.databaseUrl! });
      await c.connect();
      await c.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
      await c.end();
    }
    expect(await code(openStore(opts))).toBe('STORE_SCHEMA_TOO_NEW');
  });

  it('writes a call, updates it, appends events in order, and reads them back', async () => {
    store.calls.open(call('c-rw', { door: 'sip', from: 'sip:alice@example.com', to: '+4930123', dialled: '1000', sipCallId: 'abc@host', metadata: { k: 'v' } }));
    store.calls.append({ callId: 'c-rw', seq: 1, kind: 'transcript', atMs: 1_700_000_001_000, body: { role: 'user', text: 'hello' } });
    // a time with a fraction (a duration measured with performance.now): PostgreSQL's BIGINT refused it
    store.calls.append({ callId: 'c-rw', seq: 2, kind: 'transcript', atMs: 1_700_000_001_999.6, body: { role: 'assistant', text: 'hi there' } });
    store.calls.update('c-rw', { answeredAtMs: 1_700_000_000_500, engines: ['local', 'cascade'] });
    store.calls.update('c-rw', { endedAtMs: 1_700_000_008_999.5, endReason: 'caller_hangup', usage: { tokens: 3 } });
    const c = await store.calls.get('c-rw');
    expect(c).toMatchObject({
      id: 'c-rw', door: 'sip', from: 'sip:alice@example.com', to: '+4930123', dialled: '1000', sipCallId: 'abc@host', metadata: { k: 'v' },
      startedAtMs: 1_700_000_000_000, answeredAtMs: 1_700_000_000_500, endedAtMs: 1_700_000_009_000, endReason: 'caller_hangup', engines: ['local', 'cascade'], usage: { tokens: 3 },
    });
    const ev = (await store.calls.events(['c-rw', 'nope']));
    expect(ev.get('c-rw')!.map((e) => [e.seq, e.atMs, e.body['text']])).toEqual([[1, 1_700_000_001_000, 'hello'], [2, 1_700_000_002_000, 'hi there']]);
    expect(ev.get('nope')).toEqual([]);
    expect(await store.calls.get('nope')).toBeNull();
  });

  it('lists newest first with filters and a cursor, and deletes a call with its events and outbox rows', async () => {
    const t0 = 1_800_000_000_000;
    for (let i = 0; i < 7; i++) {
      store.calls.open(call(`L${i}`, {
        startedAtMs: t0 + (i < 6 ? i : 5) * 1000, // L5 and L6 share a start time: the id breaks the tie
        door: i % 2 ? 'sip' : 'ws', from: i === 3 ? '+49 30 555_1%' : `caller${i}`, dialled: i === 4 ? 'Sales-1000' : null, profile: i < 2 ? 'support' : null,
        endReason: i === 2 ? 'error' : 'caller_hangup', endedAtMs: t0 + i * 1000 + 500,
      }));
    }
    const range = { fromMs: t0, toMs: t0 + 100_000 };
    const ids = async (f: object, limit = 100): Promise<string[]> => (await store.calls.list({ ...range, ...f }, limit, null)).rows.map((r) => r.id);
    expect(await ids({})).toEqual(['L6', 'L5', 'L4', 'L3', 'L2', 'L1', 'L0']);
    expect(await ids({ door: 'sip' })).toEqual(['L5', 'L3', 'L1']);
    expect(await ids({ endReason: 'error' })).toEqual(['L2']);
    expect(await ids({ profile: 'support' })).toEqual(['L1', 'L0']);
    expect(await ids({ number: '555_1%' })).toEqual(['L3']); // LIKE characters match themselves
    expect(await ids({ number: '55551' })).toEqual([]);
    expect(await ids({ number: 'sales' })).toEqual(['L4']); // dialled, case-insensitive
    expect(await ids({ fromMs: t0 + 2000, toMs: t0 + 4000 })).toEqual(['L3', 'L2']);
    // pages of 3
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await store.calls.list(range, 3, cursor);
      seen.push(...page.rows.map((r) => r.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(['L6', 'L5', 'L4', 'L3', 'L2', 'L1', 'L0']);
    expect(pages).toBe(3);

    store.calls.append({ callId: 'L3', seq: 1, kind: 'dtmf', atMs: t0, body: { digit: '5' } });
    await store.outbox.enqueue([{ id: 'evt_L3_a', callId: 'L3', type: 'call.ended', body: '{}' }, { id: 'evt_keep', callId: 'L2', type: 'call.ended', body: '{}' }]);
    expect(await store.calls.delete('L3')).toBe(true);
    expect(await store.calls.delete('L3')).toBe(false);
    expect(await store.calls.get('L3')).toBeNull();
    expect((await store.calls.events(['L3'])).get('L3')).toEqual([]);
    expect(await store.outbox.get('evt_L3_a')).toBeNull();
    expect(await store.outbox.get('evt_keep')).not.toBeNull();
    expect(await store.calls.startedBefore(t0 + 2000, 10)).toEqual(expect.arrayContaining(['L0', 'L1']));
    expect(await store.calls.startedBefore(t0 + 2000, 10)).not.toContain('L2');
  });

  it('outbox: only the oldest pending row of each call is due, in order; reschedule, deliver and give up move the queue', async () => {
    const s = await openStore(await fresh(kind));
    try {
      const t = 1_000_000;
      await s.outbox.enqueue([
        { id: 'a1', callId: 'A', type: 'call.started', body: '{"n":1}', createdAtMs: t },
        { id: 'b1', callId: 'B', type: 'call.started', body: '{"n":2}', createdAtMs: t + 1 },
        { id: 'a2', callId: 'A', type: 'call.answered', body: '{"n":3}', createdAtMs: t + 2 },
        { id: 'a3', callId: 'A', type: 'call.ended', body: '{"n":4}', createdAtMs: t + 3 },
        { id: 'x1', callId: null, type: 'test', body: '{}', createdAtMs: t + 4 },
        { id: 'x2', callId: null, type: 'test', body: '{}', createdAtMs: t + 5, nextAttemptAtMs: t + 60_000 },
      ]);
      const due = async (now: number): Promise<string[]> => (await s.outbox.due(now, 100)).map((r) => r.id);
      expect(await due(t + 10)).toEqual(['a1', 'b1', 'x1']);
      const a1 = (await s.outbox.due(t + 10, 1))[0]!;
      expect(a1).toMatchObject({ id: 'a1', callId: 'A', type: 'call.started', createdAtMs: t, body: '{"n":1}', attempts: 0, nextAttemptAtMs: t, deliveredAtMs: null, lastError: null });
      expect(await s.outbox.stats(t + 100)).toEqual({ depth: 6, oldestAgeMs: 100 });

      // a1 fails: rescheduled; A's later rows wait behind it (in order per call)
      await s.outbox.reschedule('a1', t + 5000, 'HTTP 503');
      expect(await due(t + 10)).toEqual(['b1', 'x1']);
      expect(await s.outbox.get('a1')).toMatchObject({ attempts: 1, nextAttemptAtMs: t + 5000, lastError: 'HTTP 503' });
      expect(await due(t + 5000)).toEqual(['a1', 'b1', 'x1']);
      await s.outbox.markDelivered('a1', t + 5001);
      await s.outbox.markDelivered('b1');
      expect(await due(t + 5002)).toEqual(['a2', 'x1']);
      expect(await s.outbox.get('a1')).toMatchObject({ attempts: 2, deliveredAtMs: t + 5001 });
      // giving up on a2 lets a3 go
      await s.outbox.markDead('a2', 'gave up after 30 attempts');
      expect(await due(t + 5002)).toEqual(['a3', 'x1']);
      expect(await due(t + 60_000)).toEqual(['a3', 'x1', 'x2']);
      expect(await s.outbox.stats(t + 10_000)).toEqual({ depth: 3, oldestAgeMs: 10_000 - 3 });

      // a lease claims the rows: a second poller (another instance) gets nothing until it runs out
      const claimed = await s.outbox.due(t + 60_000, 10, { leaseMs: 30_000 });
      expect(claimed.map((r) => r.id)).toEqual(['a3', 'x1', 'x2']);
      expect(await s.outbox.due(t + 60_001, 10, { leaseMs: 30_000 })).toEqual([]);
      expect(await due(t + 90_000)).toEqual(['a3', 'x1', 'x2']);
      // the lease runs from the claim (leaseFrom: the caller's clock read at the claim), not from a `now` taken
      // before the claim waited (a database outage): else it has already run out and another instance takes the row too
      expect((await s.outbox.due(t + 90_000, 10, { leaseMs: 30_000, leaseFrom: () => t + 200_000 })).map((r) => r.id)).toEqual(['a3', 'x1', 'x2']);
      expect(await s.outbox.due(t + 200_001, 10, { leaseMs: 30_000 })).toEqual([]);
      expect(await due(t + 230_000)).toEqual(['a3', 'x1', 'x2']);

      // one duplicate id fails alone: the rows queued with it in the same batch still commit
      const results = await Promise.allSettled([
        s.outbox.enqueue([{ id: 'd1', callId: 'D', type: 't', body: '{}' }]),
        s.outbox.enqueue([{ id: 'a1', callId: 'A', type: 't', body: '{}' }]),
        s.outbox.enqueue([{ id: 'd2', callId: 'D', type: 't', body: '{}' }]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(ParleyError.is((results[1] as PromiseRejectedResult).reason) && (results[1] as PromiseRejectedResult).reason.code).toBe('STORE_FAILED');
      expect(await s.outbox.get('d2')).not.toBeNull();
      const stats = await s.outbox.stats();
      expect(stats.depth).toBe(5);
    } finally {
      await s.close();
    }
  });

  it('heartbeats on the database clock; two sweepers closing one dead call at once: one close, one call.ended row; a call its owner closed gets none', async () => {
    const opts = await fresh(kind);
    const a = await openStore(opts);
    const b = await openStore(opts);
    try {
      const hb = await a.calls.heartbeat('inst_b', 60_000);
      expect(Math.abs(hb.nowMs - Date.now())).toBeLessThan(5000);
      expect(hb.upMs).toBeGreaterThan(0);
      expect((await a.calls.instanceRow('inst_b'))!.expiresAtMs).toBe(hb.nowMs + 60_000);
      for (let i = 0; i < 20; i++) a.calls.open(call(`dead_${i}`, { instance: 'inst_b' }));
      a.calls.open(call('owner_closed', { instance: 'inst_b' }));
      await a.flush();
      // alive: nobody's orphan
      expect(await b.calls.orphans(null, 'inst_a', 100)).toEqual([]);
      expect((await b.calls.openElsewhere('inst_a', 100)).length).toBe(21);
      await a.calls.leave('inst_b');
      expect((await b.calls.orphans(null, 'inst_a', 100)).length).toBe(21);
      expect((await b.calls.openElsewhere('inst_a', 100)).length).toBe(0);
      expect((await b.calls.openCallsOf('inst_b', 100)).length).toBe(21);
      // the owner closes one normally just before the sweep
      a.calls.update('owner_closed', { endedAtMs: 1_700_000_001_000, endReason: 'caller_hangup' });
      await a.flush();
      const fields = { endedAtMs: 1_700_000_000_500, endReason: 'interrupted', usage: {}, cost: {} };
      const row = (id: string) => [{ id: `evt_end_${id}`, callId: id, type: 'call.ended', body: `{"id":"evt_end_${id}"}`, createdAtMs: 1_700_000_000_500 }];
      const ids = [...Array.from({ length: 20 }, (_, i) => `dead_${i}`), 'owner_closed'];
      const [ra, rb] = await Promise.all([
        Promise.all(ids.map((id) => a.calls.closeOrphan(id, fields, row(id)))),
        Promise.all(ids.map((id) => b.calls.closeOrphan(id, fields, row(id)))),
      ]);
      for (let i = 0; i < 20; i++) expect(Number(ra[i]) + Number(rb[i])).toBe(1);
      expect(ra[20]).toBe(false);
      expect(rb[20]).toBe(false);
      const due = await a.outbox.due(Date.now(), 100);
      expect(due.map((r) => r.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `evt_end_dead_${i}`).sort());
      expect((await a.calls.get('owner_closed'))!.endReason).toBe('caller_hangup');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps the order of many writes from many calls batched together, and survives being reopened', async () => {
    const opts = await fresh(kind);
    const s = await openStore(opts);
    const calls = 50;
    const perCall = 40;
    for (let c = 0; c < calls; c++) s.calls.open(call(`W${c}`, { startedAtMs: 2_000_000_000_000 + c }));
    for (let i = 1; i <= perCall; i++) {
      for (let c = 0; c < calls; c++) s.calls.append({ callId: `W${c}`, seq: i, kind: 'turn', atMs: i, body: { i } });
    }
    await s.close(); // flushes
    const stats = s.writerStats();
    expect(stats.committedStatements).toBe(calls + calls * perCall);
    expect(stats.committedBatches).toBeLessThan(20);
    const r = await openStore(opts);
    const ev = await r.calls.events(['W0', 'W49']);
    expect(ev.get('W0')!.map((e) => e.body['i'])).toEqual(Array.from({ length: perCall }, (_, i) => i + 1));
    expect(ev.get('W49')!.length).toBe(perCall);
    expect((await r.calls.openCalls()).length).toBe(calls);
    await r.close();
    expect(await code(r.outbox.enqueue([{ id: 'late', callId: null, type: 't', body: '{}' }]))).toBe('STORE_CLOSED');
  });
});

describe('store start-up errors', () => {
  it('a PostgreSQL URL nobody answers → STORE_UNAVAILABLE', async () => {
    const dead = `postgres://parley@127.0.0.1:${cluster.port === 1 ? 2 : 1}/x`;
    expect(await code(openStore({ dataDir: tmp, databaseUrl: dead }))).toBe('STORE_UNAVAILABLE');
  });
  it('an SQLite path that cannot be created → STORE_UNAVAILABLE', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'not a folder');
    expect(await code(openStore({ dataDir: join(file, 'data'), databaseUrl: null }))).toBe('STORE_UNAVAILABLE');
    // a file that is not a database
    expect(await code(openStore({ dataDir: tmp, databaseUrl: `sqlite:${file}` }))).toBe('STORE_UNAVAILABLE');
  });
});
