/**
 * Local (offline) engine latency: time from `input_audio_buffer.speech_stopped` to the first
 * `response.output_audio.delta`.
 *
 * Part `single` (the original): p50/p95 over 20 turns of one speaker fed in real time (20 ms chunks,
 * deadline paced), split into STT (final hypothesis), agent (first sentence) and TTS (first audio),
 * plus each local stage's real-time factor. Baselines in the same process: the same engine with
 * no-op stages (instant STT/TTS: the engine's own overhead), and the turn's speech duration.
 *
 * Part `load`: 1, 2, 4, 6 and 8 concurrent speakers on one engine, every speaker saying the same
 * fixture at the same moment (their turns end together: the worst case). "fresh" = the first burst
 * on a new engine whose start-up warm-up (decoder pool) has finished; "warm" = later turns, the
 * levels interleaved round by round with the 1-speaker baseline measured in each round. Reports
 * p50/p95 per level, the ratio of each level's p50/p95 to the 1-speaker figures of the same round
 * (median of rounds, with their spread), STT failures/timeouts and decoders loaded on the serving
 * path. Engine settings are the config defaults for this machine (server/config/local.ts).
 *
 * Not a test. Run: `npx tsx bench/local-engine.ts` (`--part single|load|all`, `--turns N` for the
 * single part, `--rounds N` and `--levels 1,2,4,6,8` for the load part; `--stt-workers N`,
 * `--decoders N`, `--tts-workers N`, `--second-pass` override the defaults).
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createVad, readWavFile, resampleWhole } from '../audio/index.ts';
import { DemoAgent } from '../server/agent/index.ts';
import { CascadeEngine } from '../server/engines/cascade/index.ts';
import type { CascadeStages, TurnTiming } from '../server/engines/cascade/index.ts';
import { FliteTts, PocketSphinxStt } from '../server/engines/providers/index.ts';
import { availableParallelism } from 'node:os';
import { LocalEngine, localCapacity } from '../server/engines/local/index.ts';
import { loadConfig } from '../server/config.ts';
import type { SttProvider, TtsProvider } from '../server/engines/providers/index.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import type { ServerEvent } from '../server/protocol/index.ts';
import { banner, formatNumber, ratio, row, summarize } from './lib/index.ts';

const arg = (name: string): string | undefined => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : undefined; };
const TURNS = Number(arg('--turns')) || 20;
const PART = arg('--part') ?? 'all';
const ROUNDS = Number(arg('--rounds')) || 3;
const LEVELS = (arg('--levels') ?? '1,2,4,6,8').split(',').map(Number).filter((n) => n > 0);
/** The engine as the server would build it on this machine (config defaults), with CLI overrides. */
const defaults = loadConfig({ PARLEY_API_KEYS: 'pk_bench_local_engine_0123456789', LOG_LEVEL: 'silent' }).local;
const settings = {
  sttWorkers: Number(arg('--stt-workers')) || defaults.sttWorkers,
  // every level's speakers find a loaded decoder (the engine admits only maxSessions; here the point is the CPU)
  decoders: Number(arg('--decoders')) || Math.max(defaults.sttDecoders, ...LEVELS),
  ttsWorkers: Number(arg('--tts-workers')) || defaults.ttsWorkers,
  secondPass: process.argv.includes('--second-pass') || (defaults.sttSecondPass && !process.argv.includes('--one-pass')),
  maxSessions: defaults.maxSessions,
};
const FIXTURES = ['hello', 'book-table', 'goodbye', 'transfer'];
const log = pino({ level: 'silent' });
/** Each STT final: audio still undecoded when it was asked for (the worker's backlog), and its end-of-utterance search. */
const sttFinals: Array<{ backlogMs: number; endMs: number }> = [];

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

async function singlePart(): Promise<void> {
  const stt = new PocketSphinxStt({ workers: settings.sttWorkers, decoders: settings.decoders, secondPass: settings.secondPass });
  const tts = new FliteTts({ workers: settings.ttsWorkers });
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
}

// ───────────────────────────── concurrent speakers ─────────────────────────────

interface Speaker { send(b64: string): void; next(): Promise<void>; close(): void }

/** A fresh local engine as the server builds it, with its STT wrapped to count failures. */
function freshEngine(timings: TurnTiming[], sttErrors: string[]): { engine: LocalEngine; stt: PocketSphinxStt; tts: FliteTts } {
  const stt = new PocketSphinxStt({ workers: settings.sttWorkers, decoders: settings.decoders, secondPass: settings.secondPass });
  const tts = new FliteTts({ workers: settings.ttsWorkers });
  const counted: SttProvider = {
    name: stt.name,
    warm: () => stt.warm(),
    open: (o) => {
      const s = stt.open(o);
      return {
        push: (p) => s.push(p), abort: () => s.abort(),
        finish: () => s.finish().then((r) => { sttFinals.push({ backlogMs: r.backlogMs ?? 0, endMs: r.finaliseMs }); return r; }, (err: unknown) => { sttErrors.push((err as { code?: string }).code ?? 'error'); throw err; }),
        ...(s.partial ? { partial: () => s.partial!() } : {}),
      };
    },
  };
  const engine = new LocalEngine({ stages: { stt: counted, chat: new DemoAgent(), tts }, maxSessions: null, retryAfterS: 5, log, onTurnTiming: (t) => timings.push(t) });
  return { engine, stt, tts };
}

async function speaker(engine: LocalEngine): Promise<Speaker> {
  const waiters: Array<() => void> = [];
  const conn = await engine.open({ session: { type: 'realtime' }, log, callbacks: { onEvent: (e) => { if (e.type === 'response.done') waiters.shift()?.(); }, onClose: () => undefined } });
  return {
    send: (b64) => conn.send({ type: 'input_audio_buffer.append', audio: AudioChunk.fromBase64(b64) }),
    next: () => new Promise<void>((r) => waiters.push(r)),
    close: () => conn.close(),
  };
}

/** All speakers say `fixture` at once (one paced feed); resolves with the burst's totals once every reply is done. */
const parts = new Map<string, TurnTiming[]>();
const finalsBy = new Map<string, Array<{ backlogMs: number; endMs: number }>>();
async function burst(speakers: Speaker[], fixture: string, timings: TurnTiming[], label?: string): Promise<number[]> {
  const from = timings.length;
  const fromFinals = sttFinals.length;
  const { b64 } = chunks(fixture);
  const done = speakers.map((s) => s.next());
  await paced((audio) => { for (const s of speakers) s.send(audio); }, b64);
  await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 30_000))]);
  const got = timings.slice(from);
  if (label) {
    parts.set(label, [...(parts.get(label) ?? []), ...got]);
    finalsBy.set(label, [...(finalsBy.get(label) ?? []), ...sttFinals.slice(fromFinals)]);
  }
  return got.map((t) => t.totalMs);
}

const pct = (values: number[], p: number): number => {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]! : Number.NaN;
};
const median = (v: number[]): number => pct(v, 50);

async function loadPart(): Promise<void> {
  const sttErrors: string[] = [];
  // ── fresh: the first burst on a new engine after its start-up warm-up ──
  const fresh = new Map<number, number[]>();
  const freshLoads = new Map<number, number>();
  for (const n of LEVELS) {
    const timings: TurnTiming[] = [];
    const { engine, stt, tts } = freshEngine(timings, sttErrors);
    await Promise.all([engine.ready(), stt.ready()]);
    const speakers = await Promise.all(Array.from({ length: n }, () => speaker(engine)));
    fresh.set(n, await burst(speakers, 'book-table', timings, `${n} fresh`));
    freshLoads.set(n, stt.stats().loadsOnStart);
    for (const s of speakers) s.close();
    await Promise.all([stt.close(), tts.close()]);
    process.stderr.write(`\rfresh: ${n} speakers done   `);
  }
  process.stderr.write('\n');

  // ── warm: one engine, levels interleaved round by round ──
  const timings: TurnTiming[] = [];
  const { engine, stt, tts } = freshEngine(timings, sttErrors);
  await Promise.all([engine.ready(), stt.ready()]);
  const max = Math.max(...LEVELS);
  const all = await Promise.all(Array.from({ length: max }, () => speaker(engine)));
  await burst(all.slice(0, max), 'hello', timings); // every decoder and voice used once
  const loadsBefore = stt.stats().loadsOnStart;
  const warm = new Map<number, number[]>(LEVELS.map((n) => [n, []]));
  const perRound = new Map<number, Array<{ p50: number; p95: number }>>(LEVELS.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of LEVELS) {
      const got: number[] = [];
      for (const f of FIXTURES) got.push(...(await burst(all.slice(0, n), f, timings, `${n} warm`)));
      warm.get(n)!.push(...got);
      perRound.get(n)!.push({ p50: median(got), p95: pct(got, 95) });
      process.stderr.write(`\rwarm: round ${r + 1}/${ROUNDS}, ${n} speakers   `);
    }
  }
  process.stderr.write('\n');
  const warmLoads = stt.stats().loadsOnStart - loadsBefore;
  for (const s of all) s.close();
  await Promise.all([stt.close(), tts.close()]);

  const W = [10, 9, 9, 9, 22, 22, 14];
  banner(`local engine under load: speech_stopped → first output_audio.delta, concurrent speakers ending together (${settings.sttWorkers} STT workers, ${settings.decoders} decoders, ${settings.ttsWorkers} TTS workers, second pass ${settings.secondPass ? 'on' : 'off'}; capacity default ${settings.maxSessions})`);
  console.log(row(['speakers', 'n', 'p50 ms', 'p95 ms', 'p50 vs 1 (rounds)', 'p95 vs 1 (rounds)', 'loads on start'], W));
  const base = perRound.get(LEVELS[0]!)!;
  const ratioCell = (n: number, k: 'p50' | 'p95'): string => {
    const rs = perRound.get(n)!.map((x, i) => x[k] / base[i]![k]).sort((a, b) => a - b);
    return `${median(rs).toFixed(2)}x (${rs[0]!.toFixed(2)}–${rs[rs.length - 1]!.toFixed(2)})`;
  };
  for (const n of LEVELS) {
    const f = fresh.get(n)!;
    console.log(row([`${n} fresh`, f.length, formatNumber(median(f)), formatNumber(pct(f, 95)), `${(median(f) / median(fresh.get(LEVELS[0]!)!)).toFixed(2)}x`, `${(pct(f, 95) / pct(fresh.get(LEVELS[0]!)!, 95)).toFixed(2)}x`, freshLoads.get(n)!], W));
  }
  for (const n of LEVELS) {
    const w = warm.get(n)!;
    console.log(row([`${n} warm`, w.length, formatNumber(median(w)), formatNumber(pct(w, 95)), ratioCell(n, 'p50'), ratioCell(n, 'p95'), n === LEVELS[LEVELS.length - 1] ? warmLoads : ''], W));
  }
  banner('where the time went (p50 / p95 ms): STT final (of it: speech still undecoded when it was asked for, the end-of-utterance search), agent, TTS first audio');
  console.log(row(['', 'STT final', 'backlog (audio ms)', 'end search', 'agent', 'TTS first audio'], [10, 16, 20, 16, 12, 16]));
  for (const [label, ts] of parts) {
    const cell = (v: number[]): string => `${formatNumber(median(v))} / ${formatNumber(pct(v, 95))}`;
    const f = finalsBy.get(label) ?? [];
    console.log(row([label, cell(ts.map((t) => t.sttMs)), cell(f.map((x) => x.backlogMs)), cell(f.map((x) => x.endMs)), cell(ts.map((t) => t.chatMs)), cell(ts.map((t) => t.ttsMs))], [10, 16, 20, 16, 12, 16]));
  }
  const cost = stt.cost();
  if (cost) {
    const cores = availableParallelism();
    console.log(`decoder cost measured (worker thread CPU, lower quartile of the last ${cost.utterances} utterances): ${cost.rtf.toFixed(3)} CPU s per s of speech, end search ${formatNumber(cost.endMs)} ms → capacity ${localCapacity(cost, settings.sttWorkers, cores)} sessions (${settings.sttWorkers} STT workers, ${cores} cores; server/engines/local/capacity.ts)`);
  }
  const sttMax = Math.max(...timings.map((t) => t.sttMs));
  console.log(`STT failures: ${sttErrors.length}${sttErrors.length ? ` (${[...new Set(sttErrors)].join(', ')})` : ''}; slowest STT final: ${formatNumber(sttMax)} ms (timeout 15000 ms)`);
  const p95 = (n: number): number => pct(warm.get(n) ?? [], 95);
  if (warm.has(4)) console.log(`target 4 speakers p95 ≤ 400 ms: ${p95(4) <= 400 ? 'met' : 'NOT met'} (${formatNumber(p95(4))} ms)`);
  if (warm.has(6)) console.log(`target 6 speakers p95 ≤ 1000 ms: ${p95(6) <= 1000 ? 'met' : 'NOT met'} (${formatNumber(p95(6))} ms)`);
}

// the STT/TTS worker threads are unref'd (they end with the process): keep the process alive while waiting on them
const keepAlive = setInterval(() => undefined, 60_000);
if (PART === 'single' || PART === 'all') await singlePart();
if (PART === 'load' || PART === 'all') await loadPart();
clearInterval(keepAlive);
