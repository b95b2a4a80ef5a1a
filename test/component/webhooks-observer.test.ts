/**
 * The webhook observer on real sessions: a WS client talks to Parley (engine: the GA fake of
 * OpenAI), the events reach a real receiver that checks every signature, in the call's order, with
 * the call's facts; turn.completed carries both sides' words; a stuck outbox never holds a call up.
 * (The durable outbox and restarts: test/component/webhooks-restart.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startWebhooks, type OutboxRowInput, type Webhooks } from '../../server/webhooks/index.ts';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { MemoryOutbox } from '../fakes/memory-outbox.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { TEST_KEY, TestClient, speak, startParley, until, type Parley } from './helpers.ts';

const SECRET = 'whsec_observer_test_0123456789';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(file: Record<string, unknown>, outbox = new MemoryOutbox()): Promise<{ parley: Parley; receiver: WebhookReceiver; webhooks: Webhooks; outbox: MemoryOutbox }> {
  const fake = await new FakeOpenAI().start();
  cleanups.push(() => fake.stop());
  const receiver = await new WebhookReceiver(SECRET).start();
  cleanups.push(() => receiver.stop());
  const parley = await startParley({ fake });
  cleanups.push(() => parley.close());
  const config = loadConfig({}, { webhooks: { url: receiver.url, secret: SECRET, backoffBaseMs: 20, backoffMaxMs: 200, pollMs: 50, ...file } }).webhooks;
  const { sessions, metrics } = parley.app.parley;
  const webhooks = startWebhooks({ config, outbox, sessions, metrics, log: pino({ level: 'silent' }) })!;
  cleanups.push(() => webhooks.stop(500));
  return { parley, receiver, webhooks, outbox };
}

describe('webhook observer', () => {
  it('buildApp wires webhooks on the store: a WS call reaches the receiver through the SQLite outbox; /metrics has the delivery series', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-wh-app-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const fake = await new FakeOpenAI().start();
    cleanups.push(() => fake.stop());
    const receiver = await new WebhookReceiver(SECRET).start();
    cleanups.push(() => receiver.stop());
    receiver.refuseFirst(1);
    const parley = await startParley({ fake, env: { PARLEY_DATA_DIR: dir, PARLEY_WEBHOOK_URL: receiver.url, PARLEY_WEBHOOK_SECRET: SECRET } });
    cleanups.push(() => parley.close());
    expect(parley.app.parley.webhooks).not.toBeNull();
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    const callId = ((await c.waitFor('session.created', 5000))['session'] as { id: string }).id;
    c.close();
    // the refused first attempt is retried after up to 1 s (the default backoff)
    await receiver.waitFor(() => receiver.accepted.some((e) => e.type === 'call.ended'), 15_000, 'call.ended');
    expect(receiver.badSignatures).toEqual([]);
    expect(receiver.accepted.map((e) => e.type)).toEqual(['call.started', 'call.answered', 'call.ended']);
    expect(receiver.accepted.every((e) => e.data['call_id'] === callId)).toBe(true);
    // call.ended is the call's record (server/calls/), as GET /v1/calls/{id} returns it
    const api = (await (await fetch(`${parley.httpUrl}/v1/calls/${callId}`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as Record<string, unknown>;
    expect(receiver.accepted[2]!.data).toEqual({ call_id: callId, ...api });
    expect(api).toMatchObject({ id: callId, door: 'ws', end_reason: 'caller_hangup' });
    const row = await parley.app.parley.store!.outbox.get(receiver.accepted[0]!.id);
    expect(row?.attempts).toBe(2);
    let depth = -1;
    await until(() => (void parley.app.parley.store!.outbox.stats().then((st) => (depth = st.depth)), depth === 0), 5000, 'outbox drained');
    const text = await parley.app.parley.metrics.render();
    expect(text).toMatch(/parley_webhook_deliveries_total\{type="call.started",outcome="retry"\} 1/);
    expect(text).toMatch(/parley_webhook_deliveries_total\{type="call.ended",outcome="delivered"\} 1/);
    expect(text).toMatch(/parley_webhook_queue_depth 0/);
    expect(text).toMatch(/parley_webhook_oldest_age_seconds 0/);
  }, 30_000);

  it('a WS call: call.started, call.answered, call.dtmf, turn.completed (caller and agent words, tool call, latency), call.ended, signed and in order', async () => {
    const { parley, receiver } = await setup({ turnCompleted: true });
    receiver.refuseFirst(1);
    const c = new TestClient(parley.wsUrl);
    cleanups.push(() => c.close());
    await c.opened;
    await c.waitFor('session.created', 5000);
    const callId = parley.app.parley.sessions.list()[0]!.id;
    c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'gpt-4o-mini-transcribe' } } } } });
    await c.waitFor('session.updated', 5000);
    speak((ev) => c.send(ev), pcmChunkB64, 300, 700);
    // the fake's brain calls get_current_time, then speaks its answer: two responses
    await until(() => c.of('response.done').length >= 2, 10_000, 'two responses');
    parley.app.parley.sessions.get(callId)!.reportDtmf('7'); // what the SIP door calls on RFC 4733 digits
    c.close();
    await receiver.waitFor(() => receiver.accepted.some((e) => e.type === 'call.ended'), 10_000, 'call.ended');

    expect(receiver.badSignatures).toEqual([]);
    const got = receiver.accepted.filter((e) => e.data['call_id'] === callId);
    expect(got.map((e) => e.type)).toEqual(['call.started', 'call.answered', 'turn.completed', 'turn.completed', 'call.dtmf', 'call.ended']);
    // the refused first attempt came again with the same id
    expect(receiver.requests[0]!.status).toBe(500);
    expect(receiver.requests[1]!.id).toBe(receiver.requests[0]!.id);
    // ids are unique per event; bodies have the documented envelope
    expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
    for (const e of got) {
      expect(e.id).toMatch(/^evt_[0-9A-Za-z]{24}$/);
      expect(Object.keys(JSON.parse(e.raw) as object)).toEqual(['id', 'type', 'created_at', 'data']);
      expect(new Date(e.created_at).toISOString()).toBe(e.created_at);
    }
    const [started, answered, t1, t2, dtmf, ended] = got as [typeof got[0], typeof got[0], typeof got[0], typeof got[0], typeof got[0], typeof got[0]];
    expect(started.data).toMatchObject({ call_id: callId, door: 'ws', profile: null, from: null, metadata: {}, recording: 'off' });
    expect(answered.data).toMatchObject({ call_id: callId, door: 'ws' });
    expect(t1.data).toMatchObject({ call_id: callId, turn: 1, status: 'completed', user: { text: 'what time is it' } });
    expect((t1.data['tool_calls'] as Array<{ name: string }>).map((t) => t.name)).toEqual(['get_current_time']);
    // the tool-call response had no audio; the caller waited until the answer's first audio
    expect(t1.data['latency_ms']).toBeNull();
    expect(t2.data['latency_ms']).toBeGreaterThan(0);
    expect(t2.data).toMatchObject({ turn: 2, user: null, tool_calls: [] });
    expect((t2.data['assistant'] as { text: string }).text).toMatch(/The tool answered/);
    expect(t2.data['usage']).not.toBeNull();
    expect(dtmf.data).toMatchObject({ call_id: callId, digit: '7' });
    expect(ended.data).toMatchObject({ call_id: callId, door: 'ws', end_reason: 'caller_hangup' });
    expect(Date.parse(ended.data['ended_at'] as string)).toBeGreaterThanOrEqual(Date.parse(started.data['started_at'] as string));
  }, 30_000);

  it('off by default: turn.completed; events left out of `events` are not sent', async () => {
    const { parley, receiver, outbox } = await setup({ events: ['call.started', 'call.ended'] });
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created', 5000);
    speak((ev) => c.send(ev), pcmChunkB64, 300, 700);
    await until(() => c.of('response.done').length >= 1, 10_000, 'a response');
    c.close();
    await receiver.waitFor(() => receiver.accepted.some((e) => e.type === 'call.ended'), 10_000, 'call.ended');
    expect(outbox.rows.map((r) => r.type)).toEqual(['call.started', 'call.ended']);
  }, 30_000);

  it('never holds a call up: with the outbox stuck (writes never finish) the call runs its turns and closes as usual', async () => {
    const stuck = new MemoryOutbox();
    const pushed: OutboxRowInput[] = [];
    stuck.enqueue = (rows) => {
      pushed.push(...rows);
      return new Promise<void>(() => undefined);
    };
    const { parley, receiver } = await setup({ turnCompleted: true }, stuck);
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created', 5000);
    speak((ev) => c.send(ev), pcmChunkB64, 300, 700);
    await until(() => c.of('response.done').length >= 2, 10_000, 'two responses');
    c.close();
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'the session closed');
    expect(receiver.requests).toEqual([]);
    // every event was handed to the (stuck) outbox, in order, and none of it held the call
    await until(() => pushed.some((r) => r.type === 'call.ended'), 2000, 'call.ended handed over');
    expect(pushed.map((r) => r.type)).toEqual(['call.started', 'call.answered', 'turn.completed', 'turn.completed', 'call.ended']);
  }, 30_000);
});
