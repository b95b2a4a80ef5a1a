/** Authentication before the upgrade: server keys, ephemeral keys, the browser subprotocol. */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TEST_KEY, TestClient, until, type Parley } from './helpers.ts';

async function mint(parley: Parley, body: unknown, key: string | null = TEST_KEY): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/**
 * A WebSocket upgrade over a raw TCP socket offering `protocols` (and no Authorization header):
 * returns the response head exactly as sent, then drops the connection.
 */
function rawUpgrade(parley: Parley, protocols: string[]): Promise<string> {
  const { hostname, port } = new URL(parley.httpUrl);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: hostname, port: Number(port) });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no response head; got ${JSON.stringify(buf)}`));
    }, 5000);
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        clearTimeout(timer);
        sock.destroy();
        resolve(buf.slice(0, end + 2));
      }
    });
    sock.write(
      `GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n\r\n`,
    );
  });
}

async function rejectedStatus(c: TestClient): Promise<number> {
  try {
    await c.opened;
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

describe('auth on /v1/realtime and client secrets', () => {
  let fake: FakeOpenAI;
  let parley: Parley;

  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    parley = await startParley({ fake });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  it('answers 401 without a key and with a wrong key, before any upstream connection', async () => {
    const upgradesBefore = fake.upgrades;
    expect(await rejectedStatus(new TestClient(parley.wsUrl, { key: null }))).toBe(401);
    expect(await rejectedStatus(new TestClient(parley.wsUrl, { key: 'pk_wrong_key_that_is_long_enough' }))).toBe(401);
    expect(fake.upgrades).toBe(upgradesBefore);
    expect(parley.app.parley.metrics.authFailures.get({ reason: 'missing' })).toBeGreaterThanOrEqual(1);
    expect(parley.app.parley.metrics.authFailures.get({ reason: 'invalid' })).toBeGreaterThanOrEqual(1);
  });

  it('accepts a server key as Bearer', async () => {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    c.close();
  });

  it('accepts the browser subprotocol openai-insecure-api-key.<key> and answers "realtime"', async () => {
    const c = new TestClient(parley.wsUrl, { key: null, protocols: ['realtime', `openai-insecure-api-key.${TEST_KEY}`] });
    await c.opened;
    expect(c.ws.protocol).toBe('realtime');
    await c.waitFor('session.created');
    c.close();
  });

  it('never echoes openai-insecure-api-key.<key> as the chosen subprotocol: the 101 response does not carry the key', async () => {
    // only the key offered: no subprotocol is chosen (the key is never sent back)
    const head = await rawUpgrade(parley, [`openai-insecure-api-key.${TEST_KEY}`]);
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).not.toContain(TEST_KEY);
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol');
    // the key first and another protocol after it: the other one is chosen
    const other = await rawUpgrade(parley, [`openai-insecure-api-key.${TEST_KEY}`, 'x-parley-test']);
    expect(other).toMatch(/^HTTP\/1\.1 101 /);
    expect(other).not.toContain(TEST_KEY);
    expect(other).toMatch(/\r\nsec-websocket-protocol: x-parley-test\r\n/i);
    // the beta door (accepted, then closed with 4000) does not echo it either
    const beta = await rawUpgrade(parley, [`openai-insecure-api-key.${TEST_KEY}`, 'openai-beta.realtime-v1']);
    expect(beta).toMatch(/^HTTP\/1\.1 101 /);
    expect(beta).not.toContain(TEST_KEY);
    // an ephemeral key is not echoed either
    const ek = (await mint(parley, {})).json['value'] as string;
    const withEk = await rawUpgrade(parley, [`openai-insecure-api-key.${ek}`]);
    expect(withEk).toMatch(/^HTTP\/1\.1 101 /);
    expect(withEk).not.toContain(ek);
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'raw sessions closed');
  });

  it('mints ephemeral keys shaped like OpenAI, bound to a session config, usable as a subprotocol', async () => {
    const { status, json } = await mint(parley, { expires_after: { anchor: 'created_at', seconds: 60 }, session: { type: 'realtime', instructions: 'You are a pirate.' } });
    expect(status).toBe(200);
    expect(json['value']).toMatch(/^ek_[A-Za-z0-9]{32}$/);
    const now = Math.floor(Date.now() / 1000);
    expect(json['expires_at']).toBeGreaterThanOrEqual(now + 58);
    expect(json['expires_at']).toBeLessThanOrEqual(now + 61);
    const session = json['session'] as Record<string, unknown>;
    expect(session['type']).toBe('realtime');
    expect(session['object']).toBe('realtime.session');
    expect(session['instructions']).toBe('You are a pirate.');

    const c = new TestClient(parley.wsUrl, { key: null, protocols: ['realtime', `openai-insecure-api-key.${json['value'] as string}`] });
    await c.opened;
    const created = await c.waitFor('session.created');
    expect((created['session'] as Record<string, unknown>)['instructions']).toBe('You are a pirate.');
    // a call's id is Parley's session id (records, webhooks, /v1/calls), not the upstream's
    expect((created['session'] as Record<string, unknown>)['id']).toBe(parley.app.parley.sessions.list()[0]?.id);
    expect((created['session'] as Record<string, unknown>)['id']).toMatch(/^sess_/);
    // the bound config reached the upstream
    await until(() => fake.received('session.update').some((e) => (e['session'] as Record<string, unknown>)['instructions'] === 'You are a pirate.'), 3000, 'bound instructions upstream');
    c.close();
  });

  it('defaults to 600 s and rejects TTLs outside 10..7200 and bad sessions with a 400', async () => {
    const d = await mint(parley, {});
    expect(d.status).toBe(200);
    expect((d.json['expires_at'] as number) - Math.floor(Date.now() / 1000)).toBeGreaterThanOrEqual(598);
    for (const seconds of [5, 7201, 1.5]) {
      const r = await mint(parley, { expires_after: { anchor: 'created_at', seconds } });
      expect(r.status).toBe(400);
      expect((r.json['error'] as Record<string, unknown>)['param']).toBe('expires_after.seconds');
    }
    const beta = await mint(parley, { session: { type: 'realtime', modalities: ['audio'] } });
    expect(beta.status).toBe(400);
    expect((beta.json['error'] as Record<string, unknown>)['param']).toBe('session.modalities');
  });

  it('answers a malformed body with a 400 in OpenAI\'s error shape', async () => {
    const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      body: '{"expires_after":',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error['type']).toBe('invalid_request_error');
    expect(body.error['code']).toBe('invalid_json');
  });

  it('needs a server key to mint (no key, wrong key, or an ephemeral key: 401)', async () => {
    expect((await mint(parley, {}, null)).status).toBe(401);
    expect((await mint(parley, {}, 'pk_wrong_key_that_is_long_enough')).status).toBe(401);
    const ek = (await mint(parley, {})).json['value'] as string;
    expect((await mint(parley, {}, ek)).status).toBe(401);
  });

  it('rejects an expired ephemeral key with 401', async () => {
    // mint in-process with a clock in the past is not possible: use the shortest TTL and a fake clock on the store
    const { value } = parley.app.parley.keys.mintEphemeral(10, null);
    const c1 = new TestClient(parley.wsUrl, { key: value });
    await c1.opened;
    c1.close();
    const keys = parley.app.parley.keys;
    const realNow = Date.now;
    try {
      Date.now = () => realNow() + 11_000;
      expect(keys.check(value)).toMatchObject({ ok: false, reason: 'expired' });
      expect(await rejectedStatus(new TestClient(parley.wsUrl, { key: value }))).toBe(401);
    } finally {
      Date.now = realNow;
    }
  });

  it('rejects the beta handshake (OpenAI-Beta header) as OpenAI does: error beta_api_shape_disabled, close 4000', async () => {
    const upgradesBefore = fake.upgrades;
    const c = new TestClient(parley.wsUrl, { headers: { 'OpenAI-Beta': 'realtime=v1' } });
    const err = await c.waitFor('error', 3000);
    expect((err['error'] as Record<string, unknown>)['code']).toBe('beta_api_shape_disabled');
    expect((await c.closed).code).toBe(4000);
    expect(fake.upgrades).toBe(upgradesBefore);
  });

  it('never puts keys in the session log or /metrics', async () => {
    const metrics = await (await fetch(`${parley.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain(TEST_KEY);
    expect(metrics).not.toContain(fake.apiKey);
  });
});
