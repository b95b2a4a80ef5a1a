/**
 * Several Parley instances on one PostgreSQL database (issue 13, docs/notes/calls.md "Several instances"):
 * two real processes (test/support/parley-process.ts) with their own PARLEY_INSTANCE_ID, a real
 * PostgreSQL (test/support/postgres.ts), WS calls through the fake OpenAI, a real webhook receiver.
 *
 * - each instance's live calls stay open while the other restarts (neither closes the other's calls);
 * - the live view of a call on B, watched through A (GET /v1/calls/live, GET /v1/calls/{id}/live);
 * - `kill -9` of B with calls on it: A closes them as `interrupted` within the TTL + one sweep, and
 *   each `call.ended` is delivered once;
 * - PostgreSQL stopped and started mid-test: new calls work meanwhile, their records and webhooks
 *   catch up, and no live call is closed as `interrupted` after the database comes back;
 * - every webhook event, produced on either instance, is delivered exactly once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { POSTGRES_AVAILABLE, startPostgres } from '../support/postgres.ts';
import { startParleyProcess, type ParleyProcess } from '../support/parley-process.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { TestClient, speak, until } from '../component/helpers.ts';
import { callEndedEventId } from '../../server/webhooks/index.ts';

const SECRET = 'whsec_pg_cluster_test_0123456789';
const KEY = 'pk_pg_cluster_test_key_0123456789';
const TTL_MS = 3000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)?.slice(0, 300)})`);
    await sleep(100);
  }
}

interface Call {
  id: string;
  client: TestClient;
}

/** A server-sent event stream read with fetch. */
function sseStream(url: string): { events: Array<{ event: string; data: Record<string, unknown> }>; done: Promise<void>; stop: () => void } {
  const ac = new AbortController();
  const events: Array<{ event: string; data: Record<string, unknown> }> = [];
  const done = (async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${KEY}` }, signal: ac.signal });
    if (res.status !== 200) throw new Error(`live view ${res.status}: ${await res.text()}`);
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev !== undefined && data !== undefined) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  })().catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') throw err;
  });
  return { events, done, stop: () => ac.abort() };
}

describe.skipIf(!POSTGRES_AVAILABLE)('two instances on one PostgreSQL', () => {
  it('own calls survive the other\'s restart; live view across instances; kill -9 → interrupted once; PostgreSQL down and back; each webhook once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-pg-cluster-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pg = await startPostgres();
    cleanups.push(() => pg.stop());
    const dbUrl = await pg.createDatabase('cluster');
    const fake = await new FakeOpenAI().start();
    cleanups.push(() => fake.stop());
    const receiver = await new WebhookReceiver(SECRET).start();
    cleanups.push(() => receiver.stop());
    const configPath = join(dir, 'parley.json');
    writeFileSync(configPath, JSON.stringify({
      webhooks: { url: receiver.url, secret: SECRET, turnCompleted: true, timeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 400, pollMs: 100 },
    }));
    const env = (id: string): Record<string, string> => ({
      LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off', PARLEY_API_KEYS: KEY, PARLEY_DRAIN_LIMIT_S: '0',
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
      PARLEY_DATA_DIR: join(dir, id), PARLEY_CONFIG: configPath, PARLEY_DATABASE_URL: dbUrl,
      PARLEY_INSTANCE_ID: id, PARLEY_INSTANCE_TTL_MS: String(TTL_MS),
    });
    const procs: ParleyProcess[] = [];
    const start = async (id: string): Promise<ParleyProcess> => {
      const p = await startParleyProcess(env(id));
      procs.push(p);
      return p;
    };
    cleanups.push(async () => {
      for (const p of procs) await p.stop();
      if (process.env['PG_CLUSTER_LOGS']) procs.forEach((p, i) => writeFileSync(join(process.env['PG_CLUSTER_LOGS']!, `proc-${i}.log`), p.out()));
    });
    const clients: TestClient[] = [];
    cleanups.push(() => clients.forEach((c) => c.close()));
    const open = async (p: ParleyProcess): Promise<Call> => {
      const client = new TestClient(`ws://127.0.0.1:${p.port}/v1/realtime?model=gpt-realtime`, { key: KEY });
      clients.push(client);
      await client.opened;
      const id = ((await client.waitFor('session.created', 10_000))['session'] as { id: string }).id;
      return { id, client };
    };
    const turn = async (c: Call): Promise<void> => {
      const before = c.client.of('response.done').length;
      speak((ev) => c.client.send(ev), pcmChunkB64, 300, 700);
      await until(() => c.client.of('response.done').length >= before + 2, 15_000, `a turn on ${c.id}`);
    };
    const record = async (p: ParleyProcess, id: string): Promise<Record<string, unknown>> => {
      const r = await fetch(`${p.url}/v1/calls/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
      if (r.status !== 200) throw new Error(`GET /v1/calls/${id}: ${r.status}`);
      return (await r.json()) as Record<string, unknown>;
    };
    const isOpen = (c: Call): boolean => c.client.ws.readyState === c.client.ws.OPEN;
    const stopGracefully = async (p: ParleyProcess): Promise<void> => {
      p.signal('SIGTERM');
      const e = await p.exited;
      expect(e.code, p.out().slice(-2000)).toBe(0);
    };

    let a = await start('pa');
    let b = await start('pb');

    // --- the live view of a call on B, watched through A ---
    const b1 = await open(b);
    await eventually(() => fetch(`${a.url}/v1/calls/live`, { headers: { authorization: `Bearer ${KEY}` } }).then((r) => r.json() as Promise<{ data: Array<{ id: string; instance?: string }> }>),
      (l) => l.data.some((c) => c.id === b1.id && c.instance === 'pb'), 5000, 'b1 in A\'s live list');
    const watch = sseStream(`${a.url}/v1/calls/${b1.id}/live`);
    cleanups.push(() => watch.stop());
    await until(() => watch.events.some((e) => e.event === 'call'), 5000, 'the live stream opened');
    await turn(b1);
    await until(() => watch.events.some((e) => e.event === 'line' && e.data['role'] === 'assistant'), 10_000, 'b1\'s reply seen through A');
    const lines = watch.events.filter((e) => e.event === 'line').map((e) => `${e.data['role'] as string}: ${e.data['text'] as string}`);
    expect(lines).toContain('user: what time is it');
    expect(lines.some((l) => l.startsWith('tool: get_current_time('))).toBe(true);
    b1.client.close();
    await until(() => watch.events.some((e) => e.event === 'end'), 10_000, 'b1\'s end seen through A');
    expect(watch.events.at(-1)).toMatchObject({ event: 'end', data: { id: b1.id, end_reason: 'caller_hangup' } });

    // --- each instance's calls stay open while the other restarts ---
    const a1 = await open(a);
    await turn(a1);
    const b2 = await open(b);
    await stopGracefully(b);
    b = await start('pb');
    await sleep(2 * TTL_MS + 500);
    expect(isOpen(a1)).toBe(true);
    expect((await record(a, a1.id))['end_reason']).toBeNull();
    // B's own call ended with B's graceful stop, not as interrupted
    expect((await record(a, b2.id))['end_reason']).not.toBe('interrupted');
    const b3 = await open(b);
    await turn(b3);
    a1.client.close();
    await stopGracefully(a);
    a = await start('pa');
    await sleep(2 * TTL_MS + 500);
    expect(isOpen(b3)).toBe(true);
    expect((await record(a, b3.id))['end_reason']).toBeNull();
    expect((await record(a, a1.id))['end_reason']).toBe('caller_hangup');

    // --- kill -9 B with calls on it: A closes them as interrupted within the TTL + one sweep ---
    const b4 = await open(b);
    await turn(b4);
    await sleep(300); // the turn's rows committed (50 ms batches)
    const killedAt = Date.now();
    b.child.kill('SIGKILL');
    await b.exited;
    const closedIn: number[] = [];
    for (const c of [b3, b4]) {
      await eventually(() => record(a, c.id), (r) => r['end_reason'] === 'interrupted', 4 * TTL_MS, `${c.id} interrupted`);
      closedIn.push(Date.now() - killedAt);
    }
    // TTL (3 s) + one sweep (TTL/2) + a heartbeat period of slack (TTL/4), + 1 s for a crowded machine
    expect(Math.max(...closedIn)).toBeLessThan(TTL_MS + TTL_MS / 2 + TTL_MS / 4 + 1000);
    console.log(`pg-cluster: kill -9 → B's calls interrupted by A after ${closedIn.join(', ')} ms (TTL ${TTL_MS} ms)`);
    const r4 = await record(a, b4.id);
    expect((r4['transcript'] as Array<{ role: string; text: string }>).map((t) => `${t.role}: ${t.text}`)).toContain('user: what time is it');
    for (const c of [b3, b4]) {
      await receiver.waitFor(() => receiver.accepted.some((e) => e.id === callEndedEventId(c.id)), 10_000, `${c.id} call.ended`);
      expect(receiver.accepted.find((e) => e.id === callEndedEventId(c.id))!.data).toMatchObject({ call_id: c.id, end_reason: 'interrupted' });
    }

    // --- PostgreSQL stops and comes back; calls go on meanwhile ---
    b = await start('pb');
    const a2 = await open(a);
    const b5 = await open(b);
    // everything so far delivered (nothing in flight when the database goes): no new request for 800 ms
    // (the outbox polls every second; a crowded machine delivers late)
    for (let settled = -1, t0 = Date.now(); settled !== receiver.requests.length;) {
      if (Date.now() - t0 > 15_000) throw new Error(`webhooks still arriving: ${receiver.requests.length}`);
      settled = receiver.requests.length;
      await sleep(800);
    }
    await pg.stopServer();
    const a3 = await open(a);
    await turn(a3);
    a3.client.close();
    await a3.client.closed;
    await sleep(2 * TTL_MS); // every heartbeat row has expired by the database's clock
    // nothing crashes (the dead one's last output in the message)
    expect(a.alive(), a.out().slice(-3000)).toBe(true);
    expect(b.alive(), b.out().slice(-3000)).toBe(true);
    await pg.startServer();
    // the records written meanwhile catch up (the writer retries in order)
    const r3 = await eventually(() => record(a, a3.id), (r) => r['end_reason'] === 'caller_hangup', 20_000, 'a3\'s record after the outage');
    expect((r3['transcript'] as Array<{ role: string; text: string }>).map((t) => `${t.role}: ${t.text}`)).toContain('user: what time is it');
    await receiver.waitFor(() => receiver.accepted.some((e) => e.id === callEndedEventId(a3.id)), 20_000, 'a3 call.ended after the outage');
    // nobody closes a live call because its heartbeat lapsed while the database was down
    await sleep(2 * TTL_MS + 500);
    for (const c of [a2, b5]) {
      expect(isOpen(c)).toBe(true);
      expect((await record(a, c.id))['end_reason'], c.id).toBeNull();
    }
    await turn(a2);
    await turn(b5);
    a2.client.close();
    b5.client.close();
    for (const c of [a2, b5]) await eventually(() => record(b, c.id), (r) => r['end_reason'] === 'caller_hangup', 10_000, `${c.id} closed`);
    for (const c of [a2, b5]) await receiver.waitFor(() => receiver.accepted.some((e) => e.id === callEndedEventId(c.id)), 10_000, `${c.id} call.ended`);
    await sleep(1000); // a moment for any late duplicate

    // --- every event, from either instance, delivered exactly once ---
    expect(receiver.badSignatures).toEqual([]);
    const count = new Map<string, number>();
    for (const e of receiver.requests) count.set(e.id, (count.get(e.id) ?? 0) + 1);
    const twice = [...count].filter(([, n]) => n !== 1).map(([id]) => receiver.requests.filter((e) => e.id === id).map((e) => `${e.type} ${e.data['call_id'] as string} attempt ${e.attempt} status ${e.status} +${e.receivedAtMs - killedAt} ms`));
    expect(twice).toEqual([]);
    const ended = receiver.accepted.filter((e) => e.type === 'call.ended').map((e) => e.data['call_id']);
    for (const c of [b1, a1, b2, b3, b4, a3, a2, b5]) expect(ended.filter((x) => x === c.id), c.id).toHaveLength(1);
    // both instances delivered some of them (SKIP LOCKED shares the outbox, it does not pin it)
    expect(receiver.requests.length).toBeGreaterThan(20);
  }, 240_000);
});
