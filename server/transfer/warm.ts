/**
 * Warm transfer's media pieces (docs/notes/transfer.md): the caller's hold audio and the relay that joins the
 * caller's leg to the target's once the agent has announced the call. The orchestration (hold, dial, announce,
 * connect, or back to the caller) is the SIP bridge's `warm_transfer` tool (server/sip-bridge.ts).
 *
 * Media paths: the relay hands each 20 ms frame of one leg to the other leg's playout queue (a preallocated ring,
 * sip/frame-queue.ts) and the other leg's deadline pacer sends it; nothing is allocated per frame. Hold audio is
 * converted once per file and format, then queued again each time the caller's queue drains.
 */
import { alawEncode, int16ToBytes, mulawEncode, readWavFile } from '../../audio/index.ts';
import type { CallAudioFormat, SipCall } from '../../sip/index.ts';

/** A relayed leg whose queue holds more than this (its far end sends faster than ours plays) is cut back to now. */
export const RELAY_MAX_QUEUED_MS = 200;

const holdCache = new Map<string, Uint8Array>();

/** The hold WAV in the call's audio format (read and converted once per file and format). */
export function holdAudio(path: string, format: CallAudioFormat): Uint8Array {
  const key = `${path}\u0000${format.encoding}${format.encoding === 'pcm16' ? format.sampleRateHz : ''}`;
  let audio = holdCache.get(key);
  if (audio) return audio;
  if (format.encoding === 'pcm16') {
    audio = int16ToBytes(readWavFile(path, { sampleRateHz: format.sampleRateHz }).samples);
  } else {
    const pcm = readWavFile(path, { sampleRateHz: 8000 }).samples;
    audio = format.encoding === 'pcmu' ? mulawEncode(pcm) : alawEncode(pcm);
  }
  holdCache.set(key, audio);
  return audio;
}

/** The caller on hold: the hold audio looped (queued again whenever the call's queue drains), or silence. */
export class Hold {
  readonly #call: SipCall;
  readonly #audio: Uint8Array | null;
  #on = false;
  readonly #refill = (): void => {
    if (this.#on && this.#audio) this.#call.play(this.#audio);
  };

  constructor(call: SipCall, audio: Uint8Array | null) {
    this.#call = call;
    this.#audio = audio;
  }

  start(): void {
    if (this.#on) return;
    this.#on = true;
    this.#call.flushPlayout();
    if (!this.#audio) return; // silence: the call's RTP sends codec silence while its queue is empty
    this.#call.on('drained', this.#refill);
    this.#call.play(this.#audio);
  }

  /** Off hold: what is queued of the hold audio is dropped. */
  stop(): void {
    if (!this.#on) return;
    this.#on = false;
    this.#call.off('drained', this.#refill);
    this.#call.flushPlayout();
  }
}

/** One leg's audio to the other leg's playout (same audio format on both: G.711 bytes pass through). */
function relayTo(to: SipCall): (chunk: Uint8Array) => void {
  return (chunk) => {
    if (to.queuedMs >= RELAY_MAX_QUEUED_MS) to.flushPlayout();
    to.play(chunk);
  };
}

export interface LegRelay {
  /** The two legs are no longer joined (one ended); `by` is the leg that ended first. */
  readonly ended: Promise<{ by: 'caller' | 'target' }>;
}

/**
 * Joins two answered calls: each one's audio goes to the other's playout, and when one leg ends the other is
 * hung up (BYE). The target's audio format is set to the caller's.
 */
export function relayLegs(caller: SipCall, target: SipCall): LegRelay {
  target.setAudioFormat(caller.audioFormat);
  caller.flushPlayout();
  target.flushPlayout();
  caller.onAudio(relayTo(target));
  target.onAudio(relayTo(caller));
  const ended = new Promise<{ by: 'caller' | 'target' }>((resolve) => {
    let done = false;
    const end = (by: 'caller' | 'target'): void => {
      if (done) return;
      done = true;
      caller.onAudio(undefined);
      target.onAudio(undefined);
      const other = by === 'caller' ? target : caller;
      void other.hangup('local-hangup', by === 'caller' ? 'warm transfer: the caller hung up' : 'warm transfer: the target hung up');
      resolve({ by });
    };
    if (caller.state === 'ended') return end('caller');
    if (target.state === 'ended') return end('target');
    caller.once('ended', () => end('caller'));
    target.once('ended', () => end('target'));
  });
  return { ended };
}

/**
 * What the agent says to the target before the caller is put through, said as a first message is
 * (server/profiles/first-message.ts); the model's summary has its double quotes made single, as the text is quoted.
 */
export function announcementText(summary: string | null): string {
  const s = summary?.trim().replace(/"/g, "'");
  return `Hello, this is the virtual assistant with a caller for you.${s ? ` ${/[.!?]$/.test(s) ? s : `${s}.`}` : ''} I am connecting you now.`;
}
