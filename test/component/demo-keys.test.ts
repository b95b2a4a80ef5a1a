/**
 * Who gets a key from the browser demo's `POST /demo/session` (server/routes/demo.ts), over real HTTP
 * on 127.0.0.1 with the exact `Origin` and `Host` headers a client sends: not curl (no Origin), not a
 * DNS-rebinding page (Origin and Host both `evil.example`), not anyone at all when HOST is beyond
 * loopback without PARLEY_DEMO_ORIGINS or a password; configured origins when set. Demo keys are
 * short-lived and hold one session each, and demo keys together can never take every slot.
 * (The config's HOST decides the rules; the test servers themselves always listen on 127.0.0.1.)
 */
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { describeKeyStatus } from '../../client-demo/src/lib/plain-words.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TEST_KEY, TestClient, type Parley } from './helpers.ts';

interface Answer {
  status: number;
  body: { value?: string; expires_at?: number; error?: { code: string; message: string } };
}

/** POST /demo/session with exactly these headers (Host included: fetch cannot set it). */
function postKey(p: Parley, headers: Record<string, string>, body: unknown = {}): Promise<Answer> {
  const { port } = new URL(p.httpUrl);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: Number(port), method: 'POST', path: '/demo/session', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? -1, body: JSON.parse(text) as Answer['body'] }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** The headers a browser on `pageOrigin` sends to this server (Host = the page's host). */
function fromPage(pageOrigin: string): Record<string, string> {
  return { origin: pageOrigin, host: new URL(pageOrigin).host };
}

function upgrade(p: Parley, key: string): Promise<{ status: number; code?: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(p.wsUrl, ['realtime', `openai-insecure-api-key.${key}`], { perMessageDeflate: false });
    ws.on('error', () => undefined);
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? -1, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
    });
  });
}

describe('demo keys: who gets one', () => {
  let fake: FakeOpenAI;
  const parleys: Parley[] = [];
  const sockets: WebSocket[] = [];
  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
  });
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    for (const p of parleys.splice(0)) await p.close();
  });
  afterAll(async () => {
    await fake?.stop();
  });
  async function start(env: Record<string, string> = {}, logLines?: string[]): Promise<Parley> {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines?.push(...chunk.toString().split('\n').filter((l) => l !== ''));
        cb();
      },
    });
    const p = await startParley({ fake, env: { PARLEY_DEMO: 'on', ...env }, ...(logLines ? { deps: { logger: pino({ level: 'info' }, sink) } } : {}) });
    parleys.push(p);
    return p;
  }

  it('default (loopback HOST): a page at a loopback address of this server gets a key; curl, rebinding and foreign pages get 403', async () => {
    const p = await start();
    const { port } = new URL(p.httpUrl);
    // no Origin: curl, scripts
    const curl = await postKey(p, {});
    expect(curl.status).toBe(403);
    expect(curl.body.error?.code).toBe('origin_required');
    expect(curl.body.value).toBeUndefined();
    // DNS rebinding: evil.example resolved to 127.0.0.1, so Origin and Host agree
    const rebinding = await postKey(p, fromPage(`http://evil.example:${port}`));
    expect(rebinding.status).toBe(403);
    expect(rebinding.body.error?.code).toBe('cross_origin');
    // another site, and another local port
    expect((await postKey(p, { origin: 'https://evil.example', host: `127.0.0.1:${port}` })).status).toBe(403);
    expect((await postKey(p, { origin: `http://127.0.0.1:${Number(port) + 1}`, host: `127.0.0.1:${port}` })).status).toBe(403);
    expect((await postKey(p, { origin: 'null', host: `127.0.0.1:${port}` })).status).toBe(403);
    // the page opened at 127.0.0.1, localhost or [::1]
    for (const page of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`]) {
      const ok = await postKey(p, fromPage(page));
      expect(ok.status, page).toBe(200);
      expect(ok.body.value).toMatch(/^ek_/);
    }
  });

  it('HOST beyond loopback without PARLEY_DEMO_ORIGINS or a password: no key for anyone (demo_locked), and a warning at start', async () => {
    const lines: string[] = [];
    const p = await start({ HOST: '0.0.0.0' }, lines);
    const { port } = new URL(p.httpUrl);
    expect(lines.some((l) => /PARLEY_DEMO_ORIGINS/.test(l) && (JSON.parse(l) as { level: number }).level === 40)).toBe(true);
    for (const headers of [{}, fromPage(`http://127.0.0.1:${port}`), fromPage(`http://parley.example.com:${port}`)]) {
      const r = await postKey(p, headers);
      expect(r.status).toBe(403);
      expect(r.body.error?.code).toBe('demo_locked');
      expect(r.body.error?.message).toMatch(/PARLEY_DEMO_ORIGINS or PARLEY_DEMO_PASSWORD/);
    }
    // the page itself is still served (it shows the message)
    expect((await fetch(`${p.httpUrl}/demo/config`)).status).toBe(200);
  });

  it('HOST beyond loopback with PARLEY_DEMO_ORIGINS: exactly those origins', async () => {
    const p = await start({ HOST: '0.0.0.0', PARLEY_DEMO_ORIGINS: 'https://parley.example.com, https://voice.example.org:8443/' });
    const { port } = new URL(p.httpUrl);
    // behind a TLS proxy the Host the server sees need not match
    expect((await postKey(p, { origin: 'https://parley.example.com', host: `10.0.0.5:${port}` })).status).toBe(200);
    expect((await postKey(p, fromPage('https://voice.example.org:8443'))).status).toBe(200);
    for (const headers of [{}, fromPage('http://parley.example.com'), fromPage('https://evil.example'), fromPage(`http://127.0.0.1:${port}`)]) {
      expect((await postKey(p, headers)).status, JSON.stringify(headers)).toBe(403);
    }
  });

  it('HOST beyond loopback with PARLEY_DEMO_PASSWORD: same-origin pages with the password', async () => {
    const p = await start({ HOST: '0.0.0.0', PARLEY_DEMO_PASSWORD: 'open sesame' });
    const page = fromPage('http://parley.lan:8080');
    expect((await postKey(p, page)).status).toBe(401);
    expect((await postKey(p, page, { password: 'open sesame' })).status).toBe(200);
    expect((await postKey(p, {}, { password: 'open sesame' })).status).toBe(403); // still a browser's only
    expect((await postKey(p, { origin: 'https://evil.example', host: 'parley.lan:8080' }, { password: 'open sesame' })).status).toBe(403);
  });

  it('a demo key is short-lived and holds one session; demo keys together leave a slot for a server key (PARLEY_MAX_SESSIONS=5)', async () => {
    const p = await start({ PARLEY_MAX_SESSIONS: '5', PARLEY_DEMO_KEY_TTL_S: '30' });
    const page = fromPage(p.httpUrl);
    const first = await postKey(p, page);
    expect(first.status).toBe(200);
    const nowS = Date.now() / 1000;
    expect(first.body.expires_at).toBeGreaterThan(nowS + 25);
    expect(first.body.expires_at).toBeLessThanOrEqual(nowS + 31);
    const a = await upgrade(p, first.body.value!);
    expect(a.status).toBe(101);
    sockets.push(a.ws!);
    // the same key again: its one session is taken
    expect(await upgrade(p, first.body.value!)).toEqual({ status: 429, code: 'key_session_limit' });
    // more demo keys fill the ephemeral share (4 of 5), never the last slot
    const refused: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) {
      const k = await postKey(p, page);
      expect(k.status).toBe(200);
      const u = await upgrade(p, k.body.value!);
      if (u.ws) sockets.push(u.ws);
      else refused.push(u.code);
    }
    expect(refused).toEqual(['ephemeral_session_limit']);
    expect(p.app.parley.keys.ephemeralSessions).toBe(4);
    const server = new TestClient(p.wsUrl, { key: TEST_KEY });
    await server.opened;
    await server.waitFor('session.created');
    server.close();
  });

  it('config: origins are checked and normalised, TTL and per-key cap bounded', () => {
    const base = { PARLEY_API_KEYS: TEST_KEY };
    expect(loadConfig(base).demo).toMatchObject({ origins: [], keyTtlS: 120, maxSessionsPerKey: 1 });
    expect(loadConfig({ ...base, PARLEY_DEMO_ORIGINS: 'HTTPS://Parley.Example.com:443/,http://127.0.0.1:8080' }).demo.origins).toEqual(['https://parley.example.com', 'http://127.0.0.1:8080']);
    for (const bad of ['parley.example.com', 'https://parley.example.com/page', 'ftp://x.example', 'https://a.example?x=1']) {
      expect(() => loadConfig({ ...base, PARLEY_DEMO_ORIGINS: bad }), bad).toThrow(/PARLEY_DEMO_ORIGINS/);
    }
    expect(() => loadConfig({ ...base, PARLEY_DEMO_KEY_TTL_S: '5' })).toThrow(/PARLEY_DEMO_KEY_TTL_S/);
    expect(() => loadConfig({ ...base, PARLEY_DEMO_MAX_SESSIONS_PER_KEY: '0' })).toThrow(/PARLEY_DEMO_MAX_SESSIONS_PER_KEY/);
  });

  it('the page says in plain words why it got no key (by error code, not by message)', () => {
    expect(describeKeyStatus(403, 'demo_locked')).toMatch(/does not hand out demo keys/);
    expect(describeKeyStatus(403, 'cross_origin')).toMatch(/address may not start the demo/);
    expect(describeKeyStatus(403, 'origin_required')).toMatch(/address may not start the demo/);
    expect(describeKeyStatus(401, 'wrong_password')).toMatch(/password/);
    expect(describeKeyStatus(403)).toMatch(/password/);
  });
});
