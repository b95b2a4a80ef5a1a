/**
 * Adaptive end of turn (docs/notes/turns.md) on the issue-14 test set: each clean question/answer and
 * each sentence with a thinking pause of fixtures/turns/ (scripts/turns-fixtures.sh) is said, as a phone
 * line carries it (8 kHz μ-law, 20 ms frames paced by a deadline timer), to the local engine's cascade
 * (Silero VAD, PocketSphinx, the demo agent, flite) twice AT THE SAME TIME: one session with today's
 * fixed window (server_vad, 500 ms: the default) and one with semantic_vad's adaptive end of turn
 * (the default settings: 200..1200 ms). Paired in time, both see the same machine load.
 *
 *   bash scripts/turns-fixtures.sh /tmp/turns && npx tsx bench/turns.ts /tmp/turns [--rounds 2] [--speeds 1.0] [--baseline semantic]
 *
 * Per mode: the time from the end of the caller's speech (the last 20 ms frame above the line's noise
 * in the fixture) to the engine's first audio delta of the reply, p50/p95 with the spread over rounds;
 * premature end of turn on the paused sentences (a speech_stopped before the speech's end: the sentence
 * was cut in two). The door's own pacing (RTP, ≤ 20 ms) is not included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { DemoAgent } from '../server/agent/index.ts';
import { CascadeEngine, DEFAULT_INTERRUPTION_RULES } from '../server/engines/cascade/index.ts';
import { DEFAULT_END_OF_TURN } from '../server/engines/cascade/end-of-turn.ts';
import { FliteTts, PocketSphinxStt } from '../server/engines/providers/index.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import type { RealtimeSession, ServerEvent, TurnDetection } from '../server/protocol/index.ts';
import { percentileSorted } from './lib/index.ts';
import { mulawOf, speechEndMs } from './lib/turn-set.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const dir = args[0] && !args[0].startsWith('--') ? args[0] : new URL('../fixtures/turns/', import.meta.url).pathname;
const rounds = Number(opt('rounds', '2'));
const speeds = opt('speeds', '1.0').split(',').map(Number);
const baselineKind = opt('baseline', 'server');   // server: server_vad 500 ms; semantic: semantic_vad medium, fixed 600 ms
const keep = setInterval(() => undefined, 1_000);

const stt = new PocketSphinxStt({ workers: 2, decoders: 4 });
const tts = new FliteTts();
const stages = { stt, chat: new DemoAgent(), tts };
const base = { ...DEFAULT_INTERRUPTION_RULES, serverVad: false };
const fixed = new CascadeEngine({ name: 'local', stages, log: pino({ level: 'silent' }), interruptions: base });
const adaptive = new CascadeEngine({ name: 'local', stages, log: pino({ level: 'silent' }), interruptions: { ...base, endOfTurn: DEFAULT_END_OF_TURN } });
await fixed.warm(); await adaptive.warm(); await stt.ready();

interface Entry { category: string; file: string; text: string; voice: string; speed: number; pauseMs?: number }
const manifest = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Entry[])
  .filter((e) => (e.category === 'questions' || e.category === 'paused') && speeds.includes(e.speed));

interface Outcome { latencyMs: number | null; eotMs: number | null; premature: boolean }
const SILENCE = Buffer.alloc(160, 0xff);   // μ-law silence

async function run(engine: CascadeEngine, td: TurnDetection, mu: Buffer, endMs: number, t0: number): Promise<Outcome> {
  let firstAudioAt: number | null = null;
  let stoppedAt: number | null = null;
  let premature = false;
  const session = { type: 'realtime', output_modalities: ['audio'], audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: td }, output: { format: { type: 'audio/pcmu' } } } } as unknown as RealtimeSession;
  const conn = await engine.open({
    session, log: pino({ level: 'silent' }),
    callbacks: {
      onEvent: (e: ServerEvent) => {
        const now = performance.now();
        if (e.type === 'input_audio_buffer.speech_stopped' && now < t0 + endMs - 20) premature = true;
        else if (e.type === 'input_audio_buffer.speech_stopped' && stoppedAt === null) stoppedAt = now;
        if (e.type === 'response.output_audio.delta' && firstAudioAt === null && now >= t0 + endMs) firstAudioAt = now;
      },
      onClose: () => undefined,
    },
  });
  const frames = Math.ceil(mu.length / 160) + 500;   // + 10 s of silence (at most: it stops at the first audio)
  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = (): void => {
      while (i < frames && performance.now() >= t0 + i * 20) {
        const chunk = i * 160 < mu.length ? mu.subarray(i * 160, Math.min(mu.length, (i + 1) * 160)) : SILENCE;
        conn.send({ type: 'input_audio_buffer.append', audio: AudioChunk.fromBytes(chunk, { type: 'audio/pcmu' }) } as never);
        i++;
      }
      // the first audio, or (on a machine too loaded for the reply to come soon) 3 s after the turn ended
      if (i >= frames || (firstAudioAt !== null && i * 20 > endMs + 200) || (stoppedAt !== null && performance.now() > stoppedAt + 3_000)) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    tick();
  });
  conn.close();
  return { latencyMs: firstAudioAt === null ? null : firstAudioAt - (t0 + endMs), eotMs: stoppedAt === null ? null : stoppedAt - (t0 + endMs), premature };
}

const baseTd: TurnDetection = baselineKind === 'semantic' ? { type: 'semantic_vad' } as TurnDetection : { type: 'server_vad' } as TurnDetection;
const modes = [
  { name: baselineKind === 'semantic' ? 'fixed (semantic_vad, 600 ms)' : 'fixed (server_vad, 500 ms)', engine: fixed, td: baseTd },
  { name: 'adaptive (semantic_vad, 200..1200 ms)', engine: adaptive, td: { type: 'semantic_vad' } as TurnDetection },
];
const lat: number[][][] = modes.map(() => []);   // [mode][round] latencies (questions and the paused sentences' ends)
const prem: number[][] = modes.map(() => []);
const eot: number[][] = modes.map(() => []);   // [mode] end of speech → speech_stopped (the end-of-turn decision alone)
const noReply: number[] = modes.map(() => 0);
const cuts: string[] = [];
for (let r = 0; r < rounds; r++) {
  modes.forEach((_, m) => { lat[m]![r] = []; prem[m]![r] = 0; });
  let paused = 0;
  for (const e of manifest) {
    const mu = mulawOf(join(dir, e.file));
    const endMs = speechEndMs(mu);
    const t0 = performance.now() + 50;
    const outs = await Promise.all(modes.map((m) => run(m.engine, m.td, mu, endMs, t0)));
    if (e.category === 'paused') paused++;
    outs.forEach((o, m) => {
      if (o.eotMs !== null && !o.premature) eot[m]!.push(o.eotMs);
      if (o.latencyMs === null) noReply[m]!++;
      else if (!o.premature) lat[m]![r]!.push(o.latencyMs);
      if (e.category === 'paused' && o.premature) { prem[m]![r]!++; if (r === 0) cuts.push(`${modes[m]!.name}: cut ${e.file}`); }
    });
  }
  const line = modes.map((m, k) => {
    const s = [...lat[k]![r]!].sort((a, b) => a - b);
    return `${m.name}: p50 ${percentileSorted(s, 50).toFixed(0)} ms p95 ${percentileSorted(s, 95).toFixed(0)} ms (n ${s.length}), premature ${prem[k]![r]}/${paused}`;
  }).join(' | ');
  console.log(`round ${r + 1}: ${line}`);
  if (r === rounds - 1) {
    console.log(`\n${manifest.length} files (speeds ${speeds.join(',')}), ${rounds} rounds, both modes at once on each file:`);
    modes.forEach((m, k) => {
      const all = lat[k]!.flat().sort((a, b) => a - b);
      const p50s = lat[k]!.map((xs) => percentileSorted([...xs].sort((a, b) => a - b), 50));
      const premAll = prem[k]!.reduce((a, b) => a + b, 0);
      const es = [...eot[k]!].sort((a, b) => a - b);
      console.log(`  ${m.name}: end of speech → speech_stopped (the turn's end decided) p50 ${percentileSorted(es, 50).toFixed(0)} ms p95 ${percentileSorted(es, 95).toFixed(0)} ms (n ${es.length})`);
      console.log(`  ${m.name}: end of speech → first audio p50 ${percentileSorted(all, 50).toFixed(0)} ms [rounds ${Math.min(...p50s).toFixed(0)}–${Math.max(...p50s).toFixed(0)}], p95 ${percentileSorted(all, 95).toFixed(0)} ms; premature ${premAll}/${paused * rounds} (${((100 * premAll) / (paused * rounds)).toFixed(1)} %); no reply ${noReply[k]}`);
    });
    const r50 = lat[1]!.map((xs, i) => percentileSorted([...xs].sort((a, b) => a - b), 50) / percentileSorted([...lat[0]![i]!].sort((a, b) => a - b), 50));
    console.log(`  adaptive/fixed p50 ratio per round: ${r50.map((x) => x.toFixed(2)).join(', ')}`);
    for (const c of cuts) console.log(`  ${c}`);
  }
}
await fixed.close(); await adaptive.close();
clearInterval(keep);
process.exit(0);
