/**
 * Chaos part 5: graceful shutdown with live WS and SIP calls — WS clients mid-response, WS clients whose
 * engine is still opening, answered SIP calls with RTP flowing, SIP calls still ringing while their
 * engine opens. The app stops as server/main.ts does on SIGTERM (stop accepting, SIP door closed, live
 * sessions get the grace period, app closed):
 *  - while draining: /healthz 200, /readyz 503, a new WS client 503;
 *  - clients that stay are closed with 1001 after the grace; clients that leave during the grace end the
 *    drain early; answered calls get a BYE; ringing calls get a final answer;
 *  - after: no session, no call, no engine connection, fds back to the start, RSS bounded.
 * And the real process: server/main.ts with live WS clients (on the openai engine, the fake upstream in
 * this process) and SIP calls, SIGTERM → every client closed 1001, every call BYE'd, every upstream socket
 * closed, exit 0 within the grace. Reproduce with CHAOS_SEED=<seed>.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startSipBridge } from '../../server/sip-bridge.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { freePort, rtpRange } from '../fakes/sip-harness.ts';
import { startParley, TEST_KEY } from '../component/helpers.ts';
import { FuzzClient } from './fuzz-client.ts';
import { ChaosUac } from './sip-uac.ts';
import { PartProbe, Rng, chaosSeed, eventually, healthz, httpGet, rawUpgrade, scaled, sleep, useChaosEngine } from './harness.ts';

const SEED = chaosSeed();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const status = (m: string | null): number => (m ? Number(/^SIP\/2\.0 (\d{3})/.exec(m)?.[1] ?? 0) : 0);
const byeOf = (m: string): boolean => m.startsWith('BYE ');

/** An answered call with RTP flowing every 20 ms until the UAC is closed. */
async function answeredCall(port: number): Promise<ChaosUac> {
  const uac = await new ChaosUac(port).bind();
  uac.invite();
  const final = await uac.response(1, 'INVITE', 200, 699, 5000);
  expect(status(final), 'the call was answered').toBe(200);
  uac.ack(final!);
  const tick = setInterval(() => uac.sendRtp(), 20);
  tick.unref();
  uac.sip.once('close', () => clearInterval(tick));
  return uac;
}

/** A WS client with a response streaming. */
async function streamingClient(url: string): Promise<FuzzClient> {
  const c = new FuzzClient(url, TEST_KEY);
  await c.opened;
  await c.seen('session.created', 5000);
  c.sendJson({ type: 'response.create' });
  await c.next((e) => e.type === 'response.output_audio.delta', 5000, 'audio');
  return c;
}

describe('chaos: graceful shutdown with live calls', () => {
  for (const leave of [false, true]) {
    it(leave ? 'clients that hang up during the grace end the drain early' : 'clients that stay are closed with 1001 after the grace; calls get a BYE; nothing is left', async () => {
      const r = new Rng(SEED ^ (leave ? 1 : 2));
      const GRACE_MS = leave ? 5000 : 400;
      // warm-up: an app with a SIP door started and stopped once (lazy modules and allocations), then the baseline
      {
        const p = await startParley({ env: { PARLEY_ENGINE: 'local' } });
        useChaosEngine(p.app);
        const b = await startSipBridge(p.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'local' });
        await answeredCall(b.server.port).then((u) => u.close());
        await b.close();
        await p.close();
        await sleep(200);
      }
      const probe = new PartProbe(leave ? 'shutdown/leave-in-grace' : 'shutdown/after-grace', SEED);
      const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '0' } });
      let closed = false;
      cleanups.push(() => (closed ? undefined : parley.close()));
      const slow = new Set<number>();
      let opens = 0;
      // the engine opens at once, except the opens numbered in `slow` (1.5 s: still opening at shutdown; the engine
      // ignores the abort, so the session must close what it gets after it is gone)
      const stats = useChaosEngine(parley.app, { openDelayMs: () => (slow.has(++opens) ? 1500 : r.range(0, 20)), deltas: Infinity, deltaIntervalMs: 20 });
      const bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'local' });
      let bridgeClosed = false;
      cleanups.push(() => (bridgeClosed ? undefined : bridge.close()));
      const sipPort = bridge.server.port;
      const httpPort = Number(new URL(parley.httpUrl).port);

      const streaming = await Promise.all([0, 1, 2, 3].map(() => streamingClient(parley.wsUrl)));
      const calls = await Promise.all([0, 1, 2].map(() => answeredCall(sipPort)));
      for (const x of [...streaming, ...calls]) cleanups.push(() => x.close());
      // two WS clients and two calls whose engine is still opening when the shutdown starts
      slow.add(opens + 1).add(opens + 2).add(opens + 3).add(opens + 4);
      const opening = [new FuzzClient(parley.wsUrl, TEST_KEY), new FuzzClient(parley.wsUrl, TEST_KEY)];
      for (const c of opening) cleanups.push(() => c.close());
      await Promise.all(opening.map((c) => c.opened));
      const ringing = await Promise.all([0, 1].map(async () => {
        const u = await new ChaosUac(sipPort).bind();
        cleanups.push(() => u.close());
        u.invite();
        expect(await u.response(1, 'INVITE', 180, 189, 3000)).not.toBeNull();
        return u;
      }));
      await eventually(() => opens >= 4 + 3 + 4, 3000);
      probe.events = streaming.length + calls.length + opening.length + ringing.length;
      const sessionsLive = parley.app.parley.sessions.active;

      // SIGTERM, as server/main.ts handles it
      const t0 = Date.now();
      parley.app.parley.sessions.stopAccepting();
      expect(await healthz(parley.httpUrl), 'draining: /healthz').toBe(200);
      expect((await httpGet(`${parley.httpUrl}/readyz`)).status, 'draining: /readyz').toBe(503);
      await expect(rawUpgrade(httpPort, TEST_KEY), 'draining: a new WS client').rejects.toThrow(/503/);
      if (leave) {
        // everyone hangs up a moment into the grace period
        setTimeout(() => {
          for (const c of [...streaming, ...opening]) c.close();
        }, r.range(50, 300));
      }
      await bridge.close();
      bridgeClosed = true;
      const tDrain = Date.now();
      await parley.app.parley.sessions.closeAll(GRACE_MS);
      const drainMs = Date.now() - tDrain;
      await parley.app.close();
      closed = true;
      const totalMs = Date.now() - t0;

      // the WS clients: closed (1001 after the grace, or their own close when they left)
      for (const c of [...streaming, ...opening]) expect(await eventually(() => c.closed !== null, 3000), 'a WS client was left open').toBe(true);
      if (!leave) for (const c of streaming) expect(c.closed, 'a streaming client').toEqual({ code: 1001, reason: 'server shutting down' });
      for (const c of opening) expect(c.closed!.code, 'a client whose engine was opening').toBeGreaterThanOrEqual(1000);
      // the calls: every answered one got a BYE, every ringing one a final answer
      for (const u of calls) expect(await u.wait(byeOf, 3000), 'an answered call got no BYE').not.toBeNull();
      for (const u of ringing) expect(status(await u.response(1, 'INVITE', 300, 699, 3000)), 'a ringing call got no final answer').toBeGreaterThanOrEqual(300);
      // nothing left
      expect(parley.app.parley.sessions.active).toBe(0);
      expect(parley.app.parley.metrics.sessionsActive.get()).toBe(0);
      expect(bridge.server.activeCalls).toBe(0);
      // the slow opens complete after the shutdown: each connection they return is closed at once
      expect(await eventually(() => stats.opened === opens, 5000), 'the slow opens finished').toBe(true);
      expect(await eventually(() => stats.live === 0, 5000), `engine connections left open: ${stats.live}`).toBe(true);
      await expect(healthz(parley.httpUrl), 'the server is closed').rejects.toThrow();
      for (const x of [...streaming, ...opening, ...calls, ...ringing]) x.close();
      const fds = await probe.settleFds(0, 5000);
      const f = probe.finish(`live sessions ${sessionsLive}, drain ${drainMs} ms of ${GRACE_MS} ms grace, shutdown ${totalMs} ms, engine opens ${stats.opened}`);
      expect(fds, `open fds: ${probe.fdsStart} before the server started (seed ${SEED})`).toBeLessThanOrEqual(probe.fdsStart);
      expect(f.rssEnd - f.rssStart).toBeLessThan(150);
      if (leave) expect(drainMs, 'the drain ended when the last client left').toBeLessThan(GRACE_MS - 2000);
      else expect(drainMs, 'the drain waited for the grace').toBeGreaterThanOrEqual(GRACE_MS - 50);
      expect(totalMs).toBeLessThan(GRACE_MS + 5000);
    }, scaled(40_000));
  }

  // Found by this suite: stopping the SIP door awaited each call's BYE, and SIP.js holds the BYE of a call
  // answered but not yet ACKed until the ACK or Timer H (32 s), so one caller that vanished right after the
  // 200 OK held the whole shutdown. Fixed in sip/server.ts: the hangups are bounded like ua.stop().
  it('a call answered but not yet ACKed does not hold the SIP door\'s stop for 32 s', async () => {
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local' } });
    cleanups.push(() => parley.close());
    useChaosEngine(parley.app);
    const bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'local' });
    const uac = await new ChaosUac(bridge.server.port).bind();
    cleanups.push(() => uac.close());
    uac.invite();
    const ok = await uac.response(1, 'INVITE', 200, 200, 5000);
    expect(ok).not.toBeNull();
    // no ACK yet (lost, or the caller is gone): the server retransmits its 200 OK
    const t0 = Date.now();
    const stopped = bridge.close();
    const inTime = await Promise.race([stopped.then(() => true), sleep(3000).then(() => false)]);
    // let the stop finish either way (the ACK releases SIP.js's BYE), so nothing runs on after the test
    uac.ack(ok!);
    await stopped;
    expect(inTime, `the SIP door took ${Date.now() - t0} ms to stop`).toBe(true);
  }, 20_000);

  it('the real process: SIGTERM with live WS clients and SIP calls closes them all and exits 0 within the grace', async () => {
    const GRACE_MS = 1500;
    const fake = await new FakeOpenAI({ replyAudioMs: 60_000, deltaIntervalMs: 20 }).start();
    cleanups.push(() => fake.stop());
    const sipPort = await freePort();
    const rtp = rtpRange();
    const httpPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: process.cwd(),
      env: {
        PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp',
        HOST: '127.0.0.1', PORT: String(httpPort), LOG_LEVEL: 'warn', PARLEY_API_KEYS: TEST_KEY, PARLEY_DEMO: 'off',
        OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
        PARLEY_SIP_ENABLED: 'on', PARLEY_SIP_PORT: String(sipPort), PARLEY_RTP_PORTS: `${rtp.min}-${rtp.max}`, PARLEY_SHUTDOWN_GRACE_MS: String(GRACE_MS),
        // no drain: SIGTERM takes the shutdown grace at once (test/cluster/drain.test.ts has the drain)
        PARLEY_DRAIN_LIMIT_S: '0',
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    });
    const url = `http://127.0.0.1:${httpPort}`;
    const up = await eventually(async () => (await healthz(url).catch(() => 0)) === 200, 20_000, 100);
    expect(up, `the server did not come up:\n${out}`).toBe(true);
    const fdsOf = (): number => readdirSync(`/proc/${child.pid}/fd`).length;
    const rssOf = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const fdsIdle = fdsOf();
    const wsUrl = `ws://127.0.0.1:${httpPort}/v1/realtime?model=gpt-realtime`;
    const clients = await Promise.all([0, 1, 2, 3].map(() => streamingClient(wsUrl)));
    // SIP.js binds its transport a moment after /healthz answers
    const calls: ChaosUac[] = [];
    for (let i = 0; i < 3; i++) {
      let call: ChaosUac | null = null;
      await eventually(async () => {
        call = await answeredCall(sipPort).catch(() => null);
        return call !== null;
      }, 10_000, 200);
      expect(call, `no SIP call went through:\n${out}`).not.toBeNull();
      calls.push(call!);
    }
    for (const x of [...clients, ...calls]) cleanups.push(() => x.close());
    await sleep(200);
    const fdsLive = fdsOf();
    const rssLive = rssOf();
    const upstreams = fake.open;
    const t0 = Date.now();
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    const ms = Date.now() - t0;
    process.stdout.write(`chaos shutdown/process: seed=0x${SEED.toString(16)} ws=${clients.length} calls=${calls.length} upstreams=${upstreams} fds idle ${fdsIdle} live ${fdsLive} rss live ${rssLive.toFixed(0)} MiB, exit ${code} after ${ms} ms (grace ${GRACE_MS} ms)\n`);
    expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    // the clients stayed: the process waited the grace out for them, then closed them
    expect(ms).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(ms).toBeLessThan(GRACE_MS + 5000);
    for (const c of clients) {
      await eventually(() => c.closed !== null, 3000);
      expect(c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    }
    for (const u of calls) expect(await u.wait(byeOf, 3000), 'an answered call got no BYE').not.toBeNull();
    expect(await eventually(() => fake.open === 0, 3000), 'upstream sockets left open by the process').toBe(true);
  }, scaled(60_000));
});
