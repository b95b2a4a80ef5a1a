/**
 * PocketSphinx decoders in a worker thread (the calls are synchronous and the end-of-utterance
 * search takes tens to hundreds of ms, so they must not run on the event loop). One worker holds a
 * pool of decoders, loaded ahead of use when the client asks (`load`, one per message so that
 * utterances already running are never held up by more than one load); an utterance takes a free
 * decoder and gives it back when it ends. Loading one costs ~0.4–0.6 s and ~100 MB (mostly the
 * 133k-word dictionary and the language model), so it is kept off the serving path.
 *
 * Messages are only queued on arrival; the work runs one step per event-loop turn in the order of
 * scheduler.ts (finals first: an utterance whose caller stopped speaking goes before the audio of
 * callers still speaking), so the end of one caller's turn does not wait for everyone's audio.
 *
 * C API (pocketsphinx 5prealpha, Debian libpocketsphinx3): ps_init(cmd_ln_parse_r(...)),
 * ps_start_utt, ps_process_raw(ps, int16 *data, n_samples, no_search, full_utt), ps_end_utt,
 * ps_get_hyp(ps, &score). Audio: 16 kHz mono pcm16.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { loadPocketSphinx } from './native.ts';
import type { FromWorker, PocketSphinxWorkerData, ToWorker } from './protocol.ts';
import { DecodeScheduler } from './scheduler.ts';
import type { Step } from './scheduler.ts';
import { decoderArgs } from './settings.ts';

const port = parentPort;
if (!port) throw new Error('pocketsphinx worker started outside a worker thread');
const { modelDir, settings, maxDecoders } = workerData as PocketSphinxWorkerData;
const argv = decoderArgs(modelDir, settings);

const post = (m: FromWorker): void => port.postMessage(m);

/** Library handles stay referenced for the life of the worker (koffi unloads collected ones). */
const libraries: unknown[] = [];
let api: ReturnType<typeof loadApi> | null = null;
let loadError: string | null = null;
try {
  api = loadApi();
} catch (err) {
  loadError = err instanceof Error ? err.message : String(err);
}

function loadApi(): ReturnType<typeof loadPocketSphinx> {
  return loadPocketSphinx(libraries);
}

/** This thread's CPU time in ms (clock_gettime CLOCK_THREAD_CPUTIME_ID): a decode's own cost, whatever else runs on the machine. */
const cpu = ((): { now(): number } => {
  try {
    const libc = koffi.load('libc.so.6');
    libraries.push(libc);
    koffi.struct('parley_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });
    const clockGettime = libc.func('int clock_gettime(int clk, _Out_ parley_timespec *ts)');
    const ts = { tv_sec: 0, tv_nsec: 0 };
    const CLOCK_THREAD_CPUTIME_ID = 3;
    return { now: () => { clockGettime(CLOCK_THREAD_CPUTIME_ID, ts); return Number(ts.tv_sec) * 1000 + Number(ts.tv_nsec) / 1e6; } };
  } catch {
    return { now: () => performance.now() };
  }
})();

interface Utterance { decoder: unknown; samples: number; processMs: number; cpuMs: number; loadMs: number; waitMs: number; endAt: number; samplesAtEnd: number }
const free: unknown[] = [];
const active = new Map<number, Utterance>();
let decoders = 0;
/**
 * Utterances started while every decoder was in use and the worker held `maxDecoders`: their audio
 * and end wait here (arrival order) until a decoder comes free, then replay into the schedule.
 */
interface Waiting { since: number; pcm: Int16Array[]; endAt: number }
const waiting = new Map<number, Waiting>();
const schedule = new DecodeScheduler();

function newDecoder(): unknown {
  if (!api) throw new Error(loadError ?? 'pocketsphinx not loaded');
  const cfg = api.cmd_ln_parse_r(null, api.ps_args(), argv.length, argv, 1);
  if (!cfg) throw new Error(`pocketsphinx: bad arguments (model dir ${modelDir})`);
  const decoder = api.ps_init(cfg);
  if (!decoder) throw new Error(`pocketsphinx: cannot load the model from ${modelDir}`);
  decoders++;
  return decoder;
}

/** Starts an utterance on `decoder`. */
function begin(id: number, decoder: unknown, loadMs: number, waitMs = 0): void {
  if (api!.ps_start_utt(decoder) < 0) { free.push(decoder); throw new Error('ps_start_utt failed'); }
  active.set(id, { decoder, samples: 0, processMs: 0, cpuMs: 0, loadMs, waitMs, endAt: 0, samplesAtEnd: 0 });
  schedule.start(id);
}

/** A decoder came free: the oldest waiting utterance takes it, its queued audio and end replayed. */
function admitWaiting(): void {
  while (free.length > 0 && waiting.size > 0) {
    const [id, w] = waiting.entries().next().value as [number, Waiting];
    waiting.delete(id);
    try {
      begin(id, free.pop(), 0, performance.now() - w.since);
    } catch (err) {
      fail(id, 'STT_MODEL_UNAVAILABLE', err);
      continue;
    }
    for (const pcm of w.pcm) schedule.audio(id, pcm);
    if (w.endAt > 0) {
      const u = active.get(id)!;
      u.endAt = w.endAt;
      schedule.end(id);
    }
  }
}

function fail(id: number | null, code: string, err: unknown): void {
  post({ t: 'error', id, code, message: err instanceof Error ? err.message : String(err) });
}

/** One step of the schedule (scheduler.ts: finals first), then the next one after any messages that came in. */
let pumping = false;
function pump(): void {
  pumping = false;
  const step = schedule.next();
  if (!step) return;
  run(step);
  if (!schedule.idle) { pumping = true; setImmediate(pump); }
}
function wake(): void {
  if (pumping || schedule.idle) return;
  pumping = true;
  setImmediate(pump);
}

function run(step: Step): void {
  if (step.t === 'load') {
    const t0 = performance.now();
    try {
      free.push(newDecoder());
      post({ t: 'warmed', decoders, loadMs: performance.now() - t0 });
      admitWaiting();
    } catch (err) {
      fail(null, 'STT_MODEL_UNAVAILABLE', err);
    }
    return;
  }
  const u = active.get(step.id);
  if (step.t === 'hyp') {
    const text = u ? (api!.ps_get_hyp(u.decoder, [0]) as string | null) ?? '' : '';
    post({ t: 'partial', id: step.id, seq: step.seq, text });
    return;
  }
  if (!u) return;
  const t0 = performance.now();
  const c0 = cpu.now();
  if (step.t === 'audio') {
    api!.ps_process_raw(u.decoder, step.pcm, step.pcm.length, 0, 0);
    u.processMs += performance.now() - t0;
    u.cpuMs += cpu.now() - c0;
    u.samples += step.pcm.length;
    return;
  }
  active.delete(step.id);
  api!.ps_end_utt(u.decoder);
  const text = (api!.ps_get_hyp(u.decoder, [0]) as string | null) ?? '';
  free.push(u.decoder);
  const finaliseMs = performance.now() - t0;
  const endCpuMs = cpu.now() - c0;
  post({
    t: 'result', id: step.id, text, audioMs: (u.samples / 16_000) * 1000, finaliseMs, processMs: u.processMs + finaliseMs,
    cpuMs: u.cpuMs + endCpuMs, endCpuMs, loadMs: u.loadMs, waitMs: u.waitMs, decoders,
    endToResultMs: performance.now() - u.endAt, backlogMs: ((u.samples - u.samplesAtEnd) / 16_000) * 1000,
  });
  // after the result: the next utterance's start is not this one's end-search time
  admitWaiting();
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'close':
      // between two native calls: exiting here never interrupts PocketSphinx
      process.exit(0);
      return;
    case 'load':
      schedule.load();
      break;
    case 'start': {
      try {
        let decoder = free.pop();
        let loadMs = 0;
        if (decoder === undefined) {
          if (decoders >= maxDecoders) {
            // every decoder this worker may hold is in use: wait for one (an end or an abort frees it)
            waiting.set(m.id, { since: performance.now(), pcm: [], endAt: 0 });
            break;
          }
          // the pool is empty: this utterance (and every other on this worker) waits for a load
          const t0 = performance.now();
          decoder = newDecoder();
          loadMs = performance.now() - t0;
        }
        begin(m.id, decoder, loadMs);
      } catch (err) {
        fail(m.id, 'STT_MODEL_UNAVAILABLE', err);
      }
      break;
    }
    case 'audio': {
      const w = waiting.get(m.id);
      if (w) { w.pcm.push(m.pcm); return; }
      schedule.audio(m.id, m.pcm);
      break;
    }
    case 'end': {
      const w = waiting.get(m.id);
      if (w) { w.endAt = performance.now(); return; }
      const u = active.get(m.id);
      if (!u) return;
      u.endAt = performance.now();
      u.samplesAtEnd = u.samples;
      schedule.end(m.id);
      break;
    }
    case 'hyp':
      // the hypothesis so far (the turn detector's partial result, docs/notes/turns.md), once this
      // utterance's audio queued before the question is decoded (scheduler.ts: after finals)
      // (one still waiting for a decoder has heard nothing yet)
      if (!active.has(m.id)) { post({ t: 'partial', id: m.id, seq: m.seq, text: '' }); return; }
      schedule.hyp(m.id, m.seq);
      break;
    case 'abort': {
      if (waiting.delete(m.id)) return;
      const u = active.get(m.id);
      if (!u) return;
      active.delete(m.id);
      schedule.abort(m.id);
      api!.ps_end_utt(u.decoder);
      free.push(u.decoder);
      admitWaiting();
      break;
    }
  }
  wake();
});

post({ t: 'ready' });
