import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpChat, HttpStt, HttpTts, ProviderError } from '../../../server/engines/providers/index.ts';
import type { ChatChunk } from '../../../server/engines/providers/index.ts';
import { startFakeOpenAiHttp } from '../../fakes/openai-compatible-http.ts';
import type { FakeOpenAiHttp } from '../../fakes/openai-compatible-http.ts';

const signal = (): AbortSignal => new AbortController().signal;

describe('OpenAI-compatible HTTP providers against the in-test fake', () => {
  let fake: FakeOpenAiHttp;
  let lastWav: Uint8Array = new Uint8Array();
  beforeAll(async () => {
    fake = await startFakeOpenAiHttp({
      apiKey: 'sk-test',
      chunkDelayMs: 15,
      transcribe: (wav, fields) => { lastWav = wav; return `heard ${fields.model}`; },
      speech: (text) => { const pcm = new Int16Array(24_000); for (let i = 0; i < pcm.length; i++) pcm[i] = (i * 7 + text.length) % 30_000 - 15_000; return pcm; },
    });
  });
  afterAll(async () => { await fake.close(); });

  it('STT posts the utterance as a 16 kHz WAV with model, language and the key', async () => {
    const stt = new HttpStt({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'whisper-1' });
    const s = stt.open({ language: 'en' });
    const pcm = new Int16Array(16_000 * 3);   // 4 × 3 s grows the 10 s buffer once
    for (let i = 0; i < 4; i++) s.push(pcm);
    const r = await s.finish();
    expect(r.text).toBe('heard whisper-1');
    expect(r.audioMs).toBe(12_000);
    const req = fake.requests.at(-1)!;
    expect(req.authorization).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({ model: 'whisper-1', language: 'en', response_format: 'json' });
    expect(Buffer.from(lastWav.subarray(0, 4)).toString()).toBe('RIFF');
    const view = new DataView(lastWav.buffer, lastWav.byteOffset);
    expect(view.getUint32(24, true)).toBe(16_000);
    expect(lastWav.length).toBe(44 + 16_000 * 12 * 2);
  });

  it('chat streams text pieces as they arrive, and tool calls with streamed arguments', async () => {
    const chat = new HttpChat({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'llama3' });
    const arrivals: number[] = [];
    const chunks: ChatChunk[] = [];
    for await (const c of chat.stream({ messages: [{ role: 'user', content: 'one two three' }], tools: [], signal: signal() })) {
      chunks.push(c); arrivals.push(performance.now());
    }
    const text = chunks.flatMap((c) => (c.type === 'text' ? [c.delta] : [])).join('');
    expect(text).toBe('I heard: one two three. Anything else?');
    // Streamed: the first piece arrived well before the last (the fake waits 15 ms between chunks).
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(60);
    expect(chunks.at(-1)).toEqual({ type: 'done', finishReason: 'stop', usage: { inputTokens: 42, outputTokens: 7 } });

    const tools = [{ name: 'get_current_time', description: 'now', parameters: { type: 'object', properties: {} } }];
    const calls: ChatChunk[] = [];
    for await (const c of chat.stream({ messages: [{ role: 'user', content: 'what time is it' }], tools, toolChoice: 'auto', signal: signal() })) calls.push(c);
    expect(calls[0]).toEqual({ type: 'tool_call', index: 0, callId: 'call_fake1', name: 'get_current_time' });
    const args = calls.flatMap((c) => (c.type === 'tool_arguments' ? [c.delta] : []));
    expect(args.length).toBeGreaterThan(1);
    expect(JSON.parse(args.join(''))).toEqual({ timezone: 'UTC' });
    expect(calls.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    const sent = fake.requests.at(-1)!.body as { tools: unknown[]; tool_choice: string; stream: boolean };
    expect(sent.stream).toBe(true);
    expect(sent.tool_choice).toBe('auto');
    expect(sent.tools).toEqual([{ type: 'function', function: { name: 'get_current_time', description: 'now', parameters: { type: 'object', properties: {} } } }]);
  });

  it('TTS streams pcm 24 kHz exactly, across odd chunk boundaries, before the body ends', async () => {
    const tts = new HttpTts({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'tts-1', voice: 'nova' });
    const parts: Int16Array[] = [];
    const arrivals: number[] = [];
    for await (const c of tts.synthesize({ text: 'abc', voice: 'marin', signal: signal() })) {
      expect(c.sampleRateHz).toBe(24_000);
      parts.push(c.pcm); arrivals.push(performance.now());
    }
    const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0; for (const p of parts) { all.set(p, o); o += p.length; }
    expect(all.length).toBe(24_000);
    for (let i = 0; i < all.length; i++) if (all[i] !== (i * 7 + 3) % 30_000 - 15_000) throw new Error(`sample ${i} differs`);
    expect(parts.length).toBeGreaterThan(5);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(50);
    expect(fake.requests.at(-1)!.body).toMatchObject({ model: 'tts-1', voice: 'nova', input: 'abc', response_format: 'pcm' });
  });

  it('429 and 5xx are retryable coded errors; 401 is not', async () => {
    const chat = new HttpChat({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'm' });
    fake.failNext('chat/completions', 429);
    const drain = async (c: HttpChat | HttpTts, key?: string): Promise<unknown> => {
      try {
        if (c instanceof HttpChat) { for await (const _ of c.stream({ messages: [], tools: [], signal: signal() })) { /* drain */ } }
        else { for await (const _ of c.synthesize({ text: 'x', signal: signal() })) { /* drain */ } }
      } catch (e) { return e; }
      return key;
    };
    const e429 = await drain(chat) as ProviderError;
    expect(e429).toBeInstanceOf(ProviderError);
    expect(e429).toMatchObject({ code: 'HTTP_RATE_LIMITED', retryable: true, status: 429 });
    fake.failNext('audio/speech', 503);
    expect(await drain(new HttpTts({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 't' }))).toMatchObject({ code: 'HTTP_SERVER_ERROR', retryable: true, status: 503 });
    expect(await drain(new HttpChat({ baseUrl: fake.baseUrl, apiKey: 'wrong', model: 'm' }))).toMatchObject({ code: 'HTTP_REJECTED', retryable: false, status: 401 });
    const s = new HttpStt({ baseUrl: 'http://127.0.0.1:9/v1', model: 'w' }).open();
    s.push(new Int16Array(160));
    await expect(s.finish()).rejects.toMatchObject({ code: 'HTTP_UNREACHABLE', retryable: true });
  });

  it('an abort mid-stream ends the stream quietly', async () => {
    const chat = new HttpChat({ baseUrl: fake.baseUrl, apiKey: 'sk-test', model: 'm' });
    const ctrl = new AbortController();
    const got: ChatChunk[] = [];
    for await (const c of chat.stream({ messages: [{ role: 'user', content: 'a b c d e f g h' }], tools: [], signal: ctrl.signal })) {
      got.push(c);
      if (got.length === 2) ctrl.abort();
    }
    expect(got.length).toBe(2);
  });
});
