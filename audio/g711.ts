/**
 * G.711 μ-law and A-law (ITU-T G.711, 8 kHz, one byte per sample).
 *
 * The arithmetic is that of the ITU-T G.191 Software Tool Library reference (g711.c:
 * ulaw_compress/ulaw_expand, alaw_compress/alaw_expand), which operates on 16-bit left-justified
 * linear samples: μ-law uses the top 14 bits, A-law the top 13. Encoding goes through a 64 K
 * lookup table and decoding through a 256-entry table, both built once from those formulas.
 */
import { AudioError } from './errors.ts';

/** ITU-T G.191 ulaw_compress for one 16-bit sample. */
function ulawCompressRef(lin: number): number {
  let absno = (lin < 0 ? ~lin >> 2 : lin >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const high = 0x8 - segno;
  const low = 0xf - ((absno >> segno) & 0xf);
  let out = (high << 4) | low;
  if (lin >= 0) out |= 0x80;
  return out;
}

/** ITU-T G.191 ulaw_expand for one code. */
function ulawExpandRef(code: number): number {
  const sign = code < 0x80 ? -1 : 1;
  const inv = ~code & 0xff;
  const exponent = (inv >> 4) & 0x7;
  const segment = exponent + 1;
  const mantissa = inv & 0xf;
  const step = 4 << segment;
  return sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33);
}

/** ITU-T G.191 alaw_compress for one 16-bit sample. */
function alawCompressRef(lin: number): number {
  let ix = lin < 0 ? ~lin >> 4 : lin >> 4;
  if (ix > 15) {
    let iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (lin >= 0) ix |= 0x80;
  return ix ^ 0x55;
}

/** ITU-T G.191 alaw_expand for one code. */
function alawExpandRef(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const iexp = ix >> 4;
  let mant = ix & 0xf;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x8;
  if (iexp > 1) mant <<= iexp - 1;
  return code > 127 ? mant : -mant;
}

const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
for (let c = 0; c < 256; c++) {
  MULAW_DECODE[c] = ulawExpandRef(c);
  ALAW_DECODE[c] = alawExpandRef(c);
}
// index = sample & 0xffff (two's complement bits of the int16)
const MULAW_ENCODE = new Uint8Array(65536);
const ALAW_ENCODE = new Uint8Array(65536);
for (let s = -32768; s < 32768; s++) {
  MULAW_ENCODE[s & 0xffff] = ulawCompressRef(s);
  ALAW_ENCODE[s & 0xffff] = alawCompressRef(s);
}

function checkDst(have: number, need: number): void {
  if (have < need) throw new AudioError('AUDIO_ERR_BAD_INPUT', `dst holds ${have} samples, need ${need}`);
}

/** μ-law bytes → pcm16. Returns dst (trimmed to src.length) or a new array. */
export function mulawDecode(src: Uint8Array, dst?: Int16Array): Int16Array {
  const out = dst ?? new Int16Array(src.length);
  checkDst(out.length, src.length);
  for (let i = 0; i < src.length; i++) out[i] = MULAW_DECODE[src[i] as number] as number;
  return out.length === src.length ? out : out.subarray(0, src.length);
}

/** pcm16 → μ-law bytes. */
export function mulawEncode(src: Int16Array, dst?: Uint8Array): Uint8Array {
  const out = dst ?? new Uint8Array(src.length);
  checkDst(out.length, src.length);
  for (let i = 0; i < src.length; i++) out[i] = MULAW_ENCODE[(src[i] as number) & 0xffff] as number;
  return out.length === src.length ? out : out.subarray(0, src.length);
}

/** A-law bytes → pcm16. */
export function alawDecode(src: Uint8Array, dst?: Int16Array): Int16Array {
  const out = dst ?? new Int16Array(src.length);
  checkDst(out.length, src.length);
  for (let i = 0; i < src.length; i++) out[i] = ALAW_DECODE[src[i] as number] as number;
  return out.length === src.length ? out : out.subarray(0, src.length);
}

/** pcm16 → A-law bytes. */
export function alawEncode(src: Int16Array, dst?: Uint8Array): Uint8Array {
  const out = dst ?? new Uint8Array(src.length);
  checkDst(out.length, src.length);
  for (let i = 0; i < src.length; i++) out[i] = ALAW_ENCODE[(src[i] as number) & 0xffff] as number;
  return out.length === src.length ? out : out.subarray(0, src.length);
}

/** One μ-law code of silence (+0). */
export const MULAW_SILENCE = 0xff;
/** One A-law code of silence (+8, the smallest positive step). */
export const ALAW_SILENCE = 0xd5;
