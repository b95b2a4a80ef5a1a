/**
 * Interruptions that mean it (docs/notes/turns.md) on the issue-14 test set: each backchannel and each
 * real interruption of fixtures/turns/ (made by scripts/turns-fixtures.sh) goes through the cascade's
 * own path — 8 kHz μ-law → zero-insert 16 kHz → Silero VAD turn (speech length) → PocketSphinx — and
 * the decision (`decideInterruption`), twice: on the first 600 ms of speech (what a probe could know by
 * then; the probe's own time not counted) and on the whole utterance (the final verdict).
 *
 *   bash scripts/turns-fixtures.sh && npx tsx bench/interruptions.ts [fixtures/turns]
 *
 * Prints: backchannels that stopped the agent (target ≤ 10 %), real interruptions that stopped it by
 * 600 ms of speech / at all (target 100 %), and the misses with what the STT heard.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TurnDetector, createVad, mulawDecode, resampleWhole } from '../audio/index.ts';
import { zeroInsertUpsample } from '../server/engines/cascade/index.ts';
import { DEFAULT_INTERRUPTION_RULES as RULES, contentWords, decideInterruption, hasStopPhrase, nearStopWord } from '../server/engines/cascade/interruptions.ts';
import type { HeardSoFar, InterruptionVerdict } from '../server/engines/cascade/interruptions.ts';

/** The rule before the near-stop-word step (the baseline, same transcripts): a lone "top" was ignored. */
function decideBefore(h: HeardSoFar): InterruptionVerdict {
  const v = decideInterruption(h, RULES);
  const t = h.text;
  if (v === 'interrupt' && t !== null && !hasStopPhrase(t, RULES) && nearStopWord(t, RULES) && !(h.speechMs >= RULES.minDurationMs && contentWords(t, RULES).length >= Math.max(1, RULES.minWords))) return h.ended ? 'ignore' : 'wait';
  return v;
}
import { PocketSphinxStt } from '../server/engines/providers/index.ts';

const dir = process.argv[2] ?? new URL('../fixtures/turns/', import.meta.url).pathname;
const keep = setInterval(() => undefined, 1_000);   // the STT workers are unref'd

/** A μ-law WAV as the cascade hears it: the VAD's 16 kHz (resampled) and the STT's (zero insertion), InputDecoder's two views. */
function load(file: string): { vadPcm: Int16Array; pcm: Int16Array } {
  const b = readFileSync(file);
  let at = 12;
  while (at + 8 <= b.length && b.toString('ascii', at, at + 4) !== 'data') at += 8 + b.readUInt32LE(at + 4);
  const data = b.subarray(at + 8, at + 8 + b.readUInt32LE(at + 4));
  const pcm8 = mulawDecode(data);
  return { vadPcm: resampleWhole(pcm8, 8_000, 16_000), pcm: zeroInsertUpsample(pcm8, new Int16Array(pcm8.length * 2)) };
}

const stt = new PocketSphinxStt();
await stt.warm();
const vad = await createVad({ kind: 'silero', sampleRateHz: 16_000 });
async function text(pcm: Int16Array): Promise<string> {
  const s = stt.open(); s.push(pcm); return (await s.finish()).text.trim();
}

const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Array<{ category: string; file: string; text: string }>;
const stats = { backchannels: { n: 0, stopped: 0, stoppedBefore: 0 }, interrupts: { n: 0, by600: 0, atAll: 0, by600Before: 0, atAllBefore: 0 } };
const misses: string[] = [];
for (const e of manifest) {
  if (e.category !== 'backchannels' && e.category !== 'interrupts') continue;
  const { vadPcm, pcm } = load(join(dir, e.file));
  vad.reset();
  const turn = new TurnDetector({ vad, silenceDurationMs: 600, prefixPaddingMs: 0 });
  const padded = new Int16Array(vadPcm.length + 16_000);   // 1 s of silence after, so the turn ends
  padded.set(vadPcm);
  let startMs: number | null = null; let endMs: number | null = null;
  for (let i = 0; i < padded.length; i += 320) {
    for (const t of turn.push(padded.subarray(i, i + 320))) {
      if (t.type === 'speech_started' && startMs === null) startMs = t.audioStartMs;
      else if (t.type === 'speech_stopped') endMs = t.audioEndMs;
    }
  }
  if (startMs === null) { misses.push(`${e.file}: no speech detected`); if (e.category === 'interrupts') stats.interrupts.n++; else stats.backchannels.n++; continue; }
  const speechMs = (endMs ?? pcm.length / 16) - startMs;
  const whole = await text(pcm);
  const final = decideInterruption({ speechMs, text: whole, ended: true }, RULES);
  if (e.category === 'backchannels') {
    stats.backchannels.n++;
    if (final === 'interrupt') { stats.backchannels.stopped++; misses.push(`backchannel stopped the agent: ${e.file} heard "${whole}"`); }
    if (decideBefore({ speechMs, text: whole, ended: true }) === 'interrupt') stats.backchannels.stoppedBefore++;
  } else {
    stats.interrupts.n++;
    const early = await text(pcm.subarray(0, Math.min(pcm.length, (startMs + 600) * 16)));
    const at600 = decideInterruption({ speechMs: Math.min(600, speechMs), text: early, ended: speechMs <= 600 }, RULES);
    if (at600 === 'interrupt') stats.interrupts.by600++;
    if (final === 'interrupt') stats.interrupts.atAll++;
    if (decideBefore({ speechMs: Math.min(600, speechMs), text: early, ended: speechMs <= 600 }) === 'interrupt') stats.interrupts.by600Before++;
    if (decideBefore({ speechMs, text: whole, ended: true }) === 'interrupt') stats.interrupts.atAllBefore++;
    else misses.push(`interruption ignored: ${e.file} heard "${whole}" (${Math.round(speechMs)} ms)`);
  }
}
const pct = (a: number, n: number): string => `${a}/${n} (${n ? ((100 * a) / n).toFixed(1) : '0'} %)`;
console.log(`backchannels that stopped the agent: ${pct(stats.backchannels.stopped, stats.backchannels.n)} (rule before the near-stop-word step, same transcripts: ${pct(stats.backchannels.stoppedBefore, stats.backchannels.n)})`);
console.log(`real interruptions that stopped it by 600 ms of speech: ${pct(stats.interrupts.by600, stats.interrupts.n)}; at all: ${pct(stats.interrupts.atAll, stats.interrupts.n)} (before: ${pct(stats.interrupts.by600Before, stats.interrupts.n)}; ${pct(stats.interrupts.atAllBefore, stats.interrupts.n)})`);
for (const m of misses) console.log(`  ${m}`);
await stt.close();
vad.close();
clearInterval(keep);
