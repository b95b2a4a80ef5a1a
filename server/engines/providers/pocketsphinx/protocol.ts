/** Messages between the PocketSphinx client (main thread) and its worker thread. */
export interface PocketSphinxWorkerData { modelDir: string }

export type ToWorker =
  | { t: 'warm'; decoders: number }
  | { t: 'start'; id: number }
  | { t: 'audio'; id: number; pcm: Int16Array }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'warmed'; decoders: number; loadMs: number }
  | { t: 'result'; id: number; text: string; audioMs: number; finaliseMs: number; processMs: number }
  | { t: 'error'; id: number | null; code: string; message: string };
