/**
 * Call recording figures (issue 11 §4), through the session hub: μ-law calls (G.711 passed through, as
 * the SIP door runs them): the caller sends a 20 ms frame every 20 ms, the engine answers every 10 s with
 * a 4 s reply in one burst (40 deltas of 100 ms at once, faster than real time, as engines do); every
 * third reply is cut by a barge-in 1 s in. Time is simulated (the recorders run on a clock the bench moves 20 ms per frame), so
 * a 10-minute call takes seconds; the files are really written (in a temp dir), the bench waits for the
 * disk once per simulated second as real time would.
 *
 * 1. CPU per call-second, recording off vs stereo vs mono: interleaved rounds of CALLS calls × SECONDS
 *    simulated seconds each, process CPU time (user + system, so the file writes on libuv's threads
 *    count) per call-second; medians [min–max] and the ratio to off.
 * 2. Memory per recorded call over a 10-minute call: MEM_CALLS calls for 600 simulated seconds, not recorded
 *    and then recorded in stereo, heap / array buffers / RSS sampled after a GC at each simulated minute; the
 *    slope (least squares over minutes 1–10, per call) in bytes per minute, and the fixed audio memory.
 *
 *   npx tsx bench/recording.ts            (CALLS=100 SECONDS=20 ROUNDS=5 MEM_CALLS=20)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { EngineCallbacks } from '../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEvent } from '../server/protocol/index.ts';
import type { RealtimeSessionHandle, RecordingMode } from '../server/session/index.ts';
import { summarize } from './lib/index.ts';

const env = (k: string, d: number): number => Number(process.env[k] ?? d);
const CALLS = env('CALLS', 100);
const SECONDS = env('SECONDS', 20);
const ROUNDS = env('ROUNDS', 5);
const MEM_CALLS = env('MEM_CALLS', 20);
const MEM_MINUTES = 10;
const PCMU = { type: 'audio/pcmu' } as const;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** The simulated clock (ms) every recorder reads. */
let simMs = 0;

/** The engine: every 500th append (10 s), a 4 s reply in one burst. */
function engine(cb: Pick<EngineCallbacks, 'onEvent'>): (ev: ClientEvent) => void {
  const burst = { type: 'response.output_audio.delta' as const, event_id: 'evt_x', response_id: '', item_id: '', output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(800).fill(0x35)) };
  let n = 0;
  let reply = 0;
  return (ev) => {
    if (ev.type !== 'input_audio_buffer.append') return;
    if (++n % 500 !== 0) return;
    reply++;
    burst.item_id = `item_${reply}`;
    burst.response_id = `resp_${reply}`;
    for (let k = 0; k < 40; k++) cb.onEvent(burst);
  };
}

async function makeApp(dataDir: string): Promise<FastifyInstance> {
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent', PARLEY_DATA_DIR: dataDir, PARLEY_MAX_SESSIONS: '1000' });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
  app.parley.recordings.tune({ clock: () => simMs });
  app.parley.engines.register('cascade', () => ({
    name: 'cascade',
    open: async (opts) => {
      queueMicrotask(() => opts.callbacks.onEvent({ type: 'session.created', event_id: 'evt_1', session: opts.session }));
      return { send: engine(opts.callbacks), close: () => undefined };
    },
  }));
  return app;
}

const door = { send: (_ev: ServerEvent): void => undefined, close: (): void => undefined };

async function openCalls(app: FastifyInstance, n: number, recording: RecordingMode): Promise<RealtimeSessionHandle[]> {
  const out: RealtimeSessionHandle[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await app.parley.sessions.open({ leg: 'sip', engine: 'cascade', client: door, recording, session: { type: 'realtime', audio: { input: { format: PCMU }, output: { format: PCMU } } } }));
  }
  await new Promise((r) => setTimeout(r, 10));
  return out;
}

/** `seconds` of simulated call time on every session: 50 frames a second each, a barge-in after every third reply. */
async function run(app: FastifyInstance, calls: RealtimeSessionHandle[], seconds: number, onMinute?: (minute: number) => Promise<void>): Promise<void> {
  const payload = new Uint8Array(160).fill(0x55);
  const chunks = calls.map(() => AudioChunk.fromBytes(payload, PCMU));
  const appends = chunks.map((audio) => ({ type: 'input_audio_buffer.append' as const, audio }));
  const truncate = { type: 'conversation.item.truncate' as const, item_id: '', content_index: 0, audio_end_ms: 1000 };
  for (let s = 0; s < seconds; s++) {
    for (let f = 0; f < 50; f++) {
      simMs += 20;
      for (let c = 0; c < calls.length; c++) {
        chunks[c]!.setBytes(payload);
        calls[c]!.handleClientEvent(appends[c]!);
      }
    }
    // one second in: cut every third reply (the replies come every 10 s)
    const sec = Math.round(simMs / 1000);
    if (sec % 30 === 11) {
      truncate.item_id = `item_${Math.floor(sec / 10)}`;
      for (const c of calls) c.handleClientEvent(truncate);
    }
    // a second has passed: the recorders' periodic tick, and the disk gets its second
    for (const c of calls) app.parley.recordings.get(c.id)?.tick();
    await Promise.all(calls.map((c) => app.parley.recordings.get(c.id)?.stream?.idle()));
    if (onMinute && (s + 1) % 60 === 0) await onMinute((s + 1) / 60);
  }
}

async function closeCalls(app: FastifyInstance, calls: RealtimeSessionHandle[]): Promise<void> {
  for (const c of calls) c.close('bench done');
  await app.parley.recordings.idle();
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function cpuBench(app: FastifyInstance): Promise<void> {
  const modes: RecordingMode[] = ['off', 'stereo', 'mono'];
  const perCallSecond: Record<string, number[]> = { off: [], stereo: [], mono: [] };
  // warm-up
  for (const m of modes) {
    const calls = await openCalls(app, 10, m);
    await run(app, calls, 5);
    await closeCalls(app, calls);
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) {
      const calls = await openCalls(app, CALLS, m);
      gc();
      const t0 = cpuUs();
      await run(app, calls, SECONDS);
      await closeCalls(app, calls);
      perCallSecond[m]!.push((cpuUs() - t0) / (CALLS * SECONDS));
    }
  }
  const off = summarize(perCallSecond['off']!);
  const line = (m: string): string => {
    const s = summarize(perCallSecond[m]!);
    const ratios = perCallSecond[m]!.map((x, i) => x / (perCallSecond['off']![i] ?? NaN));
    const rs = summarize(ratios);
    return `  ${m.padEnd(7)}: ${s.p50.toFixed(1)} µs CPU per call-second [${s.min.toFixed(1)}–${s.max.toFixed(1)}]` + (m === 'off' ? '' : `  ×${rs.p50.toFixed(2)} of off [${rs.min.toFixed(2)}–${rs.max.toFixed(2)}], +${(s.p50 - off.p50).toFixed(1)} µs`) + '\n';
  };
  process.stdout.write(`# CPU per call-second through the session hub, μ-law, ${CALLS} calls × ${SECONDS} simulated s, ${ROUNDS} interleaved rounds; node ${process.version}\n`);
  for (const m of modes) process.stdout.write(line(m));
}

interface MemResult {
  slope: { heap: number; ab: number; rss: number };
  first: { heap: number; rss: number };
  last: { heap: number; rss: number };
  fixed: number;
  writtenMin: number;
}

/** Full GCs with a pause between, so freed array buffers are counted as freed. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** MEM_CALLS calls of MEM_MINUTES simulated minutes; memory sampled after a GC each simulated minute. */
async function memoryRun(app: FastifyInstance, mode: RecordingMode): Promise<MemResult> {
  const calls = await openCalls(app, MEM_CALLS, mode);
  const samples: Array<{ minute: number; heap: number; ab: number; rss: number }> = [];
  await settle();
  await run(app, calls, MEM_MINUTES * 60, async (minute) => {
    await settle();
    const m = process.memoryUsage();
    samples.push({ minute, heap: m.heapUsed, ab: m.arrayBuffers, rss: m.rss });
  });
  const rec = app.parley.recordings.get(calls[0]!.id);
  const fixed = rec?.memoryBytes ?? 0;
  const writtenMin = (rec?.stream?.frames ?? 0) / 8000 / 60;
  await closeCalls(app, calls);
  /** Least-squares slope (per minute), per call. */
  const slope = (k: 'heap' | 'ab' | 'rss'): number => {
    const xs = samples.map((s) => s.minute);
    const ys = samples.map((s) => s[k]);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    let num = 0;
    let den = 0;
    for (let i = 0; i < xs.length; i++) {
      num += (xs[i]! - mx) * (ys[i]! - my);
      den += (xs[i]! - mx) ** 2;
    }
    return num / den / MEM_CALLS;
  };
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  return { slope: { heap: slope('heap'), ab: slope('ab'), rss: slope('rss') }, first, last, fixed, writtenMin };
}

async function memoryBench(app: FastifyInstance): Promise<void> {
  const kb = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
  const off = await memoryRun(app, 'off');
  const on = await memoryRun(app, 'stereo');
  const line = (name: string, r: MemResult): string =>
    `  ${name}: slope per call heap ${r.slope.heap.toFixed(0)} B/min, array buffers ${r.slope.ab.toFixed(0)} B/min, RSS ${r.slope.rss.toFixed(0)} B/min` +
    `  (all calls, minute 1 → ${MEM_MINUTES}: heap ${kb(r.first.heap)} → ${kb(r.last.heap)}, RSS ${kb(r.first.rss)} → ${kb(r.last.rss)})\n`;
  process.stdout.write(
    `# memory per call over a ${MEM_MINUTES}-minute call (${MEM_CALLS} calls, simulated time; GC before each sample; slope = least squares over minutes 1–${MEM_MINUTES})\n` +
      line('off   ', off) +
      line('stereo', on) +
      `  stereo − off: ${(on.slope.heap - off.slope.heap).toFixed(0)} B/min heap, ${(on.slope.ab - off.slope.ab).toFixed(0)} B/min array buffers per call; ` +
      `fixed audio buffers per recorded call (8 kHz stereo: rings + block pool): ${kb(on.fixed)}; ${on.writtenMin.toFixed(1)} min written per call\n`,
  );
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-rec-'));
  try {
    const app = await makeApp(dataDir);
    await cpuBench(app);
    await memoryBench(app);
    await app.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
