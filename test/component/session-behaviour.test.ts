/**
 * Session behaviour through /v1/realtime: enforced config fields, one response at a time,
 * server-tool failures reaching the model as error strings, client-driven barge-in (no second
 * truncate from the server), and the Prometheus metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64, type FakeBrain } from '../fakes/index.ts';
import type { ToolDefinition } from '../../server/tools/index.ts';
import { startParley, TestClient, speak, until, sleep, type Parley } from './helpers.ts';

const slowTool: ToolDefinition = {
  name: 'slow_lookup',
  description: 'A lookup that never finishes in time',
  parameters: { type: 'object', properties: {} },
  timeoutMs: 100,
  handler: (_args, ctx) => new Promise((resolve) => {
    const t = setTimeout(resolve, 10_000);
    ctx.signal.addEventListener('abort', () => clearTimeout(t));
  }),
};
const failingTool: ToolDefinition = {
  name: 'broken_lookup',
  description: 'A lookup that throws',
  parameters: { type: 'object', properties: {} },
  handler: () => {
    throw new Error('database is down');
  },
};

describe('session behaviour', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  let nextReply: ReturnType<FakeBrain> | null = null;

  beforeAll(async () => {
    const brain: FakeBrain = (ctx) => {
      const last = ctx.items[ctx.items.length - 1];
      if (nextReply && last?.type !== 'function_call_output') {
        const r = nextReply;
        nextReply = null;
        return r;
      }
      return { text: last?.type === 'function_call_output' ? `tool said ${last.output ?? ''}` : 'ok then' };
    };
    fake = await new FakeOpenAI({ brain, replyAudioMs: 1000, deltaMs: 100, deltaIntervalMs: 20 }).start();
    parley = await startParley({
      fake,
      env: { PARLEY_MAX_OUTPUT_TOKENS: '500', PARLEY_ALLOWED_VOICES: 'marin,cedar' },
      deps: { tools: [slowTool, failingTool] },
    });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  async function connect(): Promise<TestClient> {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    return c;
  }

  it('a client cannot override the server tools, model, voice or output-token cap', async () => {
    const c = await connect();
    const fromUp = fake.received('session.update').length;
    c.send({
      type: 'session.update',
      event_id: 'upd1',
      session: {
        type: 'realtime',
        model: 'gpt-realtime-mini',
        max_output_tokens: 4000,
        audio: { output: { voice: 'shimmer' } },
        tools: [
          { type: 'function', name: 'get_current_time', description: 'hijacked', parameters: { type: 'object' } },
          { type: 'function', name: 'my_client_tool', description: 'mine', parameters: { type: 'object' } },
        ],
      },
    });
    const errs = await until(() => c.of('error').length >= 3, 3000, 'violation errors').then(() => c.of('error'));
    const params = errs.map((e) => (e['error'] as Record<string, unknown>)['param']).sort();
    expect(params).toEqual(['session.audio.output.voice', 'session.max_output_tokens', 'session.model']);
    for (const e of errs) expect((e['error'] as Record<string, unknown>)['event_id']).toBe('upd1');
    await until(() => fake.received('session.update').length > fromUp, 3000, 'update upstream');
    const sent = fake.received('session.update').at(-1)!['session'] as Record<string, unknown>;
    expect(sent['model']).toBe('gpt-realtime');
    expect(sent['max_output_tokens']).toBe(500);
    expect(((sent['audio'] as Record<string, Record<string, unknown>>)['output'])!['voice']).toBe('marin');
    const tools = sent['tools'] as Array<Record<string, unknown>>;
    expect(tools.filter((t) => t['name'] === 'get_current_time')).toHaveLength(1);
    expect(tools.find((t) => t['name'] === 'get_current_time')!['description']).not.toBe('hijacked');
    expect(tools.map((t) => t['name'])).toContain('my_client_tool');
    // per-response overrides are capped too
    c.send({ type: 'response.create', response: { max_output_tokens: 4000 } }); // GA range 1..4096, above the cap
    await until(() => fake.received('response.create').some((e) => (e['response'] as Record<string, unknown> | undefined)?.['max_output_tokens'] === 500), 3000, 'capped response.create');
    await c.waitFor('response.done', 5000);
    c.close();
  });

  it('serialises response.create: a second one waits for response.done, never colliding', async () => {
    const c = await connect();
    const from = fake.received('response.create').length;
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'one' }] } });
    c.send({ type: 'response.create', event_id: 'r1' });
    c.send({ type: 'response.create', event_id: 'r2' });
    c.send({ type: 'response.create', event_id: 'r3' });
    await until(() => c.of('response.done').length >= 3, 10_000, 'three responses');
    expect(c.of('error')).toEqual([]);
    expect(fake.received('response.create').slice(from).map((e) => e['event_id'])).toEqual(['r1', 'r2', 'r3']);
    // each response.create reached the upstream only after the previous response.done
    const created = c.of('response.created').length;
    expect(created).toBe(3);
    c.close();
  });

  it('holds a client response.create while a response the model started on its own (VAD) is active', async () => {
    const c = await connect();
    // a VAD turn makes the fake start a response; the client asks for one meanwhile: Parley holds
    // it until response.done instead of letting it collide
    speak((ev) => c.send(ev), pcmChunkB64, 200, 200);
    await c.waitFor('response.created', 5000);
    c.send({ type: 'response.create', event_id: 'late' });
    await until(() => c.of('response.done').length >= 2, 10_000, 'both responses');
    expect(c.of('error')).toEqual([]);
    expect(c.of('response.done').map((e) => (e['response'] as Record<string, unknown>)['status'])).toEqual(['completed', 'completed']);
    c.close();
  });

  it('a tool that times out or throws gives the model an error string, and the call goes on', async () => {
    const c = await connect();
    nextReply = { toolCall: { name: 'slow_lookup', arguments: '{}' } };
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look it up' }] } });
    c.send({ type: 'response.create' });
    await until(() => c.of('response.done').length >= 2, 5000, 'tool + answer');
    let outs = fake.received('conversation.item.create').map((e) => e['item'] as Record<string, unknown>).filter((i) => i['type'] === 'function_call_output');
    expect(JSON.parse(outs.at(-1)!['output'] as string)).toEqual({ error: "The tool 'slow_lookup' timed out after 100 ms." });

    nextReply = { toolCall: { name: 'broken_lookup', arguments: '{}' } };
    c.send({ type: 'response.create' });
    await until(() => c.of('response.done').length >= 4, 5000, 'tool + answer');
    outs = fake.received('conversation.item.create').map((e) => e['item'] as Record<string, unknown>).filter((i) => i['type'] === 'function_call_output');
    expect(JSON.parse(outs.at(-1)!['output'] as string)).toEqual({ error: "The tool 'broken_lookup' failed: database is down" });

    nextReply = { toolCall: { name: 'get_current_time', arguments: '{"timezone": ' } };
    c.send({ type: 'response.create' });
    await until(() => c.of('response.done').length >= 6, 5000, 'tool + answer');
    outs = fake.received('conversation.item.create').map((e) => e['item'] as Record<string, unknown>).filter((i) => i['type'] === 'function_call_output');
    expect(JSON.parse(outs.at(-1)!['output'] as string)['error']).toMatch(/not valid JSON/);
    expect(c.of('error')).toEqual([]);
    const m = parley.app.parley.metrics;
    expect(m.toolCalls.get({ tool: 'slow_lookup', outcome: 'tool_timeout' })).toBe(1);
    expect(m.toolCalls.get({ tool: 'broken_lookup', outcome: 'tool_failed' })).toBe(1);
    expect(m.toolCalls.get({ tool: 'get_current_time', outcome: 'tool_bad_arguments' })).toBe(1);
    c.close();
  });

  it('barge-in on a relayed WS client: the client truncates; the server sends no truncate of its own', async () => {
    const c = await connect();
    const truncBefore = fake.received('conversation.item.truncate').length;
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'tell me a story' }] } });
    c.send({ type: 'response.create' });
    const first = await c.waitFor('response.output_audio.delta', 5000);
    const session = parley.app.parley.sessions.list()[0]!;
    await c.waitFor('response.output_audio.delta', 3000);
    expect(session.activeResponseId).toBe(first['response_id']);
    // the caller speaks: the fake's VAD cancels the response (turn_detected)
    speak((ev) => c.send(ev), pcmChunkB64, 100, 0);
    const done = await c.waitFor('response.done', 5000);
    expect((done['response'] as Record<string, unknown>)['status']).toBe('cancelled');
    // the client truncates at what it played
    c.send({ type: 'conversation.item.truncate', item_id: first['item_id'], content_index: 0, audio_end_ms: 100 });
    await c.waitFor('conversation.item.truncated', 3000);
    await sleep(100);
    expect(fake.received('conversation.item.truncate').length - truncBefore).toBe(1);
    c.close();
  });

  it('/metrics reports sessions, events by type, tool calls and latency', async () => {
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'sessions ended');
    const res = await fetch(`${parley.httpUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^parley_sessions_active 0$/m);
    expect(text).toMatch(/^parley_sessions_total\{leg="ws",engine="openai"\} [5-9]$/m);
    expect(text).toMatch(/^parley_client_events_total\{type="input_audio_buffer\.append"\} \d+$/m);
    expect(text).toMatch(/^parley_server_events_total\{type="response\.output_audio\.delta"\} \d+$/m);
    expect(text).toMatch(/^parley_tool_calls_total\{tool="slow_lookup",outcome="tool_timeout"\} 1$/m);
    expect(text).toMatch(/^parley_tool_call_duration_seconds_count\{tool="broken_lookup"\} 1$/m);
    const health = await (await fetch(`${parley.httpUrl}/healthz`)).json();
    expect(health).toEqual({ status: 'ok' });
    const ready = await (await fetch(`${parley.httpUrl}/readyz`)).json();
    expect(ready).toMatchObject({ status: 'ready', engine: 'openai' });
  });
});
