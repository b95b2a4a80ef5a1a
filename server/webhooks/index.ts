/**
 * Signed webhooks (docs/notes/webhooks.md): events from session observers go to a durable outbox
 * in the call store's database; a worker delivers them at least once, in order per call, signed
 * with `Parley-Signature` (server/signing.ts), retrying with backoff and jitter for hours.
 *
 * `call.ended` is the end-of-call report: it is stored when the session closes (or when start-up
 * recovery closes a call a crash interrupted) with an id derived from the call id, and just before
 * its first attempt its data becomes the final call record, as `GET /v1/calls/{id}` returns it,
 * plus the recording's URL (stored, so every retry sends the same bytes).
 */
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/webhooks.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionManager } from '../session/index.ts';
import { PENDING_RECORD_KEY, callEndedEventId, encodeEvent, iso, makeEvent, type WebhookEvent } from './events.ts';
import { registerWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { webhookObserver } from './observer.ts';
import type { OutboxRow, WebhookOutbox } from './outbox.ts';
import { DeliveryWorker, type AttemptReport, type PrepareResult } from './worker.ts';
import { OutboxWriter } from './writer.ts';

export { backoffMs, backoffCeilingMs, type BackoffOptions } from './backoff.ts';
export { newWebhookEventId, callEndedEventId, makeEvent, encodeEvent, PENDING_RECORD_KEY, type WebhookEvent, type WebhookEventType } from './events.ts';
export { webhookObserver, callFacts, sessionEndData, type WebhookSink, type WebhookObserverOptions } from './observer.ts';
export type { WebhookOutbox, OutboxRow, OutboxRowInput, OutboxStats } from './outbox.ts';
export { DeliveryWorker, WEBHOOK_USER_AGENT, type AttemptReport, type DeliveryWorkerOptions, type PrepareResult } from './worker.ts';
export { OutboxWriter } from './writer.ts';
export { registerWebhookMetrics, type WebhookMetrics } from './metrics.ts';

/** Where `call.ended` gets the final record. */
export interface CallRecordSource {
  /** The call's record as `GET /v1/calls/{id}` returns it (with `ended_at`); null when there is none. */
  get(callId: string): Promise<Record<string, unknown> | null>;
  /** The URL of the call's recording, or null when it has none. */
  recordingUrl?(callId: string, record: Record<string, unknown>): string | null;
}

/** How long `call.ended` waits for its record to say the call ended before it goes with what it has. */
const RECORD_WAIT_MS = 30_000;
const RECORD_POLL_MS = 200;

export interface WebhooksDeps {
  config: WebhooksConfig;
  /** The store's outbox (null: no store, so no durable outbox: webhooks stay off, with a warning). */
  outbox: WebhookOutbox | null;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  /** The call records (null/absent: `call.ended` carries what the session knew). */
  records?: CallRecordSource | null;
  onAttempt?: (r: AttemptReport) => void;
}

export interface Webhooks {
  readonly writer: OutboxWriter;
  readonly worker: DeliveryWorker;
  readonly metrics: WebhookMetrics;
  /**
   * A call a crash left open was closed by start-up recovery (end reason `interrupted`): its
   * `call.ended` (same id as a normal one would have had: a second one is refused by the outbox).
   */
  callInterrupted(callId: string, endedAtMs: number): void;
  /** Writes what is still in memory, then stops delivering (rows left go after the next start). */
  stop(graceMs?: number): Promise<void>;
}

/** Makes a stored `call.ended` from the final record (see the module comment). */
function recordPreparer(records: CallRecordSource, now: () => number): (row: OutboxRow) => Promise<PrepareResult | null> {
  return async (row) => {
    if (row.type !== 'call.ended' || !row.body.includes(PENDING_RECORD_KEY)) return null;
    const ev = JSON.parse(row.body) as WebhookEvent;
    if (ev.data[PENDING_RECORD_KEY] !== true) return null;
    const callId = typeof ev.data['call_id'] === 'string' ? ev.data['call_id'] : (row.callId ?? '');
    const record = await records.get(callId);
    const { [PENDING_RECORD_KEY]: _pending, ...summary } = ev.data;
    let data: Record<string, unknown> = summary;
    if (record !== null) {
      // the record's end is written next to this row; a record still open is a moment early
      if ((record['ended_at'] === null || record['ended_at'] === undefined) && now() - row.createdAtMs < RECORD_WAIT_MS) {
        return { kind: 'later', inMs: RECORD_POLL_MS, reason: 'waiting for the call record to be final' };
      }
      data = { call_id: callId, ...record, recording_url: records.recordingUrl?.(callId, record) ?? null };
    }
    return { kind: 'send', body: encodeEvent({ ...ev, data }) };
  };
}

/** Starts webhooks when a URL is configured (null otherwise): observer, outbox writer, delivery worker, metrics. */
export function startWebhooks(d: WebhooksDeps): Webhooks | null {
  const c = d.config;
  if (c.url === null || c.secret === null) return null;
  const log = d.log.child({ component: 'webhooks' });
  const outbox = d.outbox;
  if (outbox === null) {
    log.warn('PARLEY_WEBHOOK_URL is set but the app has no store (database): webhooks are off');
    return null;
  }
  const metrics = registerWebhookMetrics(d.metrics, () => outbox.stats(Date.now()));
  const records = d.records ?? null;
  const worker = new DeliveryWorker({
    outbox,
    url: c.url,
    secret: c.secret,
    timeoutMs: c.timeoutMs,
    maxAgeMs: c.maxAgeH * 3_600_000,
    concurrency: c.concurrency,
    backoff: { baseMs: c.backoffBaseMs, maxMs: c.backoffMaxMs },
    pollMs: c.pollMs,
    log,
    metrics,
    ...(records !== null ? { prepare: recordPreparer(records, Date.now) } : {}),
    ...(d.onAttempt ? { onAttempt: d.onAttempt } : {}),
  });
  const writer = new OutboxWriter({ outbox, log, onWritten: () => worker.kick(), onDropped: (n) => metrics.dropped.add(n) });
  d.sessions.observe(webhookObserver({ events: c.events, sink: writer, fromRecord: records !== null }));
  worker.start();
  log.info({ url: c.url, events: [...c.events] }, 'webhooks on');
  return {
    writer,
    worker,
    metrics,
    callInterrupted(callId, endedAtMs) {
      if (!c.events.has('call.ended')) return;
      const data: Record<string, unknown> = { call_id: callId, ended_at: iso(endedAtMs), end_reason: 'interrupted' };
      if (records !== null) data[PENDING_RECORD_KEY] = true;
      const ev = makeEvent('call.ended', endedAtMs, data, callEndedEventId(callId));
      writer.push({ id: ev.id, callId, type: ev.type, body: encodeEvent(ev), createdAtMs: endedAtMs });
    },
    async stop(graceMs = 2000) {
      await writer.flush(graceMs);
      await worker.stop(graceMs);
    },
  };
}
