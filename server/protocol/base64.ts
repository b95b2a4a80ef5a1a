/** Base64 arithmetic on strings without decoding (RFC 4648 §4). */

/** Decoded byte length of a canonical base64 string slice, without decoding. */
export function base64ByteLength(s: string, start = 0, end = s.length): number {
  const len = end - start;
  if (len === 0) return 0;
  let pad = 0;
  if (s.charCodeAt(end - 1) === 61) pad = s.charCodeAt(end - 2) === 61 ? 2 : 1;
  return (len / 4) * 3 - pad;
}
