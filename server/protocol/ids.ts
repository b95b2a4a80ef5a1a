import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` random base62 characters from the CSPRNG. */
export function randomId(n: number): string {
  const bytes = randomBytes(n * 2);
  let out = '';
  for (let i = 0; out.length < n && i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 248) out += ALPHABET[b % 62];
  }
  while (out.length < n) out += ALPHABET[randomBytes(1)[0]! % 62];
  return out;
}

// Event ids are frequent: a random per-process prefix plus a counter (unique, cheap, not secret).
const EVENT_PREFIX = `event_${randomId(8)}`;
let eventCounter = 0;

export function newEventId(): string {
  eventCounter = (eventCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${EVENT_PREFIX}${eventCounter.toString(36)}`;
}
export const newSessionId = (): string => `sess_${randomId(20)}`;
export const newConversationId = (): string => `conv_${randomId(20)}`;
export const newItemId = (): string => `item_${randomId(20)}`;
export const newResponseId = (): string => `resp_${randomId(20)}`;
export const newCallId = (): string => `call_${randomId(16)}`;
/** Ephemeral client key (`ek_…`): 32 base62 chars ≈ 190 bits. Secret: never log it. */
export const newEphemeralKey = (): string => `ek_${randomId(32)}`;
/** Server API key: 40 base62 chars. Secret: never log it. */
export const newServerKey = (): string => `pk_${randomId(40)}`;
