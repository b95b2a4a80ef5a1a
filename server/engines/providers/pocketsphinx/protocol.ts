/** Messages between the PocketSphinx client (main thread) and its worker thread. */
export interface PocketSphinxWorkerData {
  modelDir: string;
  /** Run PocketSphinx's second (fwdflat) pass at the end of each utterance. */
  secondPass: boolean;
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
  /** `loadMs` > 0 when the utterance had to load its decoder on start (the pool was empty). */
  | { t: 'result'; id: number; text: string; audioMs: number; finaliseMs: number; processMs: number; loadMs: number; decoders: number }
  | { t: 'partial'; id: number; seq: number; text: string }
  | { t: 'error'; id: number | null; code: string; message: string };
