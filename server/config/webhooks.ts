/**
 * Signed webhooks (server/webhooks/, docs/notes/webhooks.md). Owned by the webhooks work.
 *
 * Env: PARLEY_WEBHOOK_URL, PARLEY_WEBHOOK_SECRET. The PARLEY_CONFIG file:
 * `webhooks: { url, secret, events: [...], turnCompleted, timeoutMs, maxAgeH, concurrency, backoffBaseMs, backoffMaxMs, pollMs, publicUrl }`.
 */
import { ConfigError } from '../errors.ts';
import type { ConfigReader } from './reader.ts';

/** Every event type Parley sends (docs/notes/webhooks.md has each one's data). */
export const WEBHOOK_EVENT_TYPES = ['call.started', 'call.answered', 'call.dtmf', 'call.transferred', 'call.ended', 'turn.completed', 'call.ringing', 'call.failed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** Sent unless `events` says otherwise; `turn.completed` only with `turnCompleted: true` (or listed in `events`). */
// call.ringing / call.failed: outbound calls only (docs/notes/outbound.md)
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = ['call.started', 'call.answered', 'call.dtmf', 'call.transferred', 'call.ended', 'call.ringing', 'call.failed'];

export interface WebhooksConfig {
  /** PARLEY_WEBHOOK_URL / webhooks.url: where events are POSTed (http or https). null: webhooks off. */
  url: string | null;
  /** PARLEY_WEBHOOK_SECRET / webhooks.secret: the HMAC key of `Parley-Signature` (required with a URL, ≥ 16 chars). */
  secret: string | null;
  /** The event types sent (webhooks.events; default every `call.*` type; plus `turn.completed` when turnCompleted). */
  events: ReadonlySet<WebhookEventType>;
  /** webhooks.turnCompleted (default false): a live `turn.completed` after every response. */
  turnCompleted: boolean;
  /** webhooks.timeoutMs (default 10000): one delivery attempt's limit, headers and body. */
  timeoutMs: number;
  /** webhooks.maxAgeH (default 24): an event still undelivered this long after it happened is given up (recorded as failed). */
  maxAgeH: number;
  /** webhooks.concurrency (default 8): requests in flight at once (one per call at most: a call's events go in order). */
  concurrency: number;
  /** webhooks.backoffBaseMs (default 1000): the first retry waits up to this long (full jitter), doubling per attempt… */
  backoffBaseMs: number;
  /** webhooks.backoffMaxMs (default 600000 = 10 min): …up to this cap. */
  backoffMaxMs: number;
  /** webhooks.pollMs (default 1000): how often the worker looks for due rows besides being woken by new events. */
  pollMs: number;
  /**
   * webhooks.publicUrl (e.g. `https://parley.example.com`): where receivers reach this server, to make
   * `call.ended`'s `recording_url` absolute. null (default): it stays a path (`/v1/calls/{id}/recording`).
   */
  publicUrl: string | null;
}

/** The URL as given (no trailing-slash rewriting: a receiver's path is its own), checked. */
function readUrl(r: ConfigReader): string | null {
  const raw = r.raw('PARLEY_WEBHOOK_URL', 'webhooks.url');
  if (raw === undefined) return null;
  if (typeof raw.value !== 'string') throw new ConfigError(raw.setting, `must be a URL string (got ${JSON.stringify(raw.value)})`);
  const value = raw.value.trim();
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(raw.setting, `must be an absolute http(s) URL like https://backend.example.com/parley/events (got ${JSON.stringify(raw.value)})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(raw.setting, `must use http: or https: (got ${u.protocol})`);
  // fetch() refuses URLs with credentials: say so at start, not at the first call
  if (u.username !== '' || u.password !== '') throw new ConfigError(raw.setting, 'must not carry credentials (user:password@); the signature authenticates Parley');
  if (u.hash !== '') throw new ConfigError(raw.setting, 'must not have a #fragment');
  return u.href;
}

export function readWebhooksConfig(r: ConfigReader): WebhooksConfig {
  const url = readUrl(r);
  const secret = r.optStr('PARLEY_WEBHOOK_SECRET', 'webhooks.secret');
  if (secret !== null && (secret.length < 16 || /\s/.test(secret))) {
    throw new ConfigError(r.raw('PARLEY_WEBHOOK_SECRET', 'webhooks.secret')?.setting ?? 'PARLEY_WEBHOOK_SECRET', 'must be at least 16 characters, without spaces');
  }
  if (url !== null && secret === null) {
    throw new ConfigError('PARLEY_WEBHOOK_SECRET', 'must be set when PARLEY_WEBHOOK_URL is (receivers check the Parley-Signature made with it)');
  }
  const listed = r.list(null, 'webhooks.events', [...DEFAULT_WEBHOOK_EVENTS]);
  for (const t of listed) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t)) {
      throw new ConfigError('webhooks.events (PARLEY_CONFIG)', `unknown event type ${JSON.stringify(t)} (known: ${WEBHOOK_EVENT_TYPES.join(', ')})`);
    }
  }
  const turnCompleted = r.bool(null, 'webhooks.turnCompleted', false);
  const events = new Set(listed as WebhookEventType[]);
  if (turnCompleted) events.add('turn.completed');
  const backoffBaseMs = r.int(null, 'webhooks.backoffBaseMs', 1000, { min: 10, max: 3_600_000 });
  const backoffMaxMs = r.int(null, 'webhooks.backoffMaxMs', 600_000, { min: 10, max: 24 * 3_600_000 });
  if (backoffMaxMs < backoffBaseMs) throw new ConfigError('webhooks.backoffMaxMs (PARLEY_CONFIG)', `must be at least webhooks.backoffBaseMs (${backoffBaseMs})`);
  return {
    url,
    secret,
    events,
    turnCompleted: events.has('turn.completed'),
    timeoutMs: r.int(null, 'webhooks.timeoutMs', 10_000, { min: 100, max: 300_000 }),
    maxAgeH: r.num(null, 'webhooks.maxAgeH', 24, { min: 0.001, max: 24 * 30 }),
    concurrency: r.int(null, 'webhooks.concurrency', 8, { min: 1, max: 256 }),
    backoffBaseMs,
    backoffMaxMs,
    pollMs: r.int(null, 'webhooks.pollMs', 1000, { min: 10, max: 60_000 }),
    publicUrl: r.url(null, 'webhooks.publicUrl', null),
  };
}
