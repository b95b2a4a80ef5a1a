/**
 * Call-center figure (issue 11, "Figures"): CPU per call-second of μ-law passthrough with call records and
 * stereo recording on, as a ratio of off — target ≤ 1.15× at 100 calls.
 *
 * One process runs two Parley apps, each with its own SIP door (buildApp + the SIP bridge) and the same
 * in-process null engine as bench/sip.ts's `ulaw` path (every `input_audio_buffer.append` echoed back as a
 * `response.output_audio.delta` in audio/pcmu: μ-law passes straight through both ways):
 *  (a) off: no store (call records off), PARLEY_RECORDING=off;
 *  (b) on:  call records in a SQLite file in a temp data dir (the store's worker thread), PARLEY_RECORDING=stereo
 *           (each call's WAV streamed to `<temp>/recordings/`: caller left, agent right).
 * The RTP generator is bench/sip.ts's own (`bench/sip.ts --load sip …`, a child process): N real SIP/UDP calls on
 * loopback, 50 packets/s per call from one deadline timer, calls spread over ten 2 ms phases.
 *
 * Each round runs (a) and (b) back to back (a first in even rounds, b first in odd ones); per round the ratio
 * b/a pairs the two runs. CPU is this process's (user + system, so the SQLite worker thread and the file writes
 * on libuv's threads count) over the media window only, per call-second of media carried (frames that reached
 * the engine / 50). Call setup, the first --settle seconds of media (default 1: each recorder opens its file and
 * makes its buffers, each record's first writes) and teardown are not counted: the figure is the steady state. RSS is read at the end of each media window.
 * --together: (a) and (b) run at the same time, each app in a child process of its own with its own generator,
 * so both see the same load from the rest of the machine; back to back, a burst of other work lands on one
 * run of the pair and not the other (on a shared 2-core VM at load ≈ 14 the back-to-back ratios spread over
 * 0.69–1.75×, the concurrent ones over 1.09–1.38×). CPU is then each child's own process CPU.
 * A round counts only when the generator kept pace in both runs (≤ --max-late % of its ticks > 20 ms late);
 * otherwise it is run again (at most 3 × rounds attempts per row). An uncounted warm-up of each app comes first.
 *
 * Run: npx tsx bench/call-center.ts [--calls 100,200] [--rounds 5] [--seconds 6] [--warmup 2] [--max-late 1]
 *                                   [--settle 1] [--on both|records|recording] [--profile FILE]
 * --on records|recording: (b) turns on only one of the two (which part costs what; the figure is `both`).
 * --profile FILE: a .cpuprofile of one extra (b) run's media window, after the rounds and not counted (the
 * sampler's own CPU would otherwise land on the (b) side of the ratio).
 * Minor page faults per call-second are printed too: fresh memory the kernel maps while the calls run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import { WavStream } from '../server/recording/index.ts';
import { startSipBridge, type SipBridge } from '../server/sip-bridge.ts';
import { spread, type Spread } from './lib/index.ts';
import { fmtRounds, onLines, runLoadChild } from './lib/rounds.ts';
import { echoEngine } from './lib/null-engine.ts';

const SIP_BENCH = fileURLToPath(new URL('./sip.ts', import.meta.url));

interface Args {
  rows: number[];
  rounds: number;
  seconds: number;
  warmupS: number;
  maxLatePct: number;
  profile: string | undefined;
  /** Seconds of each run's media not counted (the calls' start). */
  settleS: number;
  /** What (b) turns on: both (the figure), or one of the two alone (to see which costs what). */
  on: OnWhat;
  /** (a) and (b) run at the same time, each in a process of its own (the same load on both). */
  together: boolean;
  /** Internal: this process is the (a) or (b) side of a --together run. */
  child: Mode | undefined;
}

type OnWhat = 'both' | 'records' | 'recording';

function parseArgs(argv: string[]): Args {
  const a: Args = { rows: [100], rounds: 5, seconds: 6, warmupS: 2, maxLatePct: 1, profile: undefined, settleS: 1, on: 'both', together: false, child: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--together') {
      a.together = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? (eq > 0 ? arg.slice(2, eq) : arg.slice(2)) : '';
    const value = eq > 0 ? arg.slice(eq + 1) : (argv[++i] ?? '');
    if (name === 'calls') a.rows = value.split(',').map(Number);
    else if (name === 'rounds') a.rounds = Number(value);
    else if (name === 'seconds') a.seconds = Number(value);
    else if (name === 'warmup') a.warmupS = Number(value);
    else if (name === 'max-late') a.maxLatePct = Number(value);
    else if (name === 'profile') a.profile = value;
    else if (name === 'settle') a.settleS = Number(value);
    else if (name === 'on' && (value === 'both' || value === 'records' || value === 'recording')) a.on = value;
    else if (name === 'child' && (value === 'off' || value === 'on')) a.child = value;
    else throw new Error(`unknown argument ${arg} (want --calls 100,200, --rounds N, --seconds S, --warmup S, --max-late PCT, --settle S, --on both|records|recording, --together, --profile FILE)`);
  }
  const bad = !Number.isInteger(a.rounds) || a.rounds < 1 || !(a.seconds > 0) || !(a.warmupS >= 0) || !(a.maxLatePct >= 0) || !(a.settleS >= 0 && a.settleS < a.seconds) || a.rows.length === 0 || a.rows.some((r) => !Number.isInteger(r) || r < 1);
  if (bad) throw new Error('usage: npx tsx bench/call-center.ts [--calls 100,200] [--rounds N] [--seconds S] [--warmup S] [--max-late PCT] [--settle S] [--on both|records|recording] [--together] [--profile FILE]');
  return a;
}

type Mode = 'off' | 'on';

interface Door {
  mode: Mode;
  app: FastifyInstance;
  bridge: SipBridge;
  dataDir: string;
  /** Frames the engine received while measuring. */
  frames: number;
  measuring: boolean;
}

async function makeDoor(mode: Mode, rtp: { min: number; max: number }, what: OnWhat): Promise<Door> {
  const records = mode === 'on' && what !== 'recording';
  const recording = mode === 'on' && what !== 'records';
  const dataDir = mkdtempSync(join(tmpdir(), `parley-bench-cc-${mode}-`));
  const config = loadConfig({
    HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none',
    LOG_LEVEL: 'silent', PARLEY_MAX_SESSIONS: '5000', PARLEY_DATA_DIR: dataDir, PARLEY_RECORDING: recording ? 'stereo' : 'off',
  });
  // off: no store at all (no call records); on: the default store, SQLite at <dataDir>/parley.db
  const app = await buildApp(config, { logger: pino({ level: 'silent' }), ...(records ? {} : { store: null }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const door: Door = { mode, app, bridge: undefined as unknown as SipBridge, dataDir, frames: 0, measuring: false };
  // the null engine of bench/sip.ts's ulaw path: each append echoed as an output delta (one delta object per call)
  app.parley.engines.register('cascade', echoEngine(AudioChunk, () => { if (door.measuring) door.frames++; }));
  door.bridge = await startSipBridge(app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtp, maxCalls: 5000, rtpTimeoutS: 0 }, engine: 'cascade', g711Passthrough: true });
  return door;
}

/** bench/sip.ts's generator in a child: N SIP calls, `seconds` of μ-law; calls onStart/onEnd around the media window. */
function runGenerator(port: number, calls: number, seconds: number, onStart: () => void, onEnd: () => void): Promise<Record<string, number>> {
  return runLoadChild([SIP_BENCH, '--load', 'sip', String(port), String(calls), String(seconds), '0'], onStart, onEnd);
}

interface Run {
  cpuUsPerCallS: number;
  /** Minor page faults (the kernel mapping fresh memory) per call-second. */
  faultsPerCallS: number;
  sysShare: number;
  rssMiB: number;
  /** Array buffers of the process (Node's Buffers and typed arrays: the recorders' rings, the write blocks). */
  arrayBuffersMiB: number;
  /** The live recorders' own audio memory (rings) + the process's pool of write blocks. */
  recordingMiB: number;
  lossPct: number;
  outLatePct: number;
  generatorLatePct: number;
  recordings: number;
}

/** One run of `calls` calls for `seconds` on door d, measured after `settleS`; profiled when `profile` is given. */
async function measure(d: Door, calls: number, seconds: number, settleS: number, profile?: { session: Session; file: string }): Promise<Run> {
  d.frames = 0;
  let cpu0 = process.cpuUsage();
  let cpu = 0;
  let sys = 0;
  let t0 = 0;
  let wallS = 0;
  let rss = 0;
  let arrayBuffers = 0;
  let recording = 0;
  let faults0 = process.resourceUsage().minorPageFault;
  let faults = 0;
  let settle: NodeJS.Timeout | undefined;
  const r = await runGenerator(
    d.bridge.server.port,
    calls,
    seconds,
    () => {
      // the calls' first second (each recorder's file opened, buffers made; the records' first writes) is not
      // counted: the figure is the steady state of calls that last minutes
      settle = setTimeout(() => {
        d.measuring = true;
        profile?.session.post('Profiler.start');
        cpu0 = process.cpuUsage();
        faults0 = process.resourceUsage().minorPageFault;
        t0 = performance.now();
      }, settleS * 1000);
    },
    () => {
      clearTimeout(settle);
      const c = process.cpuUsage(cpu0);
      faults = process.resourceUsage().minorPageFault - faults0;
      d.measuring = false;
      wallS = (performance.now() - t0) / 1000;
      cpu = c.user + c.system;
      sys = c.system;
      rss = process.memoryUsage.rss();
      arrayBuffers = process.memoryUsage().arrayBuffers;
      recording = WavStream.poolBytes.made;
      for (const h of d.app.parley.sessions.list()) recording += d.app.parley.recordings.get(h.id)?.memoryBytes ?? 0;
      if (profile !== undefined) {
        profile.session.post('Profiler.stop', (err, res) => {
          if (!err) writeFileSync(profile.file, JSON.stringify(res.profile));
        });
      }
    },
  );
  // the calls end (the generator's BYEs): wait for the recordings to be closed and the records written, then
  // drop the files so the disk does not fill over the rounds
  const deadline = Date.now() + 10_000;
  while (d.app.parley.sessions.active > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  await d.app.parley.recordings.idle();
  await d.app.parley.store?.flush();
  let recordings = 0;
  try {
    for (const f of readdirSync(join(d.dataDir, 'recordings'))) {
      unlinkSync(join(d.dataDir, 'recordings', f));
      recordings++;
    }
  } catch {
    // no recordings (off)
  }
  const carried = d.frames / 50;
  // frames sent while measured (the generator sends 50 a second per call)
  const sent = Math.round(calls * 50 * wallS);
  return {
    cpuUsPerCallS: carried > 0 ? cpu / carried : cpu / (calls * wallS),
    faultsPerCallS: carried > 0 ? faults / carried : faults / (calls * wallS),
    sysShare: cpu > 0 ? sys / cpu : 0,
    rssMiB: rss / 1048576,
    arrayBuffersMiB: arrayBuffers / 1048576,
    recordingMiB: recording / 1048576,
    lossPct: sent ? Math.max(0, (100 * (sent - d.frames)) / sent) : 0,
    outLatePct: r['outLatePct'] ?? 0,
    generatorLatePct: r['generatorTicks'] ? (100 * (r['generatorLateTicks'] ?? 0)) / r['generatorTicks'] : 0,
    recordings,
  };
}

/** One side, (a) or (b): a door in this process, or (--together) in a child process of its own. */
interface Side {
  mode: Mode;
  run(calls: number, seconds: number, profile: boolean): Promise<Run>;
  close(): Promise<void>;
}

function profilerFor(file: string | undefined): { session: Session; file: string } | undefined {
  if (!file) return undefined;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 100 });
  return { session, file };
}

async function localSide(mode: Mode, args: Args): Promise<Side> {
  const d = await makeDoor(mode, mode === 'off' ? { min: 46000, max: 47999 } : { min: 48000, max: 49999 }, args.on);
  const profiler = mode === 'on' ? profilerFor(args.profile) : undefined;
  return {
    mode,
    run: (calls, seconds, profile) => measure(d, calls, seconds, args.settleS, profile ? profiler : undefined),
    close: async () => {
      await d.bridge.close();
      await d.app.close();
      rmSync(d.dataDir, { recursive: true, force: true });
    },
  };
}

/** The side in a child process (`--child off|on`): one JSON line per request and per answer. */
function childSide(mode: Mode, args: Args): Promise<Side> {
  const extra = [...(args.profile && mode === 'on' ? ['--profile', args.profile] : [])];
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', mode, '--on', args.on, '--settle', String(args.settleS), ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(msg: Record<string, unknown>) => void> = [];
  onLines(child.stdout, (line) => {
    if (line.startsWith('{')) waiting.shift()?.(JSON.parse(line) as Record<string, unknown>);
  });
  const ask = (req: object): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  return new Promise((resolve) => {
    waiting.push(() =>
      resolve({
        mode,
        run: async (calls, seconds, profile) => (await ask({ calls, seconds, profile })).run as Run,
        close: async () => {
          await ask({ quit: true });
        },
      }),
    );
  });
}

/** `--child off|on`: serve runs over stdin/stdout for a --together parent. */
async function serveChild(mode: Mode, args: Args): Promise<void> {
  const side = await localSide(mode, args);
  process.stdout.write('{"ready":true}\n');
  let chain = Promise.resolve();
  onLines(process.stdin, (line) => {
    const req = JSON.parse(line) as { calls: number; seconds: number; profile: boolean; quit?: boolean };
    chain = chain.then(async () => {
      if (req.quit) {
        await side.close();
        process.stdout.write('{"closed":true}\n', () => process.exit(0));
        return;
      }
      const run = await side.run(req.calls, req.seconds, req.profile);
      process.stdout.write(`${JSON.stringify({ run })}\n`);
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return serveChild(args.child, args);
  const [off, on] = args.together ? await Promise.all([childSide('off', args), childSide('on', args)]) : [await localSide('off', args), await localSide('on', args)];
  /** One round: (a) and (b) at the same time (--together), or back to back in the given order. */
  const round = async (n: number, seconds: number, order: Side[]): Promise<{ off: Run; on: Run }> => {
    if (args.together) {
      const [a, b] = await Promise.all([off.run(n, seconds, false), on.run(n, seconds, false)]);
      return { off: a, on: b };
    }
    const res: Partial<Record<Mode, Run>> = {};
    for (const d of order) res[d.mode] = await d.run(n, seconds, false);
    return res as { off: Run; on: Run };
  };

  const load0 = loadavg()[0] ?? 0;
  process.stdout.write(
    `call-center benchmark: μ-law passthrough through the SIP door, rows ${args.rows.join(', ')} calls, ${args.rounds} rounds, ${args.seconds} s per run, node ${process.version}\n` +
      `(a) off: no call records, recording off   (b) on: ${args.on === 'both' ? 'call records in SQLite (temp data dir) + stereo recording' : args.on === 'records' ? 'call records in SQLite only (recording off)' : 'stereo recording only (no call records)'}\n` +
      (args.together
        ? 'each round runs (a) and (b) at the same time, each in its own process with its own generator (the same load on both); ratios pair the two runs of a round; medians [min–max]\n'
        : 'each round runs (a) and (b) back to back, (a) first in even rounds; ratios pair the two runs of a round; medians [min–max]\n'),
  );
  if (args.warmupS > 0) {
    const n = Math.max(...args.rows);
    await round(n, args.warmupS, [off, on]);
  }
  type Pair = { off: Run; on: Run };
  const summary: string[] = [];
  for (const n of args.rows) {
    const kept: Pair[] = [];
    const dropped: Pair[] = [];
    let attempt = 0;
    while (kept.length < args.rounds && attempt < args.rounds * 3) {
      const order: Side[] = attempt % 2 === 0 ? [off, on] : [on, off];
      attempt++;
      const pair: Pair = await round(n, args.seconds, order);
      const ok = pair.off.generatorLatePct <= args.maxLatePct && pair.on.generatorLatePct <= args.maxLatePct;
      (ok ? kept : dropped).push(pair);
      process.stderr.write(
        `${n} calls, attempt ${attempt}: on/off ${(pair.on.cpuUsPerCallS / pair.off.cpuUsPerCallS).toFixed(3)}× (on ${pair.on.cpuUsPerCallS.toFixed(0)} µs/call-s, off ${pair.off.cpuUsPerCallS.toFixed(0)}; ` +
          `RSS on ${pair.on.rssMiB.toFixed(0)} / off ${pair.off.rssMiB.toFixed(0)} MiB; ${pair.on.recordings} recordings; generator late ${pair.on.generatorLatePct.toFixed(1)} % / ${pair.off.generatorLatePct.toFixed(1)} %)${ok ? '' : ' — not counted, run again'}\n`,
      );
    }
    const rs = kept.length > 0 ? kept : dropped;
    const col = (f: (p: Pair) => number): number[] => rs.map(f);
    const fmt = fmtRounds;
    const ratios = col((p) => p.on.cpuUsPerCallS / p.off.cpuUsPerCallS);
    const rm = spread(ratios).median;
    process.stdout.write(
      `${n} calls, ${kept.length} rounds counted${dropped.length ? `, ${dropped.length} not counted (generator could not keep pace)` : ''}${kept.length ? '' : ' — NONE kept pace: saturated machine'}:\n` +
        `  CPU µs per call-second   off ${fmt(col((p) => p.off.cpuUsPerCallS), 1)}   on ${fmt(col((p) => p.on.cpuUsPerCallS), 1)}\n` +
        `  of it in the kernel      off ${fmt(col((p) => 100 * p.off.sysShare), 0, ' %')}   on ${fmt(col((p) => 100 * p.on.sysShare), 0, ' %')}\n` +
        `  page faults / call-s     off ${fmt(col((p) => p.off.faultsPerCallS), 1)}   on ${fmt(col((p) => p.on.faultsPerCallS), 1)}\n` +
        `  on / off (per round)     ${fmt(ratios, 3, '×')}   rounds: ${ratios.map((x) => x.toFixed(3)).join(' ')}   target ≤ 1.15×: ${rm <= 1.15 ? 'met' : 'MISSED'}\n` +
        `  RSS at end of media      off ${fmt(col((p) => p.off.rssMiB), 0, ' MiB')}   on ${fmt(col((p) => p.on.rssMiB), 0, ' MiB')}   ${args.together ? '(each its own process)' : '(one process: both apps)'}\n` +
        `  array buffers            off ${fmt(col((p) => p.off.arrayBuffersMiB), 1, ' MiB')}   on ${fmt(col((p) => p.on.arrayBuffersMiB), 1, ' MiB')}   (of it the recordings: rings + write pool ${fmt(col((p) => p.on.recordingMiB), 1, ' MiB')})\n` +
        `  loss                     off ${fmt(col((p) => p.off.lossPct), 2, ' %')}   on ${fmt(col((p) => p.on.lossPct), 2, ' %')}\n` +
        `  late frames out          off ${fmt(col((p) => p.off.outLatePct), 2, ' %')}   on ${fmt(col((p) => p.on.outLatePct), 2, ' %')}\n\n`,
    );
    const s = (xs: number[]): Spread => spread(xs);
    const offS = s(col((p) => p.off.cpuUsPerCallS));
    const onS = s(col((p) => p.on.cpuUsPerCallS));
    const rS = s(ratios);
    summary.push(
      `| ${n} | ${offS.median.toFixed(0)} [${offS.min.toFixed(0)}–${offS.max.toFixed(0)}] | ${onS.median.toFixed(0)} [${onS.min.toFixed(0)}–${onS.max.toFixed(0)}] | ` +
        `**${rS.median.toFixed(2)}×** [${rS.min.toFixed(2)}–${rS.max.toFixed(2)}] | ${s(col((p) => p.off.rssMiB)).median.toFixed(0)} / ${s(col((p) => p.on.rssMiB)).median.toFixed(0)} MiB |`,
    );
  }
  if (args.profile) {
    // one more (b) run, profiled and not counted: sampling every 100 µs costs CPU of its own
    await on.run(Math.max(...args.rows), args.seconds, true);
    await new Promise((res) => setTimeout(res, 200));
    process.stdout.write(`CPU profile of one extra (b) run's media window (not counted): ${args.profile}\n`);
  }
  const load1 = loadavg()[0] ?? 0;
  process.stdout.write(`load average (1 min) at start ${load0.toFixed(2)}, at end ${load1.toFixed(2)} (2 cores)\n\n`);
  process.stdout.write('| calls | off: CPU µs per call-second | on: records + stereo recording | on / off (target ≤ 1.15×) | RSS off / on |\n|---|---|---|---|---|\n');
  process.stdout.write(`${summary.join('\n')}\n`);
  await Promise.all([off.close(), on.close()]);
  process.exit(0);
}

void main();
