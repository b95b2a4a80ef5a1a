/**
 * Before/after in one process: this checkout's Parley against another checkout's (a git worktree of an
 * older commit) and the bench's baseline, run in rotated order round after round, so the three see the
 * same machine. On a shared machine whose load swings, separate runs of bench/relay.ts or bench/sip.ts
 * cannot tell a change of a few per cent from the neighbours; paired rounds can.
 *
 *   git worktree add --detach /tmp/parley-base <commit> && ln -s "$PWD/node_modules" /tmp/parley-base/
 *   npx tsx bench/ab.ts relay --base /tmp/parley-base [--rounds 21] [--burst 5000] [--latency 3000]
 *   npx tsx bench/ab.ts sip   --base /tmp/parley-base [--rounds 9] [--calls 100] [--seconds 5]
 *
 * relay: CPU per message (bursts, as bench/relay.ts) and latency with one message in flight, for the append
 *        and the delta, through the bare ws pipe, the base checkout and this one: what each Parley adds over
 *        the pipe (median [IQR] of the rounds' paired differences) and this − base.
 * sip:   CPU per call-second of μ-law passthrough (as bench/sip.ts --path ulaw, its generator) through a bare
 *        UDP echo, the base checkout's SIP door and this one's: each Parley / echo and this / base, per round
 *        (median [IQR, min–max]); rounds where the generator fell behind (> 1 % of its ticks 20 ms late, in any
 *        of the three runs) are listed apart.
 * Both Parleys run without a store (no call records, as bench/sip.ts and bench/relay.ts).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { WebSocket, RawData } from 'ws';
import { pino } from 'pino';
import { echoEngine } from './lib/null-engine.ts';
import { runLoadChild } from './lib/rounds.ts';
import { APPEND, DELTA, KEY, UP_KEY, open, startBarePipe, startUpstream } from './lib/ws-peers.ts';

import type * as AppMod from '../server/app.ts';
import type * as ConfigMod from '../server/config.ts';
import type * as BridgeMod from '../server/sip-bridge.ts';
import type * as ProtocolMod from '../server/protocol/index.ts';

// the other checkout's modules are loaded by path; typed as this checkout's (the seams used here are stable)
type AppModule = typeof AppMod;
type ConfigModule = typeof ConfigMod;
type BridgeModule = typeof BridgeMod;
type ProtocolModule = typeof ProtocolMod;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const THIS_ROOT = path.resolve(HERE, '..');

interface Args {
  mode: 'relay' | 'sip';
  base: string;
  rounds: number;
  burst: number;
  latency: number;
  calls: number;
  seconds: number;
}

function parseArgs(argv: string[]): Args {
  const mode = argv[0];
  if (mode !== 'relay' && mode !== 'sip') throw new Error('usage: npx tsx bench/ab.ts relay|sip --base <other checkout> [--rounds N] [--burst N] [--latency N] [--calls N] [--seconds S]');
  const a: Args = { mode, base: '', rounds: mode === 'relay' ? 21 : 9, burst: 5000, latency: 3000, calls: 100, seconds: 5 };
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--base') a.base = path.resolve(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--burst') a.burst = Number(v);
    else if (k === '--latency') a.latency = Number(v);
    else if (k === '--calls') a.calls = Number(v);
    else if (k === '--seconds') a.seconds = Number(v);
    else throw new Error(`unknown option ${k}`);
  }
  if (!a.base) throw new Error('--base <another checkout of this repository> is required');
  return a;
}

const load = (root: string, rel: string): Promise<unknown> => import(pathToFileURL(path.join(root, rel)).href);
const q = (xs: number[], f: number): number => [...xs].sort((x, y) => x - y)[Math.floor(f * (xs.length - 1))] ?? Number.NaN;
const fmt = (xs: number[], d = 2): string => `${q(xs, 0.5).toFixed(d)} [IQR ${q(xs, 0.25).toFixed(d)}–${q(xs, 0.75).toFixed(d)}]`;
const ORDERS = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [1, 0, 2], [2, 1, 0]] as const;

// ------------------------------------------------------------------------------------------ relay

async function relay(a: Args): Promise<void> {
  const up = await startUpstream();
  const bare = await startBarePipe(up.port);
  const parley = async (root: string): Promise<{ port: number; close(): Promise<void> }> => {
    const { buildApp } = (await load(root, 'server/app.ts')) as AppModule;
    const { loadConfig } = (await load(root, 'server/config.ts')) as ConfigModule;
    const config = loadConfig({
      HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: KEY, PARLEY_ENGINE: 'openai', OPENAI_API_KEY: UP_KEY,
      OPENAI_BASE_URL: `http://127.0.0.1:${up.port}/v1`, PARLEY_DEMO: 'off', PARLEY_SIP: 'off', LOG_LEVEL: 'silent', PARLEY_FALLBACK_ENGINE: 'none',
    });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), store: null });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  };
  const servers = [{ port: bare.port, close: bare.close }, await parley(a.base), await parley(THIS_ROOT)];
  const names = ['bare pipe', 'base', 'this'];
  let onClientMsg: () => void = () => undefined;
  const paths: Array<{ client: WebSocket; up: WebSocket }> = [];
  for (let i = 0; i < 3; i++) {
    const client = await open(`ws://127.0.0.1:${servers[i]!.port}/v1/realtime?model=gpt-realtime`, i === 0 ? {} : { Authorization: `Bearer ${KEY}` });
    await new Promise((r) => setTimeout(r, 200));
    client.on('message', (data: RawData) => {
      if (data.toString('latin1', 0, 38) === '{"type":"response.output_audio.delta",') onClientMsg();
    });
    paths.push({ client, up: up.conns.at(-1)! });
  }
  const dirs = ['append', 'delta'] as const;
  const send = (i: number, dir: 'append' | 'delta'): void => (dir === 'append' ? paths[i]!.client.send(APPEND) : paths[i]!.up.send(DELTA));
  const arrive = (dir: 'append' | 'delta', f: () => void): void => {
    if (dir === 'append') up.onAppend(f);
    else onClientMsg = f;
  };
  // latency: one message in flight, the three paths alternating
  const lat = dirs.map(() => [[], [], []] as number[][]);
  const one = (i: number, dir: 'append' | 'delta'): Promise<number> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      arrive(dir, () => resolve((performance.now() - t0) * 1000));
      send(i, dir);
    });
  for (const [d, dir] of dirs.entries()) {
    for (let k = 0; k < 300; k++) for (let i = 0; i < 3; i++) await one(i, dir);
    for (let k = 0; k < a.latency; k++) for (const i of ORDERS[k % ORDERS.length]!) lat[d]![i]!.push(await one(i, dir));
  }
  // CPU per message over bursts
  const cpu = dirs.map(() => [[], [], []] as number[][]);
  const burst = async (i: number, dir: 'append' | 'delta'): Promise<number> => {
    let got = 0;
    const done = new Promise<void>((resolve) => arrive(dir, () => void (++got === a.burst && resolve())));
    const c0 = process.cpuUsage();
    const sender = dir === 'append' ? paths[i]!.client : paths[i]!.up;
    const msg = dir === 'append' ? APPEND : DELTA;
    for (let k = 0; k < a.burst; k++) {
      sender.send(msg);
      if (sender.bufferedAmount > 1 << 20) await new Promise((r) => setImmediate(r));
    }
    await done;
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / a.burst;
  };
  for (const dir of dirs) for (let i = 0; i < 3; i++) await burst(i, dir); // warm-up
  const load0 = os.loadavg()[0] ?? 0;
  for (let r = 0; r < a.rounds; r++) for (const [d, dir] of dirs.entries()) for (const i of ORDERS[r % ORDERS.length]!) cpu[d]![i]!.push(await burst(i, dir));
  console.log(`# relay, ${names.join(' / ')}: base = ${a.base}; node ${process.version}; load ${load0.toFixed(1)} → ${(os.loadavg()[0] ?? 0).toFixed(1)}`);
  console.log(`CPU per message, bursts of ${a.burst}, ${a.rounds} rounds in rotated order: added over the bare pipe, median [IQR] of the rounds' paired differences (µs)`);
  for (const [d, dir] of dirs.entries()) {
    const [b, base, cur] = cpu[d]!;
    const diff = (xs: number[], ys: number[]): number[] => xs.map((x, k) => x - ys[k]!);
    console.log(`  ${dir.padEnd(7)} bare ${fmt(b!, 1)}   base adds ${fmt(diff(base!, b!))}   this adds ${fmt(diff(cur!, b!))}   this − base ${fmt(diff(cur!, base!))}`);
  }
  console.log(`latency, one message in flight, ${a.latency} per path (alternating): p50 / p99 (µs), added over the bare pipe`);
  for (const [d, dir] of dirs.entries()) {
    const [b, base, cur] = lat[d]!;
    const add = (xs: number[], f: number): string => `+${(q(xs, f) - q(b!, f)).toFixed(1)}`;
    console.log(`  ${dir.padEnd(7)} bare ${q(b!, 0.5).toFixed(0)} / ${q(b!, 0.99).toFixed(0)}   base ${add(base!, 0.5)} / ${add(base!, 0.99)}   this ${add(cur!, 0.5)} / ${add(cur!, 0.99)}`);
  }
  for (const p of paths) p.client.terminate();
  for (const s of servers) await s.close();
  await up.close();
}

// ------------------------------------------------------------------------------------------ sip

function generator(target: 'sip' | 'echo', port: number, a: Args, onStart: () => void, onEnd: () => void): Promise<Record<string, number>> {
  return runLoadChild([path.join(HERE, 'sip.ts'), '--load', target, String(port), String(a.calls), String(a.seconds), '0'], onStart, onEnd);
}

async function sip(a: Args): Promise<void> {
  const counters = [{ n: 0, on: false }, { n: 0, on: false }];
  const door = async (root: string, rtp: { min: number; max: number }, counter: { n: number; on: boolean }): Promise<number> => {
    const { buildApp } = (await load(root, 'server/app.ts')) as AppModule;
    const { loadConfig } = (await load(root, 'server/config.ts')) as ConfigModule;
    const { startSipBridge } = (await load(root, 'server/sip-bridge.ts')) as BridgeModule;
    const { AudioChunk } = (await load(root, 'server/protocol/index.ts')) as ProtocolModule;
    const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: KEY, PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent', PARLEY_MAX_SESSIONS: '5000' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), store: null });
    await app.listen({ host: '127.0.0.1', port: 0 });
    // the null engine of bench/sip.ts --path ulaw: each append comes back as a delta over the same bytes
    app.parley.engines.register('cascade', echoEngine(AudioChunk, () => { if (counter.on) counter.n++; }));
    const bridge = await startSipBridge(app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtp, maxCalls: 5000, rtpTimeoutS: 0 }, engine: 'cascade', g711Passthrough: true });
    return bridge.server.port;
  };
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  const ports = [echo.address().port, await door(a.base, { min: 41000, max: 43499 }, counters[0]!), await door(THIS_ROOT, { min: 43500, max: 45999 }, counters[1]!)];
  const run = async (i: number): Promise<{ us: number; late: number }> => {
    const counter = i === 0 ? null : counters[i - 1]!;
    let c0 = process.cpuUsage();
    let cpu = 0;
    const r = await generator(i === 0 ? 'echo' : 'sip', ports[i]!, a, () => {
      if (counter) {
        counter.n = 0;
        counter.on = true;
      }
      c0 = process.cpuUsage();
    }, () => {
      const d = process.cpuUsage(c0);
      cpu = d.user + d.system;
      if (counter) counter.on = false;
    });
    const frames = counter ? counter.n : (r['received'] ?? 0);
    return { us: cpu / (frames / 50), late: r['generatorTicks'] ? (100 * (r['generatorLateTicks'] ?? 0)) / r['generatorTicks'] : 100 };
  };
  await run(2); // warm-up: JIT, first-call costs
  await run(1);
  const load0 = os.loadavg()[0] ?? 0;
  const rows: Array<Array<{ us: number; late: number }>> = [];
  for (let r = 0; r < a.rounds; r++) {
    const row: Array<{ us: number; late: number }> = [];
    for (const i of ORDERS[r % ORDERS.length]!) row[i] = await run(i);
    rows.push(row);
    const [e, b, t] = row as [{ us: number; late: number }, { us: number; late: number }, { us: number; late: number }];
    process.stderr.write(`round ${r + 1}: base ${(b.us / e.us).toFixed(2)}×, this ${(t.us / e.us).toFixed(2)}× the echo (echo ${e.us.toFixed(0)}, base ${b.us.toFixed(0)}, this ${t.us.toFixed(0)} µs per call-second; generator late ${e.late.toFixed(1)} / ${b.late.toFixed(1)} / ${t.late.toFixed(1)} %)\n`);
  }
  console.log(`# sip, ${a.calls} calls, μ-law passthrough, ${a.seconds} s per run: bare echo / base = ${a.base} / this; node ${process.version}; load ${load0.toFixed(1)} → ${(os.loadavg()[0] ?? 0).toFixed(1)}`);
  const kept = rows.filter((row) => row.every((x) => x.late <= 1));
  for (const [label, set] of [['every round', rows], ['rounds where the generator kept pace in all three runs', kept]] as const) {
    if (set.length === 0) continue;
    const col = (f: (row: Array<{ us: number }>) => number): number[] => set.map(f);
    console.log(`  ${label} (${set.length}): base / echo ${fmt(col((r) => r[1]!.us / r[0]!.us))}   this / echo ${fmt(col((r) => r[2]!.us / r[0]!.us))}   this / base ${fmt(col((r) => r[2]!.us / r[1]!.us))}`);
  }
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2));
(args.mode === 'relay' ? relay(args) : sip(args)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
