/**
 * Agent profiles through the WS door (server/routes/realtime.ts, server/profiles/), against the fake OpenAI
 * upstream: the profile by `?profile=`, by an ephemeral key bound at mint, by the routes' default; what the
 * engine is told (instructions, voice, tools: only the profile's), the first message, maxCallS; and the
 * incoming-call hook with a real HTTP backend in the test that checks `Parley-Signature` (a normal answer,
 * a slow one, garbage), and the in-process hook. Also: server/main.ts refuses to start on a profile naming
 * an unknown tool (exit 2, "bad configuration").
 */
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TestClient, TEST_KEY, until, type Parley } from './helpers.ts';
import { verifySignature } from '../../server/signing.ts';
import type { SessionEnd, SessionInfo } from '../../server/session/index.ts';
import type { AppDeps } from '../../server/app.ts';

const SECRET = 'whsec_profiles_test_secret';
type Json = Record<string, unknown>;

const FILE = {
  profiles: {
    sales: { instructions: 'You are Acme sales.', voice: 'cedar', tools: ['lookup_order'], metadata: { team: 'sales' } },
    support: { instructions: 'You are Acme support.', voice: 'sage', firstMessage: 'Hello, this is Acme support.', metadata: { team: 'support' } },
    short: { instructions: 'Be quick.', maxCallS: 1 },
    default: { instructions: 'You are the Acme switchboard.', voice: 'ash', metadata: { team: 'switchboard' } },
  },
  routes: [{ door: 'sip', dialled: { prefix: '1800' }, profile: 'sales' }],
};

const lookupOrder = { name: 'lookup_order', description: 'Find an order.', parameters: { type: 'object', properties: {} }, handler: () => ({ status: 'shipped' }) };

interface Seen { info: SessionInfo; end?: SessionEnd }

async function withParley(fake: FakeOpenAI, file: unknown, env: Record<string, string> = {}, deps: AppDeps = {}): Promise<{ parley: Parley; seen: Seen[] }> {
  const parley = await startParley({ fake, file, env, deps: { tools: [lookupOrder], ...deps } });
  const seen: Seen[] = [];
  parley.app.parley.sessions.observe((info) => {
    const s: Seen = { info };
    seen.push(s);
    return { closed: (_i, end) => { s.end = end; } };
  });
  return { parley, seen };
}

const upstreamSession = (fake: FakeOpenAI, conn: number): Json => {
  const ups = fake.connections[conn]!.received.filter((e) => e['type'] === 'session.update');
  return ups.at(-1)!['session'] as Json;
};
const voiceOf = (s: Json): unknown => ((s['audio'] as Json | undefined)?.['output'] as Json | undefined)?.['voice'];
const toolNames = (s: Json): string[] => ((s['tools'] as Json[] | undefined) ?? []).map((t) => String(t['name']));

async function upgradeStatus(url: string, key = TEST_KEY): Promise<{ status: number; body: Json }> {
  const c = new TestClient(url, { key });
  try {
    await c.opened;
    c.close();
    return { status: 101, body: {} };
  } catch (err) {
    return { status: (err as { status: number }).status, body: {} };
  }
}

/** A WS upgrade request; the answer's status and JSON body when it is refused. */
function rawUpgrade(parley: Parley, query: string, key = TEST_KEY): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${parley.httpUrl}/v1/realtime?${query}`, {
      headers: { authorization: `Bearer ${key}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, body: {} });
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('profiles over WS', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  let seen: Seen[];
  const clients: TestClient[] = [];
  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    ({ parley, seen } = await withParley(fake, FILE));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await parley.close();
    await fake.stop();
  });
  const connect = async (query: string, key?: string): Promise<TestClient> => {
    const c = new TestClient(`${parley.wsUrl}&${query}`, key !== undefined ? { key: null, protocols: ['realtime', `openai-insecure-api-key.${key}`] } : {});
    clients.push(c);
    await c.opened;
    await c.waitFor('session.created');
    return c;
  };

  it("?profile= (server key): the profile's instructions, voice and only its tools reach the engine; the session says which profile", async () => {
    const before = fake.connections.length;
    const c = await connect('profile=sales');
    await until(() => fake.connections.length > before && fake.connections[before]!.received.some((e) => e['type'] === 'session.update'), 3000, 'upstream session.update');
    const up = upstreamSession(fake, before);
    expect(up['instructions']).toBe('You are Acme sales.');
    expect(voiceOf(up)).toBe('cedar');
    expect(toolNames(up)).toEqual(['lookup_order']); // not get_current_time, which the server enables for everyone
    const s = seen.at(-1)!.info;
    expect(s.profile).toBe('sales');
    expect(s.metadata).toEqual({ team: 'sales', credential: 'server' });
    c.close();
  });

  it('no ?profile=: the routes (none match a WS call) then the profile named default', async () => {
    const before = fake.connections.length;
    const c = await connect('');
    await until(() => fake.connections.length > before && fake.connections[before]!.received.some((e) => e['type'] === 'session.update'), 3000, 'upstream session.update');
    const up = upstreamSession(fake, before);
    expect(up['instructions']).toBe('You are the Acme switchboard.');
    expect(voiceOf(up)).toBe('ash');
    expect(toolNames(up).sort()).toEqual(['get_current_time', 'lookup_order']); // no tool list: every server tool
    expect(seen.at(-1)!.info.profile).toBe('default');
    c.close();
  });

  it('an ephemeral key bound to a profile at mint gets it, and cannot pick another', async () => {
    const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ profile: 'support', expires_after: { seconds: 60 } }),
    });
    expect(res.status).toBe(200);
    const minted = (await res.json()) as { value: string; session: Json };
    expect(minted.session['instructions']).toBe('You are Acme support.');
    expect(voiceOf(minted.session)).toBe('sage');
    const before = fake.connections.length;
    const c = await connect('', minted.value);
    await until(() => fake.connections.length > before && fake.connections[before]!.received.some((e) => e['type'] === 'session.update'), 3000, 'upstream session.update');
    expect(upstreamSession(fake, before)['instructions']).toBe('You are Acme support.');
    expect(seen.at(-1)!.info).toMatchObject({ profile: 'support', metadata: { team: 'support', credential: 'ephemeral' } });
    // the first message: a response.create whose instructions say exactly that, and the reply reaches the client
    await until(() => fake.connections[before]!.received.some((e) => e['type'] === 'response.create'), 3000, 'first message upstream');
    const rc = fake.connections[before]!.received.find((e) => e['type'] === 'response.create')!;
    expect((rc['response'] as Json)['instructions']).toMatch(/^Say exactly the following.*: "Hello, this is Acme support\."$/);
    await c.waitFor('response.done', 5000);
    c.close();
    // the same key may name its own profile, not another
    const same = new TestClient(`${parley.wsUrl}&profile=support`, { key: null, protocols: ['realtime', `openai-insecure-api-key.${minted.value}`] });
    clients.push(same);
    await same.opened;
    same.close();
    const other = await rawUpgrade(parley, 'profile=sales', minted.value);
    expect(other.status).toBe(403);
    expect(other.body['error']).toMatchObject({ code: 'profile_not_allowed' });
  });

  it('an unknown profile: 400 before the upgrade (WS) and at mint', async () => {
    const r = await rawUpgrade(parley, 'profile=salse');
    expect(r.status).toBe(400);
    expect(r.body['error']).toMatchObject({ code: 'unknown_profile' });
    expect(String((r.body['error'] as Json)['message'])).toMatch(/Unknown profile "salse"\. Known profiles: sales, support, short, default/);
    const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ profile: 'salse' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json)['error']).toMatchObject({ code: 'unknown_profile', param: 'profile' });
  });

  it('an unbound ephemeral key may not pick a profile', async () => {
    const res = await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}` } });
    const { value } = (await res.json()) as { value: string };
    expect((await rawUpgrade(parley, 'profile=sales', value)).status).toBe(403);
    expect((await upgradeStatus(`${parley.wsUrl}`, value)).status).toBe(101);
  });

  it('maxCallS: the session ends with close 1000 and end reason max_duration', async () => {
    const t0 = Date.now();
    const c = await connect('profile=short');
    const closed = await c.closed;
    const ms = Date.now() - t0;
    expect(closed.code).toBe(1000);
    expect(closed.reason).toMatch(/maximum call length/);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(4000);
    await until(() => seen.at(-1)?.end !== undefined, 2000, 'closed');
    expect(seen.at(-1)!.end!.endReason).toBe('max_duration');
  });
});

/** The backend: checks the signature, records what it got, answers as told. */
class Backend {
  readonly server: Server;
  readonly got: Array<{ body: Json; headers: IncomingMessage['headers']; verified: boolean }> = [];
  answer: (facts: Json) => { delayMs?: number; status?: number; body: string } = () => ({ body: '{}' });
  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const v = verifySignature(req.headers['parley-signature'], raw, SECRET);
        const body = JSON.parse(raw) as Json;
        this.got.push({ body, headers: req.headers, verified: v.ok });
        if (!v.ok) return void res.writeHead(401).end();
        const a = this.answer(body['data'] as Json);
        const send = (): void => {
          if (!res.destroyed) res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(a.body);
        };
        if (a.delayMs) setTimeout(send, a.delayMs);
        else send();
      });
    });
  }
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/incoming`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('the incoming-call hook (WS door)', () => {
  let fake: FakeOpenAI;
  let backend: Backend;
  let parley: Parley;
  let seen: Seen[];
  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    backend = new Backend();
    const url = await backend.start();
    ({ parley, seen } = await withParley(fake, { ...FILE, incomingCall: { url, timeoutMs: 400 } }, { PARLEY_WEBHOOK_SECRET: SECRET }));
  });
  afterAll(async () => {
    await parley.close();
    await backend.stop();
    await fake.stop();
  });
  afterEach(() => {
    backend.answer = () => ({ body: '{}' });
  });

  async function call(query = ''): Promise<{ up: Json; info: SessionInfo; c: TestClient }> {
    const before = fake.connections.length;
    const c = new TestClient(`${parley.wsUrl}&${query}`);
    await c.opened;
    await c.waitFor('session.created', 5000);
    await until(() => fake.connections.length > before && fake.connections[before]!.received.some((e) => e['type'] === 'session.update'), 3000, 'upstream session.update');
    return { up: upstreamSession(fake, before), info: seen.at(-1)!.info, c };
  }

  it('a normal answer: the backend (signature checked) picks the profile, overrides its instructions, adds metadata', async () => {
    backend.answer = (facts) => ({ body: JSON.stringify({ profile: 'sales', overrides: { instructions: `VIP caller via ${String(facts['door'])}.` }, metadata: { crm_id: '42' } }) });
    const { up, info, c } = await call();
    const req = backend.got.at(-1)!;
    expect(req.verified).toBe(true);
    expect(req.body).toMatchObject({ type: 'call.incoming', id: expect.stringMatching(/^evt_/), data: { door: 'ws', profile: 'default', metadata: { team: 'switchboard' } } });
    expect(up['instructions']).toBe('VIP caller via ws.');
    expect(voiceOf(up)).toBe('cedar');
    expect(info.profile).toBe('sales');
    expect(info.metadata).toEqual({ team: 'sales', crm_id: '42', incoming_call: 'ok', credential: 'server' });
    c.close();
  });

  it('a slow answer: past the timeout the route profile is used and the metadata says timeout', async () => {
    backend.answer = () => ({ delayMs: 1500, body: JSON.stringify({ profile: 'sales' }) });
    const t0 = Date.now();
    const { up, info, c } = await call();
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(up['instructions']).toBe('You are the Acme switchboard.');
    expect(info.profile).toBe('default');
    expect(info.metadata['incoming_call']).toBe('timeout');
    c.close();
  });

  it('a garbage answer: the default profile, and the metadata says why', async () => {
    backend.answer = () => ({ body: '<html>oops</html>' });
    const { up, info, c } = await call();
    expect(up['instructions']).toBe('You are the Acme switchboard.');
    expect(info.profile).toBe('default');
    expect(info.metadata['incoming_call']).toBe('error: the answer is not JSON');
    c.close();
  });

  it('an unknown profile, a bad override or a 500: the route profile, and the metadata says why', async () => {
    backend.answer = () => ({ body: JSON.stringify({ profile: 'nobody' }) });
    expect((await call('profile=support')).info.metadata['incoming_call']).toBe('error: unknown profile "nobody"');
    expect(seen.at(-1)!.info.profile).toBe('support');
    backend.answer = () => ({ body: JSON.stringify({ overrides: { voice: 'robot' } }) });
    expect((await call()).info.metadata['incoming_call']).toMatch(/^error: overrides\.voice: must be one of the allowed voices/);
    backend.answer = () => ({ status: 500, body: '{}' });
    expect((await call()).info.metadata['incoming_call']).toBe('error: the backend answered HTTP 500');
    expect(backend.got.slice(-3).every((g) => g.verified)).toBe(true);
  });
});

describe('the in-process hook (AppDeps.onIncomingCall)', () => {
  it('has the same contract: it picks the profile and its overrides apply; a hook that throws keeps the route profile', async () => {
    const fake = await new FakeOpenAI().start();
    let mode: 'ok' | 'throw' = 'ok';
    const facts: Json[] = [];
    const { parley, seen } = await withParley(fake, FILE, {}, {
      onIncomingCall: async (f) => {
        facts.push(f as unknown as Json);
        if (mode === 'throw') throw new Error('backend down');
        return { profile: 'support', overrides: { firstMessage: 'Hi from the hook.' }, metadata: { source: 'hook' } };
      },
    });
    try {
      const c = new TestClient(parley.wsUrl);
      await c.opened;
      await until(() => fake.received('response.create').length > 0, 3000, 'first message');
      expect((fake.received('response.create')[0]!['response'] as Json)['instructions']).toMatch(/"Hi from the hook\."$/);
      expect(seen[0]!.info).toMatchObject({ profile: 'support', metadata: { team: 'support', source: 'hook', incoming_call: 'ok' } });
      expect(facts[0]).toMatchObject({ door: 'ws', profile: 'default' });
      c.close();
      mode = 'throw';
      const d = new TestClient(parley.wsUrl);
      await d.opened;
      await d.waitFor('session.created');
      expect(seen[1]!.info).toMatchObject({ profile: 'default', metadata: { incoming_call: 'error: the hook threw: backend down' } });
      d.close();
    } finally {
      await parley.close();
      await fake.stop();
    }
  });
});

describe('server/main.ts', () => {
  it('refuses to start on a profile naming an unknown tool: exit 2, the setting named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-profiles-'));
    const file = join(dir, 'parley.json');
    writeFileSync(file, JSON.stringify({ profiles: { sales: { tools: ['get_current_time', 'lookup_ordr'] } } }));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
        cwd: process.cwd(),
        env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', HOST: '127.0.0.1', PORT: '0', PARLEY_SIP: 'off', PARLEY_DEMO: 'off', PARLEY_API_KEYS: TEST_KEY, PARLEY_CONFIG: file, LOG_LEVEL: 'silent' },
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      expect(code, err).toBe(2);
      expect(err).toMatch(/^parley: bad configuration: profiles\.sales\.tools\[1\] \(PARLEY_CONFIG\): names an unknown tool "lookup_ordr"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
