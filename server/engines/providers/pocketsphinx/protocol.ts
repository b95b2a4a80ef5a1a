/** Messages between the PocketSphinx client (main thread) and its worker thread. */
import type { DecoderSettings } from './settings.ts';

export interface PocketSphinxWorkerData {
  modelDir: string;
  settings: DecoderSettings;
  /**
   * The most decoders this worker loads (pool + those loaded on the spot): beyond it an utterance
   * waits, its audio queued, for one to come free (memory stays bounded whatever the clients send).
   */
  maxDecoders: number;
}

export type ToWorker =
  /** Load one more decoder into the pool (answered with `warmed`). */
  | { t: 'load' }
  | { t: 'start'; id: number }
  | { t: 'audio'; id: number; pcm: Int16Array }
  | { t: 'end'; id: number }
  /** The hypothesis so far of an utterance in progress (answered with `partial`). */
  | { t: 'hyp'; id: number; seq: number }
  | { t: 'abort'; id: number }
  /** Exit between two jobs (worker-host.ts stopWorker). */
  | { t: 'close' };

export type FromWorker =
  | { t: 'ready' }
  /** `decoders` = decoders this worker now holds (free + in use). */
  | { t: 'warmed'; decoders: number; loadMs: number }
  /**
   * `loadMs` > 0 when the utterance had to load its decoder on start (the pool was empty), `waitMs` > 0
   * when it waited for one (the worker held its most, `maxDecoders`); `cpuMs`
   * the worker thread's CPU time on it (`endCpuMs` of it the end-of-utterance search); `endToResultMs` from its `end` reaching the worker to the
   * result, `backlogMs` the audio still undecoded when its `end` arrived.
   */
  | { t: 'result'; id: number; text: string; audioMs: number; finaliseMs: number; processMs: number; cpuMs: number; endCpuMs: number; loadMs: number; waitMs: number; decoders: number; endToResultMs: number; backlogMs: number }
  | { t: 'partial'; id: number; seq: number; text: string }
  | { t: 'error'; id: number | null; code: string; message: string };
