/**
 * A rolling restart behind Kamailio (issue 13, Tests): two real Parley processes (server/main.ts, the openai
 * engine on the FakeOpenAI upstream) behind the shipped deploy/kamailio/kamailio.cfg, a steady stream of new
 * calls (one every ~300 ms, each ~2 s with audio both ways, then BYE), while A is restarted (SIGTERM → it
 * drains: OPTIONS/INVITE 503, Kamailio takes it out, its calls finish → exit 0 → started again on the same
 * HTTP/SIP/RTP ports and instance id → back in rotation at the next probe), then B the same way.
 *
 * It shows: every call of the stream was answered, heard the agent and ended BYE/200 through the proxy (none
 * refused, none hung up by Parley, none lost); the calls in progress on each instance when it was told to stop
 * finished normally on it; both instances exited 0, and only after their last call; both took calls again
 * after their restart. With a plain kill (or a drain that hangs up, PARLEY_DRAIN_LIMIT_S=0) the calls in
 * progress on the stopped instance would be cut or lose their BYE, and this test fails.
 * See docs/notes/cluster-drain.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { freePort, rtpRange } from '../fakes/sip-harness.ts';
import { startKamailio, type Kamailio } from '../support/kamailio.ts';
import { freeTcpPort, startParleyProcess, type ParleyProcess } from '../support/parley-process.ts';
import { ProxiedCaller } from '../support/sip-caller.ts';
import { sipProbe } from '../support/sip-probe.ts';

const KEY = 'pk_cluster_test_key_0123456789abcdef';
const PROBE_S = 1;
/** Kamailio's FR_TIMER_MS: a loaded 2-core machine may take a second or two to set a call up. */
const FR_MS = 4000;
/** The stream: a new call every STREAM_GAP_MS, each held CALL_MS after its answer (longer if the agent is slow). */
const STREAM_GAP_MS = 300;
const CALL_MS = 2000;
/** Agent audio a call must receive: 5 RTP packets whose payload is the fake's reply bytes. */
const HEARD = 5;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const until = async (pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> => {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(25);
  }
};

interface Instance {
  name: string;
  env: Record<string, string>;
  httpPort: number;
  sipPort: number;
  p: ParleyProcess;
}

/** Start (or start again) an instance on its fixed ports, with its fixed instance id; up when its SIP door answers OPTIONS 200. */
async function launch(i: Omit<Instance, 'p'>): Promise<ParleyProcess> {
  const p = await startParleyProcess(i.env, { port: i.httpPort });
  cleanups.push(() => p.stop());
  const t0 = Date.now();
  let last = 'no answer';
  // 30 s: a restart on a crowded 2-core machine (load 15) once took more than 15 s to answer 200
  while (!(await sipProbe(i.sipPort, 'OPTIONS', 500).then((a) => {
    last = `${a.status} ${a.header('X-Parley-Status') ?? ''}`;
    return a.status === 200;
  }, (err: unknown) => {
    last = String(err);
    return false;
  }))) {
    if (Date.now() - t0 > 30_000) throw new Error(`instance ${i.name}: SIP door not up (last OPTIONS: ${last}; alive ${p.alive()}):\n${p.out()}`);
  }
  return p;
}

async function instance(fake: FakeOpenAI, name: string): Promise<Instance> {
  const [sipPort, httpPort] = [await freePort(), await freeTcpPort()];
  const rtp = rtpRange();
  const dataDir = mkdtempSync(join(tmpdir(), `parley-rolling-${name}-`));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    PARLEY_API_KEYS: KEY, PARLEY_DEMO: 'off', PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
    OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, LOG_LEVEL: 'warn',
    PARLEY_SIP_ENABLED: 'on', PARLEY_SIP_PORT: String(sipPort), PARLEY_RTP_PORTS: `${rtp.min}-${rtp.max}`,
    PARLEY_DATA_DIR: dataDir, PARLEY_INSTANCE_ID: `parley-${name}`,
  };
  const base = { name, env, httpPort, sipPort };
  return { ...base, p: await launch(base) };
}

/** One call of the stream, as it went. Errors are kept, not thrown, so the stream goes on and the report is whole. */
interface StreamCall {
  n: number;
  startedAt: number;
  status?: number;
  answeredAt?: number;
  answeredBy?: number;
  heard?: number;
  byeAt?: number;
  bye?: number;
  endedAt?: number;
  /** Parley sent a BYE (hung up on the caller). */
  hungUp?: boolean;
  error?: string;
}

async function streamCall(k: Kamailio, rec: StreamCall): Promise<void> {
  const c = await new ProxiedCaller(k.port).bind();
  cleanups.push(() => c.close());
  try {
    const r = await c.invite(20_000);
    rec.status = r.status;
    if (r.status !== 200) return;
    rec.answeredAt = Date.now();
    rec.answeredBy = c.answeredBy;
    await until(() => c.replyPackets >= HEARD || c.requests.length > 0, 20_000, `the agent's reply on call ${rec.n}`);
    const left = CALL_MS - (Date.now() - rec.answeredAt);
    if (left > 0) await sleep(left);
    rec.heard = c.replyPackets;
    rec.byeAt = Date.now();
    rec.bye = await c.bye(8000);
    rec.endedAt = Date.now();
  } catch (e) {
    rec.error = (e as Error).message;
  } finally {
    rec.hungUp = c.requests.some((m) => m.startsWith('BYE '));
    c.close();
  }
}

describe('rolling restart behind Kamailio', () => {
  it('restart A then B under a steady stream of new calls: no call lost, drained calls finish, both exit 0 and take calls again', async () => {
    const t0 = Date.now();
    const fake = await new FakeOpenAI({ replyAudioMs: 400 }).start();
    cleanups.push(() => fake.stop());
    const [a, b] = await Promise.all([instance(fake, 'a'), instance(fake, 'b')]);
    const k = await startKamailio({ backends: [a.sipPort, b.sipPort], pingIntervalS: PROBE_S, frTimerMs: FR_MS });
    cleanups.push(() => k.stop());
    const dstFlags = async (port: number): Promise<string> => (await k.destinations()).find((d) => d.port === port)?.flags ?? '';

    // the stream: a new call every STREAM_GAP_MS until told to stop
    const calls: StreamCall[] = [];
    const running: Array<Promise<void>> = [];
    let streaming = true;
    const stream = (async () => {
      while (streaming) {
        const rec: StreamCall = { n: calls.length, startedAt: Date.now() };
        calls.push(rec);
        running.push(streamCall(k, rec));
        await sleep(STREAM_GAP_MS);
      }
    })();
    const live = (i: Instance): StreamCall[] => calls.filter((c) => c.answeredBy === i.sipPort && c.answeredAt !== undefined && c.endedAt === undefined && c.error === undefined);

    interface Restart {
      name: string;
      drainAt: number;
      exit: { code: number | null; signal: NodeJS.Signals | null } | null;
      exitAt: number;
      /** Calls answered by the instance before its drain began, still up then. */
      inProgress: StreamCall[];
      launchedAt: number;
      upAt: number;
      out: string;
    }
    const restart = async (i: Instance): Promise<Restart> => {
      // it has calls up when it is told to stop
      await until(() => live(i).length >= 2, 15_000, `instance ${i.name} has calls in progress`);
      const old = i.p;
      old.signal('SIGTERM');
      // the drain has begun when its /readyz says 503 (a loaded machine may take a moment to run the handler)
      await until(() => fetch(`${old.url}/readyz`).then((r) => r.status === 503, () => !old.alive()), 10_000, `${i.name} draining`);
      const drainAt = Date.now();
      const inProgress = calls.filter((c) => c.answeredBy === i.sipPort && c.answeredAt !== undefined && c.answeredAt <= drainAt && (c.byeAt === undefined || c.byeAt > drainAt));
      const exit = await Promise.race([old.exited, sleep(25_000).then(() => null)]);
      const exitAt = Date.now();
      // started again: the same ports, the same instance id
      i.p = await launch(i);
      const launchedAt = Date.now();
      // back in the rotation after a probe, and taking calls of the stream again
      await until(async () => /^A/.test(await dstFlags(i.sipPort)), PROBE_S * 1000 * 5, `${i.name} active in Kamailio's dispatcher again`);
      const upAt = Date.now();
      await until(() => calls.some((c) => c.answeredBy === i.sipPort && (c.answeredAt ?? 0) > upAt), 15_000, `a new call answered by the restarted ${i.name}`);
      return { name: i.name, drainAt, exit, exitAt, inProgress, launchedAt, upAt, out: old.out().slice(-2000) };
    };

    const restarts: Restart[] = [];
    try {
      await sleep(1500); // the stream is under way on both
      restarts.push(await restart(a));
      restarts.push(await restart(b));
      await sleep(1000); // a little more stream on the restarted pair
    } finally {
      streaming = false;
      await stream;
      await Promise.all(running);
    }

    // every call of the stream: answered, the agent heard, BYE/200 through the proxy, never hung up by Parley
    const bad = calls.filter((c) => c.status !== 200 || c.error !== undefined || (c.heard ?? 0) < HEARD || c.bye !== 200 || c.hungUp);
    expect(bad, `calls not answered/heard/ended normally:\n${JSON.stringify(bad)}\n${k.out().split('\n').filter((l) => /refused|failover|down|up:/.test(l)).join('\n')}`).toEqual([]);
    expect(calls.length, 'the stream ran across both restarts').toBeGreaterThanOrEqual(30);

    for (const [r, i] of [[restarts[0]!, a], [restarts[1]!, b]] as const) {
      // exit 0, after the last of the calls it had when the drain began had ended
      expect(r.exit, `${r.name}'s exit:\n${r.out}`).toEqual({ code: 0, signal: null });
      expect(r.inProgress.length, `${r.name} had calls in progress when it was told to stop`).toBeGreaterThanOrEqual(1);
      const lastBye = Math.max(...r.inProgress.map((c) => c.byeAt ?? Infinity));
      expect(r.exitAt, `${r.name} exited only after its last call's BYE`).toBeGreaterThanOrEqual(lastBye);
      // those calls finished normally on the draining instance (they are part of `calls` above: heard, BYE/200)
      for (const c of r.inProgress) expect([c.answeredBy, c.bye, c.hungUp]).toEqual([i.sipPort, 200, false]);
      // it took calls of the stream again after its restart
      expect(calls.filter((c) => c.answeredBy === i.sipPort && (c.answeredAt ?? 0) > r.upAt).length, `${r.name} took calls after its restart`).toBeGreaterThanOrEqual(1);
    }
    // both restarted processes are up and idle at the end
    for (const i of [a, b]) {
      expect(i.p.alive()).toBe(true);
      const r = (await (await fetch(`${i.p.url}/readyz`)).json()) as Record<string, unknown>;
      expect(r).toMatchObject({ ready: true, active_calls: 0 });
    }
    console.log(`rolling restart: ${calls.length} calls (${calls.filter((c) => c.answeredBy === a.sipPort).length} on A, ${calls.filter((c) => c.answeredBy === b.sipPort).length} on B), ` +
      restarts.map((r) => `${r.name}: ${r.inProgress.length} calls drained, exit after ${r.exitAt - r.drainAt} ms, started again in ${r.launchedAt - r.exitAt} ms, in rotation ${r.upAt - r.launchedAt} ms later`).join('; ') +
      `; ${Date.now() - t0} ms in all`);
  }, 120_000);
});
