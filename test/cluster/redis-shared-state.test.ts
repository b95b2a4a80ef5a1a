/**
 * Shared state through a real Redis (issue 13, server/cluster/redis.ts, docs/cluster.md): two Parley apps
 * on 127.0.0.1 with one redis-server started by this file. An ephemeral key minted on one instance opens a
 * session on the other; Redis holds only the key's digest, expiring with the key; a key's session cap holds
 * across instances, and a dead instance's leases stop counting; calls per second per name hold across
 * instances. Redis down (killed mid-test): every instance still mints and serves its own keys, a key minted
 * elsewhere answers 401 key_store_unavailable, caps fall back to each instance, nothing crashes; Redis back
 * (empty): the instances reconnect by themselves and write back what they hold.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { KeyStore } from '../../server/auth.ts';
import { SharedRedis, RedisRateLimiter } from '../../server/cluster/redis.ts';
import { LocalRateLimiter } from '../../server/cluster/limits.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TEST_KEY, until, sleep, type Parley } from '../component/helpers.ts';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../support/redis.ts';

const digest = (k: string): string => createHash('sha256').update(k).digest('base64');

interface Opened {
  status: number;
  code?: string;
  ws?: WebSocket;
}

/** An upgrade with `key` (subprotocol, as a browser); open: the socket once session.created came. */
function open(parley: Parley, key: string): Promise<Opened> {
  return new Promise((resolve) => {
    const ws = new WebSocket(parley.wsUrl, ['realtime', `openai-insecure-api-key.${key}`], { perMessageDeflate: false });
    ws.on('error', () => resolve({ status: -1 }));
    ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { type: string }).type === 'session.created') resolve({ status: 101, ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? -1, code: (JSON.parse(body) as { error: { code: string } }).error.code }));
    });
  });
}

async function mint(parley: Parley, body: unknown = {}): Promise<{ status: number; value: string; expires_at: number }> {
  const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify(body),
  });
  const j = (await res.json()) as { value: string; expires_at: number };
  return { status: res.status, ...j };
}

const closeWs = (o: Opened): Promise<void> =>
  new Promise((resolve) => {
    if (!o.ws || o.ws.readyState === WebSocket.CLOSED) return resolve();
    o.ws.once('close', () => resolve());
    o.ws.close();
  });

describe.skipIf(!REDIS_AVAILABLE)('shared state in Redis', () => {
  let redis: RedisServer;
  let fake: FakeOpenAI;
  let a: Parley;
  let b: Parley;
  let peek: Redis;
  const sockets: Opened[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    fake = await new FakeOpenAI().start();
    const env = { PARLEY_REDIS_URL: redis.url, PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY: '1' };
    a = await startParley({ fake, env });
    b = await startParley({ fake, env });
    await a.app.parley.redis!.ready();
    await b.app.parley.redis!.ready();
    peek = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 });
    peek.on('error', () => undefined);
    await peek.connect();
  });
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(closeWs));
  });
  afterAll(async () => {
    peek?.disconnect();
    await a?.close();
    await b?.close();
    await fake?.stop();
    await redis?.close();
  });

  /** Two instances' own connections to the test's Redis (as each Parley instance holds one), ready; closed after `fn`. */
  async function withTwoConnections(fn: (r1: SharedRedis, r2: SharedRedis) => Promise<void>): Promise<void> {
    const r1 = new SharedRedis({ url: redis.url });
    const r2 = new SharedRedis({ url: redis.url });
    try {
      await r1.ready();
      await r2.ready();
      await fn(r1, r2);
    } finally {
      await r1.close();
      await r2.close();
    }
  }

  /**
   * Ends A's session `held` on `key`, waits for A to release its slot, then opens a session on B with `key` as
   * soon as the cap lets it (the release reaches Redis a moment later: up to 20 tries, 50 ms apart).
   */
  async function moveSessionToB(held: Opened, key: string): Promise<Opened> {
    await closeWs(held);
    await until(() => a.app.parley.keys.ephemeralSessions === 0, 5000, 'A released the slot');
    let now: Opened = { status: 0 };
    for (let i = 0; i < 20 && now.status !== 101; i++) {
      if (i > 0) await sleep(50);
      now = await open(b, key);
    }
    sockets.push(now);
    return now;
  }

  it('a key minted on A opens a session on B; Redis holds only its digest, expiring with the key', async () => {
    const k = await mint(a, { expires_after: { anchor: 'created_at', seconds: 120 } });
    expect(k.status).toBe(200);
    const o = await open(b, k.value);
    sockets.push(o);
    expect(o.status).toBe(101);
    expect(b.app.parley.keys.sharedStats.remoteHits).toBe(1);
    // a second session check on B is answered from its cache (no second Redis lookup)
    await closeWs(o);
    const again = await open(b, k.value);
    sockets.push(again);
    expect(again.status).toBe(101);
    expect(b.app.parley.keys.sharedStats.remoteHits).toBe(1);
    // only the digest: no Redis key or value holds the key itself
    const names = await peek.keys('*');
    expect(names).toContain(`parley:ek:${digest(k.value)}`);
    for (const n of names) {
      expect(n).not.toContain(k.value);
      if ((await peek.type(n)) === 'string') expect(await peek.get(n)).not.toContain(k.value);
    }
    const pttl = await peek.pttl(`parley:ek:${digest(k.value)}`);
    expect(pttl).toBeGreaterThan(110_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
    // an unknown key is still refused on both
    expect((await open(b, 'ek_0123456789abcdef0123456789abcdef')).status).toBe(401);
  });

  it('a profile and session config bound at mint travel with the key', async () => {
    const k = await mint(a, { session: { type: 'realtime', instructions: 'Bound on A.' } });
    const o = await open(b, k.value);
    sockets.push(o);
    expect(o.status).toBe(101);
    const cred = b.app.parley.keys.check(k.value);
    expect(cred.ok && cred.credential.kind === 'ephemeral' && cred.credential.session?.instructions).toBe('Bound on A.');
  });

  it("a key's session cap holds across instances, and frees when the session ends", async () => {
    const k = await mint(a);
    const first = await open(a, k.value);
    sockets.push(first);
    expect(first.status).toBe(101);
    const second = await open(b, k.value);
    expect(second).toMatchObject({ status: 429, code: 'key_session_limit' });
    const third = await moveSessionToB(first, k.value);
    expect(third.status).toBe(101);
  });

  it("a dead instance's leases stop counting after the lease", async () => {
    await withTwoConnections(async (shared1, shared2) => {
      const s1 = new KeyStore([], { shared: shared1, leaseMs: 1500 });
      const s2 = new KeyStore([], { shared: shared2, leaseMs: 1500 });
      const limits = { ephemeralMaxSessions: 0, ephemeralMaxSessionsPerKey: 1 };
      try {
        const { value } = s1.mintEphemeral(60, null);
        await s1.whenStored(value);
        const c1 = s1.check(value);
        const c2 = await s2.verify(value);
        if (!c1.ok || !c2.ok) throw new Error('keys not valid');
        const held = await s1.admit(c1.credential, limits);
        expect(held.ok).toBe(true);
        // renewed while instance 1 lives: still refused on 2 after two lease lengths
        await sleep(3200);
        expect((await s2.admit(c2.credential, limits)).ok).toBe(false);
        // instance 1 dies (no release, no renewal): its lease ends, 2 may take the slot
        s1.close();
        shared1.client.disconnect();
        await sleep(1800);
        expect((await s2.admit(c2.credential, limits)).ok).toBe(true);
      } finally {
        s1.close();
        s2.close();
      }
    });
  });

  it('calls per second per name hold across instances (Redis), where in-process limiters would each allow the rate', async () => {
    await withTwoConnections(async (r1, r2) => {
      const l1 = new RedisRateLimiter(r1);
      const l2 = new RedisRateLimiter(r2);
      const p1 = new LocalRateLimiter();
      const p2 = new LocalRateLimiter();
      let shared = 0;
      let local = 0;
      const until_ = Date.now() + 1000;
      while (Date.now() < until_) {
        for (const l of [l1, l2]) {
          const d = await l.take('trunk-a', 5);
          if (d.ok) shared++;
          expect(d.scope).toBe('cluster');
        }
        for (const l of [p1, p2]) if ((await l.take('trunk-a', 5)).ok) local++;
        await sleep(10);
      }
      // 5 per second, evenly spaced: at most 5 (+1 at the window's edge) in one second, for both together
      expect(shared).toBeGreaterThanOrEqual(4);
      expect(shared).toBeLessThanOrEqual(6);
      expect(local).toBeGreaterThanOrEqual(9);
    });
  });

  it("reserved slots (the outbound queue's interface) are spaced across instances", async () => {
    await withTwoConnections(async (r1, r2) => {
      const l1 = new RedisRateLimiter(r1);
      const l2 = new RedisRateLimiter(r2);
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) for (const l of [l1, l2]) waits.push(await l.reserve('trunk-r', 10));
      waits.sort((x, y) => x - y);
      expect(waits[0]).toBeLessThanOrEqual(1);
      // 10 per second from both instances together: one slot every 100 ms (less the time the asks took)
      for (let i = 1; i < waits.length; i++) expect(waits[i]! - waits[i - 1]!).toBeGreaterThanOrEqual(70);
      expect(waits[9]).toBeGreaterThanOrEqual(700);
      // and the outbound queue gets this limiter
      expect(typeof a.app.parley.rateLimiter.reserve).toBe('function');
    });
  });

  it('Redis down: each instance serves its own keys, a key from elsewhere is 401 key_store_unavailable, caps per instance; Redis back: it catches up', async () => {
    const before = await mint(b);
    await redis.stop();
    await until(() => !a.app.parley.redis!.up && !b.app.parley.redis!.up, 5000, 'both saw Redis go');
    // minting works, and the key works where it was minted
    const k = await mint(a);
    expect(k.status).toBe(200);
    const onA = await open(a, k.value);
    sockets.push(onA);
    expect(onA.status).toBe(101);
    // a key B never saw cannot be checked there
    expect(await open(b, k.value)).toMatchObject({ status: 401, code: 'key_store_unavailable' });
    // B's own key opens a session there (its lease is written back when Redis returns)
    const onB = await open(b, before.value);
    sockets.push(onB);
    expect(onB.status).toBe(101);
    // health answers on both
    expect((await fetch(`${a.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${b.httpUrl}/healthz`)).status).toBe(200);
    // the rate limiter falls back to the instance
    expect((await a.app.parley.rateLimiter.take('trunk-down', 5)).scope).toBe('instance');

    // Redis returns empty (nothing was saved): both reconnect on their own and write back
    await redis.restart();
    await until(() => a.app.parley.redis!.up && b.app.parley.redis!.up, 10_000, 'both reconnected');
    await sleep(300); // the write-back after the reconnect
    // B can check A's key now (A wrote it back), and A's live session on it was written back as a lease
    expect(await open(b, k.value)).toMatchObject({ status: 429, code: 'key_session_limit' });
    const now = await moveSessionToB(onA, k.value);
    expect(now.status).toBe(101);
    // B's live session on its key was written back as a lease: the cap holds across instances again
    expect(await open(a, before.value)).toMatchObject({ status: 429, code: 'key_session_limit' });
    expect((await a.app.parley.rateLimiter.take('trunk-up', 5)).scope).toBe('cluster');
  });
});
