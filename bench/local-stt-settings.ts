/**
 * PocketSphinx decoder settings: CPU per second of speech while streaming, time of the end of an
 * utterance, and word accuracy, for a few decoder settings, in one thread (no workers: the figures
 * are the decoder's own cost). Settings are interleaved round by round; medians and spread over rounds.
 *
 * Speech: the four fixtures/speech WAVs (16 kHz, flite slt) and, when a directory made by
 * scripts/turns-fixtures.sh is given (`--turns DIR`), its questions (four flite voices, three speeds,
 * 8 kHz μ-law phone lines, decoded after the engine's zero-insertion upsampling to 16 kHz).
 *
 * CPU is the process's CPU time while streaming (robust to other tenants, unlike wall time); the end of
 * an utterance is wall time. Not a test. Run: `npx tsx bench/local-stt-settings.ts [--rounds 3]
 * [--turns /tmp/turns] [--all-speeds] [--settings 1,2]` (indices into SETTINGS; the first is always run).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWavFile } from '../audio/index.ts';
import { zeroInsertUpsample } from '../server/engines/cascade/index.ts';
import { DEFAULT_POCKETSPHINX_MODEL_DIR } from '../server/engines/providers/index.ts';
import { loadPocketSphinx } from '../server/engines/providers/pocketsphinx/native.ts';
import { decoderArgs } from '../server/engines/providers/pocketsphinx/settings.ts';
import type { DecoderSettings } from '../server/engines/providers/pocketsphinx/settings.ts';

const arg = (name: string): string | undefined => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : undefined; };
const ROUNDS = Number(arg('--rounds')) || 3;
const TURNS = arg('--turns');
const ALL_SPEEDS = process.argv.includes('--all-speeds');
const ONLY = arg('--settings')?.split(',');

const SETTINGS: Record<string, DecoderSettings> = {
  'two passes': { secondPass: true },
  'one pass': { secondPass: false },
  'one pass, no bestpath': { secondPass: false, bestpath: false },
  'one pass, topn 2': { secondPass: false, topn: 2 },
  'one pass, ds 2': { secondPass: false, ds: 2 },
  'one pass, maxhmmpf 10000': { secondPass: false, maxhmmpf: 10_000 },
  'two passes, topn 2': { secondPass: true, topn: 2 },
  'one pass, pl_window 0': { secondPass: false, plWindow: 0 },
  'one pass, pl_window 10': { secondPass: false, plWindow: 10 },
  'one pass, beam 1e-40 wbeam 1e-24': { secondPass: false, beam: 1e-40, wbeam: 1e-24 },
  'one pass, beam 1e-35 wbeam 1e-20': { secondPass: false, beam: 1e-35, wbeam: 1e-20 },
  'one pass, topn 2, beam 1e-40 wbeam 1e-24': { secondPass: false, topn: 2, beam: 1e-40, wbeam: 1e-24 },
};

/** The library handles, held for the whole run (koffi unloads collected ones). */
const libraries: unknown[] = [];
const api = loadPocketSphinx(libraries);

interface Clip { name: string; text: string; pcm: Int16Array; phone: boolean }
const clips: Clip[] = [];
const FIXTURE_TEXT: Record<string, string> = {
  hello: 'hello what time is it', 'book-table': 'i would like to book a table for two people tomorrow evening',
  goodbye: 'thank you goodbye', transfer: 'please transfer me to the billing department',
};
for (const [name, text] of Object.entries(FIXTURE_TEXT)) {
  clips.push({ name, text, phone: false, pcm: readWavFile(new URL(`../fixtures/speech/${name}.wav`, import.meta.url).pathname, { sampleRateHz: 16_000 }).samples });
}
if (TURNS) {
  const manifest = JSON.parse(readFileSync(join(TURNS, 'manifest.json'), 'utf8')) as Array<{ category: string; file: string; text: string }>;
  for (const e of manifest.filter((m) => m.category === 'questions' && (ALL_SPEEDS || m.file.includes('-1.0-')))) {
    const w = readWavFile(join(TURNS, e.file));
    const pcm = w.sampleRateHz === 8000 ? zeroInsertUpsample(w.samples, new Int16Array(w.samples.length * 2)) : readWavFile(join(TURNS, e.file), { sampleRateHz: 16_000 }).samples;
    clips.push({ name: e.file, text: e.text, phone: w.sampleRateHz === 8000, pcm });
  }
}

const words = (s: string): string[] => s.toLowerCase().replace(/[^a-z' ]/g, ' ').split(/\s+/).filter(Boolean);
/** Word errors (edit distance) of `hyp` against `ref`. */
function errors(ref: string[], hyp: string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[hyp.length]!;
}

const decoders = new Map<string, unknown>();
for (const [label, s] of Object.entries(SETTINGS).filter(([l], i) => !ONLY || i === 0 || ONLY.includes(String(i)) || ONLY.includes(l))) {
  const argv = decoderArgs(DEFAULT_POCKETSPHINX_MODEL_DIR, s);
  const cfg = api.cmd_ln_parse_r(null, api.ps_args(), argv.length, argv, 1);
  decoders.set(label, api.ps_init(cfg));
}

interface Figures { processMs: number; wallMs: number; endMs: number[]; audioMs: number; errs: number; refWords: number; phoneErrs: number; phoneWords: number }
const perRound = new Map<string, Figures[]>([...decoders.keys()].map((k) => [k, []]));
const CHUNK = 1600; // 100 ms, as the worker gets it
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? [...decoders.keys()] : [...decoders.keys()].reverse();
  for (const label of order) {
    const d = decoders.get(label);
    const f: Figures = { processMs: 0, wallMs: 0, endMs: [], audioMs: 0, errs: 0, refWords: 0, phoneErrs: 0, phoneWords: 0 };
    for (const c of clips) {
      // the turn ends 500 ms after the speech: the decoder hears that silence too
      const pcm = new Int16Array(c.pcm.length + 8000);
      pcm.set(c.pcm);
      api.ps_start_utt(d);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < pcm.length; i += CHUNK) { const ch = pcm.subarray(i, Math.min(pcm.length, i + CHUNK)); api.ps_process_raw(d, ch, ch.length, 0, 0); }
      const t1 = performance.now();
      const c1 = process.cpuUsage(c0);
      api.ps_end_utt(d);
      const hyp = (api.ps_get_hyp(d, [0]) as string | null) ?? '';
      const t2 = performance.now();
      f.processMs += (c1.user + c1.system) / 1000;
      f.wallMs += t1 - t0;
      f.endMs.push(t2 - t1);
      f.audioMs += pcm.length / 16;
      const ref = words(c.text);
      const e = errors(ref, words(hyp));
      if (c.phone) { f.phoneErrs += e; f.phoneWords += ref.length; } else { f.errs += e; f.refWords += ref.length; }
    }
    perRound.get(label)!.push(f);
    process.stderr.write(`\rround ${r + 1}/${ROUNDS} ${label}            `);
  }
}
process.stderr.write('\n');

const med = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const pct = (v: number[], p: number): number => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!; };
const base = perRound.get('two passes')!;
console.log(`PocketSphinx settings, ${clips.length} clips (${clips.filter((c) => c.phone).length} phone), ${ROUNDS} rounds, one thread`);
console.log('setting | streaming CPU time / audio (rounds) | wall / audio | vs two passes | end of utterance p50 / p95 ms | word acc 16 kHz | word acc 8 kHz');
for (const [label, rs] of perRound) {
  const rtf = rs.map((f) => f.processMs / f.audioMs);
  const ratios = rs.map((f, i) => (f.processMs / f.audioMs) / (base[i]!.processMs / base[i]!.audioMs));
  const ends = rs.flatMap((f) => f.endMs);
  const f = rs[0]!;
  const acc = (e: number, n: number): string => (n ? `${(100 * (1 - e / n)).toFixed(1)} % (${n} words)` : '-');
  const wall = med(rs.map((f) => f.wallMs / f.audioMs));
  console.log(`${label} | ${med(rtf).toFixed(3)} (${Math.min(...rtf).toFixed(3)}–${Math.max(...rtf).toFixed(3)}) | ${wall.toFixed(3)} | ${med(ratios).toFixed(2)}x | ${med(ends).toFixed(0)} / ${pct(ends, 0.95).toFixed(0)} | ${acc(f.errs, f.refWords)} | ${acc(f.phoneErrs, f.phoneWords)}`);
}
