/**
 * Outbound calls (issue 12 §2 figure; docs/notes/outbound.md): call setup time and calls per second.
 *
 *   npx tsx bench/outbound.ts [--rounds 6] [--calls 20] [--cps 20,50,100,200] [--burst-s 2]
 *
 * One process runs Parley (buildApp + the SIP bridge, a null engine that says nothing) and dials a local
 * SIPp UAS (fixtures/sip/uas-bench.xml: 180 and 200 + SDP at once, then the BYE answered).
 *
 *  1. Setup time, INVITE sent → 200 OK received, p50/p99, against a baseline measured in the same process:
 *     a bare UDP UAC (hand-built INVITE/ACK/BYE on a dgram socket, no SIP stack) calling the same SIPp.
 *     Rounds interleave the two (bare first in even rounds, Parley first in odd ones), `--calls` calls one
 *     after the other in each; the ratio is taken per round (Parley p50 / bare p50) and given as its median
 *     with the min–max over the rounds. Parley's figure is its own (sip/uac.ts: performance.now() from the
 *     INVITE handed to the transport to the 200 OK read), the bare one is the same span on its socket.
 *  2. Calls per second: for each limit C in `--cps`, C × `--burst-s` calls are queued at once (POST /v1/calls's
 *     OutboundCalls.place) with PARLEY_OUTBOUND_CPS = C; each call is hung up as soon as it is answered. Per C:
 *     the rate achieved (INVITEs over the span), the most INVITEs in any 1 s window (must be ≤ C: the limit
 *     held), the lag of each INVITE behind its slot (t0 + i/C), and how many calls were answered. "Places C
 *     per second" = achieved ≥ 0.9·C (a slot missed by a late timer is not made up: the limiter spaces from
 *     the later send), no window over C, lag p99 < 100 ms and every call answered.
 */
import dgram from 'node:dgram';
import { loadavg } from 'node:os';
import { formatSpread, percentileSorted, spread } from './lib/index.ts';
import { silentEngine } from './lib/null-engine.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : def;
}
const ROUNDS = Number(arg('rounds', '6'));
const CALLS = Number(arg('calls', '20'));
const CPS = arg('cps', '20,50,100,200').split(',').map(Number);
const BURST_S = Number(arg('burst-s', '2'));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => percentileSorted(Float64Array.from(xs).sort(), p);

/** A bare UAC: INVITE → (180) → 200 → ACK → BYE → 200, one call at a time; returns INVITE → 200 in ms. */
class BareUac {
  private readonly sock = dgram.createSocket('udp4');
  private port = 0;
  private waiter: ((msg: string) => void) | null = null;
  private n = 0;
  constructor(private readonly target: number) {}
  async bind(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    this.port = this.sock.address().port;
    this.sock.on('message', (b) => this.waiter?.(b.toString()));
  }
  private next(pred: (m: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bare UAC: no answer')), 5000);
      this.waiter = (m) => {
        if (!pred(m)) return;
        clearTimeout(t);
        this.waiter = null;
        resolve(m);
      };
    });
  }
  async call(): Promise<number> {
    const n = ++this.n;
    const callId = `bare-${process.pid}-${n}-${Date.now()}`;
    const from = `<sip:bench@127.0.0.1:${this.port}>;tag=b${n}`;
    const to = `<sip:1000@127.0.0.1:${this.target}>`;
    const sdp = `v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
    const req = (method: string, cseq: number, branch: string, toTag: string, body = ''): string =>
      `${method} sip:1000@127.0.0.1:${this.target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${branch};rport\r\nFrom: ${from}\r\nTo: ${to}${toTag}\r\n` +
      `Call-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\nContact: <sip:bench@127.0.0.1:${this.port}>\r\nMax-Forwards: 70\r\n` +
      (body ? `Content-Type: application/sdp\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const ok = this.next((m) => m.startsWith('SIP/2.0 200') && m.includes(callId) && / INVITE\r\n/.test(m));
    const t0 = performance.now();
    this.sock.send(req('INVITE', 1, `inv${n}`, '', sdp), this.target, '127.0.0.1');
    const resp = await ok;
    const setup = performance.now() - t0;
    const toTag = /^To:.*?(;tag=[^;\r\n]+)/im.exec(resp)?.[1] ?? '';
    this.sock.send(req('ACK', 1, `ack${n}`, toTag), this.target, '127.0.0.1');
    const byeOk = this.next((m) => m.startsWith('SIP/2.0 200') && m.includes(callId) && / BYE\r\n/.test(m));
    this.sock.send(req('BYE', 2, `bye${n}`, toTag), this.target, '127.0.0.1');
    await byeOk;
    return setup;
  }
  close(): void {
    this.sock.close();
  }
}

async function main(): Promise<void> {
  const { loadConfig } = await import('../server/config.ts');
  const { buildApp } = await import('../server/app.ts');
  const { startSipBridge } = await import('../server/sip-bridge.ts');
  const { OutboundCalls } = await import('../server/outbound/calls.ts');
  const { LocalRateLimiter } = await import('../server/cluster/limits.ts');
  const { freePort, runSipp, killAll } = await import('../test/fakes/sip-harness.ts');
  const pino = (await import('pino')).default;
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent', PARLEY_MAX_SESSIONS: '5000' });
  const log = pino({ level: 'silent' });
  const app = await buildApp(config, { logger: log, store: null });
  // a null engine: opens at once, says nothing
  app.parley.engines.register('cascade', silentEngine());
  const bridge = await startSipBridge(app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: { min: 41000, max: 45999 }, maxCalls: 5000, rtpTimeoutS: 0 }, engine: 'cascade' });
  const sippPort = await freePort(20000, 10000);
  const total = 2 * ROUNDS * CALLS + CPS.reduce((a, c) => a + Math.ceil(c * BURST_S), 0) + 50;
  const sipp = runSipp({ scenario: 'uas-bench.xml', serverPort: 0, uasPort: sippPort, calls: total, timeoutS: 600, extraArgs: ['-l', '5000'] });
  await sleep(500);
  const to = `sip:1000@127.0.0.1:${sippPort}`;

  /** Place calls through an OutboundCalls at `cps`; hang each up once answered; resolves with their final states. */
  async function placeAndHangUp(cps: number, n: number): Promise<Array<NonNullable<ReturnType<InstanceType<typeof OutboundCalls>['get']>>>> {
    const oc = new OutboundCalls({ sip: { ...config.sip, outbound: { callsPerSecond: cps, maxCalls: 100_000, ringTimeoutS: 30 } }, log, limiter: new LocalRateLimiter() });
    oc.attach(bridge.server);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(oc.place({ to }).id);
    const open = new Set(ids);
    const t0 = Date.now();
    while (open.size > 0 && Date.now() - t0 < 60_000) {
      for (const id of open) {
        const s = oc.get(id)!;
        if (s.status === 'answered') {
          const call = bridge.server.calls().find((c) => c.id === id);
          if (call?.state === 'active') {
            void call.hangup();
            open.delete(id);
          }
        } else if (s.status !== 'queued' && s.status !== 'ringing') open.delete(id);
      }
      await sleep(5);
    }
    // wait for the BYEs to be answered
    const t1 = Date.now();
    while (bridge.server.activeCalls > 0 && Date.now() - t1 < 10_000) await sleep(20);
    return ids.map((id) => oc.get(id)!);
  }

  const bare = new BareUac(sippPort);
  await bare.bind();
  // warm-up (JIT, first-call costs), not counted
  for (let i = 0; i < 5; i++) await bare.call();
  await placeAndHangUp(1000, 5);

  console.log(`# outbound setup time: INVITE → 200 OK through a local SIPp UAS (${ROUNDS} rounds × ${CALLS} calls each, one at a time; load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  const ratios: number[] = [];
  const allBare: number[] = [];
  const allParley: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const runBare = async (): Promise<number[]> => {
      const xs: number[] = [];
      for (let i = 0; i < CALLS; i++) xs.push(await bare.call());
      return xs;
    };
    const runParley = async (): Promise<number[]> => {
      const xs: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const [s] = await placeAndHangUp(1000, 1);
        if (s?.setup_ms != null) xs.push(s.setup_ms);
      }
      return xs;
    };
    let b: number[];
    let p: number[];
    if (r % 2 === 0) {
      b = await runBare();
      p = await runParley();
    } else {
      p = await runParley();
      b = await runBare();
    }
    allBare.push(...b);
    allParley.push(...p);
    ratios.push(pct(p, 50) / pct(b, 50));
    console.log(`round ${r + 1}: bare p50 ${pct(b, 50).toFixed(3)} ms, Parley p50 ${pct(p, 50).toFixed(3)} ms p99 ${pct(p, 99).toFixed(3)} ms (${p.length}/${CALLS} answered), ratio ${(pct(p, 50) / pct(b, 50)).toFixed(2)}×`);
  }
  const rs = spread(ratios);
  console.log(`setup time, all rounds: Parley p50 ${pct(allParley, 50).toFixed(2)} ms, p99 ${pct(allParley, 99).toFixed(2)} ms; bare UAC p50 ${pct(allBare, 50).toFixed(2)} ms, p99 ${pct(allBare, 99).toFixed(2)} ms`);
  console.log(`ratio Parley/bare (p50, per round): median ${rs.median.toFixed(2)}× [min ${rs.min.toFixed(2)}–max ${rs.max.toFixed(2)}]  IQR ${formatSpread(rs, 2)}`);

  console.log(`\n# calls per second: C × ${BURST_S} calls queued at once with the limit C; each hung up when answered (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  let best = 0;
  for (const c of CPS) {
    const n = Math.ceil(c * BURST_S);
    const states = await placeAndHangUp(c, n);
    const times = states.map((s) => (s.dialled_at ? Date.parse(s.dialled_at) : NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const answered = states.filter((s) => s.status === 'answered').length;
    const span = (times[times.length - 1]! - times[0]!) / 1000;
    const achieved = span > 0 ? (times.length - 1) / span : Infinity;
    let maxWindow = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      maxWindow = Math.max(maxWindow, i - j + 1);
    }
    const lags = times.map((t, i) => t - (times[0]! + (i * 1000) / c));
    const setups = states.map((s) => s.setup_ms).filter((x): x is number => x !== null);
    const held = achieved >= 0.9 * c && maxWindow <= c && pct(lags, 99) < 100 && answered === n;
    if (held) best = Math.max(best, c);
    console.log(
      `C ${String(c).padStart(4)}: ${n} calls, achieved ${achieved.toFixed(1)}/s, most in 1 s ${maxWindow} (limit ${c}), INVITE lag p50 ${pct(lags, 50).toFixed(0)} ms p99 ${pct(lags, 99).toFixed(0)} ms, ` +
        `answered ${answered}/${n}, setup p50 ${pct(setups, 50).toFixed(1)} ms p99 ${pct(setups, 99).toFixed(1)} ms → ${held ? 'held' : 'NOT held'}`,
    );
  }
  console.log(`one instance places up to ${best} outbound calls per second at its limit (highest C held above; load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);

  bare.close();
  await bridge.close();
  await app.close();
  killAll();
  await sipp.catch(() => undefined);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
