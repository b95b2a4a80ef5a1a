/**
 * The delivery worker against a real HTTP receiver on 127.0.0.1 (test/support/webhook-receiver.ts)
 * that checks every signature with verifySignature, and an outbox in memory with the store's
 * semantics (the restart test, test/component/webhooks-restart.test.ts, uses the real database).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../../server/metrics.ts';
import { DeliveryWorker, OutboxWriter, callEndedEventId, encodeEvent, makeEvent, registerWebhookMetrics, startWebhooks, type AttemptReport, type CallRecordSource, type OutboxRowInput } from '../../../../server/webhooks/index.ts';
import { loadConfig } from '../../../../server/config.ts';
import type { SessionManager } from '../../../../server/session/index.ts';
import { parseSignatureHeader } from '../../../../server/signing.ts';
import { MemoryOutbox } from '../../../fakes/memory-outbox.ts';
import { WebhookReceiver } from '../../../support/webhook-receiver.ts';

const SECRET = 'whsec_worker_test_0123456789';
const log = pino({ level: 'silent' });

function ev(callId: string, type: 'call.started' | 'call.answered' | 'call.ended' | 'call.dtmf', n: number, atMs = Date.now()): OutboxRowInput {
  const e = makeEvent(type, atMs, { call_id: callId, n });
  return { id: e.id, callId, type, body: encodeEvent(e), createdAtMs: atMs };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(receiverUrl: string, opts: Partial<ConstructorParameters<typeof DeliveryWorker>[0]> = {}) {
  const outbox = new MemoryOutbox();
  const metrics = new Metrics();
  const wm = registerWebhookMetrics(metrics, () => outbox.stats(Date.now()));
  const attempts: AttemptReport[] = [];
  const worker = new DeliveryWorker({
    outbox, url: receiverUrl, secret: SECRET, timeoutMs: 2000, maxAgeMs: 3_600_000, concurrency: 4,
    backoff: { baseMs: 20, maxMs: 200 }, pollMs: 50, log, metrics: wm, onAttempt: (a) => attempts.push(a), ...opts,
  });
  const writer = new OutboxWriter({ outbox, log, onWritten: () => worker.kick() });
  worker.start();
  cleanups.push(() => worker.stop(500));
  return { outbox, metrics, wm, worker, writer, attempts };
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver(SECRET).start();
  cleanups.push(() => r.stop());
  return r;
}

describe('webhook delivery worker', () => {
  it('delivers signed events; refused attempts (500) are retried with the same id and body, signed anew at each send', async () => {
    const r = await receiver();
    r.refuseFirst(2);
    const { writer, outbox, metrics, attempts } = setup(r.url);
    const row = ev('sess_a', 'call.started', 1);
    writer.push(row);
    await r.waitFor(() => r.accepted.length === 1, 10_000, 'delivery');
    expect(r.badSignatures).toEqual([]);
    expect(r.requests.map((q) => q.status)).toEqual([500, 500, 200]);
    expect(r.requests.map((q) => q.attempt)).toEqual([1, 2, 3]);
    // same id, same bytes every time
    expect(new Set(r.requests.map((q) => q.id))).toEqual(new Set([row.id]));
    expect(new Set(r.requests.map((q) => q.raw))).toEqual(new Set([row.body]));
    expect(r.accepted[0]!.type).toBe('call.started');
    // each attempt's signature verifies on its own (the receiver checked) and carries a timestamp of its send time
    for (const q of r.requests) expect(Math.abs(parseSignatureHeader(q.signature)!.timestampS - Math.floor(q.receivedAtMs / 1000))).toBeLessThanOrEqual(1);
    await until(() => outbox.rows[0]!.state === 'delivered');
    expect(attempts.map((a) => a.outcome)).toEqual(['retry', 'retry', 'delivered']);
    const text = await metrics.render();
    expect(text).toMatch(/parley_webhook_deliveries_total\{type="call.started",outcome="retry"\} 2/);
    expect(text).toMatch(/parley_webhook_deliveries_total\{type="call.started",outcome="delivered"\} 1/);
    expect(text).toMatch(/parley_webhook_failures_total\{type="call.started",reason="status_5xx"\} 2/);
    expect(text).toMatch(/parley_webhook_queue_depth 0/);
    expect(text).toMatch(/parley_webhook_delivery_seconds_count\{type="call.started"\} 1/);
  });

  it('in order per call: a refused event holds back its call’s later events, while other calls go on', async () => {
    const r = await receiver();
    // call A's first event is refused 3 times; B is always accepted
    let refusedA = 0;
    r.answer = (e) => (e.data['call_id'] === 'sess_A' && e.data['n'] === 1 && refusedA++ < 3 ? 503 : 200);
    const { writer } = setup(r.url);
    const t0 = Date.now();
    writer.push(ev('sess_A', 'call.started', 1, t0));
    writer.push(ev('sess_A', 'call.answered', 2, t0));
    writer.push(ev('sess_B', 'call.started', 1, t0));
    writer.push(ev('sess_A', 'call.ended', 3, t0));
    writer.push(ev('sess_B', 'call.ended', 2, t0));
    await r.waitFor(() => r.accepted.length === 5, 10_000, 'all five');
    const order = (call: string): number[] => r.accepted.filter((e) => e.data['call_id'] === call).map((e) => e.data['n'] as number);
    expect(order('sess_A')).toEqual([1, 2, 3]);
    expect(order('sess_B')).toEqual([1, 2]);
    // B was not held back by A: both of B's events came before A's first success
    const firstA = r.accepted.findIndex((e) => e.data['call_id'] === 'sess_A');
    expect(r.accepted.slice(0, firstA).filter((e) => e.data['call_id'] === 'sess_B').length).toBe(2);
    // A's later events never reached the receiver before A's first was accepted
    const aRequests = r.requests.filter((e) => e.data['call_id'] === 'sess_A').map((e) => `${e.data['n'] as number}:${e.status}`);
    expect(aRequests).toEqual(['1:503', '1:503', '1:503', '1:200', '2:200', '3:200']);
  });

  it('gives up an event still refused after maxAge (recorded as failed), then delivers the call’s next one', async () => {
    const r = await receiver();
    r.answer = (e) => (e.type === 'call.started' ? 500 : 200);
    const { writer, outbox, metrics, attempts } = setup(r.url, { maxAgeMs: 300 });
    writer.push(ev('sess_x', 'call.started', 1));
    writer.push(ev('sess_x', 'call.ended', 2));
    await r.waitFor(() => r.accepted.length === 1, 10_000, 'the call.ended after the give-up');
    const started = outbox.rows.find((x) => x.type === 'call.started')!;
    expect(started.state).toBe('dead');
    expect(started.lastError).toMatch(/HTTP 500/);
    expect(attempts.filter((a) => a.type === 'call.started').at(-1)!.outcome).toBe('failed');
    expect(r.accepted[0]!.type).toBe('call.ended');
    expect(await metrics.render()).toMatch(/parley_webhook_deliveries_total\{type="call.started",outcome="failed"\} 1/);
  });

  it('a receiver that does not answer in timeoutMs, one that is down, and a redirect are failed attempts (timeout, network, status_other)', async () => {
    // hangs on the first request, answers later ones
    let n = 0;
    const hang = createServer((req, res) => {
      req.resume();
      if (n++ === 0) return; // never answers
      res.writeHead(n === 2 ? 302 : 200, { location: 'http://127.0.0.1:1/' }).end();
    });
    await new Promise<void>((res) => hang.listen(0, '127.0.0.1', () => res()));
    cleanups.push(() => new Promise<void>((res) => { hang.closeAllConnections(); hang.close(() => res()); }));
    const { writer, attempts, metrics } = setup(`http://127.0.0.1:${(hang.address() as AddressInfo).port}/`, { timeoutMs: 300 });
    writer.push(ev('sess_t', 'call.started', 1));
    await until(() => attempts.some((a) => a.outcome === 'delivered'), 10_000);
    expect(attempts.map((a) => a.error ?? 'ok')).toEqual(['no answer within 300 ms', 'HTTP 302', 'ok']);
    const text = await metrics.render();
    expect(text).toMatch(/parley_webhook_failures_total\{type="call.started",reason="timeout"\} 1/);
    expect(text).toMatch(/parley_webhook_failures_total\{type="call.started",reason="status_other"\} 1/);

    // nothing listens on the port: a network error, retried
    const down = await receiver();
    const url = down.url;
    await down.stop();
    const s2 = setup(url);
    s2.writer.push(ev('sess_d', 'call.started', 1));
    await until(() => s2.attempts.length >= 2, 10_000);
    expect(s2.attempts[0]!.outcome).toBe('retry');
    expect(s2.attempts[0]!.error).toMatch(/ECONNREFUSED/);
    expect(await s2.metrics.render()).toMatch(/parley_webhook_failures_total\{type="call.started",reason="network"\} [1-9]/);
  });

  it('bounded concurrency: never more requests in flight than `concurrency`, never two of one call', async () => {
    let inflight = 0;
    let peak = 0;
    const perCall = new Map<string, number>();
    let twoOfOneCall = false;
    const slow = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const call = (JSON.parse(Buffer.concat(chunks).toString()) as { data: { call_id: string } }).data.call_id;
        inflight++;
        peak = Math.max(peak, inflight);
        perCall.set(call, (perCall.get(call) ?? 0) + 1);
        if (perCall.get(call)! > 1) twoOfOneCall = true;
        setTimeout(() => {
          inflight--;
          perCall.set(call, perCall.get(call)! - 1);
          res.writeHead(204).end();
        }, 30);
      });
    });
    await new Promise<void>((res) => slow.listen(0, '127.0.0.1', () => res()));
    cleanups.push(() => new Promise<void>((res) => { slow.closeAllConnections(); slow.close(() => res()); }));
    const { writer, outbox } = setup(`http://127.0.0.1:${(slow.address() as AddressInfo).port}/`, { concurrency: 3 });
    for (let i = 0; i < 40; i++) writer.push(ev(`sess_${i % 10}`, 'call.dtmf', i));
    await until(() => outbox.rows.length === 40 && outbox.rows.every((x) => x.state === 'delivered'), 15_000);
    expect(peak).toBe(3);
    expect(twoOfOneCall).toBe(false);
  });

  it('a slow mark delivered (a crowded write queue) within the lease: two workers on one outbox send each event once', async () => {
    const r = await receiver();
    // two instances on one database: one outbox, two workers; the mark "delivered" commits 2.5 s after the
    // receiver's answer (the store's write queue behind a burst), longer than timeoutMs + 1 s
    class SlowMarks extends MemoryOutbox {
      override async markDelivered(id: string): Promise<void> {
        await new Promise((res) => setTimeout(res, 2500));
        await super.markDelivered(id);
      }
    }
    const outbox = new SlowMarks();
    const mk = (): DeliveryWorker => {
      const w = new DeliveryWorker({ outbox, url: r.url, secret: SECRET, timeoutMs: 300, maxAgeMs: 3_600_000, concurrency: 4, backoff: { baseMs: 20, maxMs: 200 }, pollMs: 50, log });
      w.start();
      cleanups.push(() => w.stop(500));
      return w;
    };
    const workers = [mk(), mk()];
    await outbox.enqueue([ev('sess_s1', 'call.started', 1), ev('sess_s2', 'call.started', 1)]);
    for (const w of workers) w.kick();
    await until(() => outbox.rows.every((x) => x.state === 'delivered'), 10_000);
    await new Promise((res) => setTimeout(res, 300)); // a late second send would show now
    expect(r.requests.map((e) => e.id).sort()).toEqual(outbox.rows.map((x) => x.id).sort());
  });

  it('the outbox writer: rows handed over in push order, one unit each; a row the outbox refuses is counted, the others go on', async () => {
    const r = await receiver();
    const { outbox } = setup(r.url);
    let dropped = 0;
    const writer = new OutboxWriter({ outbox, log, onDropped: (n) => (dropped += n) });
    const batches: number[] = [];
    const enqueue = outbox.enqueue.bind(outbox);
    outbox.enqueue = (rows) => (batches.push(rows.length), enqueue(rows));
    outbox.failEnqueue = 1;
    writer.push(ev('sess_w', 'call.started', 1));
    writer.push(ev('sess_w', 'call.answered', 2));
    await writer.flush(5000);
    writer.push(ev('sess_w', 'call.dtmf', 3));
    writer.push(ev('sess_w', 'call.ended', 4));
    await writer.flush(5000);
    expect(batches).toEqual([1, 1, 1, 1]);
    expect(dropped).toBe(1);
    expect(outbox.rows.map((x) => x.type)).toEqual(['call.answered', 'call.dtmf', 'call.ended']);
  });
});

describe('call.ended from the final call record', () => {
  it('the whole record, its call_id and an absolute recording_url; one id per call (an end reported twice is stored once)', async () => {
    const r = await receiver();
    const outbox = new MemoryOutbox();
    const listeners: Array<(rec: { id: string }) => void> = [];
    const records: CallRecordSource = { onEnded: (fn) => void listeners.push(fn) };
    // no session here: the observer is not under test; the manager only takes the observer factory
    const sessions = { observe: () => undefined } as unknown as SessionManager;
    const config = loadConfig({}, { webhooks: { url: r.url, secret: SECRET, backoffBaseMs: 20, backoffMaxMs: 100, pollMs: 50, publicUrl: 'https://parley.example.com' } }).webhooks;
    const wh = startWebhooks({ config, outbox, sessions, metrics: new Metrics(), log, records })!;
    cleanups.push(() => wh.stop(500));
    const record = { id: 'sess_rec', door: 'sip', ended_at: '2026-01-01T00:00:01.000Z', end_reason: 'interrupted', transcript: [{ role: 'user', text: 'hello' }], cost: { total_usd: 0.01 }, recording: 'stereo', recording_url: '/v1/calls/sess_rec/recording' };
    for (const fn of listeners) fn(record);
    for (const fn of listeners) fn(record);
    await r.waitFor(() => r.accepted.length === 1, 10_000, 'call.ended');
    const got = r.accepted[0]!;
    expect(got.id).toBe(callEndedEventId('sess_rec'));
    expect(got.created_at).toBe('2026-01-01T00:00:01.000Z');
    expect(got.data).toEqual({ call_id: 'sess_rec', ...record, recording_url: 'https://parley.example.com/v1/calls/sess_rec/recording' });
    await wh.writer.flush();
    expect(outbox.rows.map((x) => x.id)).toEqual([callEndedEventId('sess_rec')]);
  });
});

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
