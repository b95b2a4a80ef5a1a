/**
 * Drain (issue 13, docs/notes/cluster-drain.md) on a real process (server/main.ts) with a real SIP caller:
 * after SIGTERM (or POST /v1/admin/drain) the call in progress goes on and ends normally (BYE/200), new
 * INVITEs get 503 + Retry-After, OPTIONS 503, /readyz 503, a new WS session 503 on the upgrade, and the
 * process exits 0 once the last call has ended. A second SIGTERM is the fast path (today's shutdown: SIP
 * calls BYE'd at once, WS sessions get PARLEY_SHUTDOWN_GRACE_MS); the drain limit ends with the same path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeOpenAI } from '../fakes/index.ts';
import { MiniUac } from '../fakes/sip-uac.ts';
import { freePort, rtpRange } from '../fakes/sip-harness.ts';
import { startParleyProcess, type ParleyProcess } from '../support/parley-process.ts';
import { sipProbe } from '../support/sip-probe.ts';

const KEY = 'pk_drain_test_key_0123456789abcdef';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function start(extra: Record<string, string> = {}): Promise<{ p: ParleyProcess; sipPort: number; fake: FakeOpenAI }> {
  const fake = await new FakeOpenAI({ replyAudioMs: 400 }).start();
  cleanups.push(() => fake.stop());
  const sipPort = await freePort();
  const rtp = rtpRange();
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-drain-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const p = await startParleyProcess({
    PARLEY_API_KEYS: KEY, PARLEY_DEMO: 'off', PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
    OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl,
    PARLEY_SIP_ENABLED: 'on', PARLEY_SIP_PORT: String(sipPort), PARLEY_RTP_PORTS: `${rtp.min}-${rtp.max}`,
    PARLEY_SHUTDOWN_GRACE_MS: '1000', PARLEY_DATA_DIR: dataDir,
    ...extra,
  });
  cleanups.push(() => p.stop());
  // SIP binds a moment after /healthz answers
  const t0 = Date.now();
  for (;;) {
    const ok = await sipProbe(sipPort, 'OPTIONS', 500).then((a) => a.status === 200, () => false);
    if (ok) break;
    if (Date.now() - t0 > 15_000) throw new Error(`the SIP door did not answer OPTIONS:\n${p.out()}`);
  }
  return { p, sipPort, fake };
}

const readyz = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

/** The HTTP status a WS upgrade to /v1/realtime gets (101 when it opens). */
const upgradeStatus = (port: number): Promise<number> =>
  new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`, { headers: { Authorization: `Bearer ${KEY}` } });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });

/** An answered call from a real UDP UAC, with caller audio flowing (a loud tone, then silence: a turn for the fake). */
async function liveCall(sipPort: number): Promise<{ uac: MiniUac; stop: () => void }> {
  const uac = new MiniUac(sipPort);
  await uac.bind();
  cleanups.push(() => uac.close());
  await uac.call();
  const loud = new Uint8Array(160);
  for (let i = 0; i < 160; i++) loud[i] = i % 2 === 0 ? 0x10 : 0x90; // loud μ-law
  const quiet = new Uint8Array(160).fill(0xff);
  const stop = uac.stream((i) => (i % 100 < 30 ? loud : quiet));
  cleanups.push(stop);
  return { uac, stop };
}

/** The agent's reply reached the caller: the fake's μ-law reply bytes (0x55) in the RTP it got. */
const heardAgent = (uac: MiniUac): number => uac.received.filter((p) => p.payload.length > 0 && p.payload.every((b) => b === 0x55)).length;

const until = async (pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> => {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('drain', () => {
  it('SIGTERM: the call in progress finishes normally, new INVITEs 503 + Retry-After, OPTIONS 503, /readyz 503, WS 503; exit 0 after the last BYE', async () => {
    const { p, sipPort } = await start();
    const before = await readyz(p.url);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ ready: true, active_calls: 0, max_calls: 200, sip_calls: 0, sip_max_calls: 100 });
    const opt = await sipProbe(sipPort, 'OPTIONS');
    expect(opt.status).toBe(200);
    expect(opt.header('X-Parley-Status')).toBe('open');
    expect(opt.header('X-Parley-Load')).toMatch(/^calls=0;max=200;sip=0\/100$/);

    const { uac } = await liveCall(sipPort);
    await until(() => heardAgent(uac) > 5, 10_000, 'the agent heard by the caller before the drain');
    expect((await readyz(p.url)).body).toMatchObject({ active_calls: 1, sip_calls: 1 });

    p.signal('SIGTERM');
    await until(async () => (await readyz(p.url)).status === 503, 5000, '/readyz 503');
    const r = await readyz(p.url);
    expect(r.body).toMatchObject({ ready: false, draining: true, active_calls: 1 });

    const o = await sipProbe(sipPort, 'OPTIONS');
    expect(o.status).toBe(503);
    expect(o.header('X-Parley-Status')).toBe('draining');
    const inv = await sipProbe(sipPort, 'INVITE');
    expect(inv.status, inv.text).toBe(503);
    expect(Number(inv.header('Retry-After'))).toBeGreaterThan(0);
    expect(await upgradeStatus(p.port)).toBe(503);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).toMatch(/^parley_draining 1$/m);

    // the call goes on: the agent still answers the caller's turns, and nothing ends it
    const heard = heardAgent(uac);
    await new Promise((res) => setTimeout(res, 2500));
    expect(heardAgent(uac), 'the agent still talks during the drain').toBeGreaterThan(heard);
    expect(uac.requests.some((m) => m.startsWith('BYE ')), 'Parley did not hang up the call').toBe(false);
    expect(p.alive()).toBe(true);

    // the caller hangs up (BYE/200): the last call ended, the process exits 0
    const t0 = Date.now();
    await uac.bye();
    const { code, signal } = await p.exited;
    expect({ code, signal }, p.out()).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(p.out()).toMatch(/drained: the last call ended/);
  }, 45_000);

  it('POST /v1/admin/drain (server key): 202 {draining, active}; the process exits 0 when the call ends', async () => {
    const { p, sipPort } = await start();
    const { uac } = await liveCall(sipPort);
    const noKey = await fetch(`${p.url}/v1/admin/drain`, { method: 'POST' });
    expect(noKey.status).toBe(401);
    const badKey = await fetch(`${p.url}/v1/admin/drain`, { method: 'POST', headers: { Authorization: 'Bearer pk_not_the_key_0123456789abcdef' } });
    expect(badKey.status).toBe(401);
    expect((await readyz(p.url)).status).toBe(200);
    const res = await fetch(`${p.url}/v1/admin/drain`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ draining: true, active: 1 });
    expect((await readyz(p.url)).status).toBe(503);
    expect((await sipProbe(sipPort, 'INVITE')).status).toBe(503);
    // Kubernetes' SIGTERM after a preStop drain: still a drain, not the fast path
    p.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    expect(p.alive()).toBe(true);
    expect(uac.requests.some((m) => m.startsWith('BYE '))).toBe(false);
    await uac.bye();
    expect(await p.exited).toEqual({ code: 0, signal: null });
  }, 45_000);

  it('a second SIGTERM is the fast path (today\'s shutdown): the call is BYE’d at once, exit 0', async () => {
    const { p, sipPort } = await start();
    const { uac } = await liveCall(sipPort);
    p.signal('SIGTERM');
    await until(async () => (await readyz(p.url)).status === 503, 5000, 'draining');
    const t0 = Date.now();
    p.signal('SIGTERM');
    await uac.waitSip((m) => m.startsWith('BYE '), 8000, 'BYE from Parley');
    // today's shutdown: the SIP door hangs up its calls at once (WS sessions get the grace)
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await p.exited).toEqual({ code: 0, signal: null });
  }, 45_000);

  it('no RTP port left: OPTIONS 503 full, a new INVITE 503 + Retry-After before SIP.js takes it; open again when the call ends', async () => {
    // one RTP port pair: the first call takes it (a range smaller than the call cap, or ports other processes hold)
    const min = 2 * Math.floor(rtpRange().min / 2);
    const { sipPort } = await start({ PARLEY_RTP_PORTS: `${min}-${min + 1}` });
    const { uac, stop } = await liveCall(sipPort);
    const opt = await sipProbe(sipPort, 'OPTIONS');
    expect([opt.status, opt.header('X-Parley-Status')]).toEqual([503, 'full']);
    const inv = await sipProbe(sipPort, 'INVITE');
    expect([inv.status, inv.header('X-Parley-Status'), inv.header('Retry-After')]).toEqual([503, 'full', '5']);
    stop();
    await uac.bye();
    await until(async () => (await sipProbe(sipPort, 'OPTIONS')).status === 200, 5000, 'OPTIONS 200 once the port pair is free');
  }, 45_000);

  it('the drain limit (PARLEY_DRAIN_LIMIT_S) ends with the fast path: BYE when the limit is reached, exit 0', async () => {
    const { p, sipPort } = await start({ PARLEY_DRAIN_LIMIT_S: '1' });
    const { uac } = await liveCall(sipPort);
    const t0 = Date.now();
    p.signal('SIGTERM');
    await uac.waitSip((m) => m.startsWith('BYE '), 10_000, 'BYE from Parley');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950); // the 1 s limit, then the SIP door hangs up
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.out()).toMatch(/drain limit reached/);
  }, 45_000);
});
