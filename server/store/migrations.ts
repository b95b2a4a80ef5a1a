/**
 * The schema, as versioned migrations: one list, each step written once over the types that differ
 * between the dialects (`TYPES`) and held for each. A database is
 * brought to the last version at start (server/store/index.ts `openStore`); the versions applied are
 * rows of `schema_migrations`. Append new steps; never edit one that has shipped.
 *
 * Times are integers in ms since the epoch. JSON is stored as text (the same in both dialects).
 */
import type { Dialect, Migration } from './types.ts';

/** What differs between the dialects in the schema: SQLite's INTEGER is 64-bit; PostgreSQL needs BIGINT for times in ms. */
interface DialectTypes {
  /** A time in ms since the epoch (and other 64-bit integers). */
  ms: string;
  /** An auto-increasing 64-bit primary key. */
  seqPk: string;
}

const TYPES: Record<Dialect, DialectTypes> = {
  sqlite: { ms: 'INTEGER', seqPk: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  postgres: { ms: 'BIGINT', seqPk: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' },
};

/** One step written once, as a function of the dialect's types; the Migration holds it for each dialect. */
function step(version: number, name: string, sql: (t: DialectTypes) => readonly string[]): Migration {
  return { version, name, sqlite: sql(TYPES.sqlite), postgres: sql(TYPES.postgres) };
}

export const MIGRATIONS: readonly Migration[] = [
  step(1, 'calls, call events, webhook outbox', (t) => [
    `CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        door TEXT NOT NULL,
        sip_call_id TEXT,
        from_number TEXT,
        to_number TEXT,
        dialled TEXT,
        trunk TEXT,
        profile TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        started_at ${t.ms} NOT NULL,
        answered_at ${t.ms},
        ended_at ${t.ms},
        end_reason TEXT,
        engines TEXT NOT NULL DEFAULT '[]',
        recording TEXT,
        usage TEXT,
        cost TEXT
      )`,
    'CREATE INDEX calls_started ON calls (started_at, id)',
    'CREATE INDEX calls_open ON calls (started_at) WHERE ended_at IS NULL',
    `CREATE TABLE call_events (
        call_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at_ms ${t.ms} NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (call_id, seq)
      )`,
    `CREATE TABLE outbox (
        seq ${t.seqPk},
        id TEXT NOT NULL UNIQUE,
        call_id TEXT,
        type TEXT NOT NULL,
        created_at ${t.ms} NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at ${t.ms} NOT NULL,
        delivered_at ${t.ms},
        dead_at ${t.ms},
        last_error TEXT
      )`,
    'CREATE INDEX outbox_pending ON outbox (call_id, seq) WHERE delivered_at IS NULL AND dead_at IS NULL',
    'CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL',
  ]),
  step(2, 'instances: which process holds an open call (the crash sweep closes only dead ones)', (t) => [
    'ALTER TABLE calls ADD COLUMN instance TEXT',
    `CREATE TABLE instances (id TEXT PRIMARY KEY, started_at ${t.ms} NOT NULL, seen_at ${t.ms} NOT NULL)`,
  ]),
  step(3, 'instances.expires_at on the database clock (several instances, issue 13); open calls by instance', (t) => [
    `ALTER TABLE instances ADD COLUMN expires_at ${t.ms} NOT NULL DEFAULT 0`,
    'UPDATE instances SET expires_at = seen_at + 20000',
    'CREATE INDEX calls_open_instance ON calls (instance) WHERE ended_at IS NULL',
  ]),
];

/** The version this code expects. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** Run by every driver before the steps, in the same transaction. */
export const SCHEMA_MIGRATIONS_TABLE = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
} as const;
