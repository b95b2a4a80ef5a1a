/**
 * SIP call set-up through Kamailio (deploy/kamailio/kamailio.cfg) in front of two Parley processes, against
 * the baseline of one Parley process called directly, in the same run (issue 13 figures):
 *  - set-up latency (INVITE sent → 200 OK received, one call at a time): what the proxy hop adds, p50/p99
 *    (baseline: the same two instances called directly in turn, so only the hop differs);
 *  - set-ups per second (INVITE → 200 → ACK → BYE → 200, `--concurrency` calls in flight): two instances
 *    behind Kamailio vs one instance direct;
 *  - failover time: `kill -9` of instance B, then a new call that Kamailio's round robin sends to B first:
 *    from the kill to that call's 200 from the survivor A (FR_TIMER_MS of silence, then ds_next_dst), and
 *    from the kill to the dispatcher holding B inactive (no later call tries it).
 * Rounds interleaved with rotating order; medians with the interquartile range and min–max. The engine is
 * the FakeOpenAI upstream in this process (set-up is what is measured, not the conversation).
 *
 *   npx tsx bench/cluster-setup.ts [--rounds 5] [--calls 30] [--concurrency 8] [--failovers 3]
 *                                  [--ping 2] [--fr 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOpenAI } from '../test/fakes/index.ts';
import { freePort, rtpRange } from '../test/fakes/sip-harness.ts';
import { startKamailio, type Kamailio } from '../test/support/kamailio.ts';
import { startParleyProcess, type ParleyProcess } from '../test/support/parley-process.ts';
import { ProxiedCaller } from '../test/support/sip-caller.ts';
import { sipProbe } from '../test/support/sip-probe.ts';
import { banner, formatSpread, percentileSorted, spread } from './lib/index.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('rounds', 5);
const CALLS = arg('calls', 30);
const CONCURRENCY = arg('concurrency', 8);
const FAILOVERS = arg('failovers', 3);
const PING_S = arg('ping', 2);
const FR_MS = arg('fr', 2000);
const KEY = 'pk_bench_cluster_key_0123456789abcdef';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<void> | void> = [];

interface Instance {
  p: ParleyProcess;
  sipPort: number;
}

async function startInstance(fake: FakeOpenAI, name: string, sipPort?: number): Promise<Instance> {
  const port = sipPort ?? (await freePort());
  const rtp = rtpRange();
  const dataDir = mkdtempSync(join(tmpdir(), `parley-bench-${name}-`));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const p = await startParleyProcess({
    PARLEY_API_KEYS: KEY, PARLEY_DEMO: 'off', PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
    OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, LOG_LEVEL: 'warn',
    PARLEY_SIP_ENABLED: 'on', PARLEY_SIP_PORT: String(port), PARLEY_RTP_PORTS: `${rtp.min}-${rtp.max}`,
    PARLEY_DATA_DIR: dataDir, PARLEY_INSTANCE_ID: `bench-${name}`, PARLEY_SIP_MAX_CALLS: '1000', PARLEY_MAX_SESSIONS: '1000',
  });
  cleanups.push(() => p.stop());
  const t0 = Date.now();
  while (!(await sipProbe(port, 'OPTIONS', 500).then((a) => a.status === 200, () => false))) {
    if (Date.now() - t0 > 20_000) throw new Error(`instance ${name}: SIP door not up:\n${p.out()}`);
  }
  return { p, sipPort: port };
}

/** One call: INVITE → 200 (set-up time) → ACK → BYE → 200. */
async function oneCall(port: number): Promise<{ setupMs: number; by: number }> {
  const c = await new ProxiedCaller(port).bind();
  try {
    const r = await c.invite();
    if (r.status !== 200) throw new Error(`call answered ${r.status}: ${r.answer.split('\r\n')[0]}`);
    const bye = await c.bye();
    if (bye !== 200) throw new Error(`BYE answered ${bye}`);
    return { setupMs: r.setupMs, by: c.answeredBy };
  } finally {
    c.close();
  }
}

/** n calls one after the other, to the ports in turn (direct: A, B, A, …; or Kamailio). */
async function sequential(ports: number[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await oneCall(ports[i % ports.length]!)).setupMs);
  return out;
}

/** n calls, `conc` in flight: calls set up (and ended) per second. */
async function throughput(port: number, n: number, conc: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        next++;
        await oneCall(port);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function waitFlags(k: Kamailio, port: number, re: RegExp, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!re.test((await k.destinations()).find((d) => d.port === port)?.flags ?? '')) {
    if (Date.now() - t0 > ms) throw new Error(`instance :${port} not ${re} in ${ms} ms: ${JSON.stringify(await k.destinations())}`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  banner(`SIP set-up through Kamailio to two instances vs one instance direct (${ROUNDS} rounds × ${CALLS} calls, ${CONCURRENCY} in flight; probe ${PING_S} s, FR_TIMER_MS ${FR_MS})`);
  const fake = await new FakeOpenAI({ replyAudioMs: 200 }).start();
  cleanups.push(() => fake.stop());
  const a = await startInstance(fake, 'a');
  let b = await startInstance(fake, 'b');
  const k = await startKamailio({ backends: [a.sipPort, b.sipPort], pingIntervalS: PING_S, frTimerMs: FR_MS });
  cleanups.push(() => k.stop());
  // warm-up: both paths, both instances
  await sequential([a.sipPort, b.sipPort], 6);
  await sequential([k.port], 6);

  const direct: number[][] = [];
  const proxied: number[][] = [];
  const rateDirect: number[] = [];
  const rateProxied: number[] = [];
  const steps: Array<() => Promise<void>> = [
    // latency: the same two instances, called in turn directly vs through Kamailio's round robin
    async () => { direct.push(await sequential([a.sipPort, b.sipPort], CALLS)); },
    async () => { proxied.push(await sequential([k.port], CALLS)); },
    async () => { rateDirect.push(await throughput(a.sipPort, CALLS * 2, CONCURRENCY)); },
    async () => { rateProxied.push(await throughput(k.port, CALLS * 2, CONCURRENCY)); },
  ];
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < steps.length; j++) await (steps[(r + j) % steps.length] as () => Promise<void>)();
    process.stdout.write(`round ${r + 1}: p50 direct ${median(direct[r]!).toFixed(2)} ms, via Kamailio ${median(proxied[r]!).toFixed(2)} ms; ${rateDirect[r]!.toFixed(1)} vs ${rateProxied[r]!.toFixed(1)} set-ups/s\n`);
  }
  const pct = (xs: number[], p: number): number => percentileSorted(Float64Array.from(xs).sort(), p);
  const addedP50 = direct.map((d, r) => pct(proxied[r]!, 50) - pct(d, 50));
  const addedP99 = direct.map((d, r) => pct(proxied[r]!, 99) - pct(d, 99));
  const ratioP50 = direct.map((d, r) => pct(proxied[r]!, 50) / pct(d, 50));
  const rateRatio = rateProxied.map((x, r) => x / rateDirect[r]!);
  const all = (xs: number[][]): number[] => xs.flat();
  console.log('');
  console.log(`set-up latency, one call at a time (INVITE → 200), all rounds: direct (A, B in turn) p50 ${pct(all(direct), 50).toFixed(2)} ms p99 ${pct(all(direct), 99).toFixed(2)} ms; via Kamailio p50 ${pct(all(proxied), 50).toFixed(2)} ms p99 ${pct(all(proxied), 99).toFixed(2)} ms`);
  console.log(`  added by the proxy hop, per round: p50 +${formatSpread(spread(addedP50), 2)} ms (min–max ${fmtMinMax(addedP50)}), p99 +${formatSpread(spread(addedP99), 2)} ms (min–max ${fmtMinMax(addedP99)})`);
  console.log(`  ratio via Kamailio / direct, p50 per round: ${formatSpread(spread(ratioP50), 2)}× (min–max ${fmtMinMax(ratioP50)})`);
  console.log(`set-ups per second (${CONCURRENCY} in flight): direct to one instance ${formatSpread(spread(rateDirect), 1)}, via Kamailio to two ${formatSpread(spread(rateProxied), 1)}; ratio per round ${formatSpread(spread(rateRatio), 2)}× (min–max ${fmtMinMax(rateRatio)})`);

  // failover: kill -9 B right after a call went to A, so round robin offers the next call to B
  const failoverMs: number[] = [];
  const inactiveMs: number[] = [];
  for (let f = 0; f < FAILOVERS; f++) {
    await waitFlags(k, b.sipPort, /^A/, PING_S * 1000 * 3 + FR_MS);
    for (let i = 0; i < 4; i++) {
      const { by } = await oneCall(k.port);
      if (by === a.sipPort) break;
    }
    const t0 = performance.now();
    await b.p.stop(); // SIGKILL
    const killedAt = performance.now();
    const out = waitFlags(k, b.sipPort, /^I/, PING_S * 1000 * 2 + FR_MS * 2).then(() => inactiveMs.push(performance.now() - t0));
    const { by } = await oneCall(k.port);
    const answered = performance.now();
    if (by !== a.sipPort) throw new Error(`the call after kill -9 was answered by :${by}`);
    failoverMs.push(answered - t0);
    await out;
    process.stdout.write(`failover ${f + 1}: kill -9 took ${(killedAt - t0).toFixed(0)} ms; first new call answered by the survivor ${(answered - t0).toFixed(0)} ms after the kill; B inactive after ${inactiveMs[f]!.toFixed(0)} ms\n`);
    if (f + 1 < FAILOVERS) b = await startInstance(fake, 'b', b.sipPort);
  }
  if (FAILOVERS > 0) {
    console.log(`failover (kill -9 of B → first new call answered by A, the call offered to B first): ${formatSpread(spread(failoverMs), 0)} ms (min–max ${fmtMinMax(failoverMs, 0)}); B out of the rotation after ${formatSpread(spread(inactiveMs), 0)} ms`);
    console.log(`  (FR_TIMER_MS ${FR_MS} of silence from B before ds_next_dst; a probe every ${PING_S} s marks B inactive when one goes unanswered, or the failover's ds_mark_dst does first)`);
  }
}

const median = (xs: number[]): number => spread(xs).median;
function fmtMinMax(xs: number[], digits = 2): string {
  const s = spread(xs);
  return `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}`;
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    process.exit();
  });
