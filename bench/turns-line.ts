/**
 * A phone line with echo, for the echo test and benchmark (docs/notes/turns.md "Echo"): the agent's
 * audio (μ-law output deltas) plays at real time on the caller's speaker, and the caller's microphone
 * picks it up `delayMs` later at `gainDb` (a speakerphone, a hybrid's echo), over the line's noise
 * floor, with the caller's own speech mixed in when given. Each `frame()` is the next 20 ms the
 * caller's phone sends (8 kHz μ-law, 160 bytes). A flush (the door's barge-in) drops what was queued.
 */
import pino from 'pino';
import { mulawDecode, mulawEncode } from '../audio/index.ts';
import type { Engine } from '../server/engines/index.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import type { RealtimeSession, ServerEvent, TurnDetection } from '../server/protocol/index.ts';

export interface EchoLineOptions { gainDb: number; delayMs: number; noise?: number; seed?: number }

export class EchoLine {
  readonly #gain: number;
  readonly #delay: number;
  readonly #noise: number;
  #seed: number;
  /** Queued to play (decoded 8 kHz). */
  #queue = new Int16Array(8_000 * 120);
  #qHead = 0;
  #qTail = 0;
  /** What the speaker played, by line sample (8 kHz), for the echo's delay. */
  readonly #played = new Int16Array(8_192);
  #t = 0;
  readonly #frame = new Int16Array(160);
  readonly #out = new Uint8Array(160);
  /** Caller speech to mix in (8 kHz), from line sample `#callerAt`. */
  #caller: Int16Array | null = null;
  #callerAt = 0;

  constructor(o: EchoLineOptions) {
    this.#gain = 10 ** (o.gainDb / 20);
    this.#delay = Math.round(o.delayMs * 8);
    this.#noise = o.noise ?? 100;
    this.#seed = o.seed ?? 1;
  }

  /** Line time (ms) of the next frame. */
  get nowMs(): number { return this.#t / 8; }

  /** The agent's audio (μ-law) handed to the phone: it plays after what is queued. */
  played(mulaw: Uint8Array): void {
    if (this.#qTail + mulaw.length > this.#queue.length) {
      this.#queue.copyWithin(0, this.#qHead, this.#qTail);
      this.#qTail -= this.#qHead; this.#qHead = 0;
    }
    mulawDecode(mulaw, this.#queue.subarray(this.#qTail, this.#qTail + mulaw.length));
    this.#qTail += mulaw.length;
  }

  /** Playout flushed (the door's barge-in). */
  flush(): void { this.#qHead = this.#qTail = 0; }

  /** Whether agent audio is still queued to play. */
  get playing(): boolean { return this.#qTail > this.#qHead; }

  /** The caller says `pcm8k` starting with the next frame. */
  say(pcm8k: Int16Array): void { this.#caller = pcm8k; this.#callerAt = this.#t; }

  /** Whether the caller's speech given to say() is still going. */
  get callerSpeaking(): boolean { return this.#caller !== null && this.#t - this.#callerAt < this.#caller.length; }

  /** The next 20 ms the caller's phone sends (valid until the next call). */
  frame(): Uint8Array {
    for (let i = 0; i < 160; i++, this.#t++) {
      const spk = this.#qHead < this.#qTail ? this.#queue[this.#qHead++]! : 0;
      this.#played[this.#t & 8_191] = spk;
      this.#seed = (this.#seed * 1103515245 + 12345) & 0x7fffffff;
      let v = ((this.#seed / 0x7fffffff) * 2 - 1) * this.#noise;
      if (this.#t >= this.#delay) v += this.#gain * this.#played[(this.#t - this.#delay) & 8_191]!;
      if (this.#caller) { const k = this.#t - this.#callerAt; if (k >= 0 && k < this.#caller.length) v += this.#caller[k]!; }
      this.#frame[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
    return mulawEncode(this.#frame, this.#out);
  }
}


export interface EchoCallResult {
  /** speech_started events (the engine took something for the caller speaking). */
  speechStarted: number;
  /** The first response's end: status and reason. */
  status: string;
  reason: string | null;
  /** Line time (ms) of each speech_started. */
  startedAtMs: number[];
  /** ms of agent audio the phone played. */
  playedMs: number;
}

/**
 * One call on `engine` over an EchoLine: the agent replies at once (response.create), the line plays
 * the reply and echoes it back, 20 ms frames paced by a deadline timer, until the reply is done and
 * played plus `tailMs`. With `caller`, the caller says it `atMs` after the agent's first audio.
 */
export async function echoCall(engine: Engine, o: EchoLineOptions & { td: TurnDetection; caller?: { pcm8k: Int16Array; atMs: number }; tailMs?: number; maxMs?: number }): Promise<EchoCallResult> {
  const line = new EchoLine(o);
  const res: EchoCallResult = { speechStarted: 0, status: 'none', reason: null, startedAtMs: [], playedMs: 0 };
  let firstAudioAt: number | null = null;
  let done = false;
  const session = { type: 'realtime', output_modalities: ['audio'], audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: o.td }, output: { format: { type: 'audio/pcmu' } } } } as unknown as RealtimeSession;
  const conn = await engine.open({
    session, log: pino({ level: 'silent' }),
    callbacks: {
      onEvent: (e: ServerEvent) => {
        if (e.type === 'response.output_audio.delta') { line.played(e.delta.bytes()); firstAudioAt ??= line.nowMs; }
        else if (e.type === 'input_audio_buffer.speech_started') { res.speechStarted++; res.startedAtMs.push(line.nowMs); line.flush(); }
        else if (e.type === 'response.done' && !done) {
          done = true;
          const r = (e as unknown as { response: { status: string; status_details: { reason?: string } | null } }).response;
          res.status = r.status; res.reason = r.status_details?.reason ?? null;
        }
      },
      onClose: () => undefined,
    },
  });
  conn.send({ type: 'response.create' } as never);
  const t0 = performance.now();
  let i = 0;
  let doneAtMs: number | null = null;
  let said = false;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      while (performance.now() >= t0 + i * 20) {
        if (o.caller && !said && firstAudioAt !== null && line.nowMs >= firstAudioAt + o.caller.atMs) { line.say(o.caller.pcm8k); said = true; }
        if (line.playing) res.playedMs += 20;
        conn.send({ type: 'input_audio_buffer.append', audio: AudioChunk.fromBytes(line.frame(), { type: 'audio/pcmu' }) } as never);
        i++;
        if (done && !line.playing && !line.callerSpeaking && doneAtMs === null) doneAtMs = line.nowMs;
      }
      if ((doneAtMs !== null && line.nowMs > doneAtMs + (o.tailMs ?? 1_000)) || line.nowMs > (o.maxMs ?? 60_000)) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    tick();
  });
  conn.close();
  return res;
}
