/**
 * The official `openai` npm client (OpenAIRealtimeWS) holds a conversation through Parley, over
 * WSS with a test certificate, to the fake OpenAI: a server-side tool Parley runs itself, a
 * client-declared tool that passes through untouched, and spoken replies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { makeTestCert, startParley, TEST_KEY, until, type Parley, type TestCert } from './helpers.ts';

type Ev = { type: string; [k: string]: unknown };

describe('official openai client through Parley (WSS)', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  let cert: TestCert;
  const turns = ['what time is it', 'and the weather in Paris'];

  beforeAll(async () => {
    cert = makeTestCert();
    fake = await new FakeOpenAI({ transcribe: (n) => turns[n] ?? 'thanks' }).start();
    parley = await startParley({ fake, cert });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
    cert?.cleanup();
  });

  it('runs a server tool itself, passes a client tool through, and relays audio', async () => {
    const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${parley.httpUrl}/v1` });
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: cert.certPem } }, client);
    expect(rt.url.toString()).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/realtime\?model=gpt-realtime$/);
    const events: Ev[] = [];
    const errors: unknown[] = [];
    rt.on('event', (e) => events.push(e as unknown as Ev));
    rt.on('error', (e) => errors.push(e));
    const of = (t: string): Ev[] => events.filter((e) => e.type === t);
    await new Promise<void>((resolve, reject) => {
      rt.socket.once('open', () => resolve());
      rt.socket.once('error', reject);
    });

    await until(() => of('session.created').length === 1, 5000, 'session.created');
    expect(events[0]?.type).toBe('session.created');
    const created = of('session.created')[0]!['session'] as { tools: Array<{ name: string }>; instructions: string };
    // Parley's defaults reached the upstream and are what the client sees first
    expect(created.tools.map((t) => t.name)).toContain('get_current_time');
    expect(created.instructions).toMatch(/Parley/);

    rt.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions: 'Be brief.',
        tools: [{ type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      },
    });
    await until(() => of('session.updated').length >= 1, 5000, 'session.updated');
    const updated = of('session.updated').at(-1)!['session'] as { tools: Array<{ name: string }>; instructions: string };
    expect(updated.tools.map((t) => t.name).sort()).toEqual(['get_current_time', 'get_weather']);
    expect(updated.instructions).toBe('Be brief.');

    // turn 1: "what time is it" → the model calls get_current_time → Parley runs it
    const loud = pcmChunkB64(20, true);
    const quiet = pcmChunkB64(20, false);
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: loud });
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: quiet });

    await until(() => of('response.done').length >= 2, 10_000, 'two responses (tool call, then spoken answer)');
    const [toolResp, spoken] = of('response.done').map((e) => e['response'] as { status: string; output: Array<Record<string, unknown>> });
    expect(toolResp!.status).toBe('completed');
    expect(toolResp!.output[0]!['type']).toBe('function_call');
    expect(toolResp!.output[0]!['name']).toBe('get_current_time');
    const outputs = fake.received('conversation.item.create').filter((e) => (e['item'] as Record<string, unknown>)['type'] === 'function_call_output');
    expect(outputs).toHaveLength(1);
    const out = outputs[0]!['item'] as { call_id: string; output: string };
    expect(out.call_id).toBe(toolResp!.output[0]!['call_id']);
    const result = JSON.parse(out.output) as { iso: string; timezone: string };
    expect(result.timezone).toBe('UTC');
    expect(Math.abs(Date.parse(result.iso) - Date.now())).toBeLessThan(60_000);
    // the spoken answer carries the tool's result, with audio
    expect(spoken!.status).toBe('completed');
    const transcript = of('response.output_audio_transcript.done').at(-1)!['transcript'] as string;
    expect(transcript).toContain(result.iso);
    expect(of('response.output_audio.delta').length).toBeGreaterThanOrEqual(6);
    const audio = Buffer.from(of('response.output_audio.delta')[0]!['delta'] as string, 'base64');
    expect(audio.length).toBe(4800); // 100 ms of 24 kHz pcm16, relayed byte-exact

    // turn 2: the client-declared get_weather passes through to the client untouched
    const before = events.length;
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: loud });
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: quiet });
    await until(() => events.slice(before).some((e) => e.type === 'response.done'), 10_000, 'weather tool response');
    const callItem = events.slice(before).find((e) => e.type === 'response.output_item.done')!['item'] as { name: string; call_id: string; arguments: string };
    expect(callItem.name).toBe('get_weather');
    await new Promise((r) => setTimeout(r, 200));
    // Parley did not answer it: still one function_call_output upstream
    expect(fake.received('conversation.item.create').filter((e) => (e['item'] as Record<string, unknown>)['type'] === 'function_call_output')).toHaveLength(1);
    rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callItem.call_id, output: '{"sky":"clear"}' } });
    rt.send({ type: 'response.create' });
    await until(() => events.slice(before).filter((e) => e.type === 'response.done').length >= 2, 10_000, 'answer after the client tool');
    expect(of('response.output_audio_transcript.done').at(-1)!['transcript']).toContain('clear');

    // a GA conversation: no errors anywhere, only one response at a time, and the fake saw only GA shapes
    expect(errors).toEqual([]);
    expect(of('error')).toEqual([]);
    expect(fake.violations).toEqual([]);
    expect(fake.received('response.create').length).toBe(2); // one from Parley (after its tool), one from the client
    expect(fake.connections[0]!.headers['openai-beta']).toBeUndefined();
    expect(fake.connections[0]!.headers.authorization).toBe(`Bearer ${fake.apiKey}`);

    rt.close();
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'session to end');
    await until(() => fake.open === 0, 5000, 'upstream to close');
  });
});
