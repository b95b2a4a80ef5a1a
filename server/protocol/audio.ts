/**
 * Audio inside the process: bytes with their GA format. Base64 exists only at the wire edges (the
 * WS door, the `openai` engine's upstream socket, media-stream doors), and it is made lazily, once:
 *
 *  - a chunk made from base64 (a WS client's append, an upstream delta) keeps the string; a door or
 *    engine that relays it to another wire takes `base64()` without any decode/encode, and one that
 *    needs samples calls `bytes()` (decoded once, cached);
 *  - a chunk made from bytes (RTP, the cascade's TTS) is encoded only if it reaches a wire.
 *
 * Lifetime: a chunk handed to `handleClientEvent` / `onEvent` / an observer is valid during that call
 * only (doors reuse one per call and refill it every frame, so the media path allocates nothing per
 * frame). Keep one longer with `copy()`. `toJSON()` is its base64, so `JSON.stringify(event)` writes
 * the GA wire shape.
 */
import { base64ByteLength } from './base64.ts';
import type { AudioFormat } from './types.ts';

const PCM24K: AudioFormat = { type: 'audio/pcm', rate: 24_000 };

export class AudioChunk {
  /** The GA format of the bytes (the session's input or output format). */
  format: AudioFormat;
  #b64: string | null;
  /** The base64 as ASCII bytes, as it arrived in a wire message (no string made unless asked). */
  #b64Ascii: Buffer | null = null;
  #bytes: Uint8Array | null;
  /** Decode target, reused across refills. */
  #scratch: Buffer | null = null;

  private constructor(format: AudioFormat, b64: string | null, bytes: Uint8Array | null) {
    this.format = format;
    this.#b64 = b64;
    this.#bytes = bytes;
  }

  /** From canonical base64 (validated by the caller). */
  static fromBase64(b64: string, format: AudioFormat = PCM24K): AudioChunk {
    return new AudioChunk(format, b64, null);
  }

  /** Over canonical base64 held as ASCII bytes (a slice of a received wire message; no copy). */
  static fromBase64Ascii(ascii: Buffer, format: AudioFormat = PCM24K): AudioChunk {
    const c = new AudioChunk(format, null, null);
    c.#b64Ascii = ascii;
    return c;
  }

  /** Over these bytes (no copy: valid as long as they are). */
  static fromBytes(bytes: Uint8Array, format: AudioFormat = PCM24K): AudioChunk {
    return new AudioChunk(format, null, bytes);
  }

  /** Point this chunk at new bytes (a door reusing one chunk per call). */
  setBytes(bytes: Uint8Array): this {
    this.#bytes = bytes;
    this.#b64 = null;
    this.#b64Ascii = null;
    return this;
  }

  /** Point this chunk at new base64. */
  setBase64(b64: string): this {
    this.#b64 = b64;
    this.#bytes = null;
    this.#b64Ascii = null;
    return this;
  }

  get byteLength(): number {
    if (this.#bytes !== null) return this.#bytes.byteLength;
    if (this.#b64 !== null) return base64ByteLength(this.#b64);
    const a = this.#b64Ascii;
    if (a === null || a.length === 0) return 0;
    const pad = a[a.length - 1] === 61 ? (a[a.length - 2] === 61 ? 2 : 1) : 0;
    return (a.length / 4) * 3 - pad;
  }

  /** The base64 as ASCII bytes when that is how it arrived (a wire edge can send it as is), else null. */
  base64Ascii(): Buffer | null {
    return this.#b64Ascii;
  }

  /** Bytes per ms of this chunk's format: pcm16 @ 24 kHz = 48, G.711 @ 8 kHz = 8. */
  get bytesPerMs(): number {
    return bytesPerMs(this.format);
  }

  get durationMs(): number {
    return this.byteLength / this.bytesPerMs;
  }

  /** The bytes (decoded from base64 on first use, into a buffer this chunk reuses). */
  bytes(): Uint8Array {
    if (this.#bytes !== null) return this.#bytes;
    const b64 = this.base64();
    const max = (b64.length * 3) >> 2;
    // small frames come from Node's buffer pool (no new ArrayBuffer per frame)
    if (this.#scratch === null || this.#scratch.length < max) this.#scratch = Buffer.allocUnsafe(max);
    const n = this.#scratch.write(b64, 0, 'base64');
    this.#bytes = this.#scratch.subarray(0, n);
    return this.#bytes;
  }

  /** The canonical base64 (encoded on first use). */
  base64(): string {
    if (this.#b64 !== null) return this.#b64;
    if (this.#b64Ascii !== null) {
      this.#b64 = this.#b64Ascii.toString('latin1');
      return this.#b64;
    }
    const b = this.#bytes ?? new Uint8Array(0);
    this.#b64 = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
    return this.#b64;
  }

  /** An independent chunk with its own copy of the audio (to keep beyond the current call). */
  copy(): AudioChunk {
    if (this.#b64 !== null) return new AudioChunk(this.format, this.#b64, null);
    if (this.#b64Ascii !== null) return AudioChunk.fromBase64Ascii(Buffer.from(this.#b64Ascii), this.format);
    return new AudioChunk(this.format, null, Uint8Array.from(this.#bytes ?? new Uint8Array(0)));
  }

  toJSON(): string {
    return this.base64();
  }
}

/** Bytes per ms of audio in a GA format: pcm16 @ 24 kHz = 48, G.711 @ 8 kHz = 8. */
export function bytesPerMs(format: AudioFormat | undefined): number {
  if (format === undefined || format.type === 'audio/pcm') return 48;
  return 8;
}

/** Sample rate of a GA format. */
export function formatRateHz(format: AudioFormat | undefined): number {
  return format === undefined || format.type === 'audio/pcm' ? 24_000 : 8_000;
}
