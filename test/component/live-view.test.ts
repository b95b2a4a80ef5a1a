/**
 * The live view (server/live/) over real HTTP on 127.0.0.1: GET /v1/calls/live and the SSE stream
 * GET /v1/calls/{id}/live, fed by real sessions on a scripted in-process engine (the test says what
 * the engine emits), and the calls page login that guards them (POST/GET/DELETE /calls/session).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine, EngineFactory, EngineOpenOptions } from '../../server/engines/index.ts';
import type { ServerEvent } from '../../server/protocol/index.ts';
import type { RealtimeSessionHandle } from '../../server/session/index.ts';
import { recordingPath } from '../../server/recording/index.ts';
import { TEST_KEY, startParley, until, type Parley } from './helpers.ts';

const PASSWORD = 'calls-page-password-42';

/** An engine whose events the test writes: `emit(ev)` goes to the session as the engine's. */
function scriptedEngine(): { factory: EngineFactory; emit: (ev: Record<string, unknown>) => void } {
  let cb: EngineOpenOptions['callbacks'] | null = null;
  let n = 0;
  const emit = (ev: Record<string, unknown>): void => {
    if (!cb) throw new Error('the engine is not open');
    cb.onEvent({ event_id: `evt_s${++n}`, ...ev } as ServerEvent);
  };
  const factory: EngineFactory = (): Engine => ({
    name: 'scripted',
    open: async (opts) => {
      cb = opts.callbacks;
      queueMicrotask(() => {
        emit({ type: 'session.created', session: opts.session });
        emit({ type: 'conversation.created', conversation: { id: 'conv_s', object: 'realtime.conversation' } });
      });
      return { send: () => undefined, close: () => undefined };
    },
  });
  return { factory, emit };
}

interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

/** A minimal EventSource over node:http: status, headers, parsed events, and when the server ended the stream. */
class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  headers: IncomingMessage['headers'] = {};
  body = '';
  ended = false;
  readonly done: Promise<void>;
  readonly #req: ReturnType<typeof request>;
  #buf = '';

  constructor(url: string, headers: Record<string, string>) {
    let resolveDone!: () => void;
    this.done = new Promise((r) => (resolveDone = r));
    this.#req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.body += chunk;
        this.#buf += chunk;
        let i: number;
        while ((i = this.#buf.indexOf('\n\n')) >= 0) {
          const block = this.#buf.slice(0, i);
          this.#buf = this.#buf.slice(i + 2);
          const ev: SseEvent = { event: 'message', data: null };
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue;
            const [k, ...v] = line.split(': ');
            if (k === 'id') ev.id = v.join(': ');
            else if (k === 'event') ev.event = v.join(': ');
            else if (k === 'data') data += v.join(': ');
          }
          if (data !== '') {
            ev.data = JSON.parse(data);
            this.events.push(ev);
          }
        }
      });
      res.on('end', () => {
        this.ended = true;
        resolveDone();
      });
      res.on('error', () => resolveDone());
    });
    this.#req.on('error', () => resolveDone());
    this.#req.end();
  }

  of(event: string): SseEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  abort(): void {
    this.#req.destroy();
  }
}

const servers: Parley[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(env: Record<string, string> = {}): Promise<{ p: Parley; emit: (ev: Record<string, unknown>) => void; open: () => Promise<RealtimeSessionHandle> }> {
  const engine = scriptedEngine();
  const p = await startParley({ env, deps: { engines: { scripted: engine.factory } } });
  servers.push(p);
  const open = (): Promise<RealtimeSessionHandle> => p.app.parley.sessions.open({ leg: 'ws', client: { send: () => undefined, close: () => undefined }, engine: 'scripted' });
  return { p, emit: engine.emit, open };
}

const auth = { authorization: `Bearer ${TEST_KEY}` };

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

describe('live view: GET /v1/calls/live and GET /v1/calls/{id}/live', () => {
  it('refuses without a server key or page login (401), and for ephemeral or wrong keys', async () => {
    const { p, open } = await start();
    const s = await open();
    const ek = p.app.parley.clientSecrets.mint({ ttlS: 60 }).value;
    for (const url of ['/v1/calls/live', `/v1/calls/${s.id}/live`]) {
      for (const headers of [{}, { authorization: 'Bearer wrong-key' }, { authorization: `Bearer ${ek}` }, { cookie: 'parley_calls=pcs_forged' }]) {
        const r = await get(`${p.httpUrl}${url}`, headers);
        expect(r.status, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect((r.body.error as { code: string }).code).toBe(Object.keys(headers).length === 0 ? 'missing_api_key' : 'invalid_api_key');
      }
    }
    // counted like every other refused request
    expect(p.app.parley.metrics.authFailures.get({ reason: 'missing' })).toBe(2);
    expect(p.app.parley.metrics.authFailures.get({ reason: 'invalid' })).toBe(6);
    s.close('done');
  });

  it('lists the calls in progress, and 404 for a call that is not (unknown id, or ended)', async () => {
    const { p, open } = await start();
    expect((await get(`${p.httpUrl}/v1/calls/live`, auth)).body).toEqual({ data: [] });
    const a = await open();
    const b = await open();
    const list = (await get(`${p.httpUrl}/v1/calls/live`, auth)).body.data as Array<{ id: string; door: string; engine: string }>;
    expect(list.map((c) => c.id)).toEqual([b.id, a.id]); // newest first
    expect(list[0]).toMatchObject({ door: 'ws', engine: 'scripted', lines: 0 });
    const unknown = await get(`${p.httpUrl}/v1/calls/sess_nope/live`, auth);
    expect(unknown.status).toBe(404);
    expect((unknown.body.error as { code: string }).code).toBe('call_not_in_progress');
    a.close('done');
    await until(() => !p.app.parley.sessions.get(a.id), 2000, 'a closed');
    expect((await get(`${p.httpUrl}/v1/calls/${a.id}/live`, auth)).status).toBe(404);
    expect(((await get(`${p.httpUrl}/v1/calls/live`, auth)).body.data as unknown[]).length).toBe(1);
    b.close('done');
  });

  it('streams the transcript so far, then each new line, and ends when the call ends', async () => {
    const { p, emit, open } = await start();
    const s = await open();
    // said before anyone watches: arrives as the transcript so far
    emit({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'item_u1', content_index: 0, transcript: 'hello there' });
    const sse = new SseClient(`${p.httpUrl}/v1/calls/${s.id}/live`, auth);
    await until(() => sse.of('line').length === 1, 3000, 'the first line');
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers['cache-control']).toBe('no-store');
    expect(sse.events[0]).toMatchObject({ event: 'call', data: { call: { id: s.id, door: 'ws', engine: 'scripted' }, dropped: 0 } });
    expect(sse.of('line')[0]).toMatchObject({ id: '1', data: { seq: 1, role: 'user', text: 'hello there', item_id: 'item_u1' } });

    // a reply as it is spoken, then complete
    const ref = { response_id: 'resp_1', item_id: 'item_a1', output_index: 0, content_index: 0 };
    emit({ type: 'response.output_audio_transcript.delta', ...ref, delta: 'Hi, ' });
    emit({ type: 'response.output_audio_transcript.delta', ...ref, delta: 'how can I help?' });
    await until(() => sse.of('partial').length === 2, 3000, 'partials');
    expect(sse.of('partial').map((e) => e.data)).toEqual([{ item_id: 'item_a1', delta: 'Hi, ' }, { item_id: 'item_a1', delta: 'how can I help?' }]);
    emit({ type: 'response.output_audio_transcript.done', ...ref, transcript: 'Hi, how can I help?' });
    await until(() => sse.of('line').length === 2, 3000, 'the reply line');
    expect(sse.of('line')[1]).toMatchObject({ id: '2', data: { seq: 2, role: 'assistant', text: 'Hi, how can I help?', item_id: 'item_a1' } });
    // a typed message is a user line too
    emit({ type: 'conversation.item.added', item: { id: 'item_u2', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'my order' }] } });
    await until(() => sse.of('line').length === 3, 3000, 'the typed line');
    expect(sse.of('line')[2]!.data).toMatchObject({ role: 'user', text: 'my order' });
    expect(((await get(`${p.httpUrl}/v1/calls/live`, auth)).body.data as Array<{ lines: number }>)[0]!.lines).toBe(3);

    // a second watcher that saw line 1 (EventSource reconnect) gets only the lines after it
    const again = new SseClient(`${p.httpUrl}/v1/calls/${s.id}/live`, { ...auth, 'last-event-id': '1' });
    await until(() => again.of('line').length === 2, 3000, 'resumed lines');
    expect(again.of('line').map((e) => (e.data as { seq: number }).seq)).toEqual([2, 3]);

    s.close('caller went away', 'caller_hangup');
    await sse.done;
    await again.done;
    expect(sse.ended).toBe(true);
    expect(sse.events.at(-1)).toMatchObject({ event: 'end', data: { id: s.id, end_reason: 'caller_hangup' } });
    expect(again.events.at(-1)?.event).toBe('end');
    expect(p.app.parley.sessions.active).toBe(0);
    expect((await get(`${p.httpUrl}/v1/calls/live`, auth)).body).toEqual({ data: [] });
  });

  it('a watcher that goes away is forgotten; app.close() ends open streams', async () => {
    const { p, open } = await start();
    const s = await open();
    const gone = new SseClient(`${p.httpUrl}/v1/calls/${s.id}/live`, auth);
    await until(() => gone.of('call').length === 1, 3000, 'call event');
    gone.abort();
    const kept = new SseClient(`${p.httpUrl}/v1/calls/${s.id}/live`, auth);
    await until(() => kept.of('call').length === 1, 3000, 'call event');
    const t0 = Date.now();
    await p.app.close();
    servers.splice(servers.indexOf(p), 1);
    await kept.done;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(kept.ended).toBe(true);
  });
});

describe('calls page login: POST /calls/session → cookie accepted by the live routes', () => {
  const login = (p: Parley, secret: string, headers: Record<string, string> = { origin: p.httpUrl, 'content-type': 'application/json' }) =>
    fetch(`${p.httpUrl}/calls/session`, { method: 'POST', headers, body: JSON.stringify({ secret }) });

  it('a server key or the demo password logs in; the cookie is HttpOnly, SameSite=Strict, and reads calls; logout revokes it', async () => {
    const { p, open } = await start({ PARLEY_DEMO_PASSWORD: PASSWORD });
    expect((await get(`${p.httpUrl}/calls/session`)).body).toEqual({ logged_in: false, password_login: true, key_login: true });
    for (const secret of [TEST_KEY, PASSWORD]) {
      const res = await login(p, secret);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const setCookie = res.headers.get('set-cookie') ?? '';
      expect(setCookie).toMatch(/^parley_calls=pcs_[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
      const cookie = setCookie.split(';')[0]!;
      expect(cookie).not.toContain(secret);
      const s = await open();
      expect((await get(`${p.httpUrl}/calls/session`, { cookie })).body.logged_in).toBe(true);
      expect((await get(`${p.httpUrl}/v1/calls/live`, { cookie })).status).toBe(200);
      const sse = new SseClient(`${p.httpUrl}/v1/calls/${s.id}/live`, { cookie });
      await until(() => sse.of('call').length === 1, 3000, 'stream with cookie');
      expect(sse.status).toBe(200);
      s.close('done');
      await sse.done;
      const out = await fetch(`${p.httpUrl}/calls/session`, { method: 'DELETE', headers: { cookie } });
      expect(out.headers.get('set-cookie')).toMatch(/^parley_calls=; .*Max-Age=0/);
      expect((await get(`${p.httpUrl}/v1/calls/live`, { cookie })).status).toBe(401);
    }
  });

  it("the recording route takes the page's cookie too (what an <audio> sends), and nothing else without a key", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-live-'));
    try {
      const { p } = await start({ PARLEY_DEMO_PASSWORD: PASSWORD, PARLEY_DATA_DIR: dataDir });
      const path = recordingPath(dataDir, 'sess_rec1');
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(1000)]));
      const url = `${p.httpUrl}/v1/calls/sess_rec1/recording`;
      expect((await get(url)).status).toBe(401);
      expect((await get(url, { cookie: 'parley_calls=pcs_forged' })).status).toBe(401);
      const cookie = (await login(p, PASSWORD)).headers.get('set-cookie')!.split(';')[0]!;
      const res = await fetch(url, { headers: { cookie, range: 'bytes=0-3' } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      expect(await res.text()).toBe('RIFF');
      // pausing a recording is not reading: a server key only
      expect((await fetch(`${url}/pause`, { method: 'POST', headers: { cookie } })).status).toBe(401);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a wrong secret (401, then 429), a request without a same-origin Origin (403), and a non-JSON body (415)', async () => {
    const { p } = await start({ PARLEY_DEMO_PASSWORD: PASSWORD });
    expect((await login(p, TEST_KEY, { 'content-type': 'application/json' })).status).toBe(403);
    expect((await login(p, TEST_KEY, { origin: 'http://evil.example', 'content-type': 'application/json' })).status).toBe(403);
    expect((await login(p, TEST_KEY, { origin: p.httpUrl, 'content-type': 'text/plain' })).status).toBe(415);
    const wrong = await login(p, 'not-it');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    for (let i = 0; i < 9; i++) await login(p, 'not-it');
    // ten wrong tries a minute: even the right one waits
    expect((await login(p, TEST_KEY)).status).toBe(429);
  });

  it('without PARLEY_API_KEYS and PARLEY_DEMO_PASSWORD nobody logs in; the page itself is served with a strict CSP', async () => {
    const { p } = await start({ PARLEY_API_KEYS: '' });
    expect((await get(`${p.httpUrl}/calls/session`)).body).toEqual({ logged_in: false, password_login: false, key_login: false });
    const r = await login(p, '');
    expect(r.status).toBe(403);
    const page = await fetch(`${p.httpUrl}/calls`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('calls/assets/calls.js');
    const js = await fetch(`${p.httpUrl}/calls/assets/calls.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await js.text()).length).toBeGreaterThan(1000);
  });
});
