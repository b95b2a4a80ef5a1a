/**
 * Webhook event bodies (docs/notes/webhooks.md): `{"id": "evt_…", "type", "created_at", "data"}`.
 * A body is made once, when the event happens, and stored in the outbox: every delivery attempt
 * sends the same bytes with the same id (receivers de-duplicate on `id`).
 */
import { createHash } from 'node:crypto';
import { randomId } from '../protocol/ids.ts';
import type { WebhookEventType } from '../config/webhooks.ts';

export type { WebhookEventType } from '../config/webhooks.ts';

export interface WebhookEvent<D = Record<string, unknown>> {
  id: string;
  type: WebhookEventType;
  /** ISO-8601, when the event happened. */
  created_at: string;
  data: D;
}

/** `evt_` + 24 base62 characters (≈ 143 random bits). */
export const newWebhookEventId = (): string => `evt_${randomId(24)}`;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * The id of a call's `call.ended`, derived from the call id: whoever enqueues it (the session's end,
 * or start-up recovery of a call a crash interrupted) makes the same id, so the outbox (unique ids)
 * keeps one and a receiver never sees two different ids for one call's end.
 */
export function callEndedEventId(callId: string): string {
  const h = createHash('sha256').update('parley call.ended\0').update(callId).digest();
  let out = 'evt_';
  for (let i = 0; i < 24; i++) out += BASE62[h[i]! % 62];
  return out;
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The event as the JSON string sent (made once). */
export function encodeEvent(ev: WebhookEvent): string {
  return JSON.stringify(ev);
}

export function makeEvent(type: WebhookEventType, atMs: number, data: Record<string, unknown>, id: string = newWebhookEventId()): WebhookEvent {
  return { id, type, created_at: iso(atMs), data };
}
