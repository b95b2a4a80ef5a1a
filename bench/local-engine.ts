/**
 * Local (offline) engine latency: time from `input_audio_buffer.speech_stopped` to the first
 * `response.output_audio.delta`, p50/p95 over 20 turns fed in real time (20 ms chunks, deadline
 * paced), split into STT (final hypothesis), agent (first sentence) and TTS (first audio), plus
 * each local stage's real-time factor. Baselines in the same process: the same engine with no-op
 * stages (instant STT/TTS: the engine's own overhead), and the turn's speech duration.
 * Not a test. Run: `npx tsx bench/local-engine.ts` (`--turns N` to change the count).
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createVad, readWavFile, resampleWhole } from '../audio/index.ts';
import { DemoAgent } from '../server/agent/index.ts';
import { CascadeEngine } from '../server/engines/cascade/index.ts';
import type { CascadeStages, TurnTiming } from '../server/engines/cascade/index.ts';
import { FliteTts, PocketSphinxStt } from '../server/engines/providers/index.ts';
import type { SttProvider, TtsProvider } from '../server/engines/providers/index.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import type { ServerEvent } from '../server/protocol/index.ts';
import { banner, formatNumber, ratio, row, summarize } from './lib/index.ts';

const TURNS = Number(process.argv[process.argv.indexOf('--turns') + 1]) || 20;
const FIXTURES = ['hello', 'book-table', 'goodbye', 'transfer'];
const log = pino({ level: 'silent' });

/** 24 kHz base64 chunks of 20 ms: the fixture plus 900 ms of silence (turn ends after 500 ms). */
function chunks(name: string): { b64: string[]; speechMs: number } {
  const s16 = readWavFile(new URL(`../fixtures/speech/${name}.wav`, import.meta.url).pathname, { sampleRateHz: 16_000 }).samples;
  const padded = new Int16Array(s16.length + 900 * 16);
  padded.set(s16);
  const pcm = resampleWhole(padded, 16_000, 24_000);
  const out: string[] = [];
  for (let i = 0; i < pcm.length; i += 480) {
    const p = pcm.subarray(i, Math.min(pcm.length, i + 480));
    out.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('base64'));
  }
  return { b64: out, speechMs: s16.length / 16 };
}

/** Sends chunks every 20 ms on a deadline timer (no setInterval, no drift). */
function paced(send: (b64: string) => void, list: string[]): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let i = 0;
    const tick = (): void => {
      while (i < list.length && performance.now() >= t0 + i * 20) send(list[i++]!);
      if (i >= list.length) { resolve(); return; }
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    tick();
  });
}

async function runTurns(stages: CascadeStages, label: string): Promise<{ timings: TurnTiming[]; speechMs: number[]; sttProcessMs: number[]; sttAudioMs: number[] }> {
  const timings: TurnTiming[] = [];
  const sttProcessMs: number[] = [];
  const sttAudioMs: number[] = [];
  const measured: SttProvider = {
    name: stages.stt.name,
    open: (o) => {
      const s = stages.stt.open(o);
      return { push: (p) => s.push(p), abort: () => s.abort(), finish: async () => { const r = await s.finish(); if (r.processMs !== undefined) { sttProcessMs.push(r.processMs); sttAudioMs.push(r.audioMs); } return r; } };
    },
  };
  const engine = new CascadeEngine({ name: 'local', stages: { ...stages, stt: measured }, onTurnTiming: (t) => timings.push(t) });
  await Promise.all([stages.stt.warm?.(), stages.tts.warm?.()]);
  const speechMs: number[] = [];
  const waiters: Array<(e: ServerEvent) => void> = [];
  const conn = await engine.open({ session: { type: 'realtime' }, log, callbacks: { onEvent: (e) => { if (e.type === 'response.done') waiters.shift()?.(e); }, onClose: () => undefined } });
  for (let t = 0; t < TURNS; t++) {
    const { b64, speechMs: ms } = chunks(FIXTURES[t % FIXTURES.length]!);
    const done = new Promise<ServerEvent>((r) => waiters.push(r));
    await paced((audio) => conn.send({ type: 'input_audio_buffer.append', audio: AudioChunk.fromBase64(audio) }), b64);
    await done;
    speechMs.push(ms);
    process.stderr.write(`\r${label}: turn ${t + 1}/${TURNS}`);
  }
  process.stderr.write('\n');
  conn.close();
  return { timings, speechMs, sttProcessMs, sttAudioMs };
}

// ── no-op stages: the engine's own overhead (VAD, events, encoding) ──
const noopStt: SttProvider = { name: 'noop', open: () => ({ push: () => undefined, abort: () => undefined, finish: async () => ({ text: 'hello', audioMs: 0, finaliseMs: 0 }) }) };
const SILENCE_16K = new Int16Array(16_000);
const noopTts: TtsProvider = { name: 'noop', async *synthesize() { yield { pcm: SILENCE_16K, sampleRateHz: 16_000 }; } };

const stt = new PocketSphinxStt();
const tts = new FliteTts();
const local = await runTurns({ stt, chat: new DemoAgent(), tts }, 'local');
const noop = await runTurns({ stt: noopStt, chat: new DemoAgent(), tts: noopTts }, 'no-op stages');

// ── real-time factors of the local stages ──
const vad = await createVad({ sampleRateHz: 16_000 });
const speech = readWavFile(new URL('../fixtures/speech/book-table.wav', import.meta.url).pathname, { sampleRateHz: 16_000 }).samples;
const vt0 = performance.now();
for (let rep = 0; rep < 5; rep++) for (let i = 0; i + 512 <= speech.length; i += 512) vad.process(speech.subarray(i, i + 512));
const vadRtf = (performance.now() - vt0) / (5 * (speech.length / 16));
vad.close();
const sentences = ['Hello! How can I help you today?', 'You said: I would like to book a table for two people tomorrow evening.', 'It is 3:04 PM UTC.', 'Goodbye!'];
let ttsMs = 0;
let ttsAudioMs = 0;
for (let rep = 0; rep < 3; rep++) {
  for (const text of sentences) {
    const t0 = performance.now();
    for await (const c of tts.synthesize({ text, signal: new AbortController().signal })) ttsAudioMs += (c.pcm.length / c.sampleRateHz) * 1000;
    ttsMs += performance.now() - t0;
  }
}
await Promise.all([stt.close(), tts.close()]);

const total = summarize(local.timings.map((t) => t.totalMs));
const base = summarize(noop.timings.map((t) => t.totalMs));
const speechS = summarize(local.speechMs);
const part = (k: keyof TurnTiming): ReturnType<typeof summarize> => summarize(local.timings.map((t) => t[k] as number));
const W = [44, 10, 10, 22];
banner(`local engine: speech_stopped → first output_audio.delta, ${local.timings.length} turns, real-time input`);
console.log(row(['', 'p50 ms', 'p95 ms', 'p50 vs baseline'], W));
const p95 = (k: keyof TurnTiming): number => { const v = local.timings.map((t) => t[k] as number).sort((a, b) => a - b); return v[Math.min(v.length - 1, Math.ceil(0.95 * v.length) - 1)]!; };
const p95b = ((): number => { const v = noop.timings.map((t) => t.totalMs).sort((a, b) => a - b); return v[Math.min(v.length - 1, Math.ceil(0.95 * v.length) - 1)]!; })();
console.log(row(['total (local stages)', formatNumber(total.p50), formatNumber(p95('totalMs')), `${ratio(total.p50, base.p50)} no-op engine`], W));
console.log(row(['  STT final (PocketSphinx end of utterance)', formatNumber(part('sttMs').p50), formatNumber(p95('sttMs')), ''], W));
console.log(row(['  agent (first sentence ready)', formatNumber(part('chatMs').p50), formatNumber(p95('chatMs')), ''], W));
console.log(row(['  TTS (flite first sentence → first delta)', formatNumber(part('ttsMs').p50), formatNumber(p95('ttsMs')), ''], W));
console.log(row(['baseline: same engine, no-op STT/TTS', formatNumber(base.p50), formatNumber(p95b), '1.00x'], W));
console.log(row(['turn speech duration', formatNumber(speechS.p50), '', `total = ${(total.p50 / speechS.p50).toFixed(3)} of it`], W));
console.log(`target p50 ≤ 300 ms: ${total.p50 <= 300 ? 'met' : 'NOT met'} (${formatNumber(total.p50)} ms)`);
banner('real-time factors (processing time / audio time; lower is better)');
const sttRtf = local.sttProcessMs.reduce((a, b) => a + b, 0) / local.sttAudioMs.reduce((a, b) => a + b, 0);
console.log(row(['Silero VAD (32 ms frames)', vadRtf.toFixed(4)], [44, 10]));
console.log(row(['PocketSphinx STT (whole utterance, worker)', sttRtf.toFixed(3)], [44, 10]));
console.log(row(['demo agent', '< 0.001'], [44, 10]));
console.log(row(['flite TTS (per sentence, worker round trip)', (ttsMs / ttsAudioMs).toFixed(4)], [44, 10]));
