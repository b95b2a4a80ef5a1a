/**
 * pcm16 helpers: mono signed 16-bit little-endian PCM held in Int16Array.
 * Everything here is synchronous and allocation-free when the caller passes `dst`.
 */
import { AudioError } from './errors.ts';

const INV_32768 = 1 / 32768;

/** Int16 → Float32 in [-1, 1). */
export function int16ToFloat32(src: Int16Array, dst?: Float32Array): Float32Array {
  const out = dst ?? new Float32Array(src.length);
  if (out.length < src.length) throw new AudioError('AUDIO_ERR_BAD_INPUT', `dst holds ${out.length} samples, need ${src.length}`);
  for (let i = 0; i < src.length; i++) out[i] = (src[i] as number) * INV_32768;
  return dst === undefined ? out : out.subarray(0, src.length);
}

/** Float32 in [-1, 1] → Int16, rounded and clipped. */
export function float32ToInt16(src: Float32Array, dst?: Int16Array): Int16Array {
  const out = dst ?? new Int16Array(src.length);
  if (out.length < src.length) throw new AudioError('AUDIO_ERR_BAD_INPUT', `dst holds ${out.length} samples, need ${src.length}`);
  for (let i = 0; i < src.length; i++) {
    const v = Math.round((src[i] as number) * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return dst === undefined ? out : out.subarray(0, src.length);
}

/** Clip a number to the int16 range after rounding. */
export function clipInt16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

// Every platform Node runs on here is little-endian; keep a guard so a big-endian port fails loudly.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Little-endian bytes → Int16Array. Zero-copy (a view over the same memory) when the bytes start
 * at an even offset; otherwise one copy. Throws AUDIO_ERR_BAD_INPUT on an odd byte count.
 */
export function bytesToInt16(bytes: Uint8Array): Int16Array {
  if ((bytes.byteLength & 1) !== 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', `pcm16 needs an even byte count, got ${bytes.byteLength}`);
  if (!LITTLE_ENDIAN) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'big-endian hosts are not supported');
  if ((bytes.byteOffset & 1) === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  const copy = new Int16Array(bytes.byteLength >> 1);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

/** Int16Array → Buffer viewing the same memory (little-endian bytes, no copy). */
export function int16ToBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** pcm16 → base64 through Buffer (never btoa). */
export function pcm16ToBase64(pcm: Int16Array): string {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64');
}

/**
 * base64 → pcm16. Throws AUDIO_ERR_BAD_INPUT when the string is not base64 (see `isValidBase64`)
 * or decodes to an odd number of bytes. With `dst` the samples are written there and a view of the
 * filled part is returned; otherwise the result owns fresh, aligned memory. For a decode that
 * allocates nothing at all, use `base64ToPcm16Into`.
 */
export function base64ToPcm16(b64: string, dst?: Int16Array): Int16Array {
  const samples = checkedSampleCount(b64);
  if (dst === undefined) {
    // decode into a reused scratch buffer, then one allocation that copies (cheaper than a fresh
    // zero-filled array plus a Buffer view over it)
    if (scratch.length < samples) scratch = new Int16Array(Math.max(samples, scratch.length * 2));
    decodeInto(b64, scratch, samples);
    return scratch.slice(0, samples);
  }
  decodeInto(b64, dst, samples);
  return dst.length === samples ? dst : dst.subarray(0, samples);
}

let scratch = new Int16Array(2048);

/**
 * base64 → pcm16 into `dst` (reused frame buffers: no allocation per call). Returns the number of
 * samples written at the start of `dst`. Same validation and errors as `base64ToPcm16`.
 */
export function base64ToPcm16Into(b64: string, dst: Int16Array): number {
  const samples = checkedSampleCount(b64);
  decodeInto(b64, dst, samples);
  return samples;
}

/**
 * Sample count of a base64 pcm16 string, after the checks that do not need its decoded bytes:
 * length (a lone last character), padding only on a full last quantum, ASCII only, none of the
 * URL-safe characters (Node's decoder takes them), an even byte count. The characters themselves
 * are checked by `decodeInto` (Node's decoder skips what is not base64, so fewer bytes come out).
 */
function checkedSampleCount(b64: string): number {
  const n = b64.length;
  if (n === 0) return 0;
  if (
    n % 4 === 1 ||
    (b64.charCodeAt(n - 1) === 61 && n % 4 !== 0) ||
    Buffer.byteLength(b64, 'utf8') !== n ||
    b64.indexOf('-') >= 0 ||
    b64.indexOf('_') >= 0
  ) {
    throw new AudioError('AUDIO_ERR_BAD_INPUT', 'audio is not valid base64');
  }
  const bytes = base64ByteLength(b64);
  if ((bytes & 1) !== 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', `pcm16 needs an even byte count, got ${bytes}`);
  return bytes >> 1;
}

// One Buffer over the last destination's memory, so a reused dst costs no Buffer object per call.
let lastArrayBuffer: ArrayBufferLike | undefined;
let lastBuffer: Buffer | undefined;

/**
 * Decodes `samples` samples into `dst`. Node's base64 decoder skips characters outside the
 * alphabet and stops at a '=' inside the string, so a string with any such character yields fewer
 * bytes than its length promises: that is the character check (tests compare it with
 * `isValidBase64` on random strings).
 */
function decodeInto(b64: string, dst: Int16Array, samples: number): void {
  if (dst.length < samples) throw new AudioError('AUDIO_ERR_BAD_INPUT', `dst holds ${dst.length} samples, need ${samples}`);
  if (samples === 0) return;
  if (!LITTLE_ENDIAN) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'big-endian hosts are not supported');
  const bytes = samples * 2;
  let buf = lastBuffer;
  if (dst.buffer !== lastArrayBuffer || buf === undefined || buf.byteLength < dst.byteOffset + bytes) {
    buf = Buffer.from(dst.buffer, 0, dst.buffer.byteLength);
    lastArrayBuffer = dst.buffer;
    lastBuffer = buf;
  }
  const written = buf.write(b64, dst.byteOffset, bytes, 'base64');
  if (written !== bytes) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'audio is not valid base64');
}

/** Decoded size of a valid base64 string. */
function base64ByteLength(s: string): number {
  let n = s.length;
  if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n > 0 && s.charCodeAt(n - 1) === 61) n--;
  return Math.floor((n * 3) / 4);
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Standard base64 (RFC 4648 §4) with optional padding; whitespace not allowed. */
export function isValidBase64(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  if (n % 4 === 1) return false;
  if (!BASE64_RE.test(s)) return false;
  // padding only completes the last quantum
  return s.charCodeAt(n - 1) !== 61 || n % 4 === 0;
}

/** RMS level in dBFS (full-scale square wave = 0 dBFS, sine ≈ −3 dBFS). −Infinity for silence. */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return Number.NEGATIVE_INFINITY;
  let acc = 0;
  for (let i = 0; i < pcm.length; i++) {
    const v = pcm[i] as number;
    acc += v * v;
  }
  return 10 * Math.log10(acc / pcm.length / (32768 * 32768));
}

/** Peak level in dBFS. −Infinity for silence. */
export function peakDbfs(pcm: Int16Array): number {
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) {
    const v = pcm[i] as number;
    const a = v < 0 ? -v : v;
    if (a > peak) peak = a;
  }
  return peak === 0 ? Number.NEGATIVE_INFINITY : 20 * Math.log10(peak / 32768);
}
