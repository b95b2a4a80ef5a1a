/**
 * HAProxy in front of two real Parley processes sharing one Redis (issue 13; deploy/haproxy/haproxy.cfg,
 * docs/cluster.md). Everything on 127.0.0.1, started here and stopped by PID.
 *
 * - An ephemeral key minted through HAProxy on one instance opens a realtime WebSocket session, through
 *   HAProxy, that lands on the other: which instance served each is read twice, from HAProxy's
 *   `X-Parley-Served-By` and from each instance's own /metrics (mint count, live sessions).
 * - An instance that drains (`POST /v1/admin/drain`: /readyz 503) is taken out of rotation within the
 *   health check's fall time, while its live session goes on through the tunnel; it exits 0 once that ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParleyProcess, type ParleyProcess } from '../support/parley-process.ts';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../support/redis.ts';
import { HAPROXY_AVAILABLE, startHaproxy, type HaproxyProcess } from '../support/haproxy.ts';

const SERVER_KEY = 'pk_test_cluster_haproxy_0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function metric(p: ParleyProcess, name: string): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function mintThrough(h: HaproxyProcess): Promise<{ value: string; servedBy: string }> {
  const res = await fetch(`${h.url}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVER_KEY}` },
    body: '{}',
  });
  expect(res.status).toBe(200);
  return { value: ((await res.json()) as { value: string }).value, servedBy: res.headers.get('x-parley-served-by') ?? '' };
}

/** A realtime session through HAProxy with an ephemeral key; resolves at session.created. */
function openThrough(h: HaproxyProcess, key: string): Promise<{ ws: WebSocket; servedBy: string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/v1/realtime?model=gpt-realtime`, ['realtime', `openai-insecure-api-key.${key}`], { perMessageDeflate: false });
    let servedBy = '';
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.once('upgrade', (res) => (servedBy = String(res.headers['x-parley-served-by'] ?? '')));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} from ${String(res.headers['x-parley-served-by'])}`)));
    ws.once('error', reject);
    ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { type: string }).type === 'session.created') resolve({ ws, servedBy, closed });
    });
  });
}

async function servedBy(h: HaproxyProcess): Promise<string> {
  const res = await fetch(`${h.url}/healthz`);
  await res.arrayBuffer();
  return res.headers.get('x-parley-served-by') ?? `status ${res.status}`;
}

describe.skipIf(!REDIS_AVAILABLE || !HAPROXY_AVAILABLE)('HAProxy + Redis in front of two Parley processes', () => {
  let redis: RedisServer;
  let fake: FakeOpenAI;
  let dirs: string[] = [];
  const inst: Record<string, ParleyProcess> = {};
  let haproxy: HaproxyProcess;

  beforeAll(async () => {
    redis = await startRedis();
    fake = await new FakeOpenAI().start();
    const env = (id: string): Record<string, string> => {
      const dir = mkdtempSync(join(tmpdir(), `parley-${id}-`));
      dirs.push(dir);
      return {
        PARLEY_API_KEYS: SERVER_KEY,
        PARLEY_ENGINE: 'openai',
        OPENAI_API_KEY: fake.apiKey,
        OPENAI_BASE_URL: fake.baseUrl,
        PARLEY_FALLBACK_ENGINE: 'none',
        PARLEY_DEMO: 'off',
        PARLEY_REDIS_URL: redis.url,
        PARLEY_INSTANCE_ID: id,
        PARLEY_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
      };
    };
    const [a, b] = await Promise.all([startParleyProcess(env('parley-a'), { readyTimeoutMs: 60_000 }), startParleyProcess(env('parley-b'), { readyTimeoutMs: 60_000 })]);
    inst['parley-a'] = a;
    inst['parley-b'] = b;
    haproxy = await startHaproxy({ a: `127.0.0.1:${a.port}`, b: `127.0.0.1:${b.port}` });
    // both in rotation (two good checks each)
    const deadline = Date.now() + 15_000;
    const seen = new Set<string>();
    while (seen.size < 2 && Date.now() < deadline) {
      seen.add(await servedBy(haproxy));
      await sleep(50);
    }
    expect([...seen].sort()).toEqual(['parley-a', 'parley-b']);
  }, 90_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(Object.values(inst).map((p) => p.stop()));
    await fake?.stop();
    await redis?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  it('a key minted through HAProxy on one instance opens a session that lands on the other', async () => {
    let minted: { value: string; servedBy: string } | null = null;
    let session: Awaited<ReturnType<typeof openThrough>> | null = null;
    for (let i = 0; i < 6; i++) {
      minted = await mintThrough(haproxy);
      session = await openThrough(haproxy, minted.value);
      if (session.servedBy !== minted.servedBy) break;
      session.ws.close();
      await session.closed;
    }
    expect(minted!.servedBy).toMatch(/^parley-[ab]$/);
    expect(session!.servedBy).toMatch(/^parley-[ab]$/);
    expect(session!.servedBy).not.toBe(minted!.servedBy);
    // the instances say the same: the minter minted (and holds no session), the other holds the session
    const minter = inst[minted!.servedBy]!;
    const host = inst[session!.servedBy]!;
    expect(await metric(minter, 'parley_client_secrets_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(host, 'parley_sessions_active')).toBe(1);
    expect(await metric(minter, 'parley_sessions_active')).toBe(0);
    session!.ws.close();
    expect(await session!.closed).toBe(1005);
  }, 30_000);

  it('a draining instance (/readyz 503) leaves the rotation; its live session goes on, and it exits 0 when that ends', async () => {
    const { value } = await mintThrough(haproxy);
    let s = await openThrough(haproxy, value);
    // the session under test on parley-b (leastconn: the next one goes to the other if it landed on a)
    if (s.servedBy !== 'parley-b') {
      const other = await openThrough(haproxy, (await mintThrough(haproxy)).value);
      s.ws.close();
      await s.closed;
      s = other;
    }
    expect(s.servedBy).toBe('parley-b');
    const b = inst['parley-b']!;
    const drained = await fetch(`${b.url}/v1/admin/drain`, { method: 'POST', headers: { authorization: `Bearer ${SERVER_KEY}` } });
    expect(drained.status).toBe(202);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(503);
    // out within fall (2) × inter (1 s) plus a check: then every new request goes to parley-a
    const t0 = Date.now();
    let lastB = t0;
    while (Date.now() - t0 < 4000) {
      if ((await servedBy(haproxy)) === 'parley-b') lastB = Date.now();
      await sleep(50);
    }
    expect(lastB - t0).toBeLessThan(3000);
    const after = await Promise.all(Array.from({ length: 10 }, () => servedBy(haproxy)));
    expect(new Set(after)).toEqual(new Set(['parley-a']));
    // the new session goes to a too, with a key minted (through HAProxy) on a
    const fresh = await openThrough(haproxy, (await mintThrough(haproxy)).value);
    expect(fresh.servedBy).toBe('parley-a');
    fresh.ws.close();
    // the session on b goes on through its tunnel: a message still gets an answer
    const answered = new Promise<void>((resolve) => s.ws.on('message', (d) => ((JSON.parse(d.toString()) as { type: string }).type === 'session.updated' ? resolve() : undefined)));
    s.ws.send(JSON.stringify({ type: 'session.update', session: { type: 'realtime', instructions: 'Still here.' } }));
    await answered;
    expect(b.alive()).toBe(true);
    // its last session ends: b exits 0
    s.ws.close();
    await s.closed;
    const exit = await Promise.race([b.exited, sleep(15_000).then(() => null)]);
    expect(exit).toEqual({ code: 0, signal: null });
  }, 60_000);
});
