/**
 * Request signatures for what Parley sends to a backend (webhooks, HTTP tools), Stripe's scheme:
 *
 *   Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>
 *
 * A receiver recomputes the HMAC over the exact bytes it received, compares in constant time and
 * refuses timestamps outside a tolerance (replay window, default 5 minutes). During a secret rotation
 * the header carries one `v1=` per secret; a receiver accepts the request when any of them matches
 * any secret it holds. Unknown schemes (`v0=`, …) are ignored. docs/notes/http-tools.md shows how a
 * backend checks it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header's name (HTTP header names are case-insensitive; Node lower-cases them on receipt). */
export const PARLEY_SIGNATURE_HEADER = 'Parley-Signature';
/** The only signature scheme today. */
export const PARLEY_SIGNATURE_SCHEME = 'v1';
/** Default replay window: a timestamp further than this from now (either way) is refused. */
export const SIGNATURE_TOLERANCE_S = 300;
/** Headers longer than this are refused unread (a receiver's guard; a real header is ~80 chars per secret). */
export const MAX_SIGNATURE_HEADER_CHARS = 4096;

const HEX_SHA256_RE = /^[0-9a-f]{64}$/;
const INT_RE = /^\d{1,15}$/;

/** Hex HMAC-SHA256 of `"<t>.<body>"`: the `v1` value for one secret. */
export function computeSignature(timestampS: number, body: string | Uint8Array, secret: string): string {
  const h = createHmac('sha256', secret);
  h.update(`${timestampS}.`);
  h.update(body);
  return h.digest('hex');
}

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret === '') throw new TypeError('signing secret must be a non-empty string');
}

/**
 * The `Parley-Signature` header value for `body` (the exact bytes sent), signed with `secret` (or,
 * during a rotation, each of several secrets: one `v1=` entry per secret) at `nowS` (default: now).
 */
export function signPayload(body: string | Uint8Array, secret: string | readonly string[], nowS: number = Math.floor(Date.now() / 1000)): string {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('signPayload needs at least one secret');
  if (!Number.isSafeInteger(nowS) || nowS < 0) throw new TypeError('signPayload: nowS must be a whole number of seconds');
  let header = `t=${nowS}`;
  for (const s of secrets) {
    checkSecret(s);
    header += `,${PARLEY_SIGNATURE_SCHEME}=${computeSignature(nowS, body, s)}`;
  }
  return header;
}

/** Why a signature was refused (stable strings a receiver may log or branch on). */
export type SignatureFailure =
  /** no header, or an empty one */
  | 'missing'
  /** not `t=<int>,v1=<64 hex>…`, or over MAX_SIGNATURE_HEADER_CHARS */
  | 'malformed'
  /** the timestamp is outside the tolerance */
  | 'timestamp_out_of_tolerance'
  /** no `v1` entry matches any secret */
  | 'mismatch';

export type VerifyResult = { ok: true; timestampS: number } | { ok: false; code: SignatureFailure };

export interface VerifyOptions {
  /** Largest |now − t| accepted, in seconds (default SIGNATURE_TOLERANCE_S; Infinity = no replay check). */
  toleranceS?: number;
  /** "Now" in unix seconds (tests; default: the clock). */
  nowS?: number;
}

/** Parses a header into its timestamp and v1 signatures; null when malformed. */
export function parseSignatureHeader(header: string): { timestampS: number; signatures: string[] } | null {
  if (header.length > MAX_SIGNATURE_HEADER_CHARS) return null;
  let timestampS: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestampS !== null || !INT_RE.test(value)) return null;
      timestampS = Number(value);
    } else if (key === PARLEY_SIGNATURE_SCHEME) {
      const v = value.toLowerCase();
      if (!HEX_SHA256_RE.test(v)) return null;
      signatures.push(v);
    }
    // other schemes: ignored (a future v2 next to v1)
  }
  if (timestampS === null || signatures.length === 0) return null;
  return { timestampS, signatures };
}

/**
 * Checks a `Parley-Signature` header against the raw body received and one secret (or several,
 * during a rotation). Never throws on bad input: the result says why it failed. The comparison is
 * constant-time in the signature bytes.
 */
export function verifySignature(
  header: string | string[] | null | undefined,
  body: string | Uint8Array,
  secret: string | readonly string[],
  opts: VerifyOptions = {},
): VerifyResult {
  // a header sent twice reaches Node as an array (or joined by ', '): take each entry
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (raw === undefined || raw === null || raw.trim() === '') return { ok: false, code: 'missing' };
  const parsed = parseSignatureHeader(raw);
  if (parsed === null) return { ok: false, code: 'malformed' };
  const toleranceS = opts.toleranceS ?? SIGNATURE_TOLERANCE_S;
  const nowS = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(nowS - parsed.timestampS) > toleranceS) return { ok: false, code: 'timestamp_out_of_tolerance' };
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let match = false;
  for (const s of secrets) {
    if (typeof s !== 'string' || s === '') continue;
    const expected = Buffer.from(computeSignature(parsed.timestampS, body, s), 'hex');
    for (const sig of parsed.signatures) {
      // both are 32 bytes (the header's hex was checked): timingSafeEqual never throws here
      if (timingSafeEqual(expected, Buffer.from(sig, 'hex'))) match = true;
    }
  }
  return match ? { ok: true, timestampS: parsed.timestampS } : { ok: false, code: 'mismatch' };
}
