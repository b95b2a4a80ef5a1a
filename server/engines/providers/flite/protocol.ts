/** Messages between the flite client (main thread) and its worker thread. */
export type ToFliteWorker =
  | { t: 'warm'; voices: string[] }
  | { t: 'synth'; id: number; text: string; voice: string }
  /** Exit between two jobs (worker-host.ts stopWorker). */
  | { t: 'close' };

export type FromFliteWorker =
  | { t: 'ready' }
  | { t: 'warmed' }
  | { t: 'audio'; id: number; pcm: Int16Array; sampleRateHz: number; synthMs: number }
  | { t: 'error'; id: number | null; code: string; message: string };
