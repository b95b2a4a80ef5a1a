import type { Worker } from 'node:worker_threads';
import { startWorker, stopWorker } from '../worker-host.ts';
import { ProviderError, STT_SAMPLE_RATE_HZ } from '../types.ts';
import type { SttOpenOptions, SttProvider, SttResult, SttStream } from '../types.ts';
import type { FromWorker, PocketSphinxWorkerData, ToWorker } from './protocol.ts';
import type { DecoderSettings } from './settings.ts';

/** Debian `pocketsphinx-en-us` installs the CMU US English model here. */
export const DEFAULT_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
/** Audio is batched into messages of this length to keep the worker traffic low. */
const BATCH_MS = 100;
const BATCH_SAMPLES = (STT_SAMPLE_RATE_HZ * BATCH_MS) / 1000;
const FINISH_TIMEOUT_MS = 15_000;

export interface PocketSphinxOptions {
  modelDir?: string;
  /** Worker threads; an utterance runs on the least busy one. Default 1. */
  workers?: number;
  /**
   * Decoders kept loaded, spread over the workers (default: one per worker). `warm()` loads one
   * per worker and the rest follow in the background while the worker is idle; an utterance
   * that finds no free decoder on any worker loads one on the spot (and every utterance on that
   * worker waits ~0.5 s): size this to the concurrent speakers you admit.
   */
  decoders?: number;
  /**
   * The most decoders loaded in all (~70–100 MB each), spread over the workers; default `decoders`
   * plus one per worker. Beyond it an utterance waits for a decoder to come free (its audio queued
   * in the worker) instead of loading another: a client that commits utterance after utterance
   * cannot grow the process without bound.
   */
  maxDecoders?: number;
  /** How long finish() waits for the transcript before STT_TIMEOUT (default 15 s). */
  finishTimeoutMs?: number;
  /** PocketSphinx's second (fwdflat) search pass at the end of each utterance (default false: ~6× longer end search, no more words heard right in our measurement). */
  secondPass?: boolean;
  /** Other decoder settings (settings.ts; PocketSphinx's defaults when absent). */
  decoder?: Omit<DecoderSettings, 'secondPass'>;
  /**
   * The model's language (ISO 639-1, default 'en'). An utterance opened with another language hint
   * fails with STT_LANGUAGE_UNSUPPORTED instead of decoding speech the model cannot hear.
   */
  language?: string;
}

/** What the provider holds and has done (tests, the benchmark, capacity reporting). */
export interface PocketSphinxStats {
  workers: number;
  /** Decoders loaded, all workers. */
  decoders: number;
  /** Utterances being decoded now. */
  streams: number;
  /** Utterances that found no free decoder and loaded one on the serving path. */
  loadsOnStart: number;
  /** Loads done ahead of use (warm, background fill). */
  loadsAhead: number;
  /** Utterances that waited for a decoder (their worker held its most, `maxDecoders`): the pool is too small for the load. */
  waitsForDecoder: number;
}

/** What a decoder costs on a core of its own, measured (see `cost()`). */
export interface MeasuredDecoderCost {
  /** CPU ms per ms of speech while streaming (the end search excluded). */
  rtf: number;
  /** CPU ms of one end-of-utterance search. */
  endMs: number;
  /** Utterances measured. */
  utterances: number;
}
/** Utterances kept for the cost figure, and the fewest that make one. */
const COST_WINDOW = 50;
const COST_MIN_UTTERANCES = 5;
/** Shorter utterances say little about the streaming cost (the start of a decode costs more per ms). */
const COST_MIN_AUDIO_MS = 500;

interface Pending { resolve(r: SttResult): void; reject(e: ProviderError): void; timer: NodeJS.Timeout }
interface Waiter { count: number; resolve(): void; reject(e: ProviderError): void }

const primaryLanguage = (tag: string): string => tag.trim().toLowerCase().split(/[-_]/)[0] ?? '';

class WorkerSlot {
  readonly worker: Worker;
  ready = false;
  dead = false;
  /** Utterances on this worker now. */
  streams = 0;
  /** Decoders the worker holds (as last reported; +1 on the way while `loading`). */
  decoders = 0;
  loading = false;
  /** Decoders this worker should hold. */
  target: number;
  private loadError: ProviderError | null = null;
  private readonly queue: { msg: ToWorker; transfer?: ArrayBuffer[] }[] = [];
  readonly pending = new Map<number, Pending>();
  /** partial() calls in flight, by their `seq`. */
  readonly partials = new Map<number, (text: string) => void>();
  partialSeq = 0;
  private readonly waiters: Waiter[] = [];
  startError: ProviderError | null = null;
  /** Errors reported for a stream before its finish() was called. */
  readonly failedStarts = new Map<number, ProviderError>();

  constructor(data: PocketSphinxWorkerData, target: number, private readonly counters: { loadsOnStart: number; loadsAhead: number; waitsForDecoder: number }, private readonly onCost: (rtf: number, endMs: number) => void) {
    this.target = target;
    this.worker = startWorker(new URL('./worker.ts', import.meta.url), data);
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(new ProviderError('STT_WORKER_FAILED', `pocketsphinx worker failed: ${err.message}`, { retryable: true, cause: err })));
    this.worker.on('exit', (code) => this.die(new ProviderError('STT_WORKER_FAILED', `pocketsphinx worker exited (${code})`, { retryable: true })));
    // after the listeners: a first 'message' listener refs the worker's port again (an embedder's process could not exit)
    this.worker.unref();
  }

  /** Free decoders once the load in flight (if any) lands. */
  get free(): number {
    return this.decoders + (this.loading ? 1 : 0) - this.streams;
  }

  post(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.dead) return;
    if (!this.ready) { this.queue.push(transfer ? { msg, transfer } : { msg }); return; }
    this.worker.postMessage(msg, transfer);
  }

  /**
   * Loads the next decoder of the pool, one at a time and only while no utterance runs here, so a
   * load never holds up an utterance's end (the worker does one thing at a time).
   */
  fill(): void {
    if (this.dead || this.loading || this.loadError || this.decoders >= this.target || this.streams > 0) return;
    this.loading = true;
    this.post({ t: 'load' });
  }

  /** Resolves when this worker holds `count` decoders (capped at its target); rejects if a load fails. */
  whenDecoders(count: number): Promise<void> {
    if (this.dead) return Promise.reject(this.startError ?? new ProviderError('STT_WORKER_FAILED', 'pocketsphinx worker is gone', { retryable: true }));
    this.loadError = null; // asked again: try again
    const want = Math.min(count, this.target);
    if (this.decoders >= want) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ count: want, resolve, reject });
      this.fill();
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        this.ready = true;
        for (const q of this.queue.splice(0)) this.worker.postMessage(q.msg, q.transfer);
        return;
      case 'warmed':
        this.loading = false;
        this.decoders = m.decoders;
        this.counters.loadsAhead++;
        this.settleWaiters();
        this.fill();
        return;
      case 'result': {
        this.decoders = m.decoders;
        if (m.loadMs > 0) this.counters.loadsOnStart++;
        if (m.waitMs > 0) this.counters.waitsForDecoder++;
        this.settleWaiters();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.audioMs >= COST_MIN_AUDIO_MS) this.onCost((m.cpuMs - m.endCpuMs) / m.audioMs, m.endCpuMs);
        p.resolve({ text: m.text, audioMs: m.audioMs, finaliseMs: m.finaliseMs, processMs: m.processMs, cpuMs: m.cpuMs, backlogMs: m.backlogMs });
        return;
      }
      case 'partial': {
        const r = this.partials.get(m.seq);
        if (r) { this.partials.delete(m.seq); r(m.text); }
        return;
      }
      case 'error': {
        const err = new ProviderError(m.code, m.message);
        if (m.id === null) {
          this.loading = false;
          this.loadError = err;
          for (const w of this.waiters.splice(0)) w.reject(err);
          return;
        }
        const p = this.pending.get(m.id);
        if (p) { this.pending.delete(m.id); clearTimeout(p.timer); p.reject(err); }
        else this.failedStarts.set(m.id, err);
        return;
      }
    }
  }

  private settleWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.decoders >= w.count) { this.waiters.splice(i, 1); w.resolve(); }
    }
  }

  private die(err: ProviderError): void {
    if (this.dead) return;
    this.dead = true;
    this.startError = err;
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(err); }
    this.pending.clear();
    for (const w of this.waiters.splice(0)) w.reject(err);
    for (const [, r] of this.partials) r('');
    this.partials.clear();
  }
}

/** A stream for a language the model does not speak: fails at finish(), costs nothing. */
function unsupportedLanguage(language: string, modelLanguage: string): SttStream {
  let state: 'open' | 'closed' = 'open';
  return {
    push(): void { /* nothing to decode */ },
    finish(): Promise<SttResult> {
      if (state === 'closed') return Promise.reject(new ProviderError('STT_STREAM_CLOSED', 'utterance already finished'));
      state = 'closed';
      return Promise.reject(new ProviderError('STT_LANGUAGE_UNSUPPORTED', `PocketSphinx has a '${modelLanguage}' model only; transcription language '${language}' needs another STT (PARLEY_LOCAL_STT=http)`));
    },
    abort(): void { state = 'closed'; },
  };
}

/**
 * Offline speech-to-text: CMU PocketSphinx (Debian `pocketsphinx-en-us`) through koffi, in worker
 * threads, each with a pool of decoders loaded ahead of use. Streaming: audio is decoded while the
 * caller speaks, so only the end-of-utterance search (~30–150 ms) remains after the turn ends.
 */
export class PocketSphinxStt implements SttProvider {
  readonly name = 'pocketsphinx';
  readonly language: string;
  private readonly data: PocketSphinxWorkerData;
  private readonly slots: (WorkerSlot | null)[];
  private readonly perWorker: number;
  private readonly finishTimeoutMs: number;
  private readonly counters = { loadsOnStart: 0, loadsAhead: 0, waitsForDecoder: 0 };
  private nextId = 1;
  /** finish() → result, smoothed over recent utterances (the workers' backlog as callers feel it). */
  private finishEwmaMs = 0;
  private lastFinishAt = -Infinity;
  private readonly costs: { rtf: number; endMs: number }[] = [];

  constructor(opts: PocketSphinxOptions = {}) {
    const workers = Math.max(1, opts.workers ?? 1);
    this.slots = new Array<WorkerSlot | null>(workers).fill(null);
    this.perWorker = Math.max(1, Math.ceil((opts.decoders ?? workers) / workers));
    const maxPerWorker = opts.maxDecoders !== undefined ? Math.ceil(opts.maxDecoders / workers) : this.perWorker + 1;
    this.data = {
      modelDir: opts.modelDir ?? DEFAULT_POCKETSPHINX_MODEL_DIR,
      settings: { ...opts.decoder, secondPass: opts.secondPass ?? false },
      maxDecoders: Math.max(this.perWorker, maxPerWorker),
    };
    this.language = primaryLanguage(opts.language ?? 'en');
    this.finishTimeoutMs = opts.finishTimeoutMs ?? FINISH_TIMEOUT_MS;
  }

  /** Every worker, started (or restarted after a crash) as needed. */
  private live(): WorkerSlot[] {
    const out: WorkerSlot[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      let s = this.slots[i];
      if (!s || s.dead) {
        s = new WorkerSlot(this.data, this.perWorker, this.counters, (rtf, endMs) => this.noteCost(rtf, endMs));
        this.slots[i] = s;
        s.fill();
      }
      out.push(s);
    }
    return out;
  }

  /** The worker for a new utterance: one with a free decoder, the least busy of those. */
  private pick(): WorkerSlot {
    let best: WorkerSlot | null = null;
    let bestScore = Infinity;
    for (const s of this.live()) {
      const score = (s.free > 0 ? 0 : 1_000) + s.streams;
      if (score < bestScore) { best = s; bestScore = score; }
    }
    return best!;
  }

  /**
   * Starts every worker and loads one decoder in each (rejects STT_MODEL_UNAVAILABLE); the rest of
   * the pool loads in the background (see `ready()`).
   */
  async warm(): Promise<void> {
    await Promise.all(this.live().map((s) => s.whenDecoders(1)));
  }

  /** Resolves when every worker holds its whole pool of decoders. */
  async ready(): Promise<void> {
    await Promise.all(this.live().map((s) => s.whenDecoders(this.perWorker)));
  }

  /**
   * How long utterances waited for their transcript lately (finish() → result, smoothed), or null
   * when none finished within `windowMs`: a sign that the workers are behind (too many speakers, or
   * other tenants taking the cores).
   */
  recentFinishMs(windowMs = 30_000): number | null {
    return performance.now() - this.lastFinishAt <= windowMs ? this.finishEwmaMs : null;
  }

  private noteFinish(ms: number): void {
    const now = performance.now();
    // a fresh start after a quiet spell: the old figure says nothing about now
    this.finishEwmaMs = now - this.lastFinishAt > 30_000 ? ms : 0.7 * this.finishEwmaMs + 0.3 * ms;
    this.lastFinishAt = now;
  }

  private noteCost(rtf: number, endMs: number): void {
    this.costs.push({ rtf, endMs });
    if (this.costs.length > COST_WINDOW) this.costs.shift();
  }

  /**
   * What a decoder costs on a core of its own, from the worker threads' CPU time over the last
   * utterances (null until COST_MIN_UTTERANCES of at least COST_MIN_AUDIO_MS): the lower quartile
   * of each figure, since a thread that shares its core with other tenants' threads is charged for
   * cache and hyperthread contention it does not cause (server/engines/local/capacity.ts).
   */
  cost(): MeasuredDecoderCost | null {
    if (this.costs.length < COST_MIN_UTTERANCES) return null;
    const q1 = (v: number[]): number => v.sort((a, b) => a - b)[Math.floor((v.length - 1) / 4)]!;
    return { rtf: q1(this.costs.map((c) => c.rtf)), endMs: q1(this.costs.map((c) => c.endMs)), utterances: this.costs.length };
  }

  stats(): PocketSphinxStats {
    const slots = this.slots.filter((s): s is WorkerSlot => s !== null && !s.dead);
    return {
      workers: this.slots.length,
      decoders: slots.reduce((n, s) => n + s.decoders, 0),
      streams: slots.reduce((n, s) => n + s.streams, 0),
      loadsOnStart: this.counters.loadsOnStart,
      loadsAhead: this.counters.loadsAhead,
      waitsForDecoder: this.counters.waitsForDecoder,
    };
  }

  open(opts: SttOpenOptions = {}): SttStream {
    if (opts.language && primaryLanguage(opts.language) !== this.language) return unsupportedLanguage(opts.language, this.language);
    const slot = this.pick();
    const id = this.nextId++;
    const noteFinish = (ms: number): void => this.noteFinish(ms);
    const finishTimeoutMs = this.finishTimeoutMs;
    slot.streams++;
    slot.post({ t: 'start', id });
    let batch = new Int16Array(BATCH_SAMPLES);
    let fill = 0;
    let state: 'open' | 'finishing' | 'closed' = 'open';
    const release = (): void => {
      if (state === 'closed') return;
      state = 'closed';
      slot.streams--;
      slot.fill();
    };
    const flush = (): void => {
      if (fill === 0) return;
      const chunk = fill === batch.length ? batch : batch.slice(0, fill);
      slot.post({ t: 'audio', id, pcm: chunk }, [chunk.buffer as ArrayBuffer]);
      if (chunk === batch) batch = new Int16Array(BATCH_SAMPLES);
      fill = 0;
    };
    return {
      push(pcm16k: Int16Array): void {
        if (state !== 'open') return;
        let off = 0;
        while (off < pcm16k.length) {
          const n = Math.min(batch.length - fill, pcm16k.length - off);
          batch.set(pcm16k.subarray(off, off + n), fill);
          fill += n; off += n;
          if (fill === batch.length) flush();
        }
      },
      finish(): Promise<SttResult> {
        if (state !== 'open') return Promise.reject(new ProviderError('STT_STREAM_CLOSED', 'utterance already finished'));
        state = 'finishing';
        const early = slot.failedStarts.get(id);
        if (early) { slot.failedStarts.delete(id); release(); return Promise.reject(early); }
        if (slot.dead) { release(); return Promise.reject(slot.startError!); }
        flush();
        const t0 = performance.now();
        return new Promise<SttResult>((resolve, reject) => {
          const timer = setTimeout(() => {
            slot.pending.delete(id);
            // the worker drops the utterance and frees its decoder: an utterance nobody waits for
            // any more would otherwise still be decoded (first, as a final) ahead of everyone else's
            slot.post({ t: 'abort', id });
            reject(new ProviderError('STT_TIMEOUT', `pocketsphinx gave no result within ${finishTimeoutMs} ms`, { retryable: true }));
          }, finishTimeoutMs);
          slot.pending.set(id, { resolve, reject, timer });
          slot.post({ t: 'end', id });
        }).then((r) => { noteFinish(performance.now() - t0); return r; }).finally(release);
      },
      partial(): Promise<string> {
        if (state !== 'open' || slot.dead) return Promise.resolve('');
        flush();
        const seq = ++slot.partialSeq;
        return new Promise<string>((resolve) => {
          slot.partials.set(seq, resolve);
          slot.post({ t: 'hyp', id, seq });
        });
      },
      abort(): void {
        if (state === 'closed') return;
        const wasOpen = state === 'open';
        release();
        slot.failedStarts.delete(id);
        if (wasOpen) slot.post({ t: 'abort', id });
      },
    };
  }

  async close(): Promise<void> {
    const slots = this.slots.map((s, i) => { this.slots[i] = null; return s; }).filter((s): s is WorkerSlot => s !== null);
    await Promise.all(slots.map((s) => stopWorker(s.worker)));
  }
}
