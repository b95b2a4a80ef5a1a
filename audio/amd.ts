/**
 * Answering-machine detection (AMD) for the answered leg of an outbound call: offline, from the audio
 * alone (docs/notes/amd.md).
 *
 * Two detectors run over 20 ms blocks of the callee's audio (8 or 16 kHz pcm16, fed in chunks of any
 * size; nothing is allocated per frame):
 *
 * - **Cadence** — the rules of Asterisk's app_amd: speech/silence per block (mean |x| against a
 *   threshold), "words" (voiced runs of ≥ `minWordLengthMs` separated by ≥ `betweenWordsSilenceMs`),
 *   and the decision: a greeting that stops (≥ `afterGreetingSilenceMs` of silence after it) is a
 *   `human`; a long greeting (≥ `greetingMs` of speech), too many words, or one endless word is a
 *   `machine`; nothing decided by `totalAnalysisMs` is `unknown`. Departures, measured on the
 *   generated set (docs/notes/amd.md): Asterisk calls `initialSilenceMs` of silence before any speech
 *   a machine; dead air is no evidence of one, so here it is `unknown` (`initialSilenceVerdict`
 *   restores the rule). The speech threshold follows the line's noise: max(`silenceThreshold`,
 *   `noiseFactor` × the quietest block of the last second), so a noisy line is neither one long word
 *   nor all silence. 5 words (not 3: "Hello, Sam speaking." is three bursts), a 1200 ms greeting and
 *   600 ms after it (not 1500/800: a human is decided sooner). A short greeting (≤ `shortGreetingMs` of
 *   speech, a person's "Hello?") needs only `shortGreetingSilenceMs` (440 ms) of silence after it: the
 *   pauses inside voicemail greetings before that much speech were ≤ 400 ms on the generated set, and a
 *   person who said "Hello?" and waits is decided 160 ms sooner.
 * - **Beep** — a steady tone of ≥ `beepMinMs` in `beepMinHz`–`beepMaxHz`: per block, a Goertzel bank
 *   (50 Hz steps, refined to 12.5 Hz around the peak) finds the strongest frequency; the block is
 *   tonal when that frequency holds ≥ `toneRatio` of the block's energy, and a run of tonal blocks at
 *   the same frequency (± `toneDriftHz`) and level (± 3 dB) long enough is a beep. Speech's harmonics
 *   glide and share the energy; a beep does neither. A beep before the cadence decides → `machine`.
 *
 * After a `machine` decision the detector keeps listening for the beep: `ready` (the moment to speak a
 * voicemail message) comes when the beep ends, or, without a beep, after `readySilenceMs` of silence,
 * or at `maxWaitMs` after the answer at the latest.
 *
 * Pure and synchronous, browser-safe (no Node imports), like the rest of audio/.
 */
import { AudioError } from './errors.ts';

export type AmdVerdict = 'human' | 'machine' | 'unknown';
/** Why the verdict was reached (Asterisk's AMDCAUSE, lower-cased, plus `beep` and `ended`). */
export type AmdReason = 'human' | 'initial_silence' | 'long_greeting' | 'max_words' | 'max_word_length' | 'beep' | 'too_long' | 'ended';
export type AmdSampleRateHz = 8000 | 16000;

/** The result stored on the call (names fixed for the project: result, beep_at_ms, decided_after_ms). */
export interface AmdResult {
  result: AmdVerdict;
  /** When a voicemail beep started, ms after the answer (the first audio fed). */
  beep_at_ms?: number;
  /** When the verdict was reached, ms of audio after the answer. */
  decided_after_ms: number;
  reason: AmdReason;
}

export interface AmdOptions {
  sampleRateHz: AmdSampleRateHz;
  /** Silence before any speech after which the detector gives up (Asterisk initial_silence). Default 2500. */
  initialSilenceMs?: number;
  /** Verdict for that initial silence: `unknown` (default) or Asterisk's `machine`. */
  initialSilenceVerdict?: 'unknown' | 'machine';
  /** Speech in the greeting beyond which it is a machine (Asterisk greeting, 1500). Default 1200. */
  greetingMs?: number;
  /** Silence after the greeting that makes it a human (Asterisk after_greeting_silence, 800). Default 600. */
  afterGreetingSilenceMs?: number;
  /**
   * A greeting with at most this much speech so far is short (a person's "Hello?"): the silence after it
   * that makes a human is `shortGreetingSilenceMs` instead of `afterGreetingSilenceMs`. 0 turns the rule off
   * (not in Asterisk). Default SHORT_GREETING_MS.
   */
  shortGreetingMs?: number;
  /** Silence after a short greeting that makes a human (not in Asterisk). Default SHORT_GREETING_SILENCE_MS. */
  shortGreetingSilenceMs?: number;
  /** Undecided by then → `unknown` (Asterisk total_analysis_time). Default 5000. */
  totalAnalysisMs?: number;
  /** A voiced run this long is a word (Asterisk min_word_length). Default 100. */
  minWordLengthMs?: number;
  /** Silence this long separates words (Asterisk between_words_silence). Default 50. */
  betweenWordsSilenceMs?: number;
  /** This many words make a machine (Asterisk maximum_number_of_words, 2 in amd.conf, 3 in the code). Default 5. */
  maxWords?: number;
  /** One word this long makes a machine (Asterisk maximum_word_length). Default 5000. */
  maxWordLengthMs?: number;
  /** Mean |sample| below which a block is silence, at least (Asterisk silence_threshold). Default 256. */
  silenceThreshold?: number;
  /** Speech must be this many times the quietest block of the last second (not in Asterisk). Default 1.7. */
  noiseFactor?: number;
  /** Listen for the voicemail beep (off: cadence only, and `ready` comes from the greeting's silence). Default true. */
  beep?: boolean;
  /** Beep: shortest steady tone, ms. Default 150. */
  beepMinMs?: number;
  /** Beep frequency range, Hz. Default 400–2000. */
  beepMinHz?: number;
  beepMaxHz?: number;
  /** Share of a block's energy the peak frequency must hold to be tonal. Default 0.7. */
  toneRatio?: number;
  /** How far the tone's frequency may wander from its start within a beep, Hz (one fine step). Default 12.5. */
  toneDriftHz?: number;
  /** After a machine verdict without a beep: this much silence means the greeting is over. Default 2500. */
  readySilenceMs?: number;
  /** `ready` at the latest this long after the answer (a machine verdict). Default 30000. */
  maxWaitMs?: number;
}

/** Bits returned by `process()`: what happened during that chunk. */
export const AMD_DECIDED = 1;
export const AMD_BEEP = 2;
export const AMD_READY = 4;

export const AMD_BLOCK_MS = 20;
/** Default `shortGreetingMs` and `shortGreetingSilenceMs` (docs/notes/amd.md). */
export const SHORT_GREETING_MS = 900;
export const SHORT_GREETING_SILENCE_MS = 440;

const COARSE_STEP_HZ = 50;
const FINE_STEP_HZ = 12.5;
const NOISE_WINDOW_BLOCKS = 50; // 1 s
const LEVEL_STEADY = 1.41; // ±1.5 dB in energy ratio

export class AnsweringMachineDetector {
  readonly sampleRateHz: AmdSampleRateHz;
  readonly blockSamples: number;
  private readonly o: Required<Omit<AmdOptions, 'sampleRateHz'>>;
  private readonly block: Int16Array;
  private fill = 0;
  private readonly coarseHz: Float64Array;
  private readonly coarseCoeff: Float64Array;
  private readonly levels = new Float64Array(NOISE_WINDOW_BLOCKS);
  private levelCount = 0;
  private levelAt = 0;
  private readonly minRunBlocks: number;

  // cadence state (Asterisk's)
  private elapsedBlocks = 0;
  private inInitialSilence = true;
  private inGreeting = false;
  private inWord = false;
  private silenceMs = 0;
  private consecutiveVoiceMs = 0;
  private voiceMs = 0;
  private words = 0;
  private verdict: AmdResult | undefined;

  // beep state
  private runBlocks = 0;
  private runStartMs = 0;
  private runHz = 0;
  private runEnergy = 0;
  private beepStartMs = -1;
  private beepEndMs = -1;
  private beepHzFound = 0;
  private isReady = false;
  private readyMs = -1;
  // scratch of the last block's tone analysis
  private peakHz = 0;
  private peakRatio = 0;

  constructor(opts: AmdOptions) {
    const rate = opts.sampleRateHz;
    if (rate !== 8000 && rate !== 16000) throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `AMD runs at 8000 or 16000 Hz, got ${String(rate)}`);
    this.sampleRateHz = rate;
    this.o = {
      initialSilenceMs: opts.initialSilenceMs ?? 2500,
      initialSilenceVerdict: opts.initialSilenceVerdict ?? 'unknown',
      greetingMs: opts.greetingMs ?? 1200,
      afterGreetingSilenceMs: opts.afterGreetingSilenceMs ?? 600,
      shortGreetingMs: opts.shortGreetingMs ?? SHORT_GREETING_MS,
      shortGreetingSilenceMs: opts.shortGreetingSilenceMs ?? SHORT_GREETING_SILENCE_MS,
      totalAnalysisMs: opts.totalAnalysisMs ?? 5000,
      minWordLengthMs: opts.minWordLengthMs ?? 100,
      betweenWordsSilenceMs: opts.betweenWordsSilenceMs ?? 50,
      maxWords: opts.maxWords ?? 5,
      maxWordLengthMs: opts.maxWordLengthMs ?? 5000,
      silenceThreshold: opts.silenceThreshold ?? 256,
      noiseFactor: opts.noiseFactor ?? 1.7,
      beep: opts.beep ?? true,
      beepMinMs: opts.beepMinMs ?? 150,
      beepMinHz: opts.beepMinHz ?? 400,
      beepMaxHz: opts.beepMaxHz ?? 2000,
      toneRatio: opts.toneRatio ?? 0.7,
      toneDriftHz: opts.toneDriftHz ?? 12.5,
      readySilenceMs: opts.readySilenceMs ?? 2500,
      maxWaitMs: opts.maxWaitMs ?? 30000,
    };
    for (const [k, v] of Object.entries(this.o)) {
      if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0)) throw new AudioError('AUDIO_ERR_BAD_INPUT', `AMD option ${k} must be a finite number ≥ 0, got ${v}`);
    }
    if (!(this.o.beepMinHz < this.o.beepMaxHz && this.o.beepMaxHz < rate / 2)) {
      throw new AudioError('AUDIO_ERR_BAD_INPUT', `AMD beep range ${this.o.beepMinHz}–${this.o.beepMaxHz} Hz must be ascending and below ${rate / 2} Hz`);
    }
    this.blockSamples = (rate * AMD_BLOCK_MS) / 1000;
    this.block = new Int16Array(this.blockSamples);
    const bins = Math.floor((this.o.beepMaxHz - this.o.beepMinHz) / COARSE_STEP_HZ) + 1;
    this.coarseHz = new Float64Array(bins);
    this.coarseCoeff = new Float64Array(bins);
    for (let i = 0; i < bins; i++) {
      const f = this.o.beepMinHz + i * COARSE_STEP_HZ;
      this.coarseHz[i] = f;
      this.coarseCoeff[i] = 2 * Math.cos((2 * Math.PI * f) / rate);
    }
    // blocks inside the shortest beep: a 150 ms tone covers 7 blocks (the 8th partly), a partly-covered
    // block still counts when most of it is tone
    this.minRunBlocks = Math.max(2, Math.ceil(this.o.beepMinMs / AMD_BLOCK_MS) - 1);
  }

  /** The verdict once reached (the same object afterwards; `beep_at_ms` is added when a beep is heard later). */
  get result(): AmdResult | undefined {
    return this.verdict;
  }
  /** ms of audio fed so far (whole blocks). */
  get elapsedMs(): number {
    return this.elapsedBlocks * AMD_BLOCK_MS;
  }
  /** When the beep started (ms after the answer), or undefined. */
  get beepAtMs(): number | undefined {
    return this.beepStartMs >= 0 ? this.beepStartMs : undefined;
  }
  /** The beep's frequency, Hz (0 before one is heard). */
  get beepHz(): number {
    return this.beepHzFound;
  }
  /** When the beep ended, ms after the answer, or undefined. */
  get beepEndAtMs(): number | undefined {
    return this.beepEndMs >= 0 ? this.beepEndMs : undefined;
  }
  /** A machine's greeting is over (after its beep, or its silence, or `maxWaitMs`): time to leave a message. */
  get ready(): boolean {
    return this.isReady;
  }
  get readyAtMs(): number | undefined {
    return this.readyMs >= 0 ? this.readyMs : undefined;
  }
  /** Nothing more to learn: a human or unknown verdict, or a machine whose greeting is over. */
  get done(): boolean {
    return this.verdict !== undefined && (this.verdict.result !== 'machine' || this.isReady);
  }

  /**
   * Feed the next chunk of the answered leg's audio (any length; 20 ms frames are the usual). Returns
   * the AMD_* bits of what happened in it (0 most of the time). Never throws on audio content.
   * `length`: use only the first `length` samples (a buffer reused for chunks of varying size).
   */
  process(chunk: Int16Array, length = chunk.length): number {
    let events = 0;
    let at = 0;
    const n = Math.max(0, Math.min(length, chunk.length));
    const bs = this.blockSamples;
    while (at < n) {
      const take = Math.min(bs - this.fill, n - at);
      this.block.set(chunk.subarray(at, at + take), this.fill);
      this.fill += take;
      at += take;
      if (this.fill === bs) {
        this.fill = 0;
        events |= this.analyse(this.block);
      }
    }
    return events;
  }

  /**
   * The audio ended (the callee hung up, or the caller stops listening): a verdict not reached yet is
   * `unknown` (reason `ended`). Returns the verdict.
   */
  finish(): AmdResult {
    if (!this.verdict) this.decide('unknown', 'ended');
    return this.verdict as AmdResult;
  }

  reset(): void {
    this.fill = 0;
    this.levelCount = 0;
    this.levelAt = 0;
    this.elapsedBlocks = 0;
    this.inInitialSilence = true;
    this.inGreeting = false;
    this.inWord = false;
    this.silenceMs = 0;
    this.consecutiveVoiceMs = 0;
    this.voiceMs = 0;
    this.words = 0;
    this.verdict = undefined;
    this.runBlocks = 0;
    this.beepStartMs = -1;
    this.beepEndMs = -1;
    this.beepHzFound = 0;
    this.isReady = false;
    this.readyMs = -1;
  }

  private decide(result: AmdVerdict, reason: AmdReason): void {
    this.verdict = { result, decided_after_ms: this.elapsedMs, reason };
    if (this.beepStartMs >= 0) this.verdict.beep_at_ms = this.beepStartMs;
  }

  private markReady(): number {
    this.isReady = true;
    this.readyMs = this.elapsedMs;
    return AMD_READY;
  }

  /** One 20 ms block. */
  private analyse(x: Int16Array): number {
    const startMs = this.elapsedBlocks * AMD_BLOCK_MS;
    this.elapsedBlocks++;
    const nowMs = this.elapsedMs;
    let events = 0;
    if (this.done) return 0;

    let sumAbs = 0;
    let sumSq = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i] as number;
      sumAbs += v < 0 ? -v : v;
      sumSq += v * v;
    }
    const level = sumAbs / x.length;
    // noise floor: the quietest block of the last second (this one included)
    this.levels[this.levelAt] = level;
    this.levelAt = (this.levelAt + 1) % NOISE_WINDOW_BLOCKS;
    if (this.levelCount < NOISE_WINDOW_BLOCKS) this.levelCount++;
    let floor = Infinity;
    for (let i = 0; i < this.levelCount; i++) {
      const l = this.levels[i] as number;
      if (l < floor) floor = l;
    }
    const threshold = Math.max(this.o.silenceThreshold, floor * this.o.noiseFactor);
    const voiced = level >= threshold;

    // ---- beep: a steady tone
    let tonal = false;
    if (voiced && sumSq > 0 && this.o.beep) {
      this.tone(x, sumSq);
      tonal = this.peakRatio >= this.o.toneRatio;
    }
    if (this.runBlocks > 0) {
      const same = tonal && Math.abs(this.peakHz - this.runHz) <= this.o.toneDriftHz && sumSq <= this.runEnergy * LEVEL_STEADY && sumSq * LEVEL_STEADY >= this.runEnergy;
      if (same) {
        this.runBlocks++;
        this.runEnergy = sumSq;
      } else {
        if (this.beepStartMs >= 0 && this.beepEndMs < 0 && this.runBlocks >= this.minRunBlocks && this.runStartMs === this.beepStartMs) {
          this.beepEndMs = startMs; // the beep just ended
          if (this.verdict?.result === 'machine' && !this.isReady) events |= this.markReady();
        }
        this.runBlocks = 0;
      }
    }
    if (this.runBlocks === 0 && tonal) {
      this.runBlocks = 1;
      this.runStartMs = startMs;
      this.runHz = this.peakHz;
      this.runEnergy = sumSq;
    }
    if (this.runBlocks === this.minRunBlocks && this.beepStartMs < 0) {
      this.beepStartMs = this.runStartMs;
      this.beepHzFound = this.runHz;
      events |= AMD_BEEP;
      if (this.verdict) {
        if (this.verdict.beep_at_ms === undefined) this.verdict.beep_at_ms = this.beepStartMs;
      } else {
        this.decide('machine', 'beep');
        events |= AMD_DECIDED;
      }
    }

    if (this.verdict) {
      // after a machine verdict: wait for the end of the greeting
      if (this.verdict.result === 'machine' && !this.isReady) {
        this.silenceMs = voiced ? 0 : this.silenceMs + AMD_BLOCK_MS;
        if ((this.beepStartMs < 0 && this.silenceMs >= this.o.readySilenceMs) || nowMs >= this.o.maxWaitMs) events |= this.markReady();
      }
      return events;
    }

    // ---- cadence: Asterisk's app_amd rules
    if (!voiced) {
      this.silenceMs += AMD_BLOCK_MS;
      if (this.silenceMs >= this.o.betweenWordsSilenceMs) {
        this.inWord = false;
        this.consecutiveVoiceMs = 0;
      }
      if (this.inInitialSilence && this.silenceMs >= this.o.initialSilenceMs) {
        this.decide(this.o.initialSilenceVerdict, 'initial_silence');
      } else if (this.inGreeting && this.silenceMs >= (this.voiceMs <= this.o.shortGreetingMs ? this.o.shortGreetingSilenceMs : this.o.afterGreetingSilenceMs)) {
        this.decide('human', 'human');
      }
    } else {
      this.silenceMs = 0;
      this.consecutiveVoiceMs += AMD_BLOCK_MS;
      this.voiceMs += AMD_BLOCK_MS;
      if (this.consecutiveVoiceMs >= this.o.minWordLengthMs && !this.inWord) {
        this.words++;
        this.inWord = true;
      }
      if (this.consecutiveVoiceMs >= this.o.minWordLengthMs && !this.inGreeting) {
        this.inInitialSilence = false;
        this.inGreeting = true;
      }
      if (this.consecutiveVoiceMs >= this.o.maxWordLengthMs) this.decide('machine', 'max_word_length');
      else if (this.words >= this.o.maxWords) this.decide('machine', 'max_words');
      else if (this.inGreeting && this.voiceMs >= this.o.greetingMs) this.decide('machine', 'long_greeting');
    }
    if (!this.verdict && nowMs >= this.o.totalAnalysisMs) this.decide('unknown', 'too_long');
    if (this.verdict) events |= AMD_DECIDED;
    return events;
  }

  /** Goertzel bank over the beep range: sets peakHz and peakRatio (share of the block's energy). */
  private tone(x: Int16Array, sumSq: number): void {
    const n = x.length;
    let best = 0;
    let bestI = 0;
    for (let b = 0; b < this.coarseCoeff.length; b++) {
      const p = goertzel(x, this.coarseCoeff[b] as number);
      if (p > best) {
        best = p;
        bestI = b;
      }
    }
    let bestHz = this.coarseHz[bestI] as number;
    const centre = bestHz;
    for (let k = -2; k <= 2; k++) {
      if (k === 0) continue;
      const f = centre + k * FINE_STEP_HZ;
      const p = goertzel(x, 2 * Math.cos((2 * Math.PI * f) / this.sampleRateHz));
      if (p > best) {
        best = p;
        bestHz = f;
      }
    }
    this.peakHz = bestHz;
    // a pure tone at the bin frequency: |X|² = (A·n/2)², Σx² = A²·n/2 → ratio 1
    this.peakRatio = (2 * best) / (n * sumSq);
  }
}

/** |X(f)|² of one block by the Goertzel recurrence; coeff = 2·cos(2πf/rate). */
function goertzel(x: Int16Array, coeff: number): number {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = (x[i] as number) + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}
