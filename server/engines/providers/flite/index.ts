import type { Worker } from 'node:worker_threads';
import { startWorker, stopWorker } from '../worker-host.ts';
import { ProviderError } from '../types.ts';
import type { TtsChunk, TtsProvider, TtsRequest } from '../types.ts';
import type { FromFliteWorker, ToFliteWorker } from './protocol.ts';

/** flite voices shipped by Debian libflite1. */
export const FLITE_VOICES = ['slt', 'rms', 'awb', 'kal16', 'kal'] as const;
export type FliteVoice = (typeof FLITE_VOICES)[number];
const SYNTH_TIMEOUT_MS = 10_000;

/**
 * Maps a session voice to a flite voice: flite's own names pass through; OpenAI's voice names map
 * to `slt` (female US) or `rms` (male US) so that any GA session config works offline.
 */
export function fliteVoiceFor(voice: string | undefined, fallback: FliteVoice = 'slt'): FliteVoice {
  if (!voice) return fallback;
  if ((FLITE_VOICES as readonly string[]).includes(voice)) return voice as FliteVoice;
  if (['ash', 'echo', 'verse', 'cedar', 'onyx', 'fable'].includes(voice)) return 'rms';
  return fallback;
}

interface Job { resolve(c: TtsChunk): void; reject(e: ProviderError): void; timer: NodeJS.Timeout }

/** One flite worker thread and the jobs it has been given. */
class FliteWorker {
  private worker: Worker | null = null;
  private ready = false;
  private queue: ToFliteWorker[] = [];
  readonly jobs = new Map<number, Job>();
  private warmWaiters: { resolve(): void; reject(e: ProviderError): void }[] = [];

  post(m: ToFliteWorker): void {
    const w = this.ensure();
    if (this.ready) w.postMessage(m); else this.queue.push(m);
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(new URL('./worker.ts', import.meta.url));
    this.worker = w;
    this.ready = false;
    w.on('message', (m: FromFliteWorker) => {
      if (m.t === 'ready') { this.ready = true; for (const q of this.queue.splice(0)) w.postMessage(q); return; }
      if (m.t === 'warmed') { for (const x of this.warmWaiters.splice(0)) x.resolve(); return; }
      if (m.t === 'error' && m.id === null) {
        const err = new ProviderError(m.code, m.message);
        for (const x of this.warmWaiters.splice(0)) x.reject(err);
        return;
      }
      if (m.id === null) return;
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      clearTimeout(job.timer);
      if (m.t === 'audio') job.resolve({ pcm: m.pcm, sampleRateHz: m.sampleRateHz });
      else job.reject(new ProviderError(m.code, m.message));
    });
    const die = (reason: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const err = new ProviderError('TTS_WORKER_FAILED', `flite worker ${reason}`, { retryable: true });
      for (const [, j] of this.jobs) { clearTimeout(j.timer); j.reject(err); }
      this.jobs.clear();
      for (const x of this.warmWaiters.splice(0)) x.reject(err);
      this.queue = [];
    };
    w.on('error', (err) => die(`failed: ${err.message}`));
    w.on('exit', (code) => die(`exited (${code})`));
    // after the listeners: a first 'message' listener refs the worker's port again (an embedder's process could not exit)
    w.unref();
    return w;
  }

  warm(voices: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.warmWaiters.push({ resolve, reject });
      this.post({ t: 'warm', voices });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await stopWorker(w);
  }
}

/**
 * Offline text-to-speech: flite 2.2 (Debian) in worker threads. Each call synthesises one piece of
 * text (the cascade sends one sentence at a time) and yields it as a single 16 kHz chunk. With
 * several workers (`workers`), a sentence goes to the one with the fewest jobs, so simultaneous
 * replies do not queue behind each other.
 */
export class FliteTts implements TtsProvider {
  readonly name = 'flite';
  private readonly workers: FliteWorker[];
  private nextId = 1;
  private readonly defaultVoice: FliteVoice;

  constructor(opts: { defaultVoice?: FliteVoice; workers?: number } = {}) {
    this.defaultVoice = opts.defaultVoice ?? 'slt';
    this.workers = Array.from({ length: Math.max(1, opts.workers ?? 1) }, () => new FliteWorker());
  }

  private pick(): FliteWorker {
    let best = this.workers[0]!;
    for (const w of this.workers) if (w.jobs.size < best.jobs.size) best = w;
    return best;
  }

  async warm(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.warm([this.defaultVoice])));
  }

  async *synthesize(req: TtsRequest): AsyncIterable<TtsChunk> {
    const text = req.text.trim();
    if (!text || req.signal.aborted) return;
    const id = this.nextId++;
    const worker = this.pick();
    const chunk = await new Promise<TtsChunk>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.jobs.delete(id);
        reject(new ProviderError('TTS_TIMEOUT', `flite gave no audio within ${SYNTH_TIMEOUT_MS} ms`, { retryable: true }));
      }, SYNTH_TIMEOUT_MS);
      worker.jobs.set(id, { resolve, reject, timer });
      // `speed` is not applied: flite 2.2 ignores duration_stretch set through the C API.
      worker.post({ t: 'synth', id, text, voice: fliteVoiceFor(req.voice, this.defaultVoice) });
    });
    if (req.signal.aborted) return;
    yield chunk;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
