/**
 * The SQLite driver: better-sqlite3 in a worker thread (sqlite-worker.mjs), WAL, synchronous=NORMAL.
 * better-sqlite3 is synchronous; in the worker a commit never holds up the event loop that paces media.
 * Each request is one message; the worker answers in order.
 *
 * Two Nodes, two builds of one library: better-sqlite3 12.x (not N-API, compiled by npm ci for the
 * machine's Node) runs on Node 20, where 13.x crashes; on Node 24, 12.x's objects abort the process when
 * the garbage collector frees them after their environment is gone (node::RemoveEnvironmentCleanupHook),
 * while 13.x is N-API (prebuilt in its package, no compiler) and made for Node ≥ 22. package.json has
 * both: `better-sqlite3` (12.x) and the alias `better-sqlite3-napi` (13.x); `sqliteModuleName()` picks
 * one by the running Node's major version.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import type { Driver, Migration, Row, SqlValue, Stmt } from './types.ts';
import { SCHEMA_MIGRATIONS_TABLE } from './migrations.ts';

const require = createRequire(import.meta.url);

/** The better-sqlite3 package for this Node: the N-API 13.x alias on Node ≥ 22 (when installed), else 12.x. */
export function sqliteModuleName(nodeVersion: string = process.versions.node): 'better-sqlite3' | 'better-sqlite3-napi' {
  if (Number(nodeVersion.split('.')[0]) < 22) return 'better-sqlite3';
  try {
    require.resolve('better-sqlite3-napi');
    return 'better-sqlite3-napi';
  } catch {
    return 'better-sqlite3';
  }
}

/** better-sqlite3's Database class for this Node, in this thread (tests and tools; the store uses its worker). */
export function loadSqlite(): typeof BetterSqlite3 {
  return require(sqliteModuleName()) as typeof BetterSqlite3;
}

interface Reply {
  id: number;
  ok: boolean;
  rows?: unknown;
  version?: number;
  sqliteVersion?: string;
  error?: { message: string; sqliteCode: string | null; code: string | null };
}

interface Pending {
  resolve(r: Reply): void;
  reject(e: unknown): void;
}

export interface SqliteOptions {
  path: string;
  /** How long a statement waits for another process's write lock (default 5000). */
  busyTimeoutMs?: number;
}

/** How long close() waits for the worker to exit by itself before terminating it. */
const CLOSE_GRACE_MS = 2000;

export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  readonly path: string;
  sqliteVersion = '';
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #dead = false;
  #exited: Promise<void>;

  private constructor(path: string, worker: Worker) {
    this.path = path;
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      p.resolve(m);
    });
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', () => {
      this.#dead = true;
      this.#failAll(new StoreError('STORE_CLOSED', 'the SQLite worker has exited'));
    });
  }

  static async open(opts: SqliteOptions): Promise<SqliteDriver> {
    try {
      mkdirSync(dirname(opts.path), { recursive: true });
    } catch (err) {
      throw new StoreError('STORE_UNAVAILABLE', `cannot create the folder of ${opts.path}: ${(err as Error).message}`, { cause: err });
    }
    const worker = new Worker(new URL('./sqlite-worker.mjs', import.meta.url), {
      workerData: { path: opts.path, module: sqliteModuleName(), busyTimeoutMs: opts.busyTimeoutMs ?? 5000 },
    });
    const driver = new SqliteDriver(opts.path, worker);
    const ready = await new Promise<Reply>((resolve, reject) => driver.#pending.set(0, { resolve, reject }));
    if (!ready.ok) {
      await worker.terminate();
      throw new StoreError('STORE_UNAVAILABLE', `cannot open the SQLite database ${opts.path}: ${ready.error?.message ?? 'unknown error'}`);
    }
    driver.sqliteVersion = ready.sqliteVersion ?? '';
    return driver;
  }

  #failAll(err: unknown): void {
    for (const p of this.#pending.values()) p.reject(err instanceof StoreError ? err : new StoreError('STORE_UNAVAILABLE', `the SQLite worker failed: ${(err as Error).message}`, { cause: err }));
    this.#pending.clear();
  }

  #request(msg: Record<string, unknown>): Promise<Reply> {
    if (this.#closed || this.#dead) return Promise.reject(new StoreError('STORE_CLOSED', 'the store is closed'));
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id });
    }).then((r) => {
      if (r.ok) return r;
      const e = r.error;
      const code = e?.code === 'STORE_SCHEMA_TOO_NEW' || e?.code === 'STORE_CLOSED' ? e.code : 'STORE_FAILED';
      throw new StoreError(code, `SQLite: ${e?.message ?? 'failed'}`, { retryable: e?.sqliteCode === 'SQLITE_BUSY' });
    });
  }

  async transaction(stmts: Stmt[]): Promise<Row[][]> {
    const r = await this.#request({ op: 'tx', stmts });
    return r.rows as Row[][];
  }

  async query(sql: string, params: SqlValue[]): Promise<Row[]> {
    const r = await this.#request({ op: 'query', sql, params });
    return r.rows as Row[];
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    const steps = [...migrations].sort((a, b) => a.version - b.version).map((m) => ({ version: m.version, name: m.name, sql: m.sqlite }));
    const r = await this.#request({ op: 'migrate', table: SCHEMA_MIGRATIONS_TABLE.sqlite, steps });
    return r.version ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#exited;
    try {
      await this.#request({ op: 'close' });
    } catch {
      // the worker is gone already
    }
    this.#closed = true;
    // the worker closes the database and exits on its own (as stopWorker in server/engines/providers/worker-host.ts
    // lets its workers do); terminate() only if it has not within the grace
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([this.#exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), CLOSE_GRACE_MS)))]);
    clearTimeout(timer);
    if (!exited) await this.#worker.terminate();
  }
}
