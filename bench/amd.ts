/**
 * Answering-machine detection on the generated set (docs/notes/amd.md): test/support/amd-cases.ts makes
 * flite humans ("Hello?", "Hi, this is Sam.") and voicemail greetings (most ending in a beep) through a
 * phone line (noise at 30–10 dB SNR, 300–3400 Hz, μ-law) into a temp dir; each case is fed to
 * `AnsweringMachineDetector` in 20 ms frames, as the answered leg delivers it.
 *
 *   npx tsx bench/amd.ts [--json]
 *
 * Prints, for Parley's settings, for the settings before the short-greeting rule (600 ms of silence after any
 * greeting) and for Asterisk's defaults (fixed threshold 256, greeting 1500 ms,
 * 800 ms after it, 3 words, initial silence = machine), on the same cases: per-class accuracy (targets: ≥ 90 % correct), the
 * confusion, decision time p50/p95 (target: a human decided within 2 s of the answer), the beep (found,
 * start error, false beeps), the moment a message could start, and the CPU per 20 ms frame.
 */
import { performance } from 'node:perf_hooks';
import { AnsweringMachineDetector } from '../audio/index.ts';
import type { AmdOptions, AmdResult } from '../audio/index.ts';
import { AmdCaseMaker, hasFliteAndSox } from '../test/support/amd-cases.ts';
import type { AmdCase } from '../test/support/amd-cases.ts';

if (!hasFliteAndSox()) {
  console.error('bench/amd: flite and sox are needed (apt-get install flite sox)');
  process.exit(1);
}

const FRAME = 160;
/** app_amd.c's defaults, as close as this detector can be set (the beep search stays on; no short-greeting rule). */
const ASTERISK: Omit<AmdOptions, 'sampleRateHz'> = { noiseFactor: 0, greetingMs: 1500, afterGreetingSilenceMs: 800, shortGreetingMs: 0, maxWords: 3, initialSilenceVerdict: 'machine' };
const BEFORE: Omit<AmdOptions, 'sampleRateHz'> = { shortGreetingMs: 0 };
interface Run { c: AmdCase; r: AmdResult; readyAtMs?: number; beepAtMs?: number }

function run(c: AmdCase, opts: Omit<AmdOptions, 'sampleRateHz'>): Run {
  const d = new AnsweringMachineDetector({ sampleRateHz: 8000, ...opts });
  for (let i = 0; i < c.pcm.length && !d.done; i += FRAME) d.process(c.pcm.subarray(i, i + FRAME));
  const r = d.finish();
  const out: Run = { c, r };
  if (d.readyAtMs !== undefined) out.readyAtMs = d.readyAtMs;
  if (d.beepAtMs !== undefined) out.beepAtMs = d.beepAtMs;
  return out;
}

function q(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
}
const pct = (a: number, n: number): string => `${a}/${n} (${n ? ((100 * a) / n).toFixed(1) : '–'} %)`;

function report(title: string, runs: Run[], verbose: boolean): Record<string, unknown> {
  const main = runs.filter((x) => !x.c.hard);
  const hard = runs.filter((x) => x.c.hard);
  console.log(`\n== ${title}`);
  const conf = { human: { human: 0, machine: 0, unknown: 0 }, machine: { human: 0, machine: 0, unknown: 0 } };
  for (const x of main) conf[x.c.label][x.r.result]++;
  const nH = main.filter((x) => x.c.label === 'human').length;
  const nM = main.length - nH;
  const okH = conf.human.human;
  const okM = conf.machine.machine;
  console.log(`correct: ${pct(okH + okM, main.length)} — humans ${pct(okH, nH)}, machines ${pct(okM, nM)}`);
  console.log('confusion (rows: truth; columns: verdict)      human  machine  unknown');
  for (const t of ['human', 'machine'] as const) {
    const r = conf[t];
    console.log(`  ${t.padEnd(44)} ${String(r.human).padStart(5)}  ${String(r.machine).padStart(7)}  ${String(r.unknown).padStart(7)}`);
  }
  const tH = main.filter((x) => x.c.label === 'human' && x.r.result === 'human').map((x) => x.r.decided_after_ms);
  const tHend = main.filter((x) => x.c.label === 'human' && x.r.result === 'human').map((x) => x.r.decided_after_ms - x.c.speechEndMs);
  const tM = main.filter((x) => x.c.label === 'machine' && x.r.result === 'machine').map((x) => x.r.decided_after_ms);
  const within2s = main.filter((x) => x.c.label === 'human' && x.r.result === 'human' && x.r.decided_after_ms <= 2000).length;
  console.log(`decision time after the answer: humans p50 ${q(tH, 0.5)} ms, p95 ${q(tH, 0.95)} ms, max ${q(tH, 1)} ms (within 2 s: ${pct(within2s, nH)}); after their speech ended p50 ${q(tHend, 0.5)} ms, p95 ${q(tHend, 0.95)} ms`);
  console.log(`                                machines p50 ${q(tM, 0.5)} ms, p95 ${q(tM, 0.95)} ms, max ${q(tM, 1)} ms`);
  // the floor under any rule that waits for the person to stop: when their speech ends
  const ends = main.filter((x) => x.c.label === 'human').map((x) => x.c.speechEndMs);
  console.log(`humans' speech itself ends after the answer p50 ${q(ends, 0.5)} ms, p95 ${q(ends, 0.95)} ms; still speaking at 2 s: ${pct(ends.filter((e) => e > 2000).length, nH)}`);
  const withBeep = main.filter((x) => x.c.beep);
  const found = withBeep.filter((x) => x.beepAtMs !== undefined);
  const err = found.map((x) => Math.abs((x.beepAtMs as number) - (x.c.beep as { atMs: number }).atMs));
  const falseBeeps = runs.filter((x) => !x.c.beep && x.beepAtMs !== undefined);
  console.log(`beep found: ${pct(found.length, withBeep.length)}; start error p50 ${q(err, 0.5)} ms, max ${q(err, 1)} ms; false beeps (cases without one): ${pct(falseBeeps.length, runs.filter((x) => !x.c.beep).length)}`);
  const afterBeep = found.filter((x) => x.readyAtMs !== undefined).map((x) => (x.readyAtMs as number) - ((x.c.beep as { atMs: number; ms: number }).atMs + (x.c.beep as { ms: number }).ms));
  const noBeepM = main.filter((x) => x.c.label === 'machine' && !x.c.beep && x.r.result === 'machine');
  const afterGreeting = noBeepM.filter((x) => x.readyAtMs !== undefined).map((x) => (x.readyAtMs as number) - x.c.speechEndMs);
  console.log(`message could start: after the beep's end p50 ${q(afterBeep, 0.5)} ms, max ${q(afterBeep, 1)} ms; without a beep, after the greeting's end p50 ${q(afterGreeting, 0.5)} ms (${afterGreeting.length} cases)`);
  const hardOk = hard.filter((x) => x.r.result === x.c.label).length;
  console.log(`hard cases (apart): ${pct(hardOk, hard.length)} — ${hard.map((x) => `${x.c.label}→${x.r.result}`).join(', ')}`);
  if (verbose) {
    for (const x of main.filter((y) => y.r.result !== y.c.label)) {
      console.log(`  miss: ${x.c.name} "${x.c.text}" lead ${x.c.leadMs} ms, ${x.c.snrDb} dB SNR, ${x.c.levelDbfs} dBFS → ${x.r.result} (${x.r.reason}) at ${x.r.decided_after_ms} ms`);
    }
    for (const x of falseBeeps) console.log(`  false beep: ${x.c.name} "${x.c.text}" at ${x.beepAtMs} ms`);
    for (const x of withBeep.filter((y) => y.beepAtMs === undefined)) console.log(`  beep missed: ${x.c.name} ${JSON.stringify(x.c.beep)} ${x.c.snrDb} dB SNR`);
  }
  return { correct: (okH + okM) / main.length, humans: okH / nH, machines: okM / nM, conf, humanP50: q(tH, 0.5), humanP95: q(tH, 0.95), machineP50: q(tM, 0.5), machineP95: q(tM, 0.95), beepFound: found.length / withBeep.length, falseBeeps: falseBeeps.length };
}

const t0 = performance.now();
const maker = new AmdCaseMaker();
let cases: AmdCase[];
let holdout: AmdCase[];
try {
  cases = maker.benchSet();
  holdout = maker.holdoutSet();
} finally {
  maker.close();
}
const genS = (performance.now() - t0) / 1000;
const audioS = cases.reduce((a, c) => a + c.pcm.length / 8000, 0);
console.log(`generated ${cases.length} cases (${cases.filter((c) => !c.hard && c.label === 'human').length} humans, ${cases.filter((c) => !c.hard && c.label === 'machine').length} machines, ${cases.filter((c) => c.hard).length} hard) in ${genS.toFixed(1)} s: ${audioS.toFixed(0)} s of audio`);

const verbose = process.argv.includes('--verbose');
console.log(`held-out set: ${holdout.filter((c) => c.label === 'human').length} humans, ${holdout.filter((c) => c.label === 'machine').length} machines (other texts, voices kal16/slt/rms, speeds 0.8/1.0/1.25)`);
const ours = report('Parley (audio/amd.ts defaults), the set the defaults were chosen on', cases.map((c) => run(c, {})), verbose);
const oursHeld = report('Parley (audio/amd.ts defaults), held-out set', holdout.map((c) => run(c, {})), verbose);
// before the short-greeting rule: 600 ms of silence after any greeting (the baseline of docs/notes/amd.md)
const before = report('Before the short-greeting rule (shortGreetingMs 0: 600 ms after any greeting), same set', cases.map((c) => run(c, BEFORE)), verbose);
const beforeHeld = report('Before the short-greeting rule, held-out set', holdout.map((c) => run(c, BEFORE)), verbose);
const asterisk = report("Asterisk's defaults (fixed threshold 256, greeting 1500, after it 800, 3 words, initial silence = machine; beep on)", cases.map((c) => run(c, ASTERISK)), verbose);

// CPU per 20 ms frame: every case whole (no early stop), the full detector against the cadence alone (beep
// search off) as the baseline, interleaved, repeated; the ratio is what the beep search costs
const reps = 7;
const usFull: number[] = [];
const usCadence: number[] = [];
function cpu(beep: boolean): number {
  let frames = 0;
  const s = performance.now();
  for (const c of cases) {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000, maxWaitMs: 1e9, readySilenceMs: 1e9, beep });
    for (let i = 0; i + FRAME <= c.pcm.length; i += FRAME) {
      d.process(c.pcm.subarray(i, i + FRAME));
      frames++;
    }
  }
  return ((performance.now() - s) * 1000) / frames;
}
for (let r = 0; r < reps; r++) {
  if (r % 2 === 0) {
    usFull.push(cpu(true));
    usCadence.push(cpu(false));
  } else {
    usCadence.push(cpu(false));
    usFull.push(cpu(true));
  }
}
const ratios = usFull.map((f, i) => f / (usCadence[i] as number));
console.log(`\nCPU per 20 ms frame at 8 kHz, whole calls (${reps} interleaved rounds): detector median ${q(usFull, 0.5).toFixed(2)} µs [${Math.min(...usFull).toFixed(2)}–${Math.max(...usFull).toFixed(2)}], cadence alone ${q(usCadence, 0.5).toFixed(2)} µs; ratio ${q(ratios, 0.5).toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}] (of a 20 ms frame: ${((q(usFull, 0.5) / 20_000) * 100).toFixed(2)} %)`);
if (process.argv.includes('--json')) console.log(JSON.stringify({ ours, oursHeld, before, beforeHeld, asterisk, cpuUsPerFrame: q(usFull, 0.5), cpuRatio: q(ratios, 0.5) }));
