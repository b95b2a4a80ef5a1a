/**
 * createParley (server/parley.ts), the package entry, from source: the config three ways (env,
 * settings in the config file's shape, a loaded config), a backend's tool offered and run in-process,
 * its observer told of the session, an API key of its own when none is configured, the SIP door with
 * listen(), and close() draining (a live session ends as `shutdown`, nothing starts afterwards).
 * The built package is exercised by test/e2e/embed-package.test.ts.
 */
import { createSocket } from 'node:dgram';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createParley, loadConfig, type Parley, type SessionEnd, type SessionInfo, type ToolDefinition } from '../../server/parley.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { TEST_KEY, TestClient, until } from './helpers.ts';

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await new FakeOpenAI().start();
});
afterAll(async () => {
  await fake.stop();
});

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_ENGINE: 'openai', PARLEY_FALLBACK_ENGINE: 'none',
  PARLEY_API_KEYS: TEST_KEY, PARLEY_DEMO: 'off', LOG_LEVEL: 'silent', ...extra,
});

let parley: Parley | null = null;
afterEach(async () => {
  await parley?.close({ graceMs: 0 });
  parley = null;
});

describe('createParley', () => {
  it('offers and runs the backend\'s tool, tells its observer, and close() ends a live session as shutdown', async () => {
    const calls: string[] = [];
    const orderStatus: ToolDefinition = {
      name: 'get_order_status',
      description: 'Where an order is.',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
      handler: (_args, ctx) => {
        calls.push(ctx.sessionId);
        return { status: 'shipped' };
      },
    };
    const seen: Array<{ hook: string; info: SessionInfo; end?: SessionEnd; tool?: string }> = [];
    parley = await createParley({
      env: env(),
      tools: [orderStatus],
      observers: [() => ({
        opened: (info) => seen.push({ hook: 'opened', info }),
        toolCall: (r) => seen.push({ hook: 'toolCall', info: seen[0]!.info, tool: `${r.name}:${r.ok}:${r.output}` }),
        closed: (info, end) => seen.push({ hook: 'closed', info, end }),
      })],
      sip: false,
    });
    expect(parley.generatedApiKey).toBeNull();
    const addr = await parley.listen({ host: '127.0.0.1', port: 0 });
    expect(addr).toMatchObject({ host: '127.0.0.1', url: `http://127.0.0.1:${addr.port}`, realtimeUrl: `ws://127.0.0.1:${addr.port}/v1/realtime` });
    expect(parley.address).toEqual(addr);
    expect(parley.app.server.listening).toBe(true);

    const client = new TestClient(`${addr.realtimeUrl}?model=gpt-realtime`);
    await client.opened;
    const created = await client.waitFor('session.created');
    expect((created['session'] as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(['get_current_time', 'get_order_status']);
    expect(seen[0]).toMatchObject({ hook: 'opened', info: { id: (created['session'] as { id: string }).id, leg: 'ws' } });
    expect(parley.sessions.active).toBe(1);

    client.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'what is my order status' }] } });
    client.send({ type: 'response.create' });
    await client.waitFor((e) => e.type === 'response.done' && JSON.stringify(e).includes('The tool answered'), 10_000);
    expect(calls).toEqual([seen[0]!.info.id]);
    expect(seen.find((s) => s.hook === 'toolCall')?.tool).toBe('get_order_status:true:{"status":"shipped"}');

    const p = parley;
    const closing = p.close({ graceMs: 0 });
    expect(p.close()).toBe(closing); // idempotent
    await closing;
    expect(await client.closed).toMatchObject({ code: 1001 });
    expect(seen.find((s) => s.hook === 'closed')?.end).toMatchObject({ endReason: 'shutdown' });
    expect(p.app.server.listening).toBe(false);
    await expect(p.listen()).rejects.toMatchObject({ code: 'SERVER_SHUTTING_DOWN' });
  });

  it('makes an API key of its own when the config names none: that key opens a session, another is refused', async () => {
    const { PARLEY_API_KEYS: _, ...noKeys } = env();
    parley = await createParley({ env: noKeys, sip: false });
    expect(parley.generatedApiKey).toMatch(/^pk_\w{20,}$/);
    expect(parley.config.apiKeys).toEqual([parley.generatedApiKey]);
    const { realtimeUrl } = await parley.listen({ host: '127.0.0.1', port: 0 });
    const good = new TestClient(`${realtimeUrl}?model=gpt-realtime`, { key: parley.generatedApiKey! });
    await good.waitFor('session.created');
    good.close();
    const bad = new TestClient(`${realtimeUrl}?model=gpt-realtime`, { key: TEST_KEY });
    await expect(bad.opened).rejects.toMatchObject({ status: 401 });
  });

  it('takes settings in the config file\'s shape, env winning, or a loaded config; bad ones reject naming the setting', async () => {
    parley = await createParley({ env: env({ PORT: '0' }), settings: { port: 1234, session: { instructions: 'from the settings' } }, sip: false });
    expect(parley.config.port).toBe(0);
    expect(parley.config.session.defaults.instructions).toBe('from the settings');
    await parley.close();

    const config = loadConfig(env({ PARLEY_VOICE: 'cedar' }));
    parley = await createParley({ config, sip: false });
    expect(parley.config).toBe(config);

    await expect(createParley({ env: env({ PORT: 'eighty' }) })).rejects.toMatchObject({ code: 'CONFIG_INVALID', setting: 'PORT' });
    await expect(createParley({ env: env(), settings: { port: 'eighty' } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', setting: 'port (PARLEY_CONFIG)' });
    await expect(createParley({ config, env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID', setting: 'createParley' });
    // a tool that is not one rejects at creation, not at the first call
    await expect(createParley({ env: env(), tools: [{ name: 'bad name!', description: '', parameters: {}, handler: () => '' }] })).rejects.toMatchObject({ code: 'TOOL_INVALID' });
  });

  it('starts the SIP door with listen() when asked, and close() stops it (its port is free again)', async () => {
    parley = await createParley({ env: env({ PARLEY_SIP_ENABLED: 'off' }), sip: { sip: { port: 0, host: '127.0.0.1', transports: ['udp'] } } });
    expect(parley.sip).toBeNull();
    await parley.listen({ host: '127.0.0.1', port: 0 });
    const sip = parley.sip;
    expect(sip).not.toBeNull();
    const port = sip!.server.port;
    expect(port).toBeGreaterThan(0);
    await parley.close({ graceMs: 0 });
    parley = null;
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(port, '127.0.0.1', () => resolve()); });
    sock.close();
  });

  it('asks onIncomingCall before a WS session starts: its metadata and overrides reach the session, a throw keeps the defaults and says why', async () => {
    const facts: unknown[] = [];
    let fail = false;
    const seen: SessionInfo[] = [];
    parley = await createParley({
      env: env(),
      sip: false,
      observers: [() => ({ opened: (info) => seen.push(info) })],
      onIncomingCall: (f) => {
        facts.push(f);
        if (fail) throw new Error('the CRM is down');
        return { metadata: { crm_id: '42' }, overrides: { instructions: 'Greet customer 42 by number.' } };
      },
    });
    const { realtimeUrl } = await parley.listen({ host: '127.0.0.1', port: 0 });
    const a = new TestClient(`${realtimeUrl}?model=gpt-realtime`);
    const created = await a.waitFor('session.created');
    expect(facts).toEqual([expect.objectContaining({ door: 'ws' })]);
    expect(seen[0]?.metadata).toMatchObject({ crm_id: '42', incoming_call: 'ok' });
    expect((created['session'] as { instructions: string }).instructions).toBe('Greet customer 42 by number.');
    a.close();

    fail = true;
    const b = new TestClient(`${realtimeUrl}?model=gpt-realtime`);
    const created2 = await b.waitFor('session.created');
    expect(seen[1]?.metadata).toMatchObject({ incoming_call: expect.stringMatching(/^error: .*CRM is down/) });
    expect(seen[1]?.metadata['crm_id']).toBeUndefined();
    expect((created2['session'] as { instructions: string }).instructions).toBe(parley.config.session.defaults.instructions);
    b.close();
  });

  it('leaves SIP off when the config says so and no `sip` option is given', async () => {
    parley = await createParley({ env: env({ PARLEY_SIP_ENABLED: 'off' }) });
    await parley.listen({ host: '127.0.0.1', port: 0 });
    await until(() => parley!.address !== null);
    expect(parley.sip).toBeNull();
  });
});
