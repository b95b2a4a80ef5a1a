/**
 * The `cascade` engine through the real server, with every stage on an OpenAI-compatible HTTP
 * server (the in-test fake): STT /v1/audio/transcriptions, chat /v1/chat/completions (streamed,
 * tools), TTS /v1/audio/speech (pcm, streamed). Speech starts while the model is still writing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAiHttp, type FakeChatBody, type FakeOpenAiHttp } from '../fakes/openai-compatible-http.ts';
import { startParley, TestClient, type Ev, type Parley } from '../component/helpers.ts';
import { speech16k, toAppendChunks } from '../unit/engines/cascade-harness.ts';

describe('cascade engine on OpenAI-compatible HTTP stages', () => {
  let parley: Parley;
  let fake: FakeOpenAiHttp;
  const clients: TestClient[] = [];
  let heard = 'tell me something';
  beforeAll(async () => {
    fake = await startFakeOpenAiHttp({
      apiKey: 'sk-stage',
      chunkDelayMs: 40,
      transcribe: () => heard,
      chat: (body: FakeChatBody) => {
        const last = body.messages.at(-1)!;
        if (last.role === 'tool') return { text: ['The ', 'tool ', 'said ', 'ok.'] };
        if (/time/.test(String(last.content))) return { toolCall: { name: 'get_current_time', arguments: '{"timezone":"UTC"}' } };
        return { text: ['Sure. ', 'Here ', 'is ', 'a ', 'longer ', 'answer ', 'that ', 'keeps ', 'going ', 'for ', 'a ', 'while.'] };
      },
    });
    const stage = (p: string, model: string): Record<string, string> => ({ [`PARLEY_${p}_URL`]: fake.baseUrl, [`PARLEY_${p}_KEY`]: 'sk-stage', [`PARLEY_${p}_MODEL`]: model });
    parley = await startParley({ env: { PARLEY_ENGINE: 'cascade', ...stage('STT', 'whisper-1'), ...stage('CHAT', 'llama3.1'), ...stage('TTS', 'tts-1'), PARLEY_TTS_VOICE: 'nova' } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await parley?.close();
    await fake?.close();
  });

  async function connect(): Promise<TestClient> {
    const c = new TestClient(parley.wsUrl);
    clients.push(c);
    await c.opened;
    expect(await c.waitFor('parley.engine', 10_000)).toMatchObject({ engine: 'cascade', reason: 'initial' });
    return c;
  }
  const append = (c: TestClient, chunks: string[]): void => { for (const audio of chunks) c.send({ type: 'input_audio_buffer.append', audio }); };

  it('a spoken turn runs STT → streamed chat → streamed TTS; audio starts before the model has finished', async () => {
    const c = await connect();
    heard = 'tell me something';
    const firstAudioAt: number[] = [];
    c.ws.on('message', (d) => { if (firstAudioAt.length === 0 && d.toString().startsWith('{"type":"response.output_audio.delta"')) firstAudioAt.push(performance.now()); });
    const chatStreamsBefore = fake.chatChunkTimes.length;
    append(c, toAppendChunks(speech16k('book-table'), 'pcm'));
    const done = await c.waitFor('response.done', 15_000);
    const r = done['response'] as { id: string; status: string; output: Array<{ content: Array<{ transcript: string }> }>; usage: { input_tokens: number; output_tokens: number } };
    expect(r.status).toBe('completed');
    expect(r.output[0]!.content[0]!.transcript).toBe('Sure. Here is a longer answer that keeps going for a while.');
    expect(r.usage).toMatchObject({ input_tokens: 42, output_tokens: 7 });
    // STT got the utterance as a WAV, with the configured model and key
    const sttReq = fake.requests.find((q) => q.path === 'audio/transcriptions')!;
    expect(sttReq.authorization).toBe('Bearer sk-stage');
    expect(sttReq.body).toMatchObject({ model: 'whisper-1' });
    const wavBytes = (sttReq.body as { fileBytes: number }).fileBytes;
    // 3.7 s of speech + padding at 16 kHz pcm16 (32 bytes per ms)
    expect(wavBytes / 32).toBeGreaterThan(3_000);
    expect(wavBytes / 32).toBeLessThan(5_500);
    const chatReq = fake.requests.find((q) => q.path === 'chat/completions')!.body as FakeChatBody;
    expect(chatReq.model).toBe('llama3.1');
    expect(chatReq.stream).toBe(true);
    expect(chatReq.messages[0]).toMatchObject({ role: 'system' });
    expect(chatReq.messages.at(-1)).toEqual({ role: 'user', content: 'tell me something' });
    expect(chatReq.tools?.map((t) => t.function.name)).toContain('get_current_time');
    // TTS once per sentence, pcm, with the configured voice
    const tts = fake.requests.filter((q) => q.path === 'audio/speech').map((q) => q.body as { input: string; voice: string; response_format: string });
    expect(tts.map((t) => t.input)).toEqual(['Sure.', 'Here is a longer answer that keeps going for a while.']);
    expect(tts.every((t) => t.voice === 'nova' && t.response_format === 'pcm')).toBe(true);
    // streaming: the first audio reached the client while the chat model was still writing
    const chatTimes = fake.chatChunkTimes[chatStreamsBefore]!;
    expect(firstAudioAt[0]!).toBeLessThan(chatTimes.at(-1)!);
    // and the audio is the fake TTS's 24 kHz pcm, unchanged in length: 60 ms per character, 0.1–3 s per request
    const bytes = c.events.filter((e) => e.type === 'response.output_audio.delta' && e['response_id'] === r.id).reduce((n, e) => n + Buffer.from(e['delta'] as string, 'base64').length, 0);
    const toneMs = (text: string): number => Math.min(3_000, Math.max(100, text.length * 60));
    expect(Math.abs(bytes / 48 - tts.reduce((ms, t) => ms + toneMs(t.input), 0))).toBeLessThan(5);
  });

  it('tools over HTTP chat: function_call item, the server runs it, the tool result goes back to the model', async () => {
    const c = await connect();
    heard = 'what time is it';
    append(c, toAppendChunks(speech16k('hello'), 'pcm'));
    const first = await c.waitFor('response.done', 15_000);
    const out = (first['response'] as { output: Array<{ type: string; name: string; arguments: string; call_id: string }> }).output;
    expect(out.map((o) => o.type)).toEqual(['function_call']);
    expect(out[0]).toMatchObject({ name: 'get_current_time', arguments: '{"timezone":"UTC"}' });
    const deltas = c.of('response.function_call_arguments.delta').map((e: Ev) => e['delta']).join('');
    expect(deltas).toBe('{"timezone":"UTC"}');
    const second = await c.waitFor((e) => e.type === 'response.done' && e !== first, 15_000);
    expect((second['response'] as { output: Array<{ content: Array<{ transcript: string }> }> }).output[0]!.content[0]!.transcript).toBe('The tool said ok.');
    const lastChat = fake.requests.filter((q) => q.path === 'chat/completions').at(-1)!.body as FakeChatBody;
    const toolMsg = lastChat.messages.at(-1)!;
    expect(toolMsg.role).toBe('tool');
    expect(toolMsg.tool_call_id).toBe(out[0]!.call_id);
    expect(JSON.parse(String(toolMsg.content))).toMatchObject({ timezone: 'UTC' });
    expect(lastChat.messages.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: out[0]!.call_id, type: 'function', function: { name: 'get_current_time' } }] });
  });

  it('a failing stage fails the response cleanly (status failed), and the next turn works', async () => {
    const c = await connect();
    heard = 'hello again';
    fake.failNext('chat/completions', 503);
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
    c.send({ type: 'response.create' });
    const done = await c.waitFor('response.done', 10_000);
    expect(done['response']).toMatchObject({ status: 'failed', status_details: { type: 'failed', error: { code: 'HTTP_SERVER_ERROR' } } });
    const from = c.events.length;
    c.send({ type: 'response.create' });
    const ok = await c.waitFor('response.done', 10_000, from);
    expect((ok['response'] as { status: string }).status).toBe('completed');
  });
});
