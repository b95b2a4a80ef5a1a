/**
 * Webhooks survive a crash (issue 11 §5): Parley runs as a real process (server/main.ts) on an
 * SQLite data dir; a real receiver checks every signature, refuses the first attempts (500) and is
 * down while Parley is SIGKILLed in the middle of a WS call and started again on the same data dir.
 * Once the receiver is back: every event arrives, none twice with different ids (the same id twice
 * is allowed: at least once), in order per call, and the interrupted call's call.ended says
 * end_reason `interrupted`.
 *
 * On SQLite in `npm test`; `WEBHOOKS_TEST_POSTGRES=1 npx vitest run test/component/webhooks-restart.test.ts`
 * runs it on a throwaway PostgreSQL cluster instead (test/support/postgres.ts).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { spawnMain } from '../support/parley-process.ts';
import { startPostgres } from '../support/postgres.ts';
import { WebhookReceiver, type ReceivedEvent } from '../support/webhook-receiver.ts';
import { TestClient, speak, until } from './helpers.ts';

const SECRET = 'whsec_restart_test_0123456789';
const KEY = 'pk_webhooks_restart_key_0123456789';

interface Proc {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  port: number;
}

async function startParley(env: Record<string, string>): Promise<Proc> {
  const { child, out } = spawnMain(env);
  let port = 0;
  await until(() => {
    const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out());
    if (m) port = Number(m[1]);
    if (child.exitCode !== null) throw new Error(`parley exited ${child.exitCode}: ${out()}`);
    return port > 0;
  }, 30_000, 'parley listening');
  return { child, out, port };
}

const exited = (child: ChildProcessWithoutNullStreams): Promise<void> =>
  new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A call's accepted events, each id once (its first arrival), in arrival order. */
function firstArrivals(r: WebhookReceiver, callId: string): ReceivedEvent[] {
  const seen = new Set<string>();
  return r.accepted.filter((e) => e.data['call_id'] === callId && !seen.has(e.id) && seen.add(e.id));
}

const POSTGRES = process.env['WEBHOOKS_TEST_POSTGRES'] === '1';

describe(`webhooks across a crash (SIGKILL) and a restart on the same database (${POSTGRES ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('every event arrives, none twice with different ids, in order per call; the interrupted call ends `interrupted`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-wh-restart-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db: Record<string, string> = {};
    if (POSTGRES) {
      const pg = await startPostgres();
      cleanups.push(() => pg.stop());
      db['PARLEY_DATABASE_URL'] = await pg.createDatabase('webhooks_restart');
    }
    const fake = await new FakeOpenAI().start();
    cleanups.push(() => fake.stop());
    const receiver = await new WebhookReceiver(SECRET).start();
    cleanups.push(() => receiver.stop());
    receiver.refuseFirst(2);
    const configPath = join(dir, 'parley.json');
    writeFileSync(configPath, JSON.stringify({
      webhooks: { url: receiver.url, secret: SECRET, turnCompleted: true, timeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 400, pollMs: 100 },
    }));
    const env = {
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off', PARLEY_API_KEYS: KEY,
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
      PARLEY_DATA_DIR: join(dir, 'data'), PARLEY_CONFIG: configPath, ...db,
    };
    let a: Proc | null = await startParley(env);
    cleanups.push(() => { if (a && a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL'); });
    const wsUrl = (p: Proc): string => `ws://127.0.0.1:${p.port}/v1/realtime?model=gpt-realtime`;

    // call 1: a whole call (one spoken turn: a tool call, then the answer), hung up by the caller
    const c1 = new TestClient(wsUrl(a), { key: KEY });
    cleanups.push(() => c1.close());
    await c1.opened;
    const call1 = ((await c1.waitFor('session.created', 10_000))['session'] as { id: string }).id;
    speak((ev) => c1.send(ev), pcmChunkB64, 300, 700);
    await until(() => c1.of('response.done').length >= 2, 15_000, 'call 1 answered');
    c1.close();
    await receiver.waitFor(() => receiver.accepted.some((e) => e.data['call_id'] === call1 && e.type === 'call.ended'), 15_000, 'call 1 ended');

    // call 2: in progress; its start is delivered, then the receiver goes down and the call goes on
    const c2 = new TestClient(wsUrl(a), { key: KEY });
    cleanups.push(() => c2.close());
    await c2.opened;
    const call2 = ((await c2.waitFor('session.created', 10_000))['session'] as { id: string }).id;
    await receiver.waitFor(() => receiver.accepted.some((e) => e.data['call_id'] === call2 && e.type === 'call.answered'), 15_000, 'call 2 answered');
    await receiver.stop();
    speak((ev) => c2.send(ev), pcmChunkB64, 300, 700);
    await until(() => c2.of('response.done').length >= 2, 15_000, 'call 2 turn');
    // the turn's events reach the database (the store commits within ~50 ms) and fail against the dead receiver
    await new Promise((r) => setTimeout(r, 600));

    // crash mid-call, then start again on the same data dir while the receiver is still down
    a.child.kill('SIGKILL');
    await exited(a.child);
    const crashed = a;
    a = null;
    expect(crashed.child.signalCode).toBe('SIGKILL');
    await c2.closed;
    const b = await startParley(env);
    cleanups.push(async () => {
      if (b.child.exitCode === null && b.child.signalCode === null) {
        b.child.kill('SIGTERM');
        await exited(b.child);
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    await receiver.start(); // same port
    // the records close a call whose process is gone once it has not been seen for ~20 s (server/calls/)
    await receiver.waitFor(() => receiver.accepted.some((e) => e.data['call_id'] === call2 && e.type === 'call.ended'), 60_000, 'call 2 ended (interrupted)');
    // a moment for any late duplicate
    await new Promise((r) => setTimeout(r, 300));

    expect(receiver.badSignatures).toEqual([]);
    // the first attempts were refused and came again
    expect(receiver.requests.slice(0, 3).map((e) => e.status)).toEqual([500, 500, 200]);
    expect(receiver.requests[2]!.id).toBe(receiver.requests[0]!.id);

    const ev1 = firstArrivals(receiver, call1);
    const ev2 = firstArrivals(receiver, call2);
    expect(ev1.map((e) => e.type)).toEqual(['call.started', 'call.answered', 'turn.completed', 'turn.completed', 'call.ended']);
    expect(ev2.map((e) => e.type)).toEqual(['call.started', 'call.answered', 'turn.completed', 'turn.completed', 'call.ended']);
    // in order: the turns as they happened; the same id never came back after a later event of its call
    for (const evs of [ev1, ev2]) {
      expect(evs.filter((e) => e.type === 'turn.completed').map((e) => e.data['turn'])).toEqual([1, 2]);
      const order = evs.map((e) => e.id);
      const all = receiver.accepted.filter((e) => e.data['call_id'] === evs[0]!.data['call_id']).map((e) => order.indexOf(e.id));
      for (let i = 1; i < all.length; i++) expect(all[i]!).toBeGreaterThanOrEqual(all[i - 1]! - 0);
    }
    // none twice with different ids: one id per event (type + turn) of each call
    const keys = receiver.accepted.map((e) => `${e.data['call_id'] as string}|${e.type}|${String(e.data['turn'] ?? '')}`);
    const idsPerKey = new Map<string, Set<string>>();
    receiver.accepted.forEach((e, i) => idsPerKey.set(keys[i]!, (idsPerKey.get(keys[i]!) ?? new Set()).add(e.id)));
    for (const [k, ids] of idsPerKey) expect(ids.size, k).toBe(1);
    // call.ended is the end-of-call report: the record as GET /v1/calls/{id} returns it
    const end1 = ev1.at(-1)!.data;
    const end2 = ev2.at(-1)!.data;
    expect(end1).toMatchObject({ call_id: call1, id: call1, door: 'ws', end_reason: 'caller_hangup', recording_url: null });
    expect(end2).toMatchObject({ call_id: call2, id: call2, door: 'ws', end_reason: 'interrupted' });
    for (const end of [end1, end2]) {
      if (process.env['DEBUG_WH']) console.log(JSON.stringify(end, null, 1));
      const said = (end['transcript'] as Array<{ role: string; text: string }>).map((t) => `${t.role}: ${t.text}`);
      expect(said).toContain('user: what time is it');
      expect((end['tool_calls'] as Array<{ name: string }>).map((t) => t.name)).toEqual(['get_current_time']);
      expect(end['cost']).toMatchObject({ currency: 'USD' });
      expect(typeof end['ended_at']).toBe('string');
    }
    const api = await fetch(`http://127.0.0.1:${b.port}/v1/calls/${call2}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(api.status).toBe(200);
    const fromApi = (await api.json()) as Record<string, unknown>;
    expect({ call_id: call2, ...fromApi }).toEqual(end2);
    expect(b.out()).not.toMatch(/"level":50.*webhook/);
  }, 120_000);
});
