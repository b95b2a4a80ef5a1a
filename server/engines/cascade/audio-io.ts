/**
 * Audio in and out of the cascade, in the session's GA formats, as bytes (an `AudioChunk`'s
 * `bytes()`; base64 exists only at the wire edges: server/protocol/audio.ts).
 * In: `audio/pcm` (24 kHz pcm16) or `audio/pcmu` / `audio/pcma` (8 kHz G.711, decoded straight from
 * the bytes) → 16 kHz pcm16 for VAD and STT. Out: TTS pcm at the provider's rate → the output
 * format's bytes.
 */
import { Resampler, alawDecode, alawEncode, mulawDecode, mulawEncode } from '../../../audio/index.ts';
import { formatRateHz } from '../../protocol/index.ts';
import type { AudioFormat } from '../../protocol/index.ts';

export const PIPELINE_RATE_HZ = 16_000;

/** How 8 kHz telephone audio is brought to PocketSphinx's 16 kHz (see docs/notes/cascade.md). */
export type Upsample8kMethod = 'zero-insert' | 'resample';

export { formatRateHz };

/**
 * 8 kHz → 16 kHz by zero insertion (unity gain): leaves the spectral image above 4 kHz in place,
 * which PocketSphinx's 16 kHz acoustic model hears better than an empty band (measured on the
 * flite fixtures through μ-law: ≈37–48 % word accuracy vs ≈0–25 % after a clean resample;
 * docs/notes/cascade.md).
 */
export function zeroInsertUpsample(src: Int16Array, dst: Int16Array): Int16Array {
  const out = dst.subarray(0, src.length * 2);
  for (let i = 0; i < src.length; i++) {
    out[2 * i] = src[i]!;
    out[2 * i + 1] = 0;
  }
  return out;
}

/**
 * Bytes in the session's input format → 16 kHz pcm16 views (valid until the next call).
 * `decode` returns the stream for the VAD (a clean resample); `sttView` is the stream for STT, which
 * for 8 kHz G.711 input is upsampled by zero insertion instead (PocketSphinx hears it better, but
 * Silero does not detect speech in it).
 */
export class InputDecoder {
  readonly format: AudioFormat;
  /** pcm16 bytes at an odd offset are copied here to be read as samples. */
  private aligned = new Int16Array(8_192);
  private pcm8k = new Int16Array(8_192);
  private up = new Int16Array(16_384);
  private readonly resampler: Resampler;
  private readonly g711: 'mulaw' | 'alaw' | null;
  private readonly method: Upsample8kMethod;
  private stt: Int16Array = new Int16Array(0);

  constructor(format: AudioFormat | undefined, method: Upsample8kMethod) {
    this.format = format ?? { type: 'audio/pcm', rate: 24_000 };
    this.method = method;
    this.g711 = this.format.type === 'audio/pcmu' ? 'mulaw' : this.format.type === 'audio/pcma' ? 'alaw' : null;
    this.resampler = new Resampler({ inputRateHz: formatRateHz(this.format), outputRateHz: PIPELINE_RATE_HZ });
  }

  /** The STT stream of the last decode() (a view; same as the VAD stream unless 8 kHz zero insertion). */
  get sttView(): Int16Array {
    return this.stt;
  }

  /** Returns null when the payload is not whole samples (odd pcm16 byte count). */
  decode(bytes: Uint8Array): Int16Array | null {
    const n = bytes.byteLength;
    if (this.g711) {
      if (n > this.pcm8k.length) this.pcm8k = new Int16Array(Math.max(n, this.pcm8k.length * 2));
      const pcm = this.g711 === 'mulaw' ? mulawDecode(bytes, this.pcm8k.subarray(0, n)) : alawDecode(bytes, this.pcm8k.subarray(0, n));
      const clean = this.resampler.process(pcm);
      if (this.method === 'zero-insert') {
        if (2 * n > this.up.length) this.up = new Int16Array(Math.max(2 * n, this.up.length * 2));
        this.stt = zeroInsertUpsample(pcm, this.up);
      } else {
        this.stt = clean;
      }
      return clean;
    }
    if ((n & 1) !== 0) return null;
    let pcm24k: Int16Array;
    if ((bytes.byteOffset & 1) === 0) {
      pcm24k = new Int16Array(bytes.buffer, bytes.byteOffset, n >> 1);
    } else {
      if (n >> 1 > this.aligned.length) this.aligned = new Int16Array(Math.max(n >> 1, this.aligned.length * 2));
      pcm24k = this.aligned.subarray(0, n >> 1);
      new Uint8Array(pcm24k.buffer, 0, n).set(bytes);
    }
    this.stt = this.resampler.process(pcm24k);
    return this.stt;
  }
}

/** Largest audio delta sent in one event. */
const DELTA_MS = 200;

/**
 * TTS pcm → output format pieces (bytes), with a stateful resampler per source rate. Each piece is
 * a fresh array (one per ≤ 200 ms delta), so an event may keep it.
 */
export class OutputEncoder {
  readonly format: AudioFormat;
  readonly rateHz: number;
  private resampler: Resampler | null = null;
  private resamplerFrom = 0;
  private readonly g711: 'mulaw' | 'alaw' | null;
  private readonly deltaSamples: number;

  constructor(format: AudioFormat | undefined) {
    this.format = format ?? { type: 'audio/pcm', rate: 24_000 };
    this.rateHz = formatRateHz(this.format);
    this.g711 = this.format.type === 'audio/pcmu' ? 'mulaw' : this.format.type === 'audio/pcma' ? 'alaw' : null;
    this.deltaSamples = (this.rateHz * DELTA_MS) / 1000;
  }

  /** Converts and hands out pieces of at most 200 ms; `samples` at the output rate. */
  write(pcm: Int16Array, srcRateHz: number, emit: (bytes: Uint8Array, samples: number) => void): void {
    let out = pcm;
    if (srcRateHz !== this.rateHz) {
      if (!this.resampler || this.resamplerFrom !== srcRateHz) {
        this.resampler = new Resampler({ inputRateHz: srcRateHz, outputRateHz: this.rateHz });
        this.resamplerFrom = srcRateHz;
      }
      out = this.resampler.process(pcm);
    }
    this.emitPieces(out, emit);
  }

  /** Drains the resampler's filter tail at the end of a response. */
  flush(emit: (bytes: Uint8Array, samples: number) => void): void {
    if (this.resampler) this.emitPieces(this.resampler.flush(), emit);
  }

  private emitPieces(out: Int16Array, emit: (bytes: Uint8Array, samples: number) => void): void {
    for (let off = 0; off < out.length; off += this.deltaSamples) {
      const piece = out.subarray(off, Math.min(out.length, off + this.deltaSamples));
      if (this.g711 === 'mulaw') emit(mulawEncode(piece), piece.length);
      else if (this.g711 === 'alaw') emit(alawEncode(piece), piece.length);
      else emit(new Uint8Array(piece.slice().buffer), piece.length);
    }
  }
}
