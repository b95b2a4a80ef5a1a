import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-host.ts';
import { ProviderError, STT_SAMPLE_RATE_HZ } from '../types.ts';
import type { SttProvider, SttResult, SttStream } from '../types.ts';
import type { FromWorker, PocketSphinxWorkerData, ToWorker } from './protocol.ts';

/** Debian `pocketsphinx-en-us` installs the CMU US English model here. */
export const DEFAULT_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
/** Audio is batched into messages of this length to keep the worker traffic low. */
const BATCH_MS = 100;
const BATCH_SAMPLES = (STT_SAMPLE_RATE_HZ * BATCH_MS) / 1000;
const FINISH_TIMEOUT_MS = 15_000;

export interface PocketSphinxOptions {
  modelDir?: string;
  /** Worker threads (each hosts several decoders). Default 1. */
  workers?: number;
}

interface Pending { resolve(r: SttResult): void; reject(e: ProviderError): void; timer: NodeJS.Timeout }

class WorkerSlot {
  readonly worker: Worker;
  ready = false;
  dead = false;
  streams = 0;
  private readonly queue: { msg: ToWorker; transfer?: ArrayBuffer[] }[] = [];
  readonly pending = new Map<number, Pending>();
  private readonly warmWaiters: { resolve(): void; reject(e: ProviderError): void }[] = [];
  startError: ProviderError | null = null;

  constructor(modelDir: string) {
    const data: PocketSphinxWorkerData = { modelDir };
    this.worker = startWorker(new URL('./worker.ts', import.meta.url), data);
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(new ProviderError('STT_WORKER_FAILED', `pocketsphinx worker failed: ${err.message}`, { retryable: true, cause: err })));
    this.worker.on('exit', (code) => this.die(new ProviderError('STT_WORKER_FAILED', `pocketsphinx worker exited (${code})`, { retryable: true })));
  }

  post(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.dead) return;
    if (!this.ready) { this.queue.push(transfer ? { msg, transfer } : { msg }); return; }
    this.worker.postMessage(msg, transfer);
  }

  warm(decoders: number): Promise<void> {
    if (this.dead) return Promise.reject(this.startError ?? new ProviderError('STT_WORKER_FAILED', 'pocketsphinx worker is gone', { retryable: true }));
    return new Promise((resolve, reject) => {
      this.warmWaiters.push({ resolve, reject });
      this.post({ t: 'warm', decoders });
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        this.ready = true;
        for (const q of this.queue.splice(0)) this.worker.postMessage(q.msg, q.transfer);
        return;
      case 'warmed':
        for (const w of this.warmWaiters.splice(0)) w.resolve();
        return;
      case 'result': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve({ text: m.text, audioMs: m.audioMs, finaliseMs: m.finaliseMs, processMs: m.processMs });
        return;
      }
      case 'error': {
        const err = new ProviderError(m.code, m.message);
        if (m.id === null) {
          for (const w of this.warmWaiters.splice(0)) w.reject(err);
          return;
        }
        const p = this.pending.get(m.id);
        if (p) { this.pending.delete(m.id); clearTimeout(p.timer); p.reject(err); }
        else this.failedStarts.set(m.id, err);
        return;
      }
    }
  }

  /** Errors reported for a stream before its finish() was called. */
  readonly failedStarts = new Map<number, ProviderError>();

  private die(err: ProviderError): void {
    if (this.dead) return;
    this.dead = true;
    this.startError = err;
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(err); }
    this.pending.clear();
    for (const w of this.warmWaiters.splice(0)) w.reject(err);
  }
}

/**
 * Offline speech-to-text: CMU PocketSphinx (Debian `pocketsphinx-en-us`) through koffi, in worker
 * threads. Streaming: audio is decoded while the caller speaks, so only the end-of-utterance
 * search (~100–270 ms) remains after the turn ends.
 */
export class PocketSphinxStt implements SttProvider {
  readonly name = 'pocketsphinx';
  private readonly modelDir: string;
  private readonly slots: (WorkerSlot | null)[];
  private nextId = 1;

  constructor(opts: PocketSphinxOptions = {}) {
    this.modelDir = opts.modelDir ?? DEFAULT_POCKETSPHINX_MODEL_DIR;
    this.slots = new Array<WorkerSlot | null>(Math.max(1, opts.workers ?? 1)).fill(null);
  }

  private slot(): WorkerSlot {
    let best: WorkerSlot | null = null;
    for (let i = 0; i < this.slots.length; i++) {
      let s = this.slots[i];
      if (!s || s.dead) { s = new WorkerSlot(this.modelDir); this.slots[i] = s; }
      if (!best || s.streams < best.streams) best = s;
    }
    return best!;
  }

  /** Starts every worker and loads one decoder in each (rejects STT_MODEL_UNAVAILABLE). */
  async warm(): Promise<void> {
    const slots: WorkerSlot[] = [];
    for (let i = 0; i < this.slots.length; i++) slots.push(this.slot());
    await Promise.all([...new Set(slots)].map((s) => s.warm(1)));
  }

  open(): SttStream {
    const slot = this.slot();
    const id = this.nextId++;
    slot.streams++;
    slot.post({ t: 'start', id });
    let batch = new Int16Array(BATCH_SAMPLES);
    let fill = 0;
    let state: 'open' | 'finishing' | 'closed' = 'open';
    const release = (): void => { if (state !== 'closed') { state = 'closed'; slot.streams--; } };
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
        return new Promise<SttResult>((resolve, reject) => {
          const timer = setTimeout(() => {
            slot.pending.delete(id);
            reject(new ProviderError('STT_TIMEOUT', `pocketsphinx gave no result within ${FINISH_TIMEOUT_MS} ms`, { retryable: true }));
          }, FINISH_TIMEOUT_MS);
          slot.pending.set(id, { resolve, reject, timer });
          slot.post({ t: 'end', id });
        }).finally(release);
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
    const slots = this.slots.splice(0).filter((s): s is WorkerSlot => s !== null);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
