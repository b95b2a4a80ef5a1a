/**
 * The PostgreSQL driver: `pg` with a small pool. SQL is written with `?` placeholders (shared with
 * SQLite) and numbered `$1…` here. A transaction of many single-row INSERTs of one shape is sent as
 * multi-row INSERTs (one round trip per 500 rows instead of one per row). BIGINT columns (times in ms)
 * come back as numbers.
 */
import pg from 'pg';
import { StoreError } from '../errors.ts';
import type { Driver, Migration, Row, SqlValue, Stmt } from './types.ts';
import { SCHEMA_MIGRATIONS_TABLE } from './migrations.ts';

const INT8_OID = 20;
const parseInt8 = (v: string): number => Number(v);
const TYPES = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text'))) as pg.CustomTypesConfig['getTypeParser'],
};

/** A key for pg_advisory_xact_lock: one migration at a time across every instance on the database. */
const MIGRATION_LOCK_KEY = 0x70_61_72_6c; // 'parl'

/** `?` → `$n`, skipping quoted strings. */
export function numberPlaceholders(sql: string, from = 1): string {
  let n = from;
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      out += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c === '?') {
      out += `$${n++}`;
    } else {
      out += c;
    }
  }
  return out;
}

const INSERT_RE = /^INSERT INTO (\w+) \(([^)]*)\) VALUES \(([?, ]+)\)((?: ON CONFLICT(?: \([^)]*\))? DO NOTHING)?)$/;
const MAX_ROWS_PER_INSERT = 500;

/** Consecutive single-row INSERTs of one shape → multi-row INSERTs (placeholders numbered); `covers`: statements each one stands for. */
export function coalesce(stmts: readonly Stmt[]): Array<Stmt & { covers: number }> {
  const out: Array<Stmt & { covers: number }> = [];
  let i = 0;
  while (i < stmts.length) {
    const st = stmts[i]!;
    const m = INSERT_RE.exec(st.sql);
    if (!m) {
      out.push({ sql: numberPlaceholders(st.sql), params: st.params, covers: 1 });
      i++;
      continue;
    }
    let j = i + 1;
    while (j < stmts.length && j - i < MAX_ROWS_PER_INSERT && stmts[j]!.sql === st.sql) j++;
    if (j - i === 1) {
      out.push({ sql: numberPlaceholders(st.sql), params: st.params, covers: 1 });
    } else {
      const width = st.params.length;
      const groups: string[] = [];
      const params: SqlValue[] = [];
      for (let k = i; k < j; k++) {
        const base = (k - i) * width;
        const ph: string[] = [];
        for (let c = 1; c <= width; c++) ph.push(`$${base + c}`);
        groups.push(`(${ph.join(', ')})`);
        for (const p of stmts[k]!.params) params.push(p);
      }
      out.push({ sql: `INSERT INTO ${m[1]} (${m[2]}) VALUES ${groups.join(', ')}${m[4] ?? ''}`, params, covers: j - i });
    }
    i = j;
  }
  return out;
}

function storeError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: string; message?: string };
  // class 08: connection exceptions; 57P: operator intervention (shutdown); ECONNREFUSED & co: no server
  const unavailable = typeof e.code === 'string' && (/^08|^57P/.test(e.code) || /^E[A-Z]+$/.test(e.code));
  return new StoreError(unavailable ? 'STORE_UNAVAILABLE' : 'STORE_FAILED', `PostgreSQL ${what}: ${e.message ?? String(err)}`, { retryable: unavailable || e.code === '40001' || e.code === '40P01', cause: err });
}

export interface PostgresOptions {
  url: string;
  /** Pool size (default 4). */
  maxConnections?: number;
  connectTimeoutMs?: number;
}

export class PostgresDriver implements Driver {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed = false;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  static async open(opts: PostgresOptions): Promise<PostgresDriver> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      types: TYPES,
    });
    // an idle client that loses its server is reported here; the next query gets a fresh one
    pool.on('error', () => {});
    const driver = new PostgresDriver(pool);
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => {});
      throw new StoreError('STORE_UNAVAILABLE', `cannot reach PostgreSQL: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    return driver;
  }

  #check(): void {
    if (this.#closed) throw new StoreError('STORE_CLOSED', 'the store is closed');
  }

  async transaction(stmts: Stmt[]): Promise<Row[][]> {
    this.#check();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw storeError(err, 'connect');
    }
    const out: Row[][] = [];
    let broken: Error | undefined;
    // a checked-out client has no pool listener: the server going away between two statements (a
    // PostgreSQL shutdown) is emitted as 'error' on it, which unheard would crash the process
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      for (const st of coalesce(stmts)) {
        const rows = (await client.query(st.sql, st.params)).rows as Row[];
        if (st.covers === 1) out.push(rows);
        else for (let k = 0; k < st.covers; k++) out.push([]);
      }
      await client.query('COMMIT');
      return out;
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => {});
      throw storeError(err, 'transaction');
    } finally {
      client.removeListener('error', onError);
      // a connection that failed mid-transaction is not reused
      client.release(broken);
    }
  }

  async query(sql: string, params: SqlValue[]): Promise<Row[]> {
    this.#check();
    try {
      return (await this.#pool.query(numberPlaceholders(sql), params)).rows as Row[];
    } catch (err) {
      throw storeError(err, 'query');
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    this.#check();
    const client = await this.#pool.connect().catch((err: unknown) => {
      throw storeError(err, 'connect');
    });
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(SCHEMA_MIGRATIONS_TABLE.postgres);
      const cur = (await client.query('SELECT MAX(version) AS v FROM schema_migrations')).rows[0] as { v: number | null } | undefined;
      const current = cur?.v ?? 0;
      const known = migrations.reduce((v, m) => Math.max(v, m.version), 0);
      if (current > known) {
        throw new StoreError('STORE_SCHEMA_TOO_NEW', `the database schema is at version ${current}; this Parley knows up to ${known}`);
      }
      let version = current;
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (m.version <= current) continue;
        for (const sql of m.postgres) await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        version = m.version;
      }
      await client.query('COMMIT');
      return version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw storeError(err, 'migration');
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
