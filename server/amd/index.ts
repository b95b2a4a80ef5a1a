/**
 * Answering-machine detection on an answered outbound call (docs/notes/amd.md): the classifier of
 * audio/amd.ts fed with the callee's audio from the 200 OK on, and the action that follows.
 *
 * It plugs into the outbound calls' hook (server/outbound/amd-hook.ts, `OutboundCalls.setMachineDetector`):
 * `detect(leg, opts)` resolves with the verdict `{result, beep_at_ms?, decided_after_ms, reason}` as soon as it
 * is reached; the caller stores it on the call and hangs up on `machine` + `hangup`. What this module does
 * besides classifying:
 *
 * - **The agent waits for the verdict.** While the detector listens, the application's audio to the
 *   callee (the agent's first words) is held back (up to `holdMs`, older audio dropped; a flush — the
 *   agent interrupted — drops it too); a `human` or `unknown` verdict, or `continue`, lets it go out. A
 *   machine with `hangup` or `leave_message` never hears the agent.
 * - **`leave_message`**: after a `machine` verdict the detector keeps listening until the greeting is over
 *   (the beep ended, or 2.5 s of silence, or 30 s after the answer), then speaks `message` (offline flite
 *   by default, any TtsProvider otherwise) and hangs up when it has played. The verdict object gains
 *   `beep_at_ms` when the beep is heard after the verdict (the stored object is the same one).
 *
 * Nothing is allocated per frame: G.711 is decoded into one buffer, pcm16 at another rate than 8 kHz goes
 * through one stateful resampler.
 */
import { AMD_DECIDED, AMD_READY, AnsweringMachineDetector, Resampler, alawDecode, alawEncode, mulawDecode, mulawEncode, resampleWhole } from '../../audio/index.ts';
import type { AmdOptions, AmdResult } from '../../audio/index.ts';
import type { CallEndReason } from '../../sip/index.ts';
import { FliteTts } from '../engines/providers/index.ts';

export type AmdAction = 'hangup' | 'leave_message' | 'continue';

/** The outbound call's audio format (sip's CallAudioFormat). */
export type AmdLegFormat = { encoding: 'pcmu' } | { encoding: 'pcma' } | { encoding: 'pcm16'; sampleRateHz: number };

/** What the detector needs of the answered leg (server/outbound/amd-hook.ts's AnsweredLeg fits). */
export interface AmdLeg {
  readonly id: string;
  readonly call: {
    readonly state: 'ringing' | 'active' | 'ended';
    play(chunk: Uint8Array): void;
    flushPlayout(): number;
    whenDrained(): Promise<void>;
    hangup(reason?: CallEndReason, detail?: string): Promise<void>;
    once(event: 'ended', listener: () => void): unknown;
  };
  format(): AmdLegFormat;
  tap(fn: (chunk: Uint8Array) => void): () => void;
}

export interface AmdRequest {
  action: AmdAction;
  /** What to say after the beep (action `leave_message`). */
  message?: string;
  /** Give up (result `unknown`) after this long (the classifier's total analysis time). */
  timeoutMs?: number;
}

/** Minimal TTS (server/engines/providers' TtsProvider fits). */
export interface AmdTts {
  synthesize(req: { text: string; signal: AbortSignal }): AsyncIterable<{ pcm: Int16Array; sampleRateHz: number }>;
}

export interface AmdLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AudioMachineDetectorOptions {
  log: AmdLogger;
  /** Speaks `leave_message` messages (default: offline flite, loaded on first use). */
  tts?: AmdTts;
  /** Classifier settings (audio/amd.ts) over the defaults. */
  classifier?: Omit<AmdOptions, 'sampleRateHz'>;
  /** How much of the agent's audio to hold back while listening, ms. Default 10000. */
  holdMs?: number;
}

const RATE = 8000;
const GATE = Symbol('parley.amd.gate');

interface Gate {
  holding: boolean;
  drop: boolean;
  held: Uint8Array[];
  heldBytes: number;
  play: (chunk: Uint8Array) => void;
}

export class AudioMachineDetector {
  readonly #o: AudioMachineDetectorOptions;
  #tts: AmdTts | undefined;

  constructor(opts: AudioMachineDetectorOptions) {
    this.#o = opts;
    this.#tts = opts.tts;
  }

  detect(leg: AmdLeg, req: AmdRequest): Promise<AmdResult> {
    const log = this.#o.log;
    const amd = new AnsweringMachineDetector({ sampleRateHz: RATE, ...this.#o.classifier, ...(req.timeoutMs ? { totalAnalysisMs: req.timeoutMs } : {}) });
    const gate = holdAgentAudio(leg, ((this.#o.holdMs ?? 10_000) / 1000) * bytesPerSecond(leg.format()));
    const g711 = new Int16Array(RATE / 50);
    let wide = new Int16Array(480);
    let resampler: Resampler | undefined;
    let resamplerRate = 0;
    let untap: (() => void) | undefined;
    let settled = false;
    let message: Promise<Uint8Array | null> | undefined;

    return new Promise<AmdResult>((resolve) => {
      const settle = (r: AmdResult): void => {
        if (settled) return;
        settled = true;
        if (r.result === 'machine' && req.action !== 'continue') gate.drop = true;
        else releaseAgentAudio(leg, gate);
        resolve(r);
      };
      const stop = (): void => {
        untap?.();
        untap = undefined;
      };
      const onEvents = (ev: number): void => {
        if (ev & AMD_DECIDED) {
          const r = amd.result as AmdResult;
          settle(r);
          if (r.result !== 'machine' || req.action !== 'leave_message') stop();
          // synthesise the message while the greeting plays, so it starts as the beep ends
          else {
            message = this.#synthesise(leg, req.message ?? '');
            message.catch(() => undefined); // reported when READY comes
          }
        }
        if (ev & AMD_READY && req.action === 'leave_message' && amd.result?.result === 'machine') {
          stop();
          const verdict = amd.result;
          void (message ?? Promise.resolve(null))
            .then((bytes) => this.#leaveMessage(leg, bytes, verdict))
            .catch((err: unknown) => {
              log.warn({ err, callId: leg.id }, 'amd: the voicemail message could not be left');
              if (!ended(leg)) void leg.call.hangup('local-hangup', 'amd: voicemail message failed');
            });
        }
      };
      untap = leg.tap((chunk) => {
        if (!untap && settled) return;
        const f = leg.format();
        let ev = 0;
        if (f.encoding === 'pcmu' || f.encoding === 'pcma') {
          // 20 ms chunks (160 bytes, decoded into one buffer); other sizes in 20 ms pieces
          if (chunk.length === g711.length) ev = amd.process(f.encoding === 'pcmu' ? mulawDecode(chunk, g711) : alawDecode(chunk, g711));
          else {
            for (let at = 0; at < chunk.length; at += g711.length) {
              const piece = chunk.subarray(at, Math.min(chunk.length, at + g711.length));
              ev |= amd.process(f.encoding === 'pcmu' ? mulawDecode(piece, g711) : alawDecode(piece, g711));
            }
          }
        } else {
          // little-endian pcm16 bytes into a reused buffer
          const n = chunk.length >> 1;
          if (wide.length < n) wide = new Int16Array(n);
          for (let i = 0, j = 0; i < n; i++, j += 2) wide[i] = ((chunk[j] as number) | ((chunk[j + 1] as number) << 8)) << 16 >> 16;
          if (f.sampleRateHz === RATE) ev = amd.process(wide, n);
          else {
            if (resamplerRate !== f.sampleRateHz) {
              resampler = new Resampler({ inputRateHz: f.sampleRateHz, outputRateHz: RATE });
              resamplerRate = f.sampleRateHz;
            }
            ev = amd.process((resampler as Resampler).process(wide.subarray(0, n)));
          }
        }
        if (ev !== 0) onEvents(ev);
      });
      leg.call.once('ended', () => {
        stop();
        if (!settled) settle(amd.finish());
      });
      if (ended(leg)) {
        stop();
        settle(amd.finish());
      }
    });
  }

  /** The message in the call's audio format (null: no text). */
  async #synthesise(leg: AmdLeg, message: string): Promise<Uint8Array | null> {
    const text = message.trim();
    if (!text) return null;
    this.#tts ??= defaultTts();
    const ac = new AbortController();
    const parts: Int16Array[] = [];
    let rate = RATE;
    for await (const c of this.#tts.synthesize({ text, signal: ac.signal })) {
      parts.push(c.pcm);
      rate = c.sampleRateHz;
    }
    const all = new Int16Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const f = leg.format();
    const outRate = f.encoding === 'pcm16' ? f.sampleRateHz : RATE;
    const pcm = rate === outRate ? all : resampleWhole(all, rate, outRate);
    return f.encoding === 'pcmu' ? mulawEncode(pcm) : f.encoding === 'pcma' ? alawEncode(pcm) : new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  }

  /** After the beep: the message played, then BYE. */
  async #leaveMessage(leg: AmdLeg, bytes: Uint8Array | null, verdict: AmdResult): Promise<void> {
    if (ended(leg)) return;
    if (bytes && bytes.length > 0) {
      playPastGate(leg, bytes);
      this.#o.log.info({ callId: leg.id, beep_at_ms: verdict.beep_at_ms, bytes: bytes.length }, 'amd: leaving the voicemail message');
      await leg.call.whenDrained();
    }
    if (!ended(leg)) await leg.call.hangup('local-hangup', 'amd: voicemail message left');
  }
}

function defaultTts(): AmdTts {
  return new FliteTts();
}

/** Read afresh each time (the call can end while a message is synthesised). */
function ended(leg: AmdLeg): boolean {
  return leg.call.state === 'ended';
}

function bytesPerSecond(f: AmdLegFormat): number {
  return f.encoding === 'pcm16' ? f.sampleRateHz * 2 : RATE;
}

/**
 * The agent's audio to the callee held back while the detector listens: the call's `play` is wrapped once
 * (the application keeps calling it as usual); held chunks are copied, the oldest dropped beyond `maxBytes`.
 */
function holdAgentAudio(leg: AmdLeg, maxBytes: number): Gate {
  const call = leg.call as AmdLeg['call'] & { [GATE]?: Gate };
  const existing = call[GATE];
  if (existing) return existing;
  const play = call.play.bind(call);
  const gate: Gate = { holding: true, drop: false, held: [], heldBytes: 0, play };
  call[GATE] = gate;
  (call as { play: (chunk: Uint8Array) => void }).play = (chunk) => {
    if (gate.drop) return;
    if (!gate.holding) {
      play(chunk);
      return;
    }
    gate.held.push(chunk.slice());
    gate.heldBytes += chunk.length;
    while (gate.heldBytes > maxBytes && gate.held.length > 1) gate.heldBytes -= (gate.held.shift() as Uint8Array).length;
  };
  // a barge-in while held (the callee spoke over the agent's first words): those words are gone for good
  const flush = call.flushPlayout.bind(call);
  (call as { flushPlayout: () => number }).flushPlayout = () => {
    gate.held = [];
    gate.heldBytes = 0;
    return flush();
  };
  return gate;
}

function releaseAgentAudio(leg: AmdLeg, gate: Gate): void {
  if (!gate.holding) return;
  gate.holding = false;
  const held = gate.held;
  gate.held = [];
  gate.heldBytes = 0;
  if (!ended(leg)) for (const c of held) gate.play(c);
}

function playPastGate(leg: AmdLeg, bytes: Uint8Array): void {
  const gate = (leg.call as { [GATE]?: Gate })[GATE];
  if (gate) gate.play(bytes);
  else leg.call.play(bytes);
}
