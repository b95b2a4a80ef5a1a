/**
 * Webhook metrics on the app's /metrics (names in the README). The queue figures are read from
 * the outbox when /metrics is scraped (its stats()), so they hold across restarts and instances.
 */
import { Gauge as PromGauge } from 'prom-client';
import { Counter, Histogram, type Metrics } from '../metrics.ts';
import type { OutboxStats } from './outbox.ts';

export interface WebhookMetrics {
  /** Every attempt's end, by event type and outcome: delivered (2xx), retry (failed, will retry), failed (given up). */
  deliveries: Counter;
  /** Failed attempts by event type and reason: status_4xx, status_5xx, status_other, timeout, network. */
  failures: Counter;
  /** From the event to the receiver's 2xx (seconds), by type. */
  latency: Histogram;
  /** Events lost before they reached the outbox (the database failed for long). */
  dropped: Counter;
}

export const WEBHOOK_LATENCY_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400];

/**
 * Registers the webhook metrics on `metrics`. `stats` is read at scrape time (queue depth, oldest
 * age); a failing read keeps the last figures.
 */
export function registerWebhookMetrics(metrics: Metrics, stats: () => Promise<OutboxStats>): WebhookMetrics {
  let last: OutboxStats = { depth: 0, oldestAgeMs: 0 };
  let reading: Promise<OutboxStats> | null = null;
  // both gauges are collected in one scrape: read the outbox once for both
  const read = (): Promise<OutboxStats> => {
    reading ??= stats().then(
      (s) => {
        last = s;
        return s;
      },
      () => last,
    ).finally(() => {
      queueMicrotask(() => (reading = null));
    });
    return reading;
  };
  for (const name of ['parley_webhook_queue_depth', 'parley_webhook_oldest_age_seconds']) {
    if (metrics.registry.getSingleMetric(name)) metrics.registry.removeSingleMetric(name);
  }
  metrics.registry.registerMetric(
    new PromGauge({
      name: 'parley_webhook_queue_depth',
      help: 'Webhook events in the outbox not yet delivered nor given up',
      registers: [],
      async collect() {
        this.set((await read()).depth);
      },
    }),
  );
  metrics.registry.registerMetric(
    new PromGauge({
      name: 'parley_webhook_oldest_age_seconds',
      help: 'Age of the oldest webhook event not yet delivered (0 when none)',
      registers: [],
      async collect() {
        this.set((await read()).oldestAgeMs / 1000);
      },
    }),
  );
  return {
    deliveries: metrics.register(new Counter('parley_webhook_deliveries_total', 'Webhook delivery attempts, by event type and outcome (delivered, retry, failed = given up)', ['type', 'outcome'])),
    failures: metrics.register(new Counter('parley_webhook_failures_total', 'Failed webhook attempts, by event type and reason (status_4xx, status_5xx, status_other, timeout, network)', ['type', 'reason'])),
    latency: metrics.register(new Histogram('parley_webhook_delivery_seconds', 'From a webhook event to its delivery (receiver answered 2xx), by type', ['type'], WEBHOOK_LATENCY_BUCKETS_S)),
    dropped: metrics.register(new Counter('parley_webhook_dropped_total', 'Webhook events lost before they reached the outbox (database failing)', [])),
  };
}
