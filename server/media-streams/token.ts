/**
 * Stream tokens: the carrier's WebSocket to Parley carries no header we choose, so the answer to the call's
 * webhook (TwiML / TeXML) hands the stream a short-lived token as a custom parameter, and the door checks it
 * in the stream's `start` message before a session opens.
 *
 * A token is `<expiry unix s>.<base64url HMAC-SHA256>` over the dialect, the expiry and the call's facts
 * (call id, from, to) as the parameters carry them: a token minted for one call does not open a stream for
 * another, cannot be stretched past its expiry, and is taken once (a replay of the same start is refused).
 * The key is derived from the carrier secret (the Twilio auth token, the Telnyx stream token), so every
 * instance behind a load balancer accepts the tokens any of them minted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long after the webhook answer the stream may start. Carriers connect within a second or two. */
export const STREAM_TOKEN_TTL_S = 120;
/** Tokens remembered as used (replays refused); the oldest are forgotten past this (they expire anyway). */
const MAX_REMEMBERED = 20_000;

export interface TokenFacts {
  callId: string;
  from: string;
  to: string;
}

export class StreamTokens {
  readonly #key: Buffer;
  readonly #dialect: string;
  /** mac → expiry (s): taken tokens, until they expire. */
  readonly #used = new Map<string, number>();

  constructor(dialect: string, secret: string) {
    this.#dialect = dialect;
    this.#key = createHmac('sha256', secret).update('parley media-stream token v1').digest();
  }

  #mac(expS: number, f: TokenFacts): string {
    return createHmac('sha256', this.#key).update(`${this.#dialect}\n${expS}\n${f.callId}\n${f.from}\n${f.to}`).digest('base64url');
  }

  mint(f: TokenFacts, nowMs = Date.now(), ttlS = STREAM_TOKEN_TTL_S): string {
    const expS = Math.floor(nowMs / 1000) + ttlS;
    return `${expS}.${this.#mac(expS, f)}`;
  }

  /** Checks and takes a token: 'ok', or why not. */
  take(token: string, f: TokenFacts, nowMs = Date.now()): 'ok' | 'malformed' | 'expired' | 'mismatch' | 'replayed' {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 128) return 'malformed';
    const expText = token.slice(0, dot);
    if (!/^\d{1,12}$/.test(expText)) return 'malformed';
    const expS = Number(expText);
    const want = Buffer.from(this.#mac(expS, f));
    const got = Buffer.from(token.slice(dot + 1));
    if (got.length !== want.length || !timingSafeEqual(got, want)) return 'mismatch';
    const nowS = nowMs / 1000;
    if (expS < nowS) return 'expired';
    const mac = token.slice(dot + 1);
    if (this.#used.has(mac)) return 'replayed';
    for (const [k, exp] of this.#used) {
      if (exp >= nowS && this.#used.size < MAX_REMEMBERED) break;
      this.#used.delete(k);
    }
    this.#used.set(mac, expS);
    return 'ok';
  }
}

/** Constant-time equality of two secrets of any length (compares their SHA-256). */
export function secretEquals(a: string, b: string): boolean {
  const ha = createHmac('sha256', 'parley').update(a).digest();
  const hb = createHmac('sha256', 'parley').update(b).digest();
  return timingSafeEqual(ha, hb);
}
