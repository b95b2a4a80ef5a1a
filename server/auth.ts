/**
 * Who may use Parley: server API keys (PARLEY_API_KEYS) and ephemeral client keys (`ek_…`)
 * minted at POST /v1/realtime/client_secrets. Keys are kept only as SHA-256 digests and are
 * never logged.
 *
 * Credentials on a WebSocket upgrade (docs/protocol.md §1.2):
 * - `Authorization: Bearer <key>` (servers, the official `openai` client);
 * - subprotocol `openai-insecure-api-key.<key>` (browsers cannot set headers).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SessionPatch } from './protocol/index.ts';
import { newEphemeralKey } from './protocol/index.ts';
import type { SharedRedis } from './cluster/redis.ts';

export const SUBPROTOCOL_KEY_PREFIX = 'openai-insecure-api-key.';
export const EPHEMERAL_MIN_TTL_S = 10;
export const EPHEMERAL_MAX_TTL_S = 7200;
/** Expired keys are remembered this long (to answer "expired" rather than "invalid"), then dropped. */
const EXPIRED_MEMORY_MS = 10 * 60 * 1000;
/** How often the store drops keys past that memory (a timer that runs only while keys are stored). */
const PURGE_INTERVAL_MS = 60 * 1000;

function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export type Credential =
  | { kind: 'server' }
  | {
      kind: 'ephemeral';
      session: SessionPatch | null;
      expiresAtMs: number;
      /** The key's digest: what its live sessions are counted under. */
      keyId: string;
      /** Sessions this key may hold at once (set at mint, e.g. by the demo); null: only the server-wide caps. */
      maxSessions: number | null;
      /** The agent profile the key is bound to (server/profiles/): its sessions get it and cannot pick another. */
      profile: string | null;
    };

export type AuthResult =
  | { ok: true; credential: Credential }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'unverifiable'; message: string };

/** The session caps for ephemeral keys (config.limits). 0 = no cap. */
export interface EphemeralSessionLimits {
  /** PARLEY_EPHEMERAL_MAX_SESSIONS: sessions all ephemeral keys together may hold. */
  ephemeralMaxSessions: number;
  /** PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY: sessions one ephemeral key may hold. */
  ephemeralMaxSessionsPerKey: number;
}

/** A session slot taken at admission; `release()` (idempotent) gives it back when the session's socket closes. */
export type Admission =
  | { ok: true; release: () => void }
  | { ok: false; status: 429 | 503; code: 'key_session_limit' | 'ephemeral_session_limit'; message: string };

export interface KeyStoreOptions {
  now?: () => number;
  /** How long an expired key still answers "expired" (default 10 min). */
  expiredMemoryMs?: number;
  /** How often expired keys are swept (default 60 s). */
  purgeIntervalMs?: number;
  /**
   * Shared state (PARLEY_REDIS_URL, server/cluster/redis.ts): ephemeral keys minted here are written there,
   * keys minted elsewhere are read from there (then kept here), and the sessions per key are counted there
   * across instances. null (default): this process alone, as on one machine.
   */
  shared?: SharedRedis | null;
  /** How long a session lease in Redis lasts unless renewed (default 15 s): a dead instance's sessions stop counting after this. */
  leaseMs?: number;
}

/** The ephemeral key store's view of the shared state, for /metrics and tests. */
export interface SharedKeyStats {
  /** Keys found in Redis that were minted on another instance. */
  remoteHits: number;
  /** Keys not known here that could not be checked because Redis was down. */
  unverifiable: number;
  /** Admissions counted only on this instance because Redis was down. */
  localOnlyAdmissions: number;
}

interface EphemeralEntry {
  expiresAtMs: number;
  session: SessionPatch | null;
  maxSessions: number | null;
  profile: string | null;
}

const NOTHING_TO_RELEASE = (): void => undefined;
const LEASE_MS = 15_000;

export class KeyStore {
  readonly #server = new Set<string>();
  readonly #ephemeral = new Map<string, EphemeralEntry>();
  /** Live sessions per ephemeral key digest, and all of them together. */
  readonly #live = new Map<string, number>();
  #ephemeralLive = 0;
  readonly #now: () => number;
  readonly #expiredMemoryMs: number;
  readonly #purgeIntervalMs: number;
  #purgeTimer: NodeJS.Timeout | null = null;
  readonly #shared: SharedRedis | null;
  readonly #leaseMs: number;
  /** Writes to Redis of keys minted here, until they settle (the mint route answers after its key is stored). */
  readonly #writes = new Map<string, Promise<void>>();
  /** Session leases this instance holds in Redis: key digest → lease ids. */
  readonly #leases = new Map<string, Set<string>>();
  #renewTimer: NodeJS.Timeout | null = null;
  #offReady: (() => void) | null = null;
  readonly sharedStats: SharedKeyStats = { remoteHits: 0, unverifiable: 0, localOnlyAdmissions: 0 };

  constructor(serverKeys: readonly string[], opts: KeyStoreOptions | (() => number) = {}) {
    for (const k of serverKeys) this.#server.add(digest(k));
    const o = typeof opts === 'function' ? { now: opts } : opts;
    this.#now = o.now ?? (() => Date.now());
    this.#expiredMemoryMs = o.expiredMemoryMs ?? EXPIRED_MEMORY_MS;
    this.#purgeIntervalMs = o.purgeIntervalMs ?? PURGE_INTERVAL_MS;
    this.#shared = o.shared ?? null;
    this.#leaseMs = o.leaseMs ?? LEASE_MS;
    // Redis (back) up: write back what this instance holds, so a Redis that restarted empty catches up
    if (this.#shared) this.#offReady = this.#shared.onReady(() => this.#writeBack());
  }

  /** Whether keys and limits are shared through Redis (PARLEY_REDIS_URL). */
  get shared(): boolean {
    return this.#shared !== null;
  }

  /** Ephemeral keys held (live ones, and expired ones still remembered). */
  get ephemeralCount(): number {
    return this.#ephemeral.size;
  }

  /** Sessions open on ephemeral keys right now (admitted, socket not yet closed). */
  get ephemeralSessions(): number {
    return this.#ephemeralLive;
  }

  /**
   * Mints an ephemeral key valid for ttlS seconds, optionally bound to a session config and to a
   * cap on the sessions it may hold at once.
   */
  mintEphemeral(ttlS: number, session: SessionPatch | null, opts: { maxSessions?: number; profile?: string } = {}): { value: string; expiresAtMs: number } {
    this.purge();
    const value = newEphemeralKey();
    const expiresAtMs = this.#now() + ttlS * 1000;
    const maxSessions = opts.maxSessions !== undefined && opts.maxSessions > 0 ? opts.maxSessions : null;
    const d = digest(value);
    const entry: EphemeralEntry = { expiresAtMs, session, maxSessions, profile: opts.profile ?? null };
    this.#ephemeral.set(d, entry);
    this.#schedulePurge();
    if (this.#shared) this.#store(d, entry);
    return { value, expiresAtMs };
  }

  /**
   * Resolves once a key minted here is in Redis (or its write failed: Redis down; it is written back when
   * Redis returns). At once without Redis. Never rejects.
   */
  whenStored(value: string): Promise<void> {
    return this.#writes.get(digest(value)) ?? Promise.resolve();
  }

  #store(d: string, e: EphemeralEntry): void {
    const shared = this.#shared;
    if (!shared?.up) return;
    const w = shared.putKey(d, e).then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.#writes.get(d) === w) this.#writes.delete(d);
    });
    this.#writes.set(d, w);
  }

  /** On each (re)connection to Redis: the live keys minted or seen here, and the leases held. */
  #writeBack(): void {
    const now = this.#now();
    for (const [d, e] of this.#ephemeral) if (e.expiresAtMs > now) this.#store(d, e);
    this.#renew();
  }

  isServerKey(key: string): boolean {
    return this.#server.has(digest(key));
  }

  /** Checks a presented key (server or ephemeral). */
  check(key: string | null): AuthResult {
    if (key === null || key === '') return { ok: false, reason: 'missing', message: 'No API key was provided (Authorization: Bearer <key>, or the openai-insecure-api-key.<key> subprotocol).' };
    const d = digest(key);
    if (this.#server.has(d)) return { ok: true, credential: { kind: 'server' } };
    const e = this.#ephemeral.get(d);
    if (e) {
      const now = this.#now();
      if (e.expiresAtMs <= now) {
        // purged on lookup too: a key past its memory is forgotten now, not at the next sweep
        if (e.expiresAtMs < now - this.#expiredMemoryMs) this.#ephemeral.delete(d);
        else return { ok: false, reason: 'expired', message: 'The ephemeral key has expired.' };
      } else return { ok: true, credential: { kind: 'ephemeral', session: e.session, expiresAtMs: e.expiresAtMs, keyId: d, maxSessions: e.maxSessions, profile: e.profile } };
    }
    return { ok: false, reason: 'invalid', message: 'Incorrect API key provided.' };
  }

  /**
   * Checks a presented key here first (server keys, and ephemeral keys minted or already seen here: no Redis
   * round trip, since a key's entry never changes once minted); a key unknown here is looked up in Redis
   * when there is one (then kept here until it expires). Redis down: a key minted on another instance
   * cannot be checked → `unverifiable` (401 key_store_unavailable, retryable).
   */
  verify(key: string | null): AuthResult | Promise<AuthResult> {
    const local = this.check(key);
    if (local.ok || local.reason !== 'invalid' || this.#shared === null || key === null || !key.startsWith('ek_')) return local;
    return this.#verifyShared(key, local);
  }

  async #verifyShared(key: string, invalid: AuthResult): Promise<AuthResult> {
    const shared = this.#shared!;
    const d = digest(key);
    let e: Awaited<ReturnType<SharedRedis['getKey']>>;
    try {
      if (!shared.up) throw new Error('down');
      e = await shared.getKey(d);
    } catch {
      this.sharedStats.unverifiable++;
      return { ok: false, reason: 'unverifiable', message: 'This ephemeral key was not minted on this instance, and the shared key store (Redis) is unreachable, so it cannot be checked; try again shortly.' };
    }
    if (e === null) return invalid;
    this.sharedStats.remoteHits++;
    if (!this.#ephemeral.has(d)) {
      this.#ephemeral.set(d, { expiresAtMs: e.expiresAtMs, session: (e.session ?? null) as SessionPatch | null, maxSessions: e.maxSessions, profile: e.profile });
      this.#schedulePurge();
    }
    return this.check(key);
  }

  /**
   * Takes a session slot for a credential that passed `check`, or says why not. Server keys are
   * never limited here (only by PARLEY_MAX_SESSIONS); ephemeral keys are held to their own cap
   * (the smaller of the key's and PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY) and, together, to
   * PARLEY_EPHEMERAL_MAX_SESSIONS, so keys handed to browsers can never take every slot.
   *
   * With Redis, a key's own cap holds across the cluster (a lease per session, server/cluster/redis.ts):
   * then the answer is a promise. PARLEY_EPHEMERAL_MAX_SESSIONS stays per instance (it guards this
   * instance's slots). Redis down: the key's cap is held on this instance alone.
   */
  admit(credential: Credential, limits: EphemeralSessionLimits): Admission | Promise<Admission> {
    if (credential.kind === 'server') return { ok: true, release: NOTHING_TO_RELEASE };
    const perKey = Math.min(credential.maxSessions ?? Infinity, limits.ephemeralMaxSessionsPerKey > 0 ? limits.ephemeralMaxSessionsPerKey : Infinity);
    const held = this.#live.get(credential.keyId) ?? 0;
    if (held >= perKey) {
      return { ok: false, status: 429, code: 'key_session_limit', message: `This key already holds ${held} session(s), its limit; close one first.` };
    }
    if (limits.ephemeralMaxSessions > 0 && this.#ephemeralLive >= limits.ephemeralMaxSessions) {
      return { ok: false, status: 503, code: 'ephemeral_session_limit', message: 'All session slots for ephemeral keys are in use; try again later.' };
    }
    this.#live.set(credential.keyId, held + 1);
    this.#ephemeralLive++;
    let released = false;
    const releaseLocal = (): void => {
      if (released) return;
      released = true;
      this.#ephemeralLive--;
      const n = (this.#live.get(credential.keyId) ?? 1) - 1;
      if (n > 0) this.#live.set(credential.keyId, n);
      else this.#live.delete(credential.keyId);
    };
    const shared = this.#shared;
    if (shared === null || perKey === Infinity) return { ok: true, release: releaseLocal };
    // the key's cap across the cluster: a lease in Redis, renewed while the session lives
    const keyId = credential.keyId;
    const lease = randomUUID();
    const hold = (): (() => void) => {
      let leases = this.#leases.get(keyId);
      if (!leases) this.#leases.set(keyId, (leases = new Set()));
      leases.add(lease);
      this.#scheduleRenew();
      return () => {
        releaseLocal();
        const set = this.#leases.get(keyId);
        if (set?.delete(lease) !== true) return;
        if (set.size === 0) this.#leases.delete(keyId);
        if (shared.up) shared.releaseLease(keyId, lease).catch(() => undefined);
      };
    };
    if (!shared.up) {
      this.sharedStats.localOnlyAdmissions++;
      return { ok: true, release: hold() };
    }
    return shared.admitLease(keyId, lease, perKey, this.#leaseMs).then(
      (heldAcross) => {
        if (heldAcross === null) return { ok: true as const, release: hold() };
        releaseLocal();
        return { ok: false as const, status: 429 as const, code: 'key_session_limit' as const, message: `This key already holds ${heldAcross} session(s) across the cluster, its limit; close one first.` };
      },
      () => {
        // Redis failed under us: counted here alone (the lease is written back when Redis returns)
        this.sharedStats.localOnlyAdmissions++;
        return { ok: true as const, release: hold() };
      },
    );
  }

  /** Renews this instance's leases in Redis (and writes them back after a Redis restart). */
  #renew(): void {
    const shared = this.#shared;
    if (!shared?.up) return;
    for (const [keyId, leases] of this.#leases) shared.renewLeases(keyId, [...leases], this.#leaseMs).catch(() => undefined);
  }

  #scheduleRenew(): void {
    if (this.#renewTimer) return;
    this.#renewTimer = setInterval(() => {
      if (this.#leases.size === 0) {
        if (this.#renewTimer) clearInterval(this.#renewTimer);
        this.#renewTimer = null;
        return;
      }
      this.#renew();
    }, Math.max(100, Math.floor(this.#leaseMs / 3)));
    this.#renewTimer.unref();
  }

  /** Drops keys expired longer ago than the memory. Runs on a timer while keys are held, and on mint. */
  purge(): void {
    const limit = this.#now() - this.#expiredMemoryMs;
    for (const [k, e] of this.#ephemeral) if (e.expiresAtMs < limit) this.#ephemeral.delete(k);
  }

  /** Stops the purge timer (the app's close). */
  close(): void {
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    this.#purgeTimer = null;
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    this.#renewTimer = null;
    this.#offReady?.();
    this.#offReady = null;
  }

  #schedulePurge(): void {
    if (this.#purgeTimer) return;
    this.#purgeTimer = setInterval(() => {
      this.purge();
      if (this.#ephemeral.size === 0 && this.#purgeTimer) {
        clearInterval(this.#purgeTimer);
        this.#purgeTimer = null;
      }
    }, this.#purgeIntervalMs);
    this.#purgeTimer.unref();
  }
}

/** The key from `Authorization: Bearer …`, or null. */
export function bearerKey(headers: IncomingHttpHeaders): string | null {
  const h = headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

/** The offered subprotocols of a WebSocket upgrade. */
export function offeredSubprotocols(headers: IncomingHttpHeaders): string[] {
  const h = headers['sec-websocket-protocol'];
  if (typeof h !== 'string') return [];
  return h.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The key from a `openai-insecure-api-key.<key>` subprotocol, or null. */
export function subprotocolKey(protocols: readonly string[]): string | null {
  for (const p of protocols) if (p.startsWith(SUBPROTOCOL_KEY_PREFIX)) return p.slice(SUBPROTOCOL_KEY_PREFIX.length);
  return null;
}

/**
 * The subprotocol the server answers with (ws `handleProtocols`): `realtime` when offered, else the
 * first offered one that is not a key, else none. `openai-insecure-api-key.<key>` is never chosen:
 * the 101 response would carry the key back (README.md, Auth). A browser that offers only the key
 * fails the handshake when none comes back: offer `realtime` with it, as OpenAI's clients do.
 */
export function chooseSubprotocol(protocols: ReadonlySet<string>): string | false {
  if (protocols.has('realtime')) return 'realtime';
  for (const p of protocols) if (!p.startsWith(SUBPROTOCOL_KEY_PREFIX)) return p;
  return false;
}

/** The credential of an upgrade request: header first, then subprotocol. */
export function upgradeKey(headers: IncomingHttpHeaders): string | null {
  return bearerKey(headers) ?? subprotocolKey(offeredSubprotocols(headers));
}
