/**
 * The few AudioWorkletGlobalScope names the worklets use (TypeScript's DOM lib does not describe
 * that scope). Module-scoped declarations: nothing leaks into the page's globals.
 */
export interface WorkletProcessor {
  readonly port: MessagePort;
  process(inputs: Float32Array[][], outputs: Float32Array[][], parameters: Record<string, Float32Array>): boolean;
}

export interface WorkletProcessorOptions {
  processorOptions?: Record<string, unknown>;
}

export type WorkletProcessorCtor = new (options: WorkletProcessorOptions) => WorkletProcessor;

interface WorkletScope {
  AudioWorkletProcessor: new () => { readonly port: MessagePort };
  registerProcessor(name: string, ctor: WorkletProcessorCtor): void;
  sampleRate: number;
}

/** The worklet global scope, typed. Only valid inside an AudioWorklet. */
export const scope = globalThis as unknown as WorkletScope;

export function numberOption(options: WorkletProcessorOptions, name: string, fallback: number): number {
  const v = options.processorOptions?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
