/** Base64 checks on strings without decoding (RFC 4648 §4). */

// Base64 alphabet lookup (RFC 4648 §4), 1 = allowed before padding.
const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;

/** Canonical base64 check over s[start, end): length multiple of 4, alphabet, ≤ 2 trailing '='. */
export function isBase64Range(s: string, start: number, end: number): boolean {
  const len = end - start;
  if (len % 4 !== 0) return false;
  let stop = end;
  if (len > 0 && s.charCodeAt(end - 1) === 61) {
    stop--;
    if (s.charCodeAt(end - 2) === 61) stop--;
  }
  for (let i = start; i < stop; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || B64[c] === 0) return false;
  }
  return true;
}

export function isBase64(s: string): boolean {
  return isBase64Range(s, 0, s.length);
}

/** Decoded byte length of a canonical base64 string slice, without decoding. */
export function base64ByteLength(s: string, start = 0, end = s.length): number {
  const len = end - start;
  if (len === 0) return 0;
  let pad = 0;
  if (s.charCodeAt(end - 1) === 61) pad = s.charCodeAt(end - 2) === 61 ? 2 : 1;
  return (len / 4) * 3 - pad;
}

