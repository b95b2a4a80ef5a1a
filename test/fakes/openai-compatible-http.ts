/**
 * In-test fake of OpenAI-compatible speech and chat servers: `POST /v1/audio/transcriptions`
 * (multipart, JSON answer), `POST /v1/chat/completions` (streamed SSE with tool calls) and
 * `POST /v1/audio/speech` (`response_format: "pcm"`, 24 kHz, streamed in chunks). It stands in
 * for OpenAI (or a user's whisper / Ollama / TTS server), which the tests cannot reach.
 * Real sockets on 127.0.0.1, ephemeral port.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeChatMessage { role: string; content?: string | null; tool_calls?: unknown[]; tool_call_id?: string }
export interface FakeChatBody {
  model: string;
  messages: FakeChatMessage[];
  tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
  tool_choice?: unknown;
  stream?: boolean;
}
/** What the fake chat model says: text pieces and/or one tool call. */
export interface FakeChatReply { text?: string[]; toolCall?: { name: string; arguments: string } }

export interface FakeRequest { path: string; authorization: string | undefined; body: unknown }

export interface FakeOpenAiHttpOptions {
  /** Transcript for an uploaded WAV (default: "hello"). */
  transcribe?: (wav: Uint8Array, fields: Record<string, string>) => string | Promise<string>;
  /** Chat reply for a request (default: "I heard: <last user text>." and get_current_time when asked the time). */
  chat?: (body: FakeChatBody) => FakeChatReply;
  /** 24 kHz pcm16 for a text (default: a 440 Hz tone, 60 ms per character, capped at 3 s). */
  speech?: (text: string, voice: string) => Int16Array;
  /** Delay between streamed chunks (default 5 ms), to make streaming observable. */
  chunkDelayMs?: number;
  /** Required bearer key (default: any). */
  apiKey?: string;
}

export interface FakeOpenAiHttp {
  /** e.g. http://127.0.0.1:12345/v1 */
  readonly baseUrl: string;
  readonly requests: FakeRequest[];
  /** Answer the next `count` requests to `path` (e.g. 'chat/completions') with this status. */
  failNext(path: string, status: number, count?: number): void;
  /** Wall-clock timestamps of each chunk the TTS endpoint wrote, per request. */
  readonly speechChunkTimes: number[][];
  readonly chatChunkTimes: number[][];
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function defaultChat(body: FakeChatBody): FakeChatReply {
  const last = body.messages[body.messages.length - 1];
  if (last?.role === 'tool') return { text: ['The ', 'tool ', 'answered: ', String(last.content ?? ''), '.'] };
  const user = [...body.messages].reverse().find((m) => m.role === 'user');
  const text = String(user?.content ?? '');
  if (/time/i.test(text) && body.tools?.some((t) => t.function.name === 'get_current_time')) {
    return { toolCall: { name: 'get_current_time', arguments: '{"timezone":"UTC"}' } };
  }
  return { text: ['I heard: ', ...text.split(/(?<=\s)/), '. ', 'Anything ', 'else?'] };
}

function tone(text: string): Int16Array {
  const n = Math.min(72_000, Math.max(2_400, text.length * 1_440));
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(8_000 * Math.sin((2 * Math.PI * 440 * i) / 24_000));
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function startFakeOpenAiHttp(opts: FakeOpenAiHttpOptions = {}): Promise<FakeOpenAiHttp> {
  const requests: FakeRequest[] = [];
  const failures = new Map<string, { status: number; count: number }>();
  const speechChunkTimes: number[][] = [];
  const chatChunkTimes: number[][] = [];
  const delay = opts.chunkDelayMs ?? 5;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/^\/v1\//, '');
    const raw = await readBody(req);
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad key', code: 'invalid_api_key' } }));
      return;
    }
    const fail = failures.get(path);
    if (fail && fail.count > 0) {
      fail.count--;
      requests.push({ path, authorization: req.headers.authorization, body: null });
      res.writeHead(fail.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `injected ${fail.status}` } }));
      return;
    }
    if (req.method === 'POST' && path === 'audio/transcriptions') {
      const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: new Uint8Array(raw) }).formData();
      const fields: Record<string, string> = {};
      let wav = new Uint8Array();
      for (const [k, v] of form.entries()) {
        if (typeof v === 'string') fields[k] = v; else wav = new Uint8Array(await v.arrayBuffer());
      }
      requests.push({ path, authorization: req.headers.authorization, body: { ...fields, fileBytes: wav.length } });
      const text = opts.transcribe ? await opts.transcribe(wav, fields) : 'hello';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text }));
      return;
    }
    if (req.method === 'POST' && path === 'chat/completions') {
      const body = JSON.parse(raw.toString('utf8')) as FakeChatBody;
      requests.push({ path, authorization: req.headers.authorization, body });
      const reply = (opts.chat ?? defaultChat)(body);
      const times: number[] = [];
      chatChunkTimes.push(times);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const id = `chatcmpl-${Date.now()}`;
      const send = async (delta: unknown, finish: string | null = null): Promise<void> => {
        res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
        times.push(performance.now());
        await sleep(delay);
      };
      await send({ role: 'assistant', content: '' });
      for (const piece of reply.text ?? []) await send({ content: piece });
      if (reply.toolCall) {
        await send({ tool_calls: [{ index: 0, id: 'call_fake1', type: 'function', function: { name: reply.toolCall.name, arguments: '' } }] });
        const a = reply.toolCall.arguments;
        const step = Math.max(1, Math.ceil(a.length / 3));
        for (let i = 0; i < a.length; i += step) await send({ tool_calls: [{ index: 0, function: { arguments: a.slice(i, i + step) } }] });
      }
      await send({}, reply.toolCall ? 'tool_calls' : 'stop');
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 } })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    if (req.method === 'POST' && path === 'audio/speech') {
      const body = JSON.parse(raw.toString('utf8')) as { input: string; voice: string; response_format?: string; model: string };
      requests.push({ path, authorization: req.headers.authorization, body });
      if (body.response_format !== 'pcm') {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'this fake only speaks pcm' } }));
        return;
      }
      const pcm = (opts.speech ?? tone)(body.input, body.voice);
      const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
      const times: number[] = [];
      speechChunkTimes.push(times);
      res.writeHead(200, { 'content-type': 'audio/pcm', 'transfer-encoding': 'chunked' });
      // 4801-byte chunks: odd on purpose, samples straddle chunk boundaries.
      for (let off = 0; off < bytes.length; off += 4801) {
        res.write(bytes.subarray(off, off + 4801));
        times.push(performance.now());
        await sleep(delay);
      }
      res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${path}` } }));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err)); else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    speechChunkTimes,
    chatChunkTimes,
    failNext(path, status, count = 1) { failures.set(path, { status, count }); },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
