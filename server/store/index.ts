/**
 * server/store: the database of call records and the webhook outbox (docs/contracts.md §7).
 * `openStore` picks the dialect from the settings: PostgreSQL for a `postgres://` (or
 * `postgresql://`) `databaseUrl`, else an SQLite file (`<dataDir>/parley.db`, or the path of a
 * `sqlite:` URL), and brings the schema to the current version.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';
import { PostgresDriver } from './postgres.ts';
import { SqliteDriver } from './sqlite.ts';
import { StoreImpl } from './store.ts';
import type { Driver, Store } from './types.ts';
import type { WriterOptions } from './writer.ts';

export type * from './types.ts';
export { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';
export { sqliteModuleName, loadSqlite } from './sqlite.ts';
export { encodeCursor, decodeCursor } from './store.ts';

export interface StoreOptions extends WriterOptions {
  /** PARLEY_DATA_DIR: where the SQLite file lives (default ./data). */
  dataDir: string;
  /** PARLEY_DATABASE_URL: postgres://… for PostgreSQL; sqlite:<path> for another SQLite file; null: `<dataDir>/parley.db`. */
  databaseUrl: string | null;
  log?: Logger;
}

export function isPostgresUrl(url: string | null): url is string {
  return url !== null && /^postgres(ql)?:\/\//i.test(url);
}

/** The SQLite file a configuration uses (absolute). */
export function sqlitePath(dataDir: string, databaseUrl: string | null): string {
  if (databaseUrl !== null && /^sqlite:/i.test(databaseUrl)) {
    const p = databaseUrl.replace(/^sqlite:(\/\/)?/i, '');
    return isAbsolute(p) ? p : resolve(p);
  }
  return resolve(join(dataDir, 'parley.db'));
}

/** Opens the database and applies the migrations it lacks. Rejects with StoreError. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const driver: Driver = isPostgresUrl(opts.databaseUrl)
    ? await PostgresDriver.open({ url: opts.databaseUrl })
    : await SqliteDriver.open({ path: sqlitePath(opts.dataDir, opts.databaseUrl) });
  let version: number;
  try {
    version = await driver.migrate(MIGRATIONS);
  } catch (err) {
    await driver.close().catch(() => {});
    throw err;
  }
  const { dataDir: _d, databaseUrl: _u, ...writer } = opts;
  return new StoreImpl(driver, version === 0 ? SCHEMA_VERSION : version, writer);
}
