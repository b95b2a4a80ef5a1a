/**
 * Echo of the agent's own voice on the caller's line (a speakerphone, a hybrid's line echo): the audio
 * Parley just played comes back, delayed and quieter, and a VAD takes it for the caller speaking
 * (docs/notes/turns.md, "Echo").
 *
 * `EchoDetector` keeps what was played (the reference, 8 kHz, on the input stream's clock: sample `p`
 * of the reference is what went out when input sample `p` came in) and, for the latest mic window,
 * finds the delay 0..maxDelayMs at which the reference explains it best: the share of the window's
 * energy that a scaled copy of the reference at that delay accounts for, i.e. the squared normalised
 * cross-correlation NCC² (1 − residual/energy of the best least-squares fit). Echo alone: ≈ 1 (the
 * line's noise and two μ-law passes leave a little); the caller speaking, with or without echo under
 * it: low. The delay found is tracked (searched ±TRACK_SAMPLES first, the whole range only when that
 * fails), so a steady echo costs a few thousand multiply-adds a frame.
 *
 * `EchoGatedVad` wraps a VAD: a frame the VAD calls speech that the reference explains is not speech.
 *
 * Everything is preallocated: nothing is allocated per frame.
 */
import type { VadKind, VadSampleRateHz, VoiceActivityDetector } from './vad.ts';

export const ECHO_RATE_HZ = 8_000;

export interface EchoDetectorOptions {
  /** Longest echo delay searched (ms, from when the audio was handed out to when it comes back). Default 400. */
  maxDelayMs?: number;
  /** Mic window compared (ms). Default 64. */
  windowMs?: number;
  /** Reference kept ahead and behind (ms); the agent's audio is produced faster than it plays. Default 16384. */
  historyMs?: number;
}

/** Lags tried around the tracked delay before a full search (8 kHz samples: ±3 ms). */
const TRACK_SAMPLES = 24;
/** Noise floor blocks (8 kHz samples: 32 ms). */
const BLOCK = 256;
/** While the tracked delay fails, a full delay search runs once every this many measures. */
const FULL_EVERY = 4;

export class EchoDetector {
  readonly maxDelay: number;
  readonly window: number;
  private readonly ref: Float32Array;
  private readonly mask: number;
  /** Reference valid in [refEnd − ref.length, refEnd); nothing (silence) elsewhere. */
  private refEnd = 0;
  /** Newest mic samples (`window` of them, oldest first after `micFill` reaches it). */
  private readonly mic: Float32Array;
  private micPos = 0;
  private micFill = 0;
  /** Position (input clock, 8 kHz) of the next mic sample. */
  private pos = 0;
  private lag = -1;
  /** The last result: share of the window explained, and the delay (samples) it was found at. */
  explained = 0;
  delay = -1;
  /** What is left of the last window once the echo is taken out (mean square), and the line's noise floor (same unit). */
  residual = 0;
  noiseFloor = -1;
  private blockEnergy = 0;
  private blockFill = 0;

  constructor(opts: EchoDetectorOptions = {}) {
    // multiples of 4 samples (the coarse search's 2 kHz grid)
    this.maxDelay = 4 * Math.round(((opts.maxDelayMs ?? 400) * ECHO_RATE_HZ) / 4000);
    this.window = 4 * Math.max(1, Math.round(((opts.windowMs ?? 64) * ECHO_RATE_HZ) / 4000));
    let size = 1;
    const want = ((opts.historyMs ?? 16_384) * ECHO_RATE_HZ) / 1000 + this.maxDelay + this.window;
    while (size < want) size *= 2;
    this.ref = new Float32Array(size);
    this.mask = size - 1;
    this.mic = new Float32Array(this.window);
    this.micLin = new Float32Array(this.window);
    this.refLin = new Float32Array(this.window + this.maxDelay);
    this.refCum = new Float64Array(this.window + this.maxDelay + 1);
    this.micDec = new Float32Array(this.window >> 2);
    this.refDec = new Float32Array((this.window + this.maxDelay) >> 2);
    this.decCum = new Float64Array(((this.window + this.maxDelay) >> 2) + 1);
  }

  /** The input clock (8 kHz samples) of the next mic sample: set it when the input stream restarts its count. */
  get position(): number { return this.pos; }
  setPosition(pos: number): void {
    this.pos = Math.max(0, Math.round(pos));
    this.micFill = 0;
    this.lag = -1;
  }

  /**
   * Audio that was just handed out to play (8 kHz pcm16). It plays after what is still queued, and
   * no earlier than now (`nowPos`, the input clock): the reference continues from there.
   */
  played(pcm8k: Int16Array, nowPos: number = this.pos): void {
    let at = Math.max(this.refEnd, nowPos);
    // silence between the last reference and this one (a gap in playout)
    for (let p = Math.max(this.refEnd, at - this.ref.length); p < at; p++) this.ref[p & this.mask] = 0;
    for (let i = 0; i < pcm8k.length; i++) this.ref[(at + i) & this.mask] = pcm8k[i]! / 32768;
    at += pcm8k.length;
    this.refEnd = at;
  }

  /** Playout was flushed (a barge-in): what had not played yet will never come back. */
  flush(nowPos: number = this.pos): void {
    if (this.refEnd > nowPos) this.refEnd = nowPos;
  }

  /** Whether any reference lies within the delays searched for the current mic window. */
  get active(): boolean {
    return this.refEnd > this.pos - this.window - this.maxDelay && this.refEnd - this.ref.length < this.pos;
  }

  /** One mic sample (the input clock advances). */
  private pushSample(x: number): void {
    this.mic[this.micPos] = x;
    this.micPos = this.micPos + 1 === this.window ? 0 : this.micPos + 1;
    if (this.micFill < this.window) this.micFill++;
    this.pos++;
    // the noise floor: the quietest 32 ms block lately (follows quieter blocks at once, louder ones by ~3 dB/s)
    this.blockEnergy += x * x;
    if (++this.blockFill === BLOCK) {
      const e = this.blockEnergy / BLOCK;
      this.noiseFloor = this.noiseFloor < 0 || e < this.noiseFloor ? Math.max(e, 1e-10) : this.noiseFloor * 1.02;
      this.blockEnergy = 0;
      this.blockFill = 0;
    }
  }

  /** Mic audio at 8 kHz. */
  pushMic(pcm8k: Int16Array): void {
    for (let i = 0; i < pcm8k.length; i++) this.pushSample(pcm8k[i]! / 32768);
  }

  /** Mic audio at 16 kHz (every second sample: the line carries nothing above 4 kHz). */
  pushMic16k(pcm16k: Int16Array): void {
    for (let i = 0; i < pcm16k.length; i += 2) this.pushSample(pcm16k[i]! / 32768);
  }

  private refAt(p: number): number {
    return p < this.refEnd && p >= this.refEnd - this.ref.length ? this.ref[p & this.mask]! : 0;
  }

  /** The mic window, oldest first, and the reference it may echo (delays maxDelay..0), copied flat for the search. */
  private readonly micLin: Float32Array;
  private readonly refLin: Float32Array;
  /** Sum of squares of refLin[0..i) (the reference windows' energies in O(1) each). */
  private readonly refCum: Float64Array;
  /** micLin and refLin at 2 kHz (coarseSearch), and refDec's running energy. */
  private readonly micDec: Float32Array;
  private readonly refDec: Float32Array;
  private readonly decCum: Float64Array;
  /** Measures since the last full search (a full search runs at most every FULL_EVERY frames). */
  private sinceFull = FULL_EVERY;

  /**
   * The best delay on a 2 kHz version of both (sums of 4 samples: speech's bulk is below 1 kHz), every
   * lag of 4 samples: a sixteenth of the full search's work. Refined at 8 kHz around it by the caller.
   */
  private coarseSearch(): number {
    const w4 = this.window >> 2;
    const mic = this.micDec;
    const ref = this.refDec;
    let me = 0;
    for (let i = 0; i < w4; i++) {
      const x = this.micLin[4 * i]! + this.micLin[4 * i + 1]! + this.micLin[4 * i + 2]! + this.micLin[4 * i + 3]!;
      mic[i] = x;
      me += x * x;
    }
    const n4 = ref.length;
    let cum = 0;
    this.decCum[0] = 0;
    for (let i = 0; i < n4; i++) {
      const r = this.refLin[4 * i]! + this.refLin[4 * i + 1]! + this.refLin[4 * i + 2]! + this.refLin[4 * i + 3]!;
      ref[i] = r;
      cum += r * r;
      this.decCum[i + 1] = cum;
    }
    let best = -1;
    let bestD = 0;
    const lags = this.maxDelay >> 2;
    for (let d4 = 0; d4 <= lags; d4++) {
      const off = lags - d4;
      let c = 0;
      for (let i = 0; i < w4; i++) c += mic[i]! * ref[off + i]!;
      const e = this.decCum[off + w4]! - this.decCum[off]!;
      const sc = e > 1e-9 && me > 1e-9 ? (c * c) / (me * e) : 0;
      if (sc > best) { best = sc; bestD = d4 * 4; }
    }
    return bestD;
  }

  /** NCC² of the mic window against the reference delayed by `d` samples (micLin, refLin filled). */
  private score(d: number, micEnergy: number): number {
    const w = this.window;
    const off = this.maxDelay - d;   // refLin[off + i] is the reference under mic sample i at delay d
    const mic = this.micLin;
    const ref = this.refLin;
    let c = 0;
    for (let i = 0; i < w; i++) c += mic[i]! * ref[off + i]!;
    const e = this.refCum[off + w]! - this.refCum[off]!;
    return e > 1e-9 ? (c * c) / (micEnergy * e) : 0;
  }

  /**
   * How much of the latest mic window the reference explains (0..1) at the best delay. 0 when there
   * is no reference in reach or the window is not full yet.
   */
  measure(): number {
    this.explained = 0;
    this.delay = -1;
    this.residual = 0;
    if (this.micFill < this.window || !this.active) return 0;
    const w = this.window;
    let m = 0;
    for (let i = 0, k = this.micPos; i < w; i++) {
      const x = this.mic[k]!;
      this.micLin[i] = x;
      m += x * x;
      k = k + 1 === w ? 0 : k + 1;
    }
    this.residual = m / w;
    if (m < 1e-9) return 0;
    const start = this.pos - w - this.maxDelay;
    let cum = 0;
    this.refCum[0] = 0;
    for (let i = 0; i < this.refLin.length; i++) {
      const r = this.refAt(start + i);
      this.refLin[i] = r;
      cum += r * r;
      this.refCum[i + 1] = cum;
    }
    let best = 0;
    let bestD = -1;
    if (this.lag >= 0) {
      for (let d = Math.max(0, this.lag - TRACK_SAMPLES); d <= Math.min(this.maxDelay, this.lag + TRACK_SAMPLES); d++) {
        const sc = this.score(d, m);
        if (sc > best) { best = sc; bestD = d; }
      }
    }
    this.sinceFull++;
    if (best < 0.5 && (this.lag < 0 || this.sinceFull >= FULL_EVERY)) {
      // the whole range, every second lag, then the neighbours of the best; not every frame while the
      // tracked delay fails (the caller talking over the echo), the echo path's delay seldom moves
      this.sinceFull = 0;
      const coarse = this.coarseSearch();
      for (let d = Math.max(0, coarse - 4); d <= Math.min(this.maxDelay, coarse + 4); d++) {
        const sc = this.score(d, m);
        if (sc > best) { best = sc; bestD = d; }
      }
    }
    if (best >= 0.5) this.lag = bestD;
    this.explained = best;
    this.delay = bestD;
    this.residual = (m * (1 - best)) / w;
    return best;
  }
}

export interface EchoGateOptions {
  /** Share of a frame's energy the reference must explain for the frame to be echo. Default 0.6. */
  explainedThreshold?: number;
  /** Frames with a probability below this are not looked at (they are not speech anyway). Default 0.3. */
  minProbability?: number;
  /**
   * While the agent's audio is in reach, a frame whose residual (the echo taken out) is within this
   * many times the line's noise floor is not the caller either (the quiet ends of the echo's words, where
   * the noise hides the correlation; the VAD's hangover after the echo). Default 4 (6 dB).
   */
  residualOverFloor?: number;
}

/**
 * A VAD that does not hear the agent's echo: frames the wrapped VAD calls speech and the echo
 * detector explains come out as probability 0. Counts what it suppressed.
 */
export class EchoGatedVad implements VoiceActivityDetector {
  readonly kind: VadKind;
  readonly sampleRateHz: VadSampleRateHz;
  readonly frameSamples: number;
  private readonly threshold: number;
  private readonly minProb: number;
  /** Frames suppressed as echo, and frames examined, since construction. */
  suppressed = 0;
  examined = 0;

  constructor(private readonly inner: VoiceActivityDetector, readonly echo: EchoDetector, opts: EchoGateOptions = {}) {
    this.kind = inner.kind;
    this.sampleRateHz = inner.sampleRateHz;
    this.frameSamples = inner.frameSamples;
    this.threshold = opts.explainedThreshold ?? 0.6;
    this.minProb = opts.minProbability ?? 0.3;
    this.overFloor = opts.residualOverFloor ?? 4;
  }
  private readonly overFloor: number;

  process(frame: Int16Array): number {
    const p = this.inner.process(frame);
    if (this.sampleRateHz === 16_000) this.echo.pushMic16k(frame);
    else this.echo.pushMic(frame);
    if (p < this.minProb || !this.echo.active) return p;
    this.examined++;
    const e = this.echo;
    if (e.measure() >= this.threshold || (e.noiseFloor > 0 && e.residual <= this.overFloor * e.noiseFloor)) { this.suppressed++; return 0; }
    return p;
  }

  reset(): void { this.inner.reset(); }
  close(): void { this.inner.close(); }
}
