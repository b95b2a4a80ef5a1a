/**
 * pcm16 helpers for the browser (no Node `Buffer` there): Float32 ↔ Int16 conversion, levels, and a
 * base64 codec that writes into caller-owned buffers so the media path allocates nothing but the
 * string a WebSocket message needs anyway.
 *
 * Wire format (OpenAI Realtime GA `audio/pcm`): 16-bit signed little-endian mono at 24 kHz, base64.
 * Int16Array uses the platform byte order; every browser platform we target is little-endian
 * (`IS_LITTLE_ENDIAN` is checked at start-up by the page).
 */

export const REALTIME_RATE_HZ = 24_000;

export const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Float32 [-1, 1] → Int16, clamped. Writes `src.length` samples into `dst` at `dstOffset`. */
export function floatToInt16(src: Float32Array, dst: Int16Array, dstOffset = 0): void {
  for (let i = 0; i < src.length; i++) {
    let s = src[i] ?? 0;
    if (s > 1) s = 1;
    else if (s < -1) s = -1;
    dst[dstOffset + i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
}

/** Int16 → Float32 [-1, 1). */
export function int16ToFloat(src: Int16Array, dst: Float32Array, dstOffset = 0): void {
  for (let i = 0; i < src.length; i++) dst[dstOffset + i] = (src[i] ?? 0) / 32768;
}

/** RMS level in dBFS of pcm16 samples (−100 for digital silence). */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return -100;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i] ?? 0;
    sum += s * s;
  }
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  return rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
}

/** Peak level in dBFS of pcm16 samples (−100 for digital silence). */
export function peakDbfs(pcm: Int16Array): number {
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s = Math.abs(pcm[i] ?? 0);
    if (s > peak) peak = s;
  }
  return peak > 0 ? Math.max(-100, 20 * Math.log10(peak / 32768)) : -100;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENC = new Uint8Array(64);
for (let i = 0; i < 64; i++) ENC[i] = ALPHABET.charCodeAt(i);
const DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) DEC[ALPHABET.charCodeAt(i)] = i;
const PAD = 61; // '='

export function base64Length(byteLength: number): number {
  return Math.ceil(byteLength / 3) * 4;
}

/** Upper bound of decoded bytes for a base64 string of `chars` characters. */
export function base64DecodedMaxBytes(chars: number): number {
  return Math.floor(chars / 4) * 3 + 3;
}

/**
 * Base64 encoder with a reusable scratch buffer (ASCII codes) and one TextDecoder: the only
 * allocation per call is the resulting string.
 */
export class Base64Encoder {
  private scratch: Uint8Array;
  private readonly decoder = new TextDecoder('latin1');

  /** `useNative: false` forces the portable code (tests). */
  constructor(initialBytes = 4096, private readonly useNative = true) {
    this.scratch = new Uint8Array(base64Length(initialBytes));
  }

  encode(bytes: Uint8Array): string {
    // current browsers have a native encoder (Uint8Array.prototype.toBase64)
    const native = (bytes as NativeBase64).toBase64;
    if (this.useNative && typeof native === 'function') return native.call(bytes);
    const outLen = base64Length(bytes.length);
    if (this.scratch.length < outLen) this.scratch = new Uint8Array(outLen * 2);
    const out = this.scratch;
    const n = bytes.length;
    let o = 0;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      out[o++] = ENC[v >> 18] ?? 0;
      out[o++] = ENC[(v >> 12) & 63] ?? 0;
      out[o++] = ENC[(v >> 6) & 63] ?? 0;
      out[o++] = ENC[v & 63] ?? 0;
    }
    const rest = n - i;
    if (rest === 1) {
      const v = (bytes[i] ?? 0) << 16;
      out[o++] = ENC[v >> 18] ?? 0;
      out[o++] = ENC[(v >> 12) & 63] ?? 0;
      out[o++] = PAD;
      out[o++] = PAD;
    } else if (rest === 2) {
      const v = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
      out[o++] = ENC[v >> 18] ?? 0;
      out[o++] = ENC[(v >> 12) & 63] ?? 0;
      out[o++] = ENC[(v >> 6) & 63] ?? 0;
      out[o++] = PAD;
    }
    return this.decoder.decode(out.subarray(0, o));
  }
}

/** The TC39 base64 methods of Uint8Array, where the browser has them (Chromium 140+, Firefox 133+). */
interface NativeBase64 {
  toBase64?: (this: Uint8Array) => string;
  setFromBase64?: (this: Uint8Array, s: string) => { read: number; written: number };
}

export class Base64Error extends Error {
  readonly code = 'DEMO_ERR_BASE64';
  readonly retryable = false;
}

/**
 * Decode base64 into `dst` (which must hold `base64DecodedMaxBytes(b64.length)` bytes). Returns the
 * number of bytes written. Throws Base64Error on characters outside the alphabet or bad length.
 */
export function decodeBase64Into(b64: string, dst: Uint8Array, useNative = true): number {
  const native = (dst as NativeBase64).setFromBase64;
  if (useNative && typeof native === 'function' && b64.length % 4 === 0) {
    try {
      const { read, written } = native.call(dst, b64);
      if (read === b64.length) return written;
    } catch {
      // fall through: the portable decoder says what is wrong
    }
  }
  let len = b64.length;
  if (len % 4 !== 0) throw new Base64Error(`base64 length ${len} is not a multiple of 4`);
  if (len === 0) return 0;
  let pad = 0;
  if (b64.charCodeAt(len - 1) === PAD) pad++;
  if (b64.charCodeAt(len - 2) === PAD) pad++;
  const outLen = (len / 4) * 3 - pad;
  if (dst.length < outLen) throw new RangeError('base64 destination too small');
  len -= pad;
  let o = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    const a = DEC[b64.charCodeAt(i)] ?? -1;
    const b = DEC[b64.charCodeAt(i + 1)] ?? -1;
    const c = DEC[b64.charCodeAt(i + 2)] ?? -1;
    const d = DEC[b64.charCodeAt(i + 3)] ?? -1;
    if ((a | b | c | d) < 0) throw new Base64Error(`invalid base64 character near offset ${i}`);
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    dst[o++] = v >> 16;
    dst[o++] = (v >> 8) & 255;
    dst[o++] = v & 255;
  }
  const rest = len - i;
  if (rest === 2 || rest === 3) {
    const a = DEC[b64.charCodeAt(i)] ?? -1;
    const b = DEC[b64.charCodeAt(i + 1)] ?? -1;
    const c = rest === 3 ? (DEC[b64.charCodeAt(i + 2)] ?? -1) : 0;
    if ((a | b | c) < 0) throw new Base64Error(`invalid base64 character near offset ${i}`);
    const v = (a << 18) | (b << 12) | (c << 6);
    dst[o++] = v >> 16;
    if (rest === 3) dst[o++] = (v >> 8) & 255;
  } else if (rest === 1) {
    throw new Base64Error('truncated base64');
  }
  return o;
}
