// The SQLite side of server/store/sqlite.ts, in a worker thread: better-sqlite3 is synchronous, so
// every statement runs here and the event loop that paces media never waits on the disk. Plain
// JavaScript (no TypeScript loader needed in the worker). Messages (one reply per request, by id):
//   { id, op: 'tx', stmts: [{ sql, params }] }       → { id, ok: true, rows: Row[][] }   (one transaction)
//   { id, op: 'query', sql, params }                 → { id, ok: true, rows: Row[] }
//   { id, op: 'migrate', table, steps: [{ version, name, sql: [] }] } → { id, ok: true, version }
//   { id, op: 'close' }                              → { id, ok: true }
// Errors: { id, ok: false, error: { message, sqliteCode, code } } (code: STORE_SCHEMA_TOO_NEW when it applies).
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const port = parentPort;
if (!port) throw new Error('sqlite worker started outside a worker thread');

/** @type {{ path: string, module: string, busyTimeoutMs: number }} */
const data = workerData;
let db;
try {
  // better-sqlite3 12.x on Node 20, the N-API 13.x (alias better-sqlite3-napi) on Node >= 22 (sqlite.ts)
  const Database = require(data.module);
  db = new Database(data.path);
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(data.busyTimeoutMs))}`);
  // WAL: readers never wait for the writer; synchronous=NORMAL: a commit does not fsync (the WAL is
  // synced at checkpoints), so a power loss may lose the last commits but never corrupts the file.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  port.postMessage({ id: 0, ok: true, sqliteVersion: db.prepare('select sqlite_version() as v').get().v });
} catch (err) {
  port.postMessage({ id: 0, ok: false, error: describe(err) });
  db = null;
}

const MAX_CACHED_STATEMENTS = 256;
const cache = new Map();
function prepare(sql) {
  let s = cache.get(sql);
  if (s === undefined) {
    if (cache.size >= MAX_CACHED_STATEMENTS) cache.clear();
    s = db.prepare(sql);
    cache.set(sql, s);
  }
  return s;
}

function run(sql, params) {
  const s = prepare(sql);
  return s.reader ? s.all(params) : (s.run(params), []);
}

function describe(err) {
  return {
    message: err instanceof Error ? err.message : String(err),
    sqliteCode: err && typeof err === 'object' && typeof err.code === 'string' ? err.code : null,
    code: err && typeof err === 'object' && typeof err.parleyCode === 'string' ? err.parleyCode : null,
  };
}

function migrate(table, steps) {
  // IMMEDIATE takes the write lock first: two processes opening one file migrate one after the other
  const tx = db.transaction(() => {
    db.exec(table);
    const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get();
    const current = row && typeof row.v === 'number' ? row.v : 0;
    const known = steps.reduce((v, s) => Math.max(v, s.version), 0);
    if (current > known) {
      const err = new Error(`the database schema is at version ${current}; this Parley knows up to ${known}`);
      err.parleyCode = 'STORE_SCHEMA_TOO_NEW';
      throw err;
    }
    let version = current;
    for (const step of steps) {
      if (step.version <= current) continue;
      for (const sql of step.sql) db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(step.version, step.name, Date.now());
      version = step.version;
    }
    return version;
  });
  return tx.immediate();
}

const transaction = (stmts) => {
  const out = [];
  for (const st of stmts) out.push(run(st.sql, st.params));
  return out;
};
let txFn = null;

port.on('message', (msg) => {
  const { id } = msg;
  if (db === null) {
    port.postMessage({ id, ok: false, error: { message: 'the database is not open', sqliteCode: null, code: 'STORE_CLOSED' } });
    return;
  }
  try {
    switch (msg.op) {
      case 'tx':
        if (txFn === null) txFn = db.transaction(transaction);
        port.postMessage({ id, ok: true, rows: txFn.immediate(msg.stmts) });
        break;
      case 'query':
        port.postMessage({ id, ok: true, rows: run(msg.sql, msg.params) });
        break;
      case 'migrate':
        port.postMessage({ id, ok: true, version: migrate(msg.table, msg.steps) });
        break;
      case 'close':
        cache.clear();
        db.close();
        db = null;
        port.postMessage({ id, ok: true });
        port.close();
        break;
      default:
        port.postMessage({ id, ok: false, error: { message: `unknown op ${String(msg.op)}`, sqliteCode: null, code: null } });
    }
  } catch (err) {
    port.postMessage({ id, ok: false, error: describe(err) });
  }
});
