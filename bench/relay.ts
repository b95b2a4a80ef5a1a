/**
 * Relay overhead of `/v1/realtime` (issue 2): latency of one `input_audio_buffer.append`
 * (20 ms @ 24 kHz pcm16, client → upstream) and one `response.output_audio.delta`
 * (20 ms, upstream → client), through Parley vs through a bare ws-to-ws pipe, all on 127.0.0.1
 * in this one process. One message in flight at a time (latency, not throughput); the two
 * paths alternate message by message so both see the same machine load.
 *
 *   npx tsx bench/relay.ts            (ROUNDS=6 MSGS=500 by default)
 *
 * Target: Parley p99 ≤ 1.5× the bare pipe's p99, and Parley's added p99 ≤ 1 ms.
 */
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { RawData } from 'ws';
import { pino } from 'pino';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { summarize } from './lib/index.ts';
import { APPEND, DELTA, KEY, UP_KEY, open, startBarePipe, startUpstream } from './lib/ws-peers.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 6);
const MSGS = Number(process.env['MSGS'] ?? 500);
const WARMUP = 300;

/** n one-at-a-time round trips: send, wait for arrival, record µs. */
async function measure(n: number, send: () => void, arrive: (f: () => void) => void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      const t0 = performance.now();
      arrive(() => {
        out.push((performance.now() - t0) * 1000);
        resolve();
      });
      send();
    });
  }
  return out;
}

async function main(): Promise<void> {
  const up = await startUpstream();
  const bare = await startBarePipe(up.port);
  const config = loadConfig({
    HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: KEY, PARLEY_ENGINE: 'openai', OPENAI_API_KEY: UP_KEY,
    OPENAI_BASE_URL: `http://127.0.0.1:${up.port}/v1`, PARLEY_DEMO: 'off', PARLEY_SIP: 'off', LOG_LEVEL: 'silent', PARLEY_FALLBACK_ENGINE: 'none',
  });
  // no store: call records off (their per-event cost is bench/call-center.ts's figure); this bench is the relay path
  const app = await buildApp(config, { logger: pino({ level: 'silent' }), store: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const parleyPort = (app.server.address() as AddressInfo).port;

  const bareClient = await open(`ws://127.0.0.1:${bare.port}/v1/realtime?model=gpt-realtime`);
  await new Promise((r) => setTimeout(r, 100));
  const bareUp = up.conns.at(-1)!;
  const parleyClient = await open(`ws://127.0.0.1:${parleyPort}/v1/realtime?model=gpt-realtime`, { Authorization: `Bearer ${KEY}` });
  await new Promise((r) => setTimeout(r, 200));
  const parleyUp = up.conns.at(-1)!;

  let onClientMsg: () => void = () => undefined;
  const clientListener = (data: RawData): void => {
    const s = data.toString();
    if (s.startsWith('{"type":"response.output_audio.delta"')) onClientMsg();
  };
  bareClient.on('message', clientListener);
  parleyClient.on('message', clientListener);

  const paths = {
    bare: { client: bareClient, up: bareUp },
    parley: { client: parleyClient, up: parleyUp },
  };
  const results: Record<string, Record<'append' | 'delta', number[]>> = { bare: { append: [], delta: [] }, parley: { append: [], delta: [] } };
  // Alternate the two paths message by message, so both see the same load from the rest of
  // the machine (a shared 2-core box): the ratio then reflects the relay, not the neighbours.
  const one = async (name: 'bare' | 'parley', dir: 'append' | 'delta', keep: boolean): Promise<void> => {
    const p = paths[name];
    const [v] = dir === 'append'
      ? await measure(1, () => p.client.send(APPEND), (f) => up.onAppend(f))
      : await measure(1, () => p.up.send(DELTA), (f) => {
        onClientMsg = f;
      });
    if (keep) results[name]![dir].push(v!);
  };
  for (const dir of ['append', 'delta'] as const) {
    for (let i = 0; i < WARMUP; i++) {
      await one('bare', dir, false);
      await one('parley', dir, false);
    }
    for (let i = 0; i < ROUNDS * MSGS; i++) {
      const first = i % 2 === 0 ? 'bare' : 'parley';
      await one(first, dir, true);
      await one(first === 'bare' ? 'parley' : 'bare', dir, true);
    }
  }

  // CPU cost per message (less sensitive to the neighbours than tail latency): a burst of
  // BURST messages through each path, process CPU time (client + relay + upstream, all here)
  const BURST = Number(process.env['BURST'] ?? 5000);
  const cpuPerMsg: Record<string, Record<'append' | 'delta', number[]>> = { bare: { append: [], delta: [] }, parley: { append: [], delta: [] } };
  const burst = async (name: 'bare' | 'parley', dir: 'append' | 'delta'): Promise<void> => {
    const p = paths[name];
    let got = 0;
    const done = new Promise<void>((resolve) => {
      const f = (): void => {
        if (++got === BURST) resolve();
      };
      if (dir === 'append') up.onAppend(f);
      else onClientMsg = f;
    });
    const c0 = process.cpuUsage();
    const sender = dir === 'append' ? p.client : p.up;
    const msg = dir === 'append' ? APPEND : DELTA;
    for (let i = 0; i < BURST; i++) {
      sender.send(msg);
      if (sender.bufferedAmount > 1 << 20) await new Promise((r) => setImmediate(r));
    }
    await done;
    const c = process.cpuUsage(c0);
    cpuPerMsg[name]![dir].push((c.user + c.system) / BURST);
  };
  const CPU_ROUNDS = Number(process.env['CPU_ROUNDS'] ?? 21);
  for (let r = 0; r < CPU_ROUNDS; r++) {
    for (const dir of ['append', 'delta'] as const) {
      await burst(r % 2 === 0 ? 'bare' : 'parley', dir);
      await burst(r % 2 === 0 ? 'parley' : 'bare', dir);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  console.log(`# relay latency, one message in flight, ${ROUNDS}×${MSGS} per path/direction; node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`);
  for (const dir of ['append', 'delta'] as const) {
    const b = summarize(results['bare']![dir]);
    const p = summarize(results['parley']![dir]);
    const label = dir === 'append' ? 'input_audio_buffer.append (20 ms, client→upstream)' : 'response.output_audio.delta (20 ms, upstream→client)';
    console.log(`${label}`);
    console.log(`  bare ws pipe : p50 ${b.p50.toFixed(0).padStart(5)} µs   p99 ${b.p99.toFixed(0).padStart(5)} µs`);
    console.log(`  parley       : p50 ${p.p50.toFixed(0).padStart(5)} µs   p99 ${p.p99.toFixed(0).padStart(5)} µs`);
    console.log(`  ratio        : p50 ${(p.p50 / b.p50).toFixed(2)}×      p99 ${(p.p99 / b.p99).toFixed(2)}×   (added p50 ${(p.p50 - b.p50).toFixed(0)} µs, p99 ${(p.p99 - b.p99).toFixed(0)} µs)`);
  }
  console.log(`CPU per message, bursts of ${BURST}, ${CPU_ROUNDS} interleaved rounds (client + relay + upstream in this process; the added cost is the median of the rounds' paired differences [IQR])`);
  for (const dir of ['append', 'delta'] as const) {
    const bs = cpuPerMsg['bare']![dir];
    const ps = cpuPerMsg['parley']![dir];
    const b = median(bs);
    const p = median(ps);
    const diffs = ps.map((x, i) => x - (bs[i] ?? 0)).sort((x, y) => x - y);
    const q = (f: number): number => diffs[Math.floor(f * (diffs.length - 1))] ?? Number.NaN;
    console.log(`  ${dir.padEnd(7)}: bare ${b.toFixed(1)} µs, parley ${p.toFixed(1)} µs: ratio ${(p / b).toFixed(2)}× (relay adds ${q(0.5).toFixed(1)} µs of CPU [${q(0.25).toFixed(1)}–${q(0.75).toFixed(1)}])`);
  }
  bareClient.terminate();
  parleyClient.terminate();
  await app.close();
  await bare.close();
  await up.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
