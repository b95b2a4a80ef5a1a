/**
 * Who gets a session slot, over real WebSockets on 127.0.0.1: ephemeral (`ek_…`) keys are held to
 * their own caps (PARLEY_EPHEMERAL_MAX_SESSIONS for all of them, PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY
 * and a key's own cap for one), so they can never take every PARLEY_MAX_SESSIONS slot from a client
 * with a server key; slots come back when sockets close, however they close. A dead peer (no pong)
 * is cut by the WS keepalive (PARLEY_WS_PING_INTERVAL_MS) and its session ends. Expired keys are
 * swept without a new mint.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KeyStore } from '../../server/auth.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { sleep, startParley, TEST_KEY, TestClient, until, type Parley } from './helpers.ts';

async function openStatus(c: TestClient): Promise<{ status: number; code?: string }> {
  try {
    await c.opened;
    return { status: 101 };
  } catch (err) {
    return { status: (err as { status?: number }).status ?? -1 };
  }
}

/** An upgrade with `key`; on refusal, the HTTP status and the error code of the body. */
function tryOpen(parley: Parley, key: string): Promise<{ status: number; code?: string; client?: TestClient }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(parley.wsUrl, ['realtime', `openai-insecure-api-key.${key}`], { perMessageDeflate: false });
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const code = (JSON.parse(body) as { error: { code: string } }).error.code;
        resolve({ status: res.statusCode ?? -1, code });
      });
    });
  });
}

async function mintKey(parley: Parley, body: unknown = {}): Promise<string> {
  const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { value: string }).value;
}

async function sessionsActive(parley: Parley): Promise<number> {
  const text = await (await fetch(`${parley.httpUrl}/metrics`)).text();
  const m = /^parley_sessions_active(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (!m) throw new Error('no parley_sessions_active in /metrics');
  return Number(m[1]);
}

describe('session admission for ephemeral keys', () => {
  let fake: FakeOpenAI;
  const parleys: Parley[] = [];
  const clients: TestClient[] = [];
  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of parleys.splice(0)) await p.close();
  });
  afterAll(async () => {
    await fake?.stop();
  });

  async function start(env: Record<string, string>): Promise<Parley> {
    const p = await startParley({ fake, env });
    parleys.push(p);
    return p;
  }
  function client(p: Parley, key: string, viaSubprotocol = true): TestClient {
    const c = viaSubprotocol ? new TestClient(p.wsUrl, { key: null, protocols: ['realtime', `openai-insecure-api-key.${key}`] }) : new TestClient(p.wsUrl, { key });
    clients.push(c);
    return c;
  }

  it('one ek_ key cannot take every slot of PARLEY_MAX_SESSIONS=5: it fills its share and a server key still gets in', async () => {
    const p = await start({ PARLEY_MAX_SESSIONS: '5' });
    const ek = await mintKey(p);
    const held: TestClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = client(p, ek);
      expect(await openStatus(c)).toEqual({ status: 101 });
      await c.waitFor('session.created');
      held.push(c);
    }
    // the 5th on an ephemeral key is refused, even with a second key
    expect(await tryOpen(p, ek)).toEqual({ status: 503, code: 'ephemeral_session_limit' });
    expect(await tryOpen(p, await mintKey(p))).toEqual({ status: 503, code: 'ephemeral_session_limit' });
    // the server key gets the slot kept for it
    const server = client(p, TEST_KEY, false);
    expect(await openStatus(server)).toEqual({ status: 101 });
    await server.waitFor('session.created');
    expect(p.app.parley.sessions.active).toBe(5);
    // a closed ek_ session gives its slot back
    held[0]!.close();
    await until(() => p.app.parley.keys.ephemeralSessions === 3, 3000, 'slot released');
    await until(() => p.app.parley.sessions.active === 4, 3000, 'session closed');
    const again = client(p, ek);
    expect(await openStatus(again)).toEqual({ status: 101 });
    await again.waitFor('session.created');
  });

  it('PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY caps one key (429); other keys and server keys still get in', async () => {
    const p = await start({ PARLEY_MAX_SESSIONS: '10', PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY: '2' });
    const a = await mintKey(p);
    for (let i = 0; i < 2; i++) {
      const c = client(p, a);
      expect(await openStatus(c)).toEqual({ status: 101 });
      await c.waitFor('session.created');
    }
    expect(await tryOpen(p, a)).toEqual({ status: 429, code: 'key_session_limit' });
    const b = client(p, await mintKey(p));
    expect(await openStatus(b)).toEqual({ status: 101 });
    const server = client(p, TEST_KEY, false);
    expect(await openStatus(server)).toEqual({ status: 101 });
    await server.waitFor('session.created');
  });

  it('a key minted in-process with its own cap (as the demo does) is held to it', async () => {
    const p = await start({});
    const { value } = p.app.parley.clientSecrets.mint({ ttlS: 60, maxSessions: 1 });
    const c = client(p, value);
    expect(await openStatus(c)).toEqual({ status: 101 });
    await c.waitFor('session.created');
    expect(await tryOpen(p, value)).toEqual({ status: 429, code: 'key_session_limit' });
  });

  it('slots come back when clients vanish abruptly, before or after the upgrade', async () => {
    const p = await start({ PARLEY_MAX_SESSIONS: '3', PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY: '1' });
    const ek = await mintKey(p);
    for (let round = 0; round < 5; round++) {
      const c = client(p, ek);
      expect(await openStatus(c), `round ${round}`).toEqual({ status: 101 });
      c.ws.terminate(); // no close frame: a TCP drop as far as the server can tell
      await until(() => p.app.parley.keys.ephemeralSessions === 0, 3000, 'slot freed after a drop');
    }
    await until(() => p.app.parley.sessions.active === 0, 3000, 'sessions gone');
  });
});

describe('WS keepalive: a peer that stops answering pings is cut and its session ends', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    parley = await startParley({ fake, env: { PARLEY_WS_PING_INTERVAL_MS: '200' } });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  it('a client with autoPong off loses its session; one that answers keeps it; sessions_active returns to 0', async () => {
    const live = new TestClient(parley.wsUrl);
    await live.waitFor('session.created');
    const dead = new WebSocket(parley.wsUrl, { headers: { authorization: `Bearer ${TEST_KEY}` }, autoPong: false, perMessageDeflate: false });
    dead.on('error', () => undefined);
    let pings = 0;
    dead.on('ping', () => pings++);
    const deadClosed = new Promise<number>((resolve) => dead.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => dead.once('open', () => resolve()));
    await until(() => parley.app.parley.sessions.active === 2, 3000, 'two sessions');
    expect(await sessionsActive(parley)).toBe(2);
    // cut within two intervals (plus slack for a busy machine)
    expect(await deadClosed).toBe(1006);
    expect(pings).toBeGreaterThanOrEqual(1);
    await until(() => parley.app.parley.sessions.active === 1, 3000, 'the dead peer\'s session closed');
    expect(await sessionsActive(parley)).toBe(1);
    // the answering client is still there after several intervals
    await sleep(600);
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    live.close();
    await until(() => parley.app.parley.sessions.active === 0, 3000, 'all closed');
    expect(await sessionsActive(parley)).toBe(0);
  });
});

describe('KeyStore sweeps expired ephemeral keys without a new mint', () => {
  it('the store shrinks on its own timer once keys are past expiry (and their "expired" memory)', async () => {
    let nowMs = 1_000_000;
    const store = new KeyStore([], { now: () => nowMs, purgeIntervalMs: 20, expiredMemoryMs: 1000 });
    try {
      const a = store.mintEphemeral(10, null);
      store.mintEphemeral(10, null);
      store.mintEphemeral(60, null);
      expect(store.ephemeralCount).toBe(3);
      nowMs += 10_500; // two expired, still remembered as expired
      await sleep(80);
      expect(store.ephemeralCount).toBe(3);
      expect(store.check(a.value)).toMatchObject({ ok: false, reason: 'expired' });
      nowMs += 1000; // past the memory: swept by the timer, no mint in between
      await until(() => store.ephemeralCount === 1, 2000, 'sweep');
      expect(store.check(a.value)).toMatchObject({ ok: false, reason: 'invalid' });
      nowMs += 60_000;
      await until(() => store.ephemeralCount === 0, 2000, 'sweep of the last');
    } finally {
      store.close();
    }
  });

  it('a lookup of a key past its memory forgets it at once', () => {
    let nowMs = 0;
    const store = new KeyStore([], { now: () => nowMs, purgeIntervalMs: 60_000, expiredMemoryMs: 1000 });
    try {
      const a = store.mintEphemeral(10, null);
      nowMs = 20_000;
      expect(store.check(a.value)).toMatchObject({ ok: false, reason: 'invalid' });
      expect(store.ephemeralCount).toBe(0);
    } finally {
      store.close();
    }
  });
});
