/**
 * Mid-call fallback from the realtime upstream (the fake OpenAI) to the cascade (stages on the
 * in-test OpenAI-compatible HTTP fake): refused at connect (429), dropped mid-call, and the
 * session cap when the reconnect is refused. The client keeps its WebSocket, sees one
 * `parley.engine` event per change, and its next turn is served by the cascade with the
 * conversation so far replayed as text. A metric counts each fallback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { startFakeOpenAiHttp, type FakeChatBody, type FakeOpenAiHttp } from '../fakes/openai-compatible-http.ts';
import { speak, startParley, TestClient, until, type Ev, type Parley } from '../component/helpers.ts';
import { speech16k, toAppendChunks } from '../unit/engines/cascade-harness.ts';

describe('fallback from the realtime upstream to the cascade', () => {
  let realtime: FakeOpenAI;
  let stages: FakeOpenAiHttp;
  let parley: Parley;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    realtime = await new FakeOpenAI({ transcribe: () => 'my name is Ada' }).start();
    stages = await startFakeOpenAiHttp({ transcribe: () => 'what is my name' });
    const env: Record<string, string> = { PARLEY_FALLBACK_ENGINE: 'cascade' };
    for (const p of ['STT', 'CHAT', 'TTS']) env[`PARLEY_${p}_URL`] = stages.baseUrl;
    parley = await startParley({ fake: realtime, env });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await parley?.close();
    await realtime?.stop();
    await stages?.close();
  });

  const fallbacks = (): number => parley.app.parley.metrics.engineSwitches.get({ from: 'openai', to: 'cascade', reason: 'fallback' }) ?? 0;
  const connect = async (): Promise<TestClient> => {
    const c = new TestClient(parley.wsUrl);
    clients.push(c);
    await c.opened;
    return c;
  };
  const cascadeTurn = async (c: TestClient): Promise<Ev> => {
    const from = c.events.length;
    for (const audio of toAppendChunks(speech16k('hello'), 'pcm')) c.send({ type: 'input_audio_buffer.append', audio });
    return c.waitFor('response.done', 15_000, from);
  };
  const replyText = (done: Ev): string => ((done['response'] as { output: Array<{ content?: Array<{ transcript?: string }> }> }).output[0]?.content?.[0]?.transcript) ?? '';

  it('refused at connect (429): the session starts on the cascade and serves the turn', async () => {
    realtime.refuseWith(429);
    const before = fallbacks();
    const c = await connect();
    const eng = await c.waitFor('parley.engine', 10_000);
    expect(eng).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(String(eng['detail'])).toContain('429');
    const done = await cascadeTurn(c);
    expect((done['response'] as { status: string }).status).toBe('completed');
    expect(replyText(done)).toBe('I heard: what is my name. Anything else?');
    expect(c.of('session.created')).toHaveLength(1);
    expect(c.of('parley.engine')).toHaveLength(1);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(fallbacks()).toBe(before + 1);
    realtime.refuseWith(null);
  });

  it('dropped mid-call: the next turn is served by the cascade on the same socket, with the history', async () => {
    const before = fallbacks();
    const c = await connect();
    expect(await c.waitFor('parley.engine', 10_000)).toMatchObject({ engine: 'openai', reason: 'initial' });
    // turn 1 on the realtime fake
    speak((ev) => c.send(ev), pcmChunkB64, 300, 300);
    const first = await c.waitFor('response.done', 10_000);
    expect(replyText(first)).toBe('You said: my name is ada');
    const chatsBefore = stages.requests.filter((q) => q.path === 'chat/completions').length;
    // the drop is followed by one reconnect (upstream-retry.test.ts); the upstream refuses it
    realtime.refuseWith(503);
    realtime.dropAll();
    const eng = await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'fallback', 10_000);
    expect(eng['engine']).toBe('cascade');
    realtime.refuseWith(null);
    // turn 2 on the cascade, no reconnect
    const done = await cascadeTurn(c);
    expect((done['response'] as { status: string }).status).toBe('completed');
    expect(replyText(done)).toBe('I heard: what is my name. Anything else?');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(c.of('session.created')).toHaveLength(1);
    expect(c.of('parley.engine')).toHaveLength(2);
    // the conversation so far reached the cascade's chat model as text
    const chat = stages.requests.filter((q) => q.path === 'chat/completions').slice(chatsBefore)[0]!.body as FakeChatBody;
    const history = chat.messages.map((m) => `${m.role}: ${m.content ?? ''}`);
    expect(history).toEqual(expect.arrayContaining(['user: my name is Ada', 'assistant: You said: my name is ada', 'user: what is my name']));
    expect(fallbacks()).toBe(before + 1);
  });

  it('session cap reached and the reconnect refused: the session carries on with the cascade', async () => {
    const before = fallbacks();
    const c = await connect();
    await c.waitFor((e) => e.type === 'parley.engine' && e['engine'] === 'openai', 10_000);
    realtime.closeAfterTurns = 1;
    realtime.refuseWith(503);
    speak((ev) => c.send(ev), pcmChunkB64, 300, 300);
    await c.waitFor('response.done', 10_000);
    const eng = await c.waitFor((e) => e.type === 'parley.engine' && e['engine'] === 'cascade', 10_000);
    expect(eng['reason']).toBe('fallback');
    const done = await cascadeTurn(c);
    expect((done['response'] as { status: string }).status).toBe('completed');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    await until(() => fallbacks() === before + 1, 2_000, 'fallback metric');
    realtime.closeAfterTurns = null;
    realtime.refuseWith(null);
  });
});
