/**
 * The delivery worker (docs/notes/webhooks.md): takes due rows from the outbox and POSTs them to the
 * receiver, signed at each attempt's send time. 2xx = delivered; anything else (another status, a
 * timeout, a network error, a redirect) = another attempt later, after exponential backoff with full
 * jitter, until the event is `maxAgeMs` old: then it is given up and recorded as failed.
 *
 * Order per call: the outbox hands out only a call's oldest pending row, and the worker sends at most
 * one request per call at a time, so a call's next event waits until the previous one is delivered
 * (or given up). Different calls go in parallel, up to `concurrency` requests.
 *
 * At least once: a row is marked delivered after the 2xx; a crash in between sends it again (same id,
 * same body) after the restart.
 */
import type { Logger } from 'pino';
import { PARLEY_SIGNATURE_HEADER, signPayload } from '../signing.ts';
import { backoffMs, type BackoffOptions } from './backoff.ts';
import type { OutboxRow, WebhookOutbox } from './outbox.ts';
import type { WebhookMetrics } from './metrics.ts';

export interface DeliveryWorkerOptions {
  outbox: WebhookOutbox;
  url: string;
  /** One secret, or several during a rotation (one `v1=` each). */
  secret: string | readonly string[];
  timeoutMs: number;
  /** An event older than this when an attempt fails is given up. */
  maxAgeMs: number;
  concurrency: number;
  backoff: BackoffOptions;
  /** How often to look for due rows when nothing wakes the worker. */
  pollMs: number;
  log: Logger;
  metrics?: WebhookMetrics;
  now?: () => number;
  random?: () => number;
  /** Called after each attempt (tests, benches). */
  onAttempt?: (r: AttemptReport) => void;
}

export interface AttemptReport {
  id: string;
  callId: string | null;
  type: string;
  attempt: number;
  outcome: 'delivered' | 'retry' | 'failed';
  status: number | null;
  error: string | null;
  nextAttemptAtMs: number | null;
}

type Failure = { reason: 'status_4xx' | 'status_5xx' | 'status_other' | 'timeout' | 'network'; status: number | null; message: string };

export const WEBHOOK_USER_AGENT = 'Parley-Webhooks/1';
/**
 * A claimed row stays claimed this long past the attempt's timeout (then another instance, or a restart,
 * may take it): the attempt's timeout again, at least 5 s. The mark "delivered" goes through the store's
 * write queue after the receiver's answer; a lease that runs out before it commits lets another instance
 * send the event again (seen on a crowded machine with a 1 s margin: the same event twice, 365 ms apart).
 * The cost is only when an instance dies mid-attempt: its event waits out the lease.
 */
export const leaseMarginMs = (timeoutMs: number): number => Math.max(5000, timeoutMs);

export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions;
  readonly #now: () => number;
  /** Calls with a request in flight (a row without a call: its id) → its promise. */
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Infinity;
  #ticking = false;
  #again = false;
  #started = false;
  #stopped = false;
  #readFailing = false;
  /** Soonest retry this process scheduled (a hint for the timer; the poll covers the rest). */
  #soonestRetryAt = Infinity;

  constructor(o: DeliveryWorkerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Requests in flight now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.kick();
  }

  /** Look for due rows now (new rows were written, or a delivery finished). */
  kick(): void {
    if (!this.#started || this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    void this.#tick();
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    try {
      do {
        this.#again = false;
        const free = this.#o.concurrency - this.#inflight.size;
        if (free <= 0) break; // a finishing request kicks again
        const now = this.#now();
        // claimed for the attempt's length (another instance on the same database leaves them alone);
        // a call in flight here has its row claimed, so it does not come back
        const rows = await this.#o.outbox.due(now, free, { leaseMs: this.#o.timeoutMs + leaseMarginMs(this.#o.timeoutMs), leaseFrom: this.#now });
        for (const row of rows) {
          const key = row.callId ?? row.id;
          if (this.#stopped || this.#inflight.has(key) || this.#inflight.size >= this.#o.concurrency) continue;
          const p = this.#deliver(row)
            .catch((err: unknown) => {
              // the row stays as it was and goes again (same id): at least once
              this.#o.log.error({ eventId: row.id, err: { message: err instanceof Error ? err.message : String(err) } }, 'webhooks: delivery failed unexpectedly');
            })
            .finally(() => {
              this.#inflight.delete(key);
              this.kick();
            });
          this.#inflight.set(key, p);
        }
      } while (this.#again && !this.#stopped);
      if (this.#readFailing) this.#o.log.info('webhooks: reading the outbox works again');
      this.#readFailing = false;
    } catch (err) {
      // once per outage (the poll retries every pollMs)
      if (!this.#readFailing) this.#o.log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'webhooks: reading the outbox failed; retrying at each poll');
      this.#readFailing = true;
    } finally {
      this.#ticking = false;
      this.#arm();
    }
  }

  /** The next look: at the next poll, or sooner when a retry this process scheduled is due first. */
  #arm(): void {
    if (this.#stopped) return;
    const now = this.#now();
    if (this.#soonestRetryAt <= now) this.#soonestRetryAt = Infinity;
    const at = Math.min(now + this.#o.pollMs, this.#soonestRetryAt);
    if (this.#timer !== null && this.#timerAt <= at && this.#timerAt > now) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.kick();
    }, Math.max(0, at - now));
    this.#timer.unref();
  }

  /**
   * One attempt and its outcome. The outbox update is queued before this returns and not waited for:
   * the next due() sees it (the outbox contract), so the call's next event can go at once.
   */
  async #deliver(row: OutboxRow): Promise<void> {
    const o = this.#o;
    const attempt = row.attempts + 1;
    const failure = await this.#post(row, attempt);
    // stopped mid-request: leave the row as it is (it goes again after the restart)
    if (this.#abort.signal.aborted) return;
    const now = this.#now();
    const report = (r: Omit<AttemptReport, 'id' | 'callId' | 'type' | 'attempt'>): void => o.onAttempt?.({ id: row.id, callId: row.callId, type: row.type, attempt, ...r });
    if (failure === null) {
      this.#write(row, o.outbox.markDelivered(row.id));
      o.metrics?.deliveries.inc(row.type, 'delivered');
      o.metrics?.latency.observe(Math.max(0, now - row.createdAtMs) / 1000, row.type);
      report({ outcome: 'delivered', status: 200, error: null, nextAttemptAtMs: null });
      return;
    }
    o.metrics?.failures.inc(row.type, failure.reason);
    const error = `attempt ${attempt}: ${failure.message}`;
    if (now - row.createdAtMs >= o.maxAgeMs) {
      this.#write(row, o.outbox.markDead(row.id, error));
      o.metrics?.deliveries.inc(row.type, 'failed');
      o.log.error({ eventId: row.id, callId: row.callId, type: row.type, attempts: attempt, error: failure.message }, 'webhook given up: still undelivered after webhooks.maxAgeH');
      report({ outcome: 'failed', status: failure.status, error: failure.message, nextAttemptAtMs: null });
      return;
    }
    const next = now + backoffMs(attempt, o.backoff, o.random);
    this.#write(row, o.outbox.reschedule(row.id, next, error));
    if (next < this.#soonestRetryAt) this.#soonestRetryAt = next;
    o.metrics?.deliveries.inc(row.type, 'retry');
    // one line per failing call is plenty: the first failure, then every tenth
    if (attempt === 1 || attempt % 10 === 0) o.log.warn({ eventId: row.id, callId: row.callId, type: row.type, attempt, error: failure.message, retryInMs: next - now }, 'webhook attempt failed; will retry');
    report({ outcome: 'retry', status: failure.status, error: failure.message, nextAttemptAtMs: next });
  }

  /** An outbox update in the background: a failure leaves the row pending (it is sent again: at least once). */
  #write(row: OutboxRow, p: Promise<void>): void {
    p.catch((err: unknown) => {
      this.#o.log.error({ eventId: row.id, err: { message: err instanceof Error ? err.message : String(err) } }, 'webhooks: updating the outbox failed; the event will be sent again');
    });
  }

  /** One attempt; null when the receiver answered 2xx. */
  async #post(row: OutboxRow, attempt: number): Promise<Failure | null> {
    const o = this.#o;
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(o.timeoutMs)]);
    try {
      const res = await fetch(o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': WEBHOOK_USER_AGENT,
          // signed now, at this attempt's send time (a receiver refuses stale timestamps)
          [PARLEY_SIGNATURE_HEADER]: signPayload(row.body, o.secret, Math.floor(this.#now() / 1000)),
          'parley-event-id': row.id,
          'parley-event-type': row.type,
          'parley-attempt': String(attempt),
        },
        body: row.body,
        redirect: 'manual',
        signal,
      });
      // the body is not needed; drop it so the connection is reused
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return null;
      const reason = res.status >= 500 ? 'status_5xx' : res.status >= 400 ? 'status_4xx' : 'status_other';
      return { reason, status: res.status, message: `HTTP ${res.status}` };
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      if (name === 'TimeoutError' || (name === 'AbortError' && !this.#abort.signal.aborted)) {
        return { reason: 'timeout', status: null, message: `no answer within ${o.timeoutMs} ms` };
      }
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : null;
      const code = cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : '';
      return { reason: 'network', status: null, message: code !== '' ? code : err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Stops polling; requests in flight get `graceMs` to finish, then are aborted (their rows stay
   * pending and go again after a restart).
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const all = Promise.allSettled([...this.#inflight.values()]);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
    this.#abort.abort();
    await all;
  }
}
