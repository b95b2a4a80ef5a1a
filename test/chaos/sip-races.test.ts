/**
 * Chaos part 3: SIP calls in hostile orders against an engine that takes 0–1.2 s to open (an upstream
 * WebSocket can), with an answer timeout of 1 s (so some opens finish after the call was already
 * refused with 503): CANCEL racing the answer, BYE in the early dialog, INVITE retransmitted while the
 * engine opens, callers that vanish without a BYE (RTP timeout), full calls with garbage among their
 * RTP, stray CANCEL/BYE for transactions that do not exist; then RTP and garbage to ports whose calls
 * have ended. After: every INVITE had a final answer, /healthz 200, parley_sessions_active and
 * parley_sip_calls_active 0 over /metrics, every engine connection closed, fds back to the start, RSS
 * bounded, and a plain call still goes through. Reproduce with CHAOS_SEED=<seed>.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Core } from 'sip.js';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { startParley, type Parley } from '../component/helpers.ts';
import { rtpRange } from '../fakes/sip-harness.ts';
import { ChaosUac } from './sip-uac.ts';
import { PartProbe, Rng, SCALE, chaosSeed, eventually, gaugesToZero, healthz, scaled, sleep, useChaosEngine, type ChaosEngineStats } from './harness.ts';

const SEED = chaosSeed();
const ANSWER_TIMEOUT_MS = 1000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

type Flow = 'cancel-race' | 'bye-early' | 'full-call' | 'vanish' | 'invite-retransmit' | 'stray';
const FLOWS: ReadonlyArray<readonly [number, Flow]> = [[5, 'cancel-race'], [2, 'bye-early'], [3, 'full-call'], [1, 'vanish'], [2, 'invite-retransmit'], [1, 'stray']];

interface Outcome {
  flow: Flow;
  /** The INVITE's final status (0: none came). */
  final: number;
  /** Parley's RTP port of an answered call. */
  rtpPort: number;
}

const status = (m: string | null): number => (m ? Number(/^SIP\/2\.0 (\d{3})/.exec(m)?.[1] ?? 0) : 0);

/** RTP for `ms` at 20 ms, with a garbage datagram now and then. */
async function talk(r: Rng, uac: ChaosUac, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 20) {
    uac.sendRtp();
    if (r.chance(0.1)) uac.sendUdp(uac.remoteRtpPort, Buffer.from(Array.from({ length: r.range(0, 40) }, () => r.int(256))));
    await sleep(20);
  }
}

async function finish(uac: ChaosUac, final: string | null, r: Rng, talkMs: number): Promise<void> {
  if (!final) return;
  uac.ack(final);
  if (status(final) < 300) {
    await talk(r, uac, talkMs);
    await uac.bye();
  }
}

async function runFlow(r: Rng, serverPort: number, flow: Flow): Promise<Outcome> {
  const uac = await new ChaosUac(serverPort).bind();
  const out: Outcome = { flow, final: 0, rtpPort: 0 };
  const finalOf = (ms: number): Promise<string | null> => uac.response(1, 'INVITE', 200, 699, ms);
  try {
    switch (flow) {
      case 'cancel-race': {
        uac.invite();
        await uac.response(1, 'INVITE', 180, 189, 3000);
        await sleep(r.range(0, 900));
        uac.cancel();
        const final = await finalOf(ANSWER_TIMEOUT_MS + 3000);
        out.final = status(final);
        out.rtpPort = uac.remoteRtpPort;
        await finish(uac, final, r, r.range(0, 200));
        break;
      }
      case 'bye-early': {
        uac.invite();
        const ringing = await uac.response(1, 'INVITE', 180, 189, 3000);
        if (ringing) uac.learn(ringing);
        await sleep(r.range(0, 500));
        await uac.bye(2000); // any answer (200, 481, …) will do; the call must end either way
        const final = await finalOf(ANSWER_TIMEOUT_MS + 3000);
        out.final = status(final);
        out.rtpPort = uac.remoteRtpPort;
        await finish(uac, final, r, 0);
        break;
      }
      case 'invite-retransmit': {
        const text = uac.inviteText();
        uac.send(text);
        await sleep(r.range(0, 20));
        uac.send(text);
        await sleep(r.range(0, 300));
        uac.send(text);
        const final = await finalOf(ANSWER_TIMEOUT_MS + 3000);
        out.final = status(final);
        out.rtpPort = uac.remoteRtpPort;
        await finish(uac, final, r, r.range(0, 300));
        break;
      }
      case 'full-call':
      case 'vanish': {
        uac.invite();
        const final = await finalOf(ANSWER_TIMEOUT_MS + 3000);
        out.final = status(final);
        if (!final) break;
        uac.ack(final);
        out.rtpPort = uac.remoteRtpPort;
        if (status(final) >= 300) break;
        await talk(r, uac, r.range(60, 500));
        if (flow === 'full-call') await uac.bye();
        // 'vanish': the caller is gone without a BYE; Parley's RTP timeout ends the call
        break;
      }
      case 'stray': {
        uac.cancel(); // no such INVITE: 481 (§9.2)
        const c = await uac.response(1, 'CANCEL', 400, 499, 2000);
        uac.toTag = 'nosuchtag';
        const b = await uac.bye(2000); // no such dialog: 481 (§15.1.2)
        out.final = Math.max(status(c), status(b));
        break;
      }
    }
  } finally {
    uac.close();
  }
  return out;
}

async function settle(parley: Parley, stats: ChaosEngineStats, bridge: SipBridge, probe: PartProbe): Promise<number> {
  expect(await healthz(parley.httpUrl)).toBe(200);
  const g = await gaugesToZero(parley.httpUrl, ['parley_sessions_active', 'parley_sip_calls_active'], 8000);
  expect(g, `sessions or calls left (seed ${SEED})`).toEqual({ parley_sessions_active: 0, parley_sip_calls_active: 0 });
  expect(bridge.server.activeCalls).toBe(0);
  expect(await eventually(() => stats.live === 0, 5000), `engine connections left open: ${stats.live} (seed ${SEED})`).toBe(true);
  return probe.settleFds(0, 8000);
}

describe('chaos: SIP races against a slow engine', () => {
  it(`${Math.round(40 * SCALE)} calls in hostile orders, then RTP to dead ports; nothing is left behind`, async () => {
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '0' } });
    cleanups.push(() => parley.close());
    const r = new Rng(SEED);
    let slowOpens = false;
    const stats = useChaosEngine(parley.app, { openDelayMs: () => (slowOpens ? r.range(0, 1200) : 0), deltas: 20, deltaIntervalMs: 20 });
    const range = rtpRange();
    const bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: range, answerTimeoutMs: ANSWER_TIMEOUT_MS, rtpTimeoutS: 1 }, engine: 'local' });
    cleanups.push(() => bridge.close());
    const port = bridge.server.port;
    // warm-up: one plain call (lazy allocations), then the baseline
    await runFlow(new Rng(1), port, 'full-call');
    await eventually(() => bridge.server.activeCalls === 0 && stats.live === 0, 5000);
    await sleep(300);
    const probe = new PartProbe('sip-races', SEED);
    slowOpens = true;
    const total = Math.round(40 * SCALE);
    const outcomes: Outcome[] = [];
    for (let done = 0; done < total;) {
      const wave: Array<Promise<Outcome>> = [];
      for (let i = 0; i < 8 && done < total; i++, done++) wave.push(sleep(r.range(0, 100)).then(() => runFlow(r, port, r.weighted(FLOWS))));
      outcomes.push(...(await Promise.all(wave)));
    }
    probe.events = outcomes.length;
    // the callers that vanished are hung up by the RTP timeout (1 s)
    await eventually(() => bridge.server.activeCalls === 0, 5000);
    // RTP and garbage to every port of an ended call and to random ports of the range
    const stray = await new ChaosUac(port).bind();
    const dead = [...new Set(outcomes.map((o) => o.rtpPort).filter((p) => p > 0))];
    let packets = 0;
    for (let i = 0; i < Math.round(200 * SCALE); i++) {
      const p = dead.length > 0 && r.chance(0.5) ? r.pick(dead) : range.min + r.int(range.max - range.min + 1);
      if (r.chance(0.7)) stray.sendRtp(p);
      else stray.sendUdp(p, Buffer.from(Array.from({ length: r.range(0, 200) }, () => r.int(256))));
      packets++;
      if (i % 20 === 0) await sleep(1);
    }
    probe.events += packets;
    stray.close();
    const fds = await settle(parley, stats, bridge, probe);
    const tally = new Map<string, number>();
    for (const o of outcomes) tally.set(`${o.flow}→${o.final}`, (tally.get(`${o.flow}→${o.final}`) ?? 0) + 1);
    const f = probe.finish(`engine opens ${stats.opened}, outcomes ${[...tally].sort().map(([k, n]) => `${k}:${n}`).join(' ')}, ${packets} datagrams to dead ports`);
    // every INVITE had a final answer; CANCEL races end in 487 or an answered call (or 503 past the answer timeout)
    const unanswered = outcomes.filter((o) => o.flow !== 'stray' && o.final === 0);
    expect(unanswered, `INVITEs without a final response (seed ${SEED})`).toEqual([]);
    for (const o of outcomes.filter((x) => x.flow === 'cancel-race')) expect([200, 487, 503], `cancel race (seed ${SEED})`).toContain(o.final);
    for (const o of outcomes.filter((x) => x.flow === 'stray')) expect(o.final, `stray CANCEL/BYE (seed ${SEED})`).toBe(481);
    expect(fds, `open fds: ${probe.fdsStart} at the start (seed ${SEED})`).toBeLessThanOrEqual(probe.fdsStart);
    expect(f.rssEnd - f.rssStart, `RSS grew by ${(f.rssEnd - f.rssStart).toFixed(0)} MiB`).toBeLessThan(150);
    // and a plain call still goes through
    slowOpens = false;
    const last = await runFlow(new Rng(2), port, 'full-call');
    expect(last.final).toBe(200);
  }, scaled(120_000));

  it('a BYE before the ACK (the caller hangs up as the call is answered) does not crash the process', async () => {
    // SIP.js ends an answered call whose ACK never came when its INVITE transaction times out (Timer L,
    // 64·T1 = 32 s): shortened here for this worker (Core.Timers is the table SIP.js reads when it arms them)
    const timers = Core.Timers as { TIMER_L: number; TIMER_H: number };
    const saved = { L: timers.TIMER_L, H: timers.TIMER_H };
    timers.TIMER_L = 800;
    timers.TIMER_H = 800;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_WS_PING_INTERVAL_MS: '0' } });
      cleanups.push(() => parley.close());
      const stats = useChaosEngine(parley.app);
      const bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'local' });
      cleanups.push(() => bridge.close());
      const calls = Math.max(2, Math.round(3 * SCALE));
      for (let i = 0; i < calls; i++) {
        const uac = await new ChaosUac(bridge.server.port).bind();
        cleanups.push(() => uac.close());
        uac.invite();
        const ok = await uac.response(1, 'INVITE', 200, 200, 5000);
        expect(ok, 'the call was answered').not.toBeNull();
        uac.learn(ok!);
        // the BYE overtakes the ACK (UDP reorders; or the caller hung up as the 200 OK arrived)
        expect(status(await uac.bye(2000)), 'BYE before ACK').toBe(200);
        if (i % 2 === 0) uac.ack(ok!); // a late ACK, or none at all
      }
      // past the shortened Timer L: SIP.js's ACK timeout fires for every one of them
      await sleep(2000);
      expect(uncaught.map((e) => (e instanceof Error ? e.message : String(e))), 'uncaught exceptions (each one kills server/main.ts)').toEqual([]);
      expect(bridge.server.activeCalls).toBe(0);
      expect(parley.app.parley.sessions.active).toBe(0);
      expect(await eventually(() => stats.live === 0, 3000)).toBe(true);
      // and the door still takes calls
      const last = await runFlow(new Rng(3), bridge.server.port, 'full-call');
      expect(last.final).toBe(200);
    } finally {
      process.off('uncaughtException', onUncaught);
      timers.TIMER_L = saved.L;
      timers.TIMER_H = saved.H;
    }
  }, 30_000);
});
