/**
 * Record writes per second for a 200-call load of turn appends (issue 11 figures), on SQLite and on
 * PostgreSQL, through the store's writer (server/store/): 200 calls each append turns (7 events a turn:
 * speech, stt, the caller's line, the turn's timing, the reply's line, tts, usage — what
 * server/calls/observer.ts writes), as fast as the store takes them. Also the event loop's delay meanwhile
 * (what a media path on that loop would feel), against the baseline: the same batches written by
 * better-sqlite3 on the main thread (what the worker thread avoids).
 *
 * Rounds interleaved (baseline, sqlite, postgres, …), medians with min–max. PostgreSQL is a throwaway
 * cluster (test/support/postgres.ts) with its durable defaults (fsync, synchronous_commit on); SQLite
 * uses WAL + synchronous=NORMAL as the store does.
 *
 *   npx tsx bench/records.ts [--rounds 5] [--turns 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadSqlite, MIGRATIONS, openStore, type Store } from '../server/store/index.ts';
import { startPostgres } from '../test/support/postgres.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CALLS = 200;
const ROUNDS = arg('rounds', 5);
const TURNS = arg('turns', 5);
const EVENTS_PER_TURN = 7;

interface Result { writesPerS: number; lagP99Ms: number; lagMaxMs: number }

/** The events of one turn, as the call-record observer writes them. */
function turnEvents(callId: string, turn: number, t: number): Array<{ kind: string; body: Record<string, unknown> }> {
  const u = `item_u${turn}`;
  const a = `item_a${turn}`;
  return [
    { kind: 'speech', body: { item_id: u, audio_start_ms: turn * 5000, audio_end_ms: turn * 5000 + 1800, duration_ms: 1800 } },
    { kind: 'stt', body: { item_id: u, engine: 'openai', model: 'gpt-4o-mini-transcribe', usage: { type: 'tokens', input_tokens: 30, output_tokens: 8 }, speech_ms: 1800 } },
    { kind: 'transcript', body: { role: 'user', item_id: u, text: 'I would like to book a table for two people tomorrow evening.' } },
    { kind: 'turn', body: { item_id: a, response_id: `resp_${callId}_${turn}`, speech_stopped_at_ms: t, first_audio_at_ms: t + 640, latency_ms: 640 } },
    { kind: 'transcript', body: { role: 'assistant', item_id: a, text: 'Of course. For what time tomorrow evening would you like the table?', response_id: `resp_${callId}_${turn}`, audio_ms: 3400 } },
    { kind: 'tts', body: { item_id: a, engine: 'cascade', model: 'gpt-4o-mini-tts', characters: 68 } },
    { kind: 'usage', body: { response_id: `resp_${callId}_${turn}`, status: 'completed', engine: 'openai', model: 'gpt-realtime', usage: { total_tokens: 420, input_tokens: 300, output_tokens: 120, input_token_details: { text_tokens: 200, audio_tokens: 100, cached_tokens: 64 }, output_token_details: { text_tokens: 30, audio_tokens: 90 } } } },
  ];
}

function lagMonitor(): { stop(): { p99: number; max: number } } {
  const h = monitorEventLoopDelay({ resolution: 2 });
  h.enable();
  return {
    stop() {
      h.disable();
      return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    },
  };
}

/** Through the store: calls opened, then TURNS turns of every call queued, then flushed. */
async function viaStore(store: Store, round: string): Promise<Result> {
  const t = Date.now();
  const lag = lagMonitor();
  const start = process.hrtime.bigint();
  let n = 0;
  for (let c = 0; c < CALLS; c++) {
    store.calls.open({ id: `${round}_c${c}`, door: 'sip', sipCallId: null, from: '+4930123456', to: '1000', dialled: '1000', trunk: null, profile: 'support', metadata: {}, startedAtMs: t, answeredAtMs: t, endedAtMs: null, endReason: null, engines: ['openai'], recording: 'off', usage: null, cost: null, instance: 'bench' });
    n++;
  }
  const seq = new Array<number>(CALLS).fill(0);
  for (let turn = 0; turn < TURNS; turn++) {
    for (let c = 0; c < CALLS; c++) {
      const id = `${round}_c${c}`;
      for (const ev of turnEvents(id, turn, t)) {
        store.calls.append({ callId: id, seq: ++seq[c]!, kind: ev.kind, atMs: t + turn * 5000, body: ev.body });
        n++;
      }
    }
    // a turn every call makes, then the loop breathes (as a live server's would between frames)
    await new Promise((r) => setImmediate(r));
  }
  await store.flush();
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const l = lag.stop();
  return { writesPerS: n / s, lagP99Ms: l.p99, lagMaxMs: l.max };
}

/** Baseline: the same rows in the same batch size, written by better-sqlite3 on the main thread. */
function inThreadBaseline(dir: string): (round: string) => Promise<Result> {
  const Database = loadSqlite();
  const db = new Database(join(dir, 'inthread.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  for (const m of MIGRATIONS) for (const sql of m.sqlite) db.exec(sql);
  const insCall = db.prepare('INSERT INTO calls (id, door, from_number, to_number, dialled, profile, metadata, started_at, engines, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const insEv = db.prepare('INSERT INTO call_events (call_id, seq, kind, at_ms, body) VALUES (?, ?, ?, ?, ?)');
  const BATCH = 1000;
  return async (round) => {
    const t = Date.now();
    const lag = lagMonitor();
    const start = process.hrtime.bigint();
    const rows: Array<() => void> = [];
    for (let c = 0; c < CALLS; c++) rows.push(() => insCall.run(`${round}_c${c}`, 'sip', '+4930123456', '1000', '1000', 'support', '{}', t, '["openai"]', 'bench'));
    const seq = new Array<number>(CALLS).fill(0);
    let n = 0;
    const flush = db.transaction((list: Array<() => void>) => {
      for (const f of list) f();
    });
    for (let turn = 0; turn < TURNS; turn++) {
      for (let c = 0; c < CALLS; c++) {
        const id = `${round}_c${c}`;
        for (const ev of turnEvents(id, turn, t)) {
          const s = ++seq[c]!;
          const body = JSON.stringify(ev.body);
          rows.push(() => insEv.run(id, s, ev.kind, t + turn * 5000, body));
        }
      }
      while (rows.length >= BATCH) {
        const batch = rows.splice(0, BATCH);
        n += batch.length;
        flush(batch);
      }
      await new Promise((r) => setImmediate(r));
    }
    n += rows.length;
    flush(rows.splice(0));
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    const l = lag.stop();
    return { writesPerS: n / s, lagP99Ms: l.p99, lagMaxMs: l.max };
  };
}

/**
 * Paced load: 200 calls, each speaking a turn every 2 s (its 7 events at once, at a random moment),
 * for `seconds`: ≈ 700 writes/s, what a busy server writes. The event loop's delay meanwhile is what
 * a media path on this thread would feel. `write(callIdx, turn)` queues one turn's events.
 */
async function paced(seconds: number, write: ((c: number, turn: number) => void) | null, tick?: () => void): Promise<{ p99: number; max: number; writes: number }> {
  const lag = lagMonitor();
  const timers: NodeJS.Timeout[] = [];
  let writes = 0;
  const turns = new Array<number>(CALLS).fill(0);
  for (let c = 0; c < CALLS; c++) {
    const first = Math.random() * 2000;
    timers.push(setTimeout(function again() {
      if (write) write(c, turns[c]!++);
      writes += EVENTS_PER_TURN;
      timers.push(setTimeout(again, 2000));
    }, first));
  }
  const ticker = tick ? setInterval(tick, 50) : null;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  for (const t of timers) clearTimeout(t);
  if (ticker) clearInterval(ticker);
  const l = lag.stop();
  return { ...l, writes };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (xs: number[], digits = 0): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-records-'));
  const pg = await startPostgres({ durable: true });
  try {
    const sqlite = await openStore({ dataDir: dir, databaseUrl: null });
    const postgres = await openStore({ dataDir: dir, databaseUrl: await pg.createDatabase('bench') });
    const baseline = inThreadBaseline(dir);
    // warm-up round each
    await baseline('w');
    await viaStore(sqlite, 'w');
    await viaStore(postgres, 'w');
    const res: Record<'baseline' | 'sqlite' | 'postgres', Result[]> = { baseline: [], sqlite: [], postgres: [] };
    for (let r = 0; r < ROUNDS; r++) {
      res.baseline.push(await baseline(`r${r}`));
      res.sqlite.push(await viaStore(sqlite, `r${r}`));
      res.postgres.push(await viaStore(postgres, `r${r}`));
    }
    const statements = CALLS * (1 + TURNS * EVENTS_PER_TURN);
    console.log(`record writes: ${CALLS} calls × ${TURNS} turns × ${EVENTS_PER_TURN} events (+ 1 row per call) = ${statements} statements a round; ${ROUNDS} rounds interleaved; median (min–max)`);
    console.log('');
    console.log('| store | writes/s | event-loop delay p99 (ms) | max (ms) | writes/s vs baseline |');
    console.log('|---|---|---|---|---|');
    const row = (name: string, xs: Result[]): void => {
      const ratio = xs.map((x, i) => x.writesPerS / res.baseline[i]!.writesPerS);
      console.log(`| ${name} | ${fmt(xs.map((x) => x.writesPerS))} | ${fmt(xs.map((x) => x.lagP99Ms), 1)} | ${fmt(xs.map((x) => x.lagMaxMs), 1)} | ${fmt(ratio, 2)}× |`);
    };
    row('baseline: better-sqlite3 on the main thread', res.baseline);
    row('SQLite (store: worker thread, WAL)', res.sqlite);
    row('PostgreSQL 15 (store: pool, multi-row inserts, fsync on)', res.postgres);
    const pgVsSqlite = res.postgres.map((x, i) => x.writesPerS / res.sqlite[i]!.writesPerS);
    console.log('');
    console.log(`PostgreSQL / SQLite (store): ${fmt(pgVsSqlite, 2)}×`);

    // paced: what the media path feels
    const SECONDS = arg('paced-seconds', 6);
    const t = Date.now();
    const storeWriter = (store: Store, tag: string) => (c: number, turn: number): void => {
      const id = `${tag}_c${c}`;
      if (turn === 0) store.calls.open({ id, door: 'sip', sipCallId: null, from: null, to: null, dialled: null, trunk: null, profile: null, metadata: {}, startedAtMs: t, answeredAtMs: t, endedAtMs: null, endReason: null, engines: ['openai'], recording: 'off', usage: null, cost: null, instance: 'bench' });
      turnEvents(id, turn, t).forEach((ev, k) => store.calls.append({ callId: id, seq: turn * EVENTS_PER_TURN + k + 1, kind: ev.kind, atMs: t, body: ev.body }));
    };
    // in-thread: the same rows queued and committed by better-sqlite3 on this thread every 50 ms
    const Database = loadSqlite();
    const db = new Database(join(dir, 'paced-inthread.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    for (const m of MIGRATIONS) for (const sql of m.sqlite) db.exec(sql);
    const ins = db.prepare('INSERT INTO call_events (call_id, seq, kind, at_ms, body) VALUES (?, ?, ?, ?, ?)');
    let pending: Array<[string, number, string, number, string]> = [];
    const commit = db.transaction((rows: typeof pending) => {
      for (const r of rows) ins.run(...r);
    });
    let tagN = 0;
    const pacedRes: Record<string, Array<{ p99: number; max: number; writes: number }>> = { none: [], inthread: [], sqlite: [], postgres: [] };
    for (let r = 0; r < 2; r++) {
      pacedRes['none']!.push(await paced(SECONDS, null));
      const tag = `p${++tagN}`;
      pacedRes['inthread']!.push(await paced(SECONDS, (c, turn) => {
        turnEvents(`${tag}_c${c}`, turn, t).forEach((ev, k) => pending.push([`${tag}_c${c}`, turn * EVENTS_PER_TURN + k + 1, ev.kind, t, JSON.stringify(ev.body)]));
      }, () => {
        if (pending.length === 0) return;
        const rows = pending;
        pending = [];
        commit(rows);
      }));
      pacedRes['sqlite']!.push(await paced(SECONDS, storeWriter(sqlite, `s${++tagN}`)));
      await sqlite.flush();
      pacedRes['postgres']!.push(await paced(SECONDS, storeWriter(postgres, `g${++tagN}`)));
      await postgres.flush();
    }
    db.close();
    console.log('');
    console.log(`paced: ${CALLS} calls, a turn (7 events) every 2 s each (≈ ${Math.round((CALLS * EVENTS_PER_TURN) / 2)} writes/s), ${SECONDS} s × 2 rounds interleaved; event-loop delay on the thread that would carry media`);
    console.log('');
    console.log('| writes | event-loop delay p99 (ms) | max (ms) |');
    console.log('|---|---|---|');
    const prow = (name: string, xs: Array<{ p99: number; max: number }>): void => console.log(`| ${name} | ${fmt(xs.map((x) => x.p99), 2)} | ${fmt(xs.map((x) => x.max), 1)} |`);
    prow('none (baseline)', pacedRes['none']!);
    prow('better-sqlite3 on this thread, a transaction every 50 ms', pacedRes['inthread']!);
    prow('SQLite through the store (worker thread)', pacedRes['sqlite']!);
    prow('PostgreSQL through the store', pacedRes['postgres']!);

    await sqlite.close();
    await postgres.close();
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
