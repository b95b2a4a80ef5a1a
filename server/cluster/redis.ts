/**
 * Shared fast state in Redis for a cluster of Parley instances (issue 13, docs/cluster.md), when
 * PARLEY_REDIS_URL is set; unset, everything stays in process as on one machine.
 *
 * What lives here:
 * - ephemeral keys (`ek:<digest>`): a key minted on one instance is valid on every other. Only the key's
 *   SHA-256 digest is stored (as in server/auth.ts), with what is bound to it (session config, profile,
 *   session cap), expiring with the key (PXAT = its expiry).
 * - sessions per key (`ks:<digest>`): a sorted set of session leases, one member per open session, scored
 *   by the lease's end on Redis's clock. Each instance renews its own leases every `leaseMs / 3`; an
 *   instance that dies stops renewing, and its sessions stop counting after `leaseMs`.
 * - calls per second per name (`rate:<name>`): GCRA's one timestamp (server/cluster/limits.ts).
 *
 * Redis down: every command fails at once (no offline queue, no retry per request), the callers fall back
 * to what this instance knows (docs/cluster.md, "Redis down"), and the client reconnects by itself
 * (backoff up to 2 s). On each reconnect the `ready` listeners run: the key store writes back the keys and
 * leases it holds, so a Redis that restarted empty catches up.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { checkRate, LocalRateLimiter, type RateDecision, type RateLimiter, type RateLimitOptions } from './limits.ts';

export interface SharedRedisOptions {
  /** redis://[user:pass@]host:port[/db] or rediss://… */
  url: string;
  log?: Logger | null;
  /** Prefix of every key (default `parley:`): several clusters may share one Redis. */
  prefix?: string;
  /** A command that has not answered after this long fails (default 1000 ms). */
  commandTimeoutMs?: number;
  /** Longest wait between two reconnection attempts (default 2000 ms). */
  maxReconnectDelayMs?: number;
}

/** What an ephemeral key carries to the other instances (never the key itself). */
export interface SharedKeyEntry {
  expiresAtMs: number;
  session: unknown;
  maxSessions: number | null;
  profile: string | null;
}

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** Drops ended leases, then adds ARGV[2] (lease ARGV[1] ms) if fewer than ARGV[3] remain. → -1 admitted, else the count held. */
const ADMIT = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then return n end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return -1
`);

/** Renews (or writes back) the leases ARGV[2..] for ARGV[1] ms. */
const RENEW = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return #ARGV - 1
`);

/** GCRA on Redis's clock: ARGV = perSecond, burst. → {1, 0} taken, {0, wait_ms} refused. */
const RATE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = 1000 / tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tolerance > now then return {0, math.ceil(tat - tolerance - now)} end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 1000)
return {1, 0}
`);

/** Books the next slot: ARGV = perSecond. → ms to wait (0: now). */
const RESERVE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local at = tonumber(redis.call('GET', KEYS[1]) or '0')
if at < now then at = now end
local nxt = at + 1000 / tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 1000)
return math.ceil(at - now)
`);

export class SharedRedis {
  readonly client: Redis;
  readonly prefix: string;
  readonly #log: Logger | null;
  readonly #onReady = new Set<() => void>();
  #up = false;
  #closed = false;
  /** Once per outage: the first error is logged, the rest are not. */
  #downLogged = false;

  constructor(opts: SharedRedisOptions) {
    this.prefix = opts.prefix ?? 'parley:';
    this.#log = opts.log ?? null;
    const maxDelay = opts.maxReconnectDelayMs ?? 2000;
    this.client = new Redis(opts.url, {
      // fail at once while disconnected: the callers have a local answer, a queue would only make them wait
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: (times) => (this.#closed ? null : Math.min(50 * 2 ** Math.min(times, 6), maxDelay)),
      reconnectOnError: () => false,
      lazyConnect: false,
    });
    this.client.on('ready', () => {
      this.#up = true;
      if (this.#downLogged) this.#log?.info('redis is back: shared state resumes');
      this.#downLogged = false;
      for (const fn of this.#onReady) {
        try {
          fn();
        } catch (err) {
          this.#log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'redis ready listener failed');
        }
      }
    });
    const down = (err?: Error): void => {
      this.#up = false;
      if (this.#closed || this.#downLogged) return;
      this.#downLogged = true;
      this.#log?.warn({ err: err ? { message: err.message } : undefined }, 'redis unreachable: shared state degraded to this instance (reconnecting)');
    };
    this.client.on('error', (err: Error) => down(err));
    this.client.on('close', () => down());
    this.client.on('end', () => (this.#up = false));
  }

  /** Connected and ready: a command has a chance. */
  get up(): boolean {
    return this.#up;
  }

  /** Runs `fn` on every (re)connection; returns the way to stop. */
  onReady(fn: () => void): () => void {
    this.#onReady.add(fn);
    return () => this.#onReady.delete(fn);
  }

  /** Resolves when ready (or rejects after `timeoutMs`). */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.#up) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error(`redis not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onReady(() => {
        clearTimeout(t);
        off();
        resolve();
      });
    });
  }

  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  async #run(script: Script, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.client.eval(script.source, keys.length, ...keys, ...args);
      throw err;
    }
  }

  // ephemeral keys

  async putKey(digest: string, entry: SharedKeyEntry): Promise<void> {
    await this.client.set(this.key('ek', digest), JSON.stringify(entry), 'PXAT', entry.expiresAtMs);
  }

  /** The entry, or null when Redis has none (unknown, or past its expiry). Throws when Redis cannot answer. */
  async getKey(digest: string): Promise<SharedKeyEntry | null> {
    const raw = await this.client.get(this.key('ek', digest));
    if (raw === null) return null;
    const e = JSON.parse(raw) as Partial<SharedKeyEntry>;
    if (typeof e.expiresAtMs !== 'number') return null;
    return { expiresAtMs: e.expiresAtMs, session: e.session ?? null, maxSessions: typeof e.maxSessions === 'number' ? e.maxSessions : null, profile: typeof e.profile === 'string' ? e.profile : null };
  }

  // session leases per key

  /** Adds a lease if the key holds fewer than `limit`; → null when admitted, else the count it holds. */
  async admitLease(keyId: string, member: string, limit: number, leaseMs: number): Promise<number | null> {
    const r = Number(await this.#run(ADMIT, [this.key('ks', keyId)], [leaseMs, member, limit]));
    return r < 0 ? null : r;
  }

  /** Renews (or writes back after a Redis restart) these leases of one key. */
  async renewLeases(keyId: string, members: readonly string[], leaseMs: number): Promise<void> {
    if (members.length === 0) return;
    await this.#run(RENEW, [this.key('ks', keyId)], [leaseMs, ...members]);
  }

  async releaseLease(keyId: string, member: string): Promise<void> {
    await this.client.zrem(this.key('ks', keyId), member);
  }

  /** Live leases of a key (tests, the admin view). */
  async countLeases(keyId: string): Promise<number> {
    const k = this.key('ks', keyId);
    const [s, us] = await this.client.time();
    const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    return this.client.zcount(k, `(${now}`, '+inf');
  }

  // rate limits

  async takeRate(name: string, perSecond: number, burst: number): Promise<{ ok: boolean; wait: number }> {
    const r = (await this.#run(RATE, [this.key('rate', name)], [perSecond, burst])) as [number, number];
    return { ok: Number(r[0]) === 1, wait: Number(r[1]) };
  }

  async reserveRate(name: string, perSecond: number): Promise<number> {
    return Number(await this.#run(RESERVE, [this.key('rate', name)], [perSecond]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#onReady.clear();
    this.#up = false;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** The RateLimiter over Redis (cluster-wide), falling back to an in-process one when Redis cannot answer. */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: SharedRedis;
  readonly #local: LocalRateLimiter;

  constructor(redis: SharedRedis, local = new LocalRateLimiter()) {
    this.#redis = redis;
    this.#local = local;
  }

  async take(name: string, perSecond: number, opts: RateLimitOptions = {}): Promise<RateDecision> {
    const burst = opts.burst ?? 1;
    checkRate(perSecond, burst);
    if (this.#redis.up) {
      try {
        const r = await this.#redis.takeRate(name, perSecond, burst);
        return { ok: r.ok, retryAfterMs: r.ok ? 0 : r.wait, scope: 'cluster' };
      } catch {
        // Redis failed under us: this instance holds the limit alone until it is back
      }
    }
    return this.#local.takeNow(name, perSecond, opts);
  }

  async reserve(name: string, perSecond: number): Promise<number> {
    checkRate(perSecond, 1);
    if (this.#redis.up) {
      try {
        return await this.#redis.reserveRate(name, perSecond);
      } catch {
        // Redis failed under us: this instance books alone until it is back
      }
    }
    return this.#local.reserveNow(name, perSecond);
  }

  close(): void {
    this.#local.close();
  }
}

/** The limiter for this process: Redis-backed when there is a Redis, else in-process. */
export function createRateLimiter(redis: SharedRedis | null): RateLimiter {
  return redis ? new RedisRateLimiter(redis) : new LocalRateLimiter();
}

