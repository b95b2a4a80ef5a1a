/**
 * Chaos part 2: connect/drop churn and slow clients against the WS door.
 *  - Churn: hundreds of connections that end every way a network ends them — TCP resets during the
 *    upgrade, after it with half a frame sent, between frames, a half-close mid-frame, `ws` clients
 *    terminated mid-response or before their engine is open, clean closes, refused keys, an oversized
 *    upgrade header — in concurrent waves against an engine that takes a moment to open.
 *  - Slow clients: clients that never read while a response streams without end. Parley's backpressure
 *    must stop the engine (bounded bytes in flight, bounded RSS); when they read again they get their
 *    audio; with the WS keepalive on, a client that never reads is cut and its slot freed.
 * After each: /healthz 200, parley_sessions_active 0 over /metrics, every engine connection closed,
 * open fds back to the start, RSS bounded. Reproduce with CHAOS_SEED=<seed>.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { PartProbe, Rng, SCALE, chaosSeed, eventually, gaugesToZero, healthz, rawUpgrade, reset, scaled, sleep, upgradeRequest, useChaosEngine, wsFrame, type ChaosEngineStats } from './harness.ts';

const SEED = chaosSeed();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const RESPONSE_CREATE = json({ type: 'response.create' });
/** For `ws` clients: a string goes as a text frame (a Buffer would go as a binary one). */
const RESPONSE_CREATE_TEXT = RESPONSE_CREATE.toString();
const SESSION_UPDATE = json({ type: 'session.update', session: { type: 'realtime', instructions: 'churn' } });

/** Resolves when the socket is closed, or after ms (then destroys it). */
function closedWithin(s: net.Socket | WebSocket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      if (s instanceof net.Socket) s.destroy();
      else s.terminate();
      resolve(false);
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    if (s instanceof net.Socket) {
      if (s.destroyed) return done();
      s.once('close', done);
      s.resume(); // read (and drop) what comes: a stream nobody reads never sees its 'end'
    } else {
      if (s.readyState === WebSocket.CLOSED) return done();
      s.once('close', done);
    }
  });
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function settleServer(parley: Parley, stats: ChaosEngineStats, probe: PartProbe): Promise<{ fds: number; sessions: number }> {
  expect(await healthz(parley.httpUrl), `seed ${SEED}`).toBe(200);
  const g = await gaugesToZero(parley.httpUrl, ['parley_sessions_active'], 8000);
  expect(await eventually(() => stats.live === 0, 5000), `engine connections left open: ${stats.live} (seed ${SEED})`).toBe(true);
  const fds = await probe.settleFds(0, 8000);
  return { fds, sessions: g['parley_sessions_active']! };
}

type Kind = 'upgrade-half' | 'upgrade-reset' | 'half-frame' | 'frame-and-half' | 'half-close' | 'ws-terminate-mid' | 'ws-terminate-early' | 'ws-close-mid' | 'bad-key' | 'big-header' | 'http-reset';
const KINDS: ReadonlyArray<readonly [number, Kind]> = [
  [2, 'upgrade-half'], [2, 'upgrade-reset'], [3, 'half-frame'], [3, 'frame-and-half'], [2, 'half-close'],
  [4, 'ws-terminate-mid'], [2, 'ws-terminate-early'], [2, 'ws-close-mid'], [1, 'bad-key'], [1, 'big-header'], [1, 'http-reset'],
];

/** One connection that ends badly. Returns the kind (for the tally) and whether it was cut by us cleanly. */
async function oneDrop(r: Rng, port: number, wsUrl: string, kind: Kind): Promise<void> {
  const wait = (): Promise<void> => sleep(r.range(0, 40));
  switch (kind) {
    case 'upgrade-half': {
      const s = await connectTcp(port);
      s.on('error', () => undefined);
      const req = upgradeRequest(port, TEST_KEY);
      s.write(req.slice(0, r.range(1, req.length - 1)));
      await wait();
      reset(s);
      return;
    }
    case 'upgrade-reset': {
      const s = await connectTcp(port);
      s.on('error', () => undefined);
      s.write(upgradeRequest(port, TEST_KEY));
      if (r.chance(0.5)) await sleep(r.range(0, 5));
      reset(s);
      return;
    }
    case 'half-frame':
    case 'frame-and-half':
    case 'half-close': {
      const s = await rawUpgrade(port, TEST_KEY);
      s.on('error', () => undefined);
      await wait();
      const full = wsFrame(0x1, r.chance(0.5) ? RESPONSE_CREATE : SESSION_UPDATE);
      const big = wsFrame(0x1, json({ type: 'input_audio_buffer.append', audio: Buffer.alloc(r.range(1, 64) * 960).toString('base64') }));
      if (kind === 'frame-and-half') s.write(full);
      const cut = r.chance(0.5) ? big : full;
      s.write(cut.subarray(0, r.range(1, cut.length - 1)));
      await wait();
      if (kind === 'half-close') {
        s.end();
        await closedWithin(s, 3000);
      } else reset(s);
      return;
    }
    case 'ws-terminate-mid':
    case 'ws-close-mid':
    case 'ws-terminate-early': {
      const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${TEST_KEY}` }, perMessageDeflate: false });
      ws.on('error', () => undefined);
      if (kind === 'ws-terminate-early') {
        await new Promise<void>((resolve) => {
          ws.once('upgrade', () => resolve());
          ws.once('close', () => resolve());
        });
        if (r.chance(0.5)) await sleep(r.range(0, 5));
        ws.terminate();
        return;
      }
      const created = new Promise<void>((resolve) => {
        ws.on('message', (d) => {
          if (String(d).includes('"session.created"')) resolve();
        });
        ws.once('close', () => resolve());
      });
      await created;
      ws.send(RESPONSE_CREATE_TEXT);
      await sleep(r.range(0, 60));
      if (kind === 'ws-close-mid') {
        ws.close();
        await closedWithin(ws, 3000);
      } else ws.terminate();
      return;
    }
    case 'bad-key': {
      const s = await connectTcp(port);
      s.on('error', () => undefined);
      s.write(upgradeRequest(port, 'pk_wrong_key_0000000000000000'));
      if (r.chance(0.5)) await closedWithin(s, 3000);
      else reset(s);
      return;
    }
    case 'big-header': {
      const s = await connectTcp(port);
      s.on('error', () => undefined);
      // above Node's 16 KiB header limit: 431 and a close
      const req = upgradeRequest(port, TEST_KEY).replace('\r\n\r\n', `\r\nX-Junk: ${'j'.repeat(r.range(17_000, 40_000))}\r\n\r\n`);
      s.write(req);
      if (r.chance(0.5)) await closedWithin(s, 3000);
      else reset(s);
      return;
    }
    case 'http-reset': {
      const s = await connectTcp(port);
      s.on('error', () => undefined);
      s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HT`);
      await wait();
      reset(s);
      return;
    }
  }
}

describe('chaos: connect/drop churn and slow clients', () => {
  it(`${Math.round(400 * SCALE)} connections dropped every way, in waves of 20, leave nothing behind`, async () => {
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '0' } });
    cleanups.push(() => parley.close());
    const r = new Rng(SEED);
    const stats = useChaosEngine(parley.app, { openDelayMs: () => r.range(0, 30), deltas: 40, deltaIntervalMs: 2 });
    const port = Number(new URL(parley.httpUrl).port);
    // warm-up: one of each kind, then the baseline
    for (const [, k] of KINDS) await oneDrop(r, port, parley.wsUrl, k);
    await eventually(() => parley.app.parley.sessions.active === 0 && stats.live === 0, 5000);
    await sleep(300);
    const probe = new PartProbe('churn', SEED);
    const total = Math.round(400 * SCALE);
    const tally = new Map<Kind, number>();
    const slowest = new Map<Kind, number>();
    let peakSessions = 0;
    const peakTimer = setInterval(() => (peakSessions = Math.max(peakSessions, parley.app.parley.sessions.active)), 10);
    for (let done = 0; done < total;) {
      const wave: Array<Promise<void>> = [];
      for (let i = 0; i < 20 && done < total; i++, done++) {
        const kind = r.weighted(KINDS);
        tally.set(kind, (tally.get(kind) ?? 0) + 1);
        const t0 = Date.now();
        wave.push(oneDrop(r, port, parley.wsUrl, kind).then(() => void slowest.set(kind, Math.max(slowest.get(kind) ?? 0, Date.now() - t0))));
      }
      await Promise.all(wave);
      probe.events += wave.length;
    }
    clearInterval(peakTimer);
    const { fds } = await settleServer(parley, stats, probe);
    const f = probe.finish(`opened ${stats.opened} engine connections (peak ${peakSessions} sessions) ${[...tally].map(([k, n]) => `${k}:${n}(≤${slowest.get(k) ?? 0}ms)`).join(' ')}`);
    expect(stats.opened, 'the churn did reach the engine').toBeGreaterThan(total / 4);
    expect(fds, `open fds: ${probe.fdsStart} at the start (seed ${SEED})`).toBeLessThanOrEqual(probe.fdsStart);
    expect(f.rssEnd - f.rssStart, `RSS grew by ${(f.rssEnd - f.rssStart).toFixed(0)} MiB (seed ${SEED})`).toBeLessThan(150);
    // still serves: a new client converses
    const ws = new WebSocket(parley.wsUrl, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    cleanups.push(() => ws.terminate());
    const done = new Promise<void>((resolve) => ws.on('message', (d) => String(d).includes('"response.done"') && resolve()));
    ws.on('message', (d) => String(d).includes('"session.created"') && ws.send(RESPONSE_CREATE_TEXT));
    await done;
  }, scaled(90_000));

  it('slow clients: clients that never read hold the engine back (bounded bytes and RSS), then get all their audio', async () => {
    const HIGH_WATER = 64 * 1024;
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '0', PARLEY_SEND_HIGH_WATER_BYTES: String(HIGH_WATER) } });
    cleanups.push(() => parley.close());
    // responses that stream audio without end (4800-byte deltas, as fast as the loop turns)
    const stats = useChaosEngine(parley.app, { deltas: Infinity, deltaIntervalMs: 0 });
    const port = Number(new URL(parley.httpUrl).port);
    const probe = new PartProbe('slow-clients', SEED);
    const N = Math.max(4, Math.round(8 * Math.min(SCALE, 4)));
    // half raw sockets that never read a byte, half `ws` clients paused after the upgrade
    const raws: net.Socket[] = [];
    const wss: WebSocket[] = [];
    let received = 0;
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) {
        const s = await rawUpgrade(port, TEST_KEY);
        s.pause();
        s.on('error', () => undefined);
        s.write(wsFrame(0x1, RESPONSE_CREATE));
        raws.push(s);
        cleanups.push(() => void s.destroy());
      } else {
        const ws = new WebSocket(parley.wsUrl, { headers: { Authorization: `Bearer ${TEST_KEY}` }, perMessageDeflate: false, maxPayload: 1 << 24 });
        ws.on('error', () => undefined);
        ws.on('message', (d: Buffer) => (received += d.length));
        await new Promise((resolve) => ws.once('open', resolve));
        ws.pause();
        ws.send(RESPONSE_CREATE_TEXT);
        wss.push(ws);
        cleanups.push(() => ws.terminate());
      }
    }
    probe.events = N;
    // the engines stream until Parley pauses them: the bytes emitted stop growing
    let last = -1;
    const plateau = await eventually(() => {
      const now = stats.audioBytes;
      const still = now === last && now > 0;
      last = now;
      return still;
    }, 20_000, 250);
    const emitted = stats.audioBytes;
    const pauses = parley.app.parley.metrics.backpressurePauses.get({ slow: 'client' });
    // each slow client: Parley's high-water mark plus what the kernel buffers on both ends (loopback
    // autotuning reaches several MiB). Without backpressure the engines would have emitted GiBs by now.
    const PER_CLIENT_MAX = 24 * 1024 * 1024;
    await sleep(500);
    expect(stats.audioBytes, 'the engines went on after the plateau').toBe(emitted);
    const rssHeld = probe.rssPeak;
    // read again: the ws clients get their audio flowing; the raw ones are dropped by a reset
    for (const ws of wss) ws.resume();
    await eventually(() => stats.audioBytes > emitted + 10 * 4800, 10_000);
    const resumed = stats.audioBytes - emitted;
    for (const s of raws) reset(s);
    for (const ws of wss) ws.terminate();
    const { fds } = await settleServer(parley, stats, probe);
    const f = probe.finish(`clients=${N} engine audio while not read ${(emitted / 2 ** 20).toFixed(1)} MiB (${(emitted / N / 2 ** 20).toFixed(1)} MiB per client), backpressure pauses ${pauses}, after reading again +${(resumed / 2 ** 20).toFixed(1)} MiB, client read ${(received / 2 ** 20).toFixed(1)} MiB`);
    expect(plateau, `the engines never stopped: ${(stats.audioBytes / 2 ** 20).toFixed(0)} MiB emitted (seed ${SEED})`).toBe(true);
    expect(emitted / N, 'audio emitted per slow client').toBeLessThan(PER_CLIENT_MAX);
    expect(pauses).toBeGreaterThanOrEqual(N);
    expect(resumed, 'the engines stream again once the clients read').toBeGreaterThan(0);
    expect(rssHeld - probe.rssStart, 'RSS while the clients did not read').toBeLessThan(N * 24 + 100);
    expect(fds, `open fds: ${probe.fdsStart} at the start (seed ${SEED})`).toBeLessThanOrEqual(probe.fdsStart);
    expect(f.rssEnd - f.rssStart).toBeLessThan(200);
  }, scaled(60_000));

  it('a client that never reads is cut by the WS keepalive and its slot is freed', async () => {
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '200', PARLEY_SEND_HIGH_WATER_BYTES: String(64 * 1024), PARLEY_MAX_SESSIONS: '2' } });
    cleanups.push(() => parley.close());
    const stats = useChaosEngine(parley.app, { deltas: Infinity, deltaIntervalMs: 1 });
    const port = Number(new URL(parley.httpUrl).port);
    const probe = new PartProbe('slow-clients/keepalive', SEED);
    const socks = await Promise.all([rawUpgrade(port, TEST_KEY), rawUpgrade(port, TEST_KEY)]);
    for (const s of socks) {
      s.pause(); // never reads: never sees a ping, never answers one
      s.on('error', () => undefined);
      s.write(wsFrame(0x1, RESPONSE_CREATE));
      cleanups.push(() => void s.destroy());
    }
    probe.events = 2;
    // at the limit: a third is refused with 503
    await eventually(() => parley.app.parley.sessions.active === 2, 3000);
    await expect(rawUpgrade(port, TEST_KEY)).rejects.toThrow(/503/);
    // within a few ping intervals both are cut, their sessions and engine connections closed
    const cut = await eventually(() => parley.app.parley.sessions.active === 0, 5000);
    expect(cut, `sessions still open: ${parley.app.parley.sessions.active}`).toBe(true);
    const s3 = await rawUpgrade(port, TEST_KEY); // the slots are free again
    s3.destroy();
    for (const s of socks) s.destroy();
    const { fds } = await settleServer(parley, stats, probe);
    probe.finish();
    expect(fds).toBeLessThanOrEqual(probe.fdsStart);
  }, scaled(30_000));
});
