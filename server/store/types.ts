/**
 * The database seam (docs/contracts.md §7): one interface over an embedded SQLite file (default) and
 * PostgreSQL (`PARLEY_DATABASE_URL=postgres://…`). Times in the database are integers in ms since the
 * epoch (`*_at`); the API renders them as ISO-8601 strings.
 */

export type Dialect = 'sqlite' | 'postgres';

/** A value bound to a `?` placeholder. JSON goes in as text. */
export type SqlValue = string | number | null;
export type Row = Record<string, unknown>;

/** One SQL statement with `?` placeholders (the PostgreSQL driver numbers them `$1…`). */
export interface Stmt {
  sql: string;
  params: SqlValue[];
}

/** What each dialect's driver does; everything above it is dialect-neutral SQL. */
export interface Driver {
  readonly dialect: Dialect;
  /** The statements in one transaction; the rows each returned (empty for non-queries). Rejects with StoreError. */
  transaction(stmts: Stmt[]): Promise<Row[][]>;
  /** One read. */
  query(sql: string, params: SqlValue[]): Promise<Row[]>;
  /** Applies the migrations the database lacks (serialised across processes); returns the version now in force. */
  migrate(migrations: readonly Migration[]): Promise<number>;
  close(): Promise<void>;
}

/** One step of the schema: the same change written for each dialect. */
export interface Migration {
  version: number;
  name: string;
  sqlite: readonly string[];
  postgres: readonly string[];
}

// ---- the webhook outbox -------------------------------------------------------------------------

/** A row to put in the outbox. */
export interface OutboxInput {
  /** The event's id (idempotency key the receiver sees). Unique. */
  id: string;
  /** Rows of one call are delivered in order; null: no ordering with anything else. */
  callId: string | null;
  type: string;
  /** ms since epoch (default: now). */
  createdAtMs?: number;
  /** The request body as it will be sent (signed as these exact bytes). */
  body: string;
  /** First attempt not before (default: createdAtMs). */
  nextAttemptAtMs?: number;
}

export interface OutboxRow {
  /** Monotonically increasing: the order of enqueueing. */
  seq: number;
  id: string;
  callId: string | null;
  type: string;
  createdAtMs: number;
  body: string;
  attempts: number;
  nextAttemptAtMs: number;
  deliveredAtMs: number | null;
  lastError: string | null;
}

export interface OutboxStats {
  /** Rows neither delivered nor given up. */
  depth: number;
  /** Age of the oldest such row (0 when none). */
  oldestAgeMs: number;
}

/**
 * The durable webhook outbox, in the same database as the call records. Writes are batched with the
 * record writes (same transaction order); each promise settles when its row is committed.
 */
export interface OutboxStore {
  /** Adds rows (committed in order, with the call-record writes queued before them). */
  enqueue(rows: readonly OutboxInput[]): Promise<void>;
  /**
   * Rows due now: for each call only its oldest pending row, and only when its next_attempt_at ≤ nowMs
   * (so delivery is in order per call), oldest first, at most `limit`. With `leaseMs` the rows are also
   * claimed (next_attempt_at moves to now + leaseMs) in the same statement, so two instances sharing a
   * PostgreSQL database do not both take a row. `leaseFrom`: the clock the lease runs from, read at the
   * claim (default nowMs; the claim may wait behind queued writes, e.g. through a database outage).
   */
  due(nowMs: number, limit: number, opts?: { leaseMs?: number; leaseFrom?: () => number }): Promise<OutboxRow[]>;
  /** Delivered: never returned by due() again. attempts + 1. */
  markDelivered(id: string, atMs?: number): Promise<void>;
  /** A failed attempt: attempts + 1, last_error, next try at nextAttemptAtMs. */
  reschedule(id: string, nextAttemptAtMs: number, error: string): Promise<void>;
  /** Give up on a row (it no longer holds back its call's later rows); kept with its error. */
  markDead(id: string, error: string, atMs?: number): Promise<void>;
  stats(nowMs?: number): Promise<OutboxStats>;
  /** One row by id (tests, diagnostics). */
  get(id: string): Promise<OutboxRow | null>;
}

// ---- call records -------------------------------------------------------------------------------

/** The calls table, one row per session. */
export interface CallRow {
  id: string;
  door: string;
  sipCallId: string | null;
  from: string | null;
  to: string | null;
  dialled: string | null;
  trunk: string | null;
  profile: string | null;
  metadata: Record<string, string>;
  startedAtMs: number;
  answeredAtMs: number | null;
  endedAtMs: number | null;
  endReason: string | null;
  /** Engines in the order used. */
  engines: string[];
  recording: string | null;
  /** Summaries written at the end (null while the call is open or after a crash). */
  usage: Record<string, unknown> | null;
  cost: Record<string, unknown> | null;
  /** The process writing the call (its heartbeat in `instances` says whether it lives). */
  instance: string | null;
}

/** One append-only row of a call's history. */
export interface CallEventRow {
  callId: string;
  /** Per call, from 1. */
  seq: number;
  /** transcript | truncation | tool_call | turn | speech | usage | dtmf | engine | transfer | note */
  kind: string;
  atMs: number;
  body: Record<string, unknown>;
}

export interface CallFilter {
  /** started_at ≥ fromMs */
  fromMs?: number;
  /** started_at < toMs */
  toMs?: number;
  door?: string;
  /** Contained in from, to or dialled (case-insensitive). */
  number?: string;
  endReason?: string;
  profile?: string;
}

export interface CallPage {
  rows: CallRow[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

export interface CallStore {
  // writes: queued, batched, never awaited on the media path
  open(row: CallRow): void;
  update(id: string, fields: Partial<Pick<CallRow, 'answeredAtMs' | 'endedAtMs' | 'endReason' | 'engines' | 'usage' | 'cost' | 'profile' | 'recording'>>): void;
  /**
   * Closes a call left open (crash sweep) only if it is still open; false when someone else closed it
   * first. `outbox`: rows (its `call.ended`) inserted in the same transaction, only when the call is
   * (now) closed as `interrupted` and only once per id: two sweepers racing for one call leave one
   * close and one row, and a crash of the sweeper leaves neither or both.
   */
  closeOrphan(id: string, fields: { endedAtMs: number; endReason: string; usage: Record<string, unknown>; cost: Record<string, unknown> }, outbox?: readonly OutboxInput[]): Promise<boolean>;
  append(ev: CallEventRow): void;
  // reads (after the queued writes are committed)
  get(id: string): Promise<CallRow | null>;
  events(ids: readonly string[]): Promise<Map<string, CallEventRow[]>>;
  list(filter: CallFilter, limit: number, cursor: string | null): Promise<CallPage>;
  /** Calls left open (no ended_at), e.g. by a crash. */
  openCalls(): Promise<CallRow[]>;
  /**
   * This process is alive: its `instances` row gets seen_at = the database's clock and expires_at =
   * that + ttlMs (one clock for every instance, whatever their own say). Returns the database's clock
   * and how long the database server has been up (Infinity for SQLite): a sweeper does not judge
   * heartbeats the database could not have taken (server/calls/index.ts).
   */
  heartbeat(instance: string, ttlMs: number): Promise<{ nowMs: number; upMs: number }>;
  /** An instance's heartbeat row, if any (start-up: was an earlier process of this id alive just now?). */
  instanceRow(instance: string): Promise<{ startedAtMs: number; seenAtMs: number; expiresAtMs: number } | null>;
  /** This process stops cleanly: its row expires now (its open calls, if any are left, are anyone's to close). */
  leave(instance: string): Promise<void>;
  /**
   * Open calls no live process holds: written by no instance, or by one whose heartbeat expired
   * (expires_at < the database's clock, or < `asOfMs` when given), never `exceptInstance`'s own.
   * Oldest first, at most `limit`.
   */
  orphans(asOfMs: number | null, exceptInstance: string, limit: number): Promise<CallRow[]>;
  /** Open calls written by `instance` (start-up: an earlier process of this id that is gone). */
  openCallsOf(instance: string, limit: number): Promise<CallRow[]>;
  /** Open calls of live instances other than `exceptInstance` (the live view from any instance). */
  openElsewhere(exceptInstance: string, limit: number): Promise<CallRow[]>;
  /** A call's events with seq > afterSeq, at most `limit` (the live view of a call on another instance). */
  eventsAfter(id: string, afterSeq: number, limit: number): Promise<CallEventRow[]>;
  /** Forget instances not seen since `beforeMs` that hold no open call. */
  pruneInstances(beforeMs: number): Promise<void>;
  /** Removes a call, its events and its outbox rows; false when there was no such call. */
  delete(id: string): Promise<boolean>;
  /** Ids of calls started before `beforeMs` (oldest first, at most `limit`): retention. */
  startedBefore(beforeMs: number, limit: number): Promise<string[]>;
}

export interface Store {
  readonly dialect: Dialect;
  /** The schema version in force. */
  readonly schemaVersion: number;
  readonly calls: CallStore;
  readonly outbox: OutboxStore;
  /** Commits everything queued so far. */
  flush(): Promise<void>;
  /** Writes queued and not yet committed, and the writer's counters. */
  writerStats(): WriterStats;
  /** Flushes, then closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface WriterStats {
  queued: number;
  committedStatements: number;
  committedBatches: number;
  failedBatches: number;
  droppedStatements: number;
}
