/**
 * HTTP tools end to end: Parley (openai engine on the protocol fake) with tools from a `tools.http`
 * config, and a real HTTP backend on 127.0.0.1 that checks every request's Parley-Signature with
 * verifySignature. The fake model calls a tool; what Parley hands back as the function_call_output
 * is the backend's body, or an error string (500, timeout, oversize body, bad signature, refused
 * redirect, unreachable backend). The request is aborted when the session ends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { verifySignature, type VerifyResult } from '../../server/signing.ts';
import type { ClientEvent, ServerEvent } from '../../server/protocol/index.ts';
import { FakeOpenAI, type FakeBrain } from '../fakes/index.ts';
import { spawnMain } from '../support/parley-process.ts';
import { TEST_KEY, TestClient, until, type Parley } from './helpers.ts';

const SECRET = 'whsec_backend_0123456789';
const TOKEN = 'tok-backend-bearer-s3cret';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  sig: VerifyResult;
  /** The client went away before the answer (aborted). */
  aborted: boolean;
}

/** The backend: checks the signature (body for POST, request target for GET), then answers by path. */
class Backend {
  readonly seen: Seen[] = [];
  server!: Server;
  port = 0;
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const signed = req.method === 'GET' ? req.url! : body;
        const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: body.toString('utf8'), sig: verifySignature(req.headers['parley-signature'], signed, SECRET), aborted: false };
        this.seen.push(seen);
        res.on('close', () => {
          if (!res.writableFinished) seen.aborted = true;
        });
        if (!seen.sig.ok) {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `bad signature: ${seen.sig.code}` }));
          return;
        }
        const path = req.url!.split('?')[0];
        switch (path) {
          case '/orders': {
            const { arguments: args } = JSON.parse(seen.body) as { arguments: { order: string } };
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ order: args.order, status: 'shipped', eta: 'tomorrow' }));
            return;
          }
          case '/text':
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('Order 42 is on its way — délivré demain.');
            return;
          case '/weather':
            res.writeHead(200, { 'content-type': 'text/plain' }).end(`weather for ${new URL(req.url!, 'http://x').searchParams.get('city')}: sunny`);
            return;
          case '/redirect-same':
            res.writeHead(302, { location: `/weather?city=${new URL(req.url!, 'http://x').searchParams.get('city')}` }).end();
            return;
          case '/redirect-other':
            res.writeHead(307, { location: `http://localhost:${this.port}/orders` }).end();
            return;
          case '/fail':
            res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'the order database is down' }));
            return;
          case '/big':
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(70 * 1024) }).end('x'.repeat(70 * 1024));
            return;
          case '/big-chunked': {
            // no Content-Length: the limit holds on the bytes as they come
            res.writeHead(200, { 'content-type': 'text/plain' });
            const kib = 'y'.repeat(1024);
            let n = 0;
            const more = (): void => {
              if (res.destroyed) return;
              if (n++ >= 200) return void res.end();
              res.write(kib, () => setImmediate(more));
            };
            more();
            return;
          }
          case '/hang':
            return; // never answers
          default:
            res.writeHead(404).end('no such tool');
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('HTTP tools (tools.http) against a real backend', () => {
  let backend: Backend;
  let fake: FakeOpenAI;
  let parley: Parley;
  let deadPort: number;
  let nextReply: ReturnType<FakeBrain> | null = null;

  beforeAll(async () => {
    backend = await new Backend().start();
    // a port nobody listens on: bind, read, close
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    deadPort = (tmp.address() as AddressInfo).port;
    await new Promise<void>((r) => tmp.close(() => r()));

    const brain: FakeBrain = (ctx) => {
      const last = ctx.items[ctx.items.length - 1];
      if (nextReply && last?.type !== 'function_call_output') {
        const r = nextReply;
        nextReply = null;
        return r;
      }
      return { text: last?.type === 'function_call_output' ? 'done' : 'ok' };
    };
    fake = await new FakeOpenAI({ brain, replyAudioMs: 200, deltaMs: 100, deltaIntervalMs: 2 }).start();
    const post = (name: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      name,
      description: `The ${name} tool.`,
      parameters: { type: 'object', properties: { order: { type: 'string' } } },
      url: `${backend.url}${path}`,
      ...extra,
    });
    const env = {
      HOST: '127.0.0.1',
      PORT: '0',
      PARLEY_API_KEYS: TEST_KEY,
      PARLEY_DEMO: 'off',
      PARLEY_FALLBACK_ENGINE: 'none',
      LOG_LEVEL: 'silent',
      OPENAI_API_KEY: fake.apiKey,
      OPENAI_BASE_URL: fake.baseUrl,
      PARLEY_ENGINE: 'openai',
      PARLEY_WEBHOOK_SECRET: SECRET,
      BACKEND_TOKEN: TOKEN,
    };
    const file = {
      tools: {
        http: [
          post('lookup_order', '/orders', { headers: { Authorization: 'Bearer ${env:BACKEND_TOKEN}', 'X-Tenant': 'acme', Accept: 'application/vnd.acme+json' } }),
          post('order_text', '/text'),
          { name: 'weather', description: 'Weather in a city.', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } }, url: `${backend.url}/weather?units=metric`, method: 'GET' },
          { name: 'weather_moved', description: 'Weather (moved).', url: `${backend.url}/redirect-same`, method: 'GET' },
          post('redirect_away', '/redirect-other'),
          post('failing', '/fail'),
          post('slow', '/hang', { timeoutMs: 300 }),
          post('hanging', '/hang', { timeoutMs: 20_000 }),
          post('big', '/big'),
          post('big_chunked', '/big-chunked'),
          post('wrong_secret', '/orders', { secret: 'whsec_not_the_backends' }),
          { name: 'unreachable', description: 'Nobody listens.', url: `http://127.0.0.1:${deadPort}/x` },
        ],
      },
    };
    const config = loadConfig(env, file);
    const app = await buildApp(config, {});
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    parley = { app, httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`, close: () => app.close() };
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
    await backend?.stop();
  });

  /** A WS client; sessionId = the Parley session's id (the call's id). */
  async function connect(): Promise<{ c: TestClient; sessionId: string }> {
    const before = new Set(parley.app.parley.sessions.list().map((s) => s.id));
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    const mine = parley.app.parley.sessions.list().filter((s) => !before.has(s.id));
    expect(mine).toHaveLength(1);
    return { c, sessionId: mine[0]!.id };
  }

  const outputs = (): string[] =>
    fake.received('conversation.item.create').map((e) => e['item'] as Record<string, unknown>).filter((i) => i['type'] === 'function_call_output').map((i) => i['output'] as string);

  /** The model calls `name` with `args`; resolves with the output Parley handed back to the model. */
  async function callTool(c: TestClient, name: string, args: Record<string, unknown>): Promise<string> {
    const before = outputs().length;
    const doneBefore = c.of('response.done').length;
    nextReply = { toolCall: { name, arguments: JSON.stringify(args) } };
    c.send({ type: 'response.create' });
    await until(() => c.of('response.done').length >= doneBefore + 2, 10_000, `${name}: tool call + the answer after it`);
    const outs = outputs();
    expect(outs.length).toBe(before + 1);
    return outs.at(-1)!;
  }

  it('the session declares the HTTP tools to the model like built-in tools', async () => {
    const { c } = await connect();
    await until(() => fake.received('session.update').length > 0, 5000, 'session.update');
    const sent = fake.received('session.update').at(-1)!['session'] as Record<string, unknown>;
    const tools = sent['tools'] as Array<Record<string, unknown>>;
    expect(tools.map((t) => t['name'])).toEqual(expect.arrayContaining(['get_current_time', 'lookup_order', 'weather', 'unreachable']));
    expect(tools.find((t) => t['name'] === 'weather')).toEqual({
      type: 'function',
      name: 'weather',
      description: 'Weather in a city.',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
    });
    c.close();
  });

  it('POST: a signed {call, tool, arguments}; the JSON answer is the tool output as its text', async () => {
    const { c, sessionId } = await connect();
    const seenBefore = backend.seen.length;
    const out = await callTool(c, 'lookup_order', { order: '42' });
    expect(out).toBe('{"order":"42","status":"shipped","eta":"tomorrow"}');
    const req = backend.seen[seenBefore]!;
    expect(req.method).toBe('POST');
    expect(req.sig.ok).toBe(true);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['x-tenant']).toBe('acme');
    expect(req.headers['accept']).toBe('application/vnd.acme+json'); // a configured header replaces Parley's default
    expect(req.headers['user-agent']).toBe('Parley-HTTP-Tool/1');
    expect(req.headers['parley-call-id']).toBe(sessionId);
    expect(req.headers['parley-tool']).toBe('lookup_order');
    expect(JSON.parse(req.body)).toEqual({
      call: { id: sessionId, door: 'ws', from: null, to: null, dialled: null, sip_call_id: null, profile: null, metadata: { credential: 'server' } },
      tool: 'lookup_order',
      arguments: { order: '42' },
    });
    // a text answer is the output as it is (UTF-8)
    expect(await callTool(c, 'order_text', {})).toBe('Order 42 is on its way — délivré demain.');
    expect(c.of('error')).toEqual([]);
    c.close();
  });

  it('GET: the arguments in the query (signed over the request target); a same-host redirect is followed', async () => {
    const { c } = await connect();
    const seenBefore = backend.seen.length;
    expect(await callTool(c, 'weather', { city: 'Zürich', days: 2 })).toBe('weather for Zürich: sunny');
    const req = backend.seen[seenBefore]!;
    expect(req.method).toBe('GET');
    expect(req.sig.ok).toBe(true);
    expect(req.url).toBe('/weather?units=metric&city=Z%C3%BCrich&days=2');
    expect(req.body).toBe('');

    const before = backend.seen.length;
    expect(await callTool(c, 'weather_moved', { city: 'Oslo' })).toBe('weather for Oslo: sunny');
    expect(backend.seen.slice(before).map((s) => [s.url.split('?')[0], s.sig.ok])).toEqual([['/redirect-same', true], ['/weather', true]]);
    c.close();
  });

  it('failures reach the model as error strings: 500, bad signature, oversize body, redirect to another host, unreachable backend', async () => {
    const { c } = await connect();
    expect(JSON.parse(await callTool(c, 'failing', {}))).toEqual({ error: `The tool 'failing' failed: the backend answered HTTP 500: {"error":"the order database is down"}` });
    // Parley signed with a secret the backend does not hold: the backend refuses it
    const seenBefore = backend.seen.length;
    expect(JSON.parse(await callTool(c, 'wrong_secret', { order: '1' }))).toEqual({ error: `The tool 'wrong_secret' failed: the backend answered HTTP 401: {"error":"bad signature: mismatch"}` });
    expect(backend.seen[seenBefore]!.sig).toEqual({ ok: false, code: 'mismatch' });
    expect(JSON.parse(await callTool(c, 'big', {}))).toEqual({ error: `The tool 'big' failed: the backend's answer is 71680 bytes, over the limit of 65536` });
    expect(JSON.parse(await callTool(c, 'big_chunked', {}))).toEqual({ error: `The tool 'big_chunked' failed: the backend's answer is over the limit of 65536 bytes` });
    const redirectsBefore = backend.seen.length;
    expect(JSON.parse(await callTool(c, 'redirect_away', {}))).toEqual({ error: `The tool 'redirect_away' failed: the backend redirected to another host (HTTP 307); not followed` });
    expect(backend.seen.length).toBe(redirectsBefore + 1); // /orders on localhost was never asked
    expect(JSON.parse(await callTool(c, 'unreachable', {}))).toEqual({ error: `The tool 'unreachable' failed: the backend could not be reached (ECONNREFUSED)` });
    expect(c.of('error')).toEqual([]);
    const m = parley.app.parley.metrics;
    for (const t of ['failing', 'wrong_secret', 'big', 'big_chunked', 'redirect_away', 'unreachable']) expect(m.toolCalls.get({ tool: t, outcome: 'tool_failed' })).toBe(1);
    c.close();
  });

  it('a backend that does not answer in the tool timeout: TOOL_TIMEOUT for the model, and the request is aborted', async () => {
    const { c } = await connect();
    const seenBefore = backend.seen.length;
    const t0 = Date.now();
    expect(JSON.parse(await callTool(c, 'slow', {}))).toEqual({ error: "The tool 'slow' timed out after 300 ms." });
    expect(Date.now() - t0).toBeLessThan(5000);
    await until(() => backend.seen[seenBefore]?.aborted === true, 3000, 'the backend sees the request aborted');
    expect(parley.app.parley.metrics.toolCalls.get({ tool: 'slow', outcome: 'tool_timeout' })).toBe(1);
    c.close();
  });

  it('the session ending aborts a request in flight', async () => {
    const { c } = await connect();
    const seenBefore = backend.seen.length;
    nextReply = { toolCall: { name: 'hanging', arguments: '{}' } };
    c.send({ type: 'response.create' });
    await until(() => backend.seen.length > seenBefore, 5000, 'the backend has the request');
    const t0 = Date.now();
    c.close();
    await until(() => backend.seen[seenBefore]!.aborted, 3000, 'the backend sees the request aborted');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a SIP call: the call facts (door, from, to, dialled, Call-ID, profile, metadata) reach the backend', async () => {
    const events: ServerEvent[] = [];
    const session = await parley.app.parley.sessions.open({
      leg: 'sip',
      client: { send: (ev) => void events.push(ev), close: () => undefined },
      callId: 'a84b4c76e66710@pc33.example.com',
      call: { from: '+15551230000', to: '+15559870000', dialled: '1000', sipCallId: 'a84b4c76e66710@pc33.example.com' },
      profile: 'support',
      metadata: { campaign: 'spring' },
    });
    await until(() => events.some((e) => e.type === 'session.created'), 5000, 'session.created');
    const seenBefore = backend.seen.length;
    nextReply = { toolCall: { name: 'lookup_order', arguments: '{"order":"7"}' } };
    session.handleClientEvent({ type: 'response.create' } as ClientEvent);
    await until(() => backend.seen.length > seenBefore && events.filter((e) => e.type === 'response.done').length >= 2, 10_000, 'tool call + answer');
    const req = backend.seen[seenBefore]!;
    expect(req.sig.ok).toBe(true);
    expect(JSON.parse(req.body)).toEqual({
      call: { id: session.id, door: 'sip', from: '+15551230000', to: '+15559870000', dialled: '1000', sip_call_id: 'a84b4c76e66710@pc33.example.com', profile: 'support', metadata: { campaign: 'spring' } },
      tool: 'lookup_order',
      arguments: { order: '7' },
    });
    expect(outputs().at(-1)).toBe('{"order":"7","status":"shipped","eta":"tomorrow"}');
    session.close('test over');
  });
});

describe('server/main.ts with a bad tools.http', () => {
  /** Runs main.ts with PARLEY_CONFIG = `file`; resolves with its exit code and output. */
  async function runMain(file: unknown, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'parley-http-tools-'));
    try {
      const path = join(dir, 'parley.json');
      writeFileSync(path, JSON.stringify(file));
      const { child, out, exited } = spawnMain({ HOST: '127.0.0.1', PORT: '0', PARLEY_SIP: 'off', PARLEY_DEMO: 'off', PARLEY_API_KEYS: TEST_KEY, PARLEY_CONFIG: path, ...env });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const { code } = await exited;
      clearTimeout(timer);
      return { code, out: out() };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('stops at start with the setting named (an env reference main.ts cannot resolve; a bad URL), and never prints a secret', { timeout: 40_000 }, async () => {
    const tools = [
      { name: 'lookup_order', description: 'Orders.', url: 'https://backend.example.com/orders', headers: { Authorization: 'Bearer ${env:BACKEND_TOKEN}' }, secret: 'whsec_x' },
      { name: 'hours', description: 'Hours.', url: 'ftp://backend.example.com/hours', secret: 'whsec_x' },
    ];
    // both processes at once (each start costs seconds of tsx on a busy machine)
    const [unset, badUrl] = await Promise.all([runMain({ tools: { http: tools } }, {}), runMain({ tools: { http: tools } }, { BACKEND_TOKEN: 'tok-very-secret-value' })]);
    expect(unset.code).toBe(2);
    expect(unset.out).toContain('parley: bad configuration: tools.http[0].headers.Authorization: refers to the environment variable BACKEND_TOKEN, which is not set');
    expect(badUrl.code).toBe(2);
    expect(badUrl.out).toContain('parley: bad configuration: tools.http[1].url: must use http: or https: (got ftp:)');
    expect(badUrl.out).not.toContain('tok-very-secret-value');
  });
});
