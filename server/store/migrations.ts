/**
 * The schema, as versioned migrations: one list, each step written for both dialects. A database is
 * brought to the last version at start (server/store/index.ts `openStore`); the versions applied are
 * rows of `schema_migrations`. Append new steps; never edit one that has shipped.
 *
 * Times are integers in ms since the epoch. JSON is stored as text (the same in both dialects).
 */
import type { Migration } from './types.ts';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'calls, call events, webhook outbox',
    sqlite: [
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
        started_at INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at INTEGER,
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
        at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (call_id, seq)
      )`,
      `CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        call_id TEXT,
        type TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        dead_at INTEGER,
        last_error TEXT
      )`,
      'CREATE INDEX outbox_pending ON outbox (call_id, seq) WHERE delivered_at IS NULL AND dead_at IS NULL',
      'CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL',
    ],
    postgres: [
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
        started_at BIGINT NOT NULL,
        answered_at BIGINT,
        ended_at BIGINT,
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
        at_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (call_id, seq)
      )`,
      `CREATE TABLE outbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        call_id TEXT,
        type TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        delivered_at BIGINT,
        dead_at BIGINT,
        last_error TEXT
      )`,
      'CREATE INDEX outbox_pending ON outbox (call_id, seq) WHERE delivered_at IS NULL AND dead_at IS NULL',
      'CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL',
    ],
  },
  {
    version: 2,
    name: 'instances: which process holds an open call (the crash sweep closes only dead ones)',
    sqlite: [
      'ALTER TABLE calls ADD COLUMN instance TEXT',
      'CREATE TABLE instances (id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, seen_at INTEGER NOT NULL)',
    ],
    postgres: [
      'ALTER TABLE calls ADD COLUMN instance TEXT',
      'CREATE TABLE instances (id TEXT PRIMARY KEY, started_at BIGINT NOT NULL, seen_at BIGINT NOT NULL)',
    ],
  },
  {
    version: 3,
    name: 'instances.expires_at on the database clock (several instances, issue 13); open calls by instance',
    sqlite: [
      'ALTER TABLE instances ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0',
      'UPDATE instances SET expires_at = seen_at + 20000',
      'CREATE INDEX calls_open_instance ON calls (instance) WHERE ended_at IS NULL',
    ],
    postgres: [
      'ALTER TABLE instances ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0',
      'UPDATE instances SET expires_at = seen_at + 20000',
      'CREATE INDEX calls_open_instance ON calls (instance) WHERE ended_at IS NULL',
    ],
  },
];

/** The version this code expects. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** Run by every driver before the steps, in the same transaction. */
export const SCHEMA_MIGRATIONS_TABLE = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
} as const;
