/**
 * Signed webhooks (docs/notes/webhooks.md): events from session observers go to a durable outbox
 * in the call store's database; a worker delivers them at least once, in order per call, signed
 * with `Parley-Signature` (server/signing.ts), retrying with backoff and jitter for hours.
 *
 * `call.ended` is the end-of-call report: the call's final record (as `GET /v1/calls/{id}` returns
 * it) handed over by the call records when a call ends — or when start-up recovery closes a call a
 * crash interrupted — with an id derived from the call id.
 */
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/webhooks.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionManager } from '../session/index.ts';
import { registerWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { WebhookEvents, type FinalRecord } from './observer.ts';
import type { OutboxRowInput, WebhookOutbox } from './outbox.ts';
import { DeliveryWorker, type AttemptReport } from './worker.ts';
import { OutboxWriter } from './writer.ts';

export { backoffMs, backoffCeilingMs, type BackoffOptions } from './backoff.ts';
export { newWebhookEventId, callEndedEventId, makeEvent, encodeEvent, type WebhookEvent, type WebhookEventType } from './events.ts';
export { WebhookEvents, webhookObserver, callFacts, sessionEndData, type FinalRecord, type WebhookSink, type WebhookObserverOptions } from './observer.ts';
export type { WebhookOutbox, OutboxRow, OutboxRowInput, OutboxStats } from './outbox.ts';
export { DeliveryWorker, WEBHOOK_USER_AGENT, type AttemptReport, type DeliveryWorkerOptions } from './worker.ts';
export { OutboxWriter } from './writer.ts';
export { registerWebhookMetrics, type WebhookMetrics } from './metrics.ts';

/** The call records (server/calls/ `CallRecords`): they tell who listens when a call's record is final. */
export interface CallRecordSource {
  /** `fn(record, info)` once per call, synchronously, when its record is final (also for calls closed as `interrupted`). */
  onEnded(fn: (record: FinalRecord, info?: { outboxWritten: boolean }) => void): void;
  /**
   * `fn(record)` makes a call's end-of-call outbox row; a sweep closing a dead instance's call writes it
   * in the close's own transaction (then `onEnded` says `outboxWritten`). Optional for other sources.
   */
  onEndedOutbox?(fn: (record: FinalRecord) => OutboxRowInput | null): void;
}

export interface WebhooksDeps {
  config: WebhooksConfig;
  /** The store's outbox (null: no store, so no durable outbox: webhooks stay off, with a warning). */
  outbox: WebhookOutbox | null;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  /** The call records (null/absent: `call.ended` carries what the session knew at its close). */
  records?: CallRecordSource | null;
  onAttempt?: (r: AttemptReport) => void;
}

export interface Webhooks {
  readonly writer: OutboxWriter;
  readonly worker: DeliveryWorker;
  readonly metrics: WebhookMetrics;
  readonly events: WebhookEvents;
  /** Writes what is still in memory, then stops delivering (rows left go after the next start). */
  stop(graceMs?: number): Promise<void>;
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
    ...(d.onAttempt ? { onAttempt: d.onAttempt } : {}),
  });
  const writer = new OutboxWriter({ outbox, log, onWritten: () => worker.kick(), onDropped: (n) => metrics.dropped.add(n) });
  const events = new WebhookEvents({ events: c.events, sink: writer, fromRecords: records !== null, publicUrl: c.publicUrl });
  d.sessions.observe(events.observer);
  records?.onEnded((r, info) => {
    events.ended(r, info);
    // committed with the sweep's close: the worker may look now
    if (info?.outboxWritten === true) worker.kick();
  });
  records?.onEndedOutbox?.((r) => events.endedRow(r));
  worker.start();
  log.info({ url: c.url, events: [...c.events] }, 'webhooks on');
  return {
    writer,
    worker,
    metrics,
    events,
    async stop(graceMs = 2000) {
      await writer.flush(graceMs);
      await worker.stop(graceMs);
    },
  };
}
