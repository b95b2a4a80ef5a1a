/**
 * The demo's server side over real HTTP and WebSocket on 127.0.0.1 (server/routes/demo.ts): the page
 * and its bundled scripts, the same-origin ephemeral-key endpoint and its guards (demo off → 404,
 * optional password, same-origin only, rate limit), and the minted key opening /v1/realtime as a
 * browser does (subprotocol), while the server's own key never appears in anything served.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROOT, SERVER_KEY, openDemo, snapshot, startDemoServer } from './browser-harness.ts';
import type { DemoServer } from './browser-harness.ts';

const servers: DemoServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function start(env: Record<string, string> = {}): Promise<DemoServer> {
  const s = await startDemoServer(env);
  servers.push(s);
  return s;
}

/** POST /demo/session as the page at `base` does (a browser sends its Origin; Node's fetch does not). */
function postKey(base: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/demo/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base, ...headers },
    body: JSON.stringify(body),
  });
}

/** Opens /v1/realtime the way the page does and returns the first server event. */
function firstEvent(base: string, key: string): Promise<{ protocol: string; event: { type: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/realtime?model=gpt-realtime`, ['realtime', `openai-insecure-api-key.${key}`]);
    const timer = setTimeout(() => reject(new Error('no event within 15 s')), 15_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve({ protocol: ws.protocol, event: JSON.parse(String(data)) as { type: string } });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('demo routes: page, assets, ephemeral key (demo on, no password)', () => {
  let s: DemoServer;
  beforeAll(async () => {
    s = await start();
  });

  it('serves the page and its bundled scripts, offline, with a strict CSP', async () => {
    const page = await fetch(`${s.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).toContain('src="demo/assets/app.js"');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN
    const bodies = [html];
    for (const asset of ['app.js', 'mic-worklet.js', 'playback-worklet.js', 'style.css']) {
      const res = await fetch(`${s.baseUrl}/demo/assets/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type')).toMatch(asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      const etag = res.headers.get('etag');
      bodies.push(await res.text());
      const again = await fetch(`${s.baseUrl}/demo/assets/${asset}`, { headers: { 'if-none-match': etag ?? '' } });
      expect(again.status).toBe(304);
    }
    expect(bodies[2]).toContain('parley-mic');
    expect(bodies[3]).toContain('parley-playback');
    // the server's real key appears nowhere the page can read
    for (const b of bodies) expect(b).not.toContain(SERVER_KEY);
  });

  it('mints a short-lived ephemeral key that opens /v1/realtime as a subprotocol', async () => {
    const cfg = (await (await fetch(`${s.baseUrl}/demo/config`)).json()) as { passwordRequired: boolean; model: string };
    expect(cfg).toEqual({ passwordRequired: false, model: 'gpt-realtime' });
    const res = await postKey(s.baseUrl, {});
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { value: string; expires_at: number; model: string };
    expect(body.value).toMatch(/^ek_/);
    expect(body.value).not.toContain(SERVER_KEY);
    const nowS = Date.now() / 1000;
    expect(body.expires_at).toBeGreaterThan(nowS + 60);
    expect(body.expires_at).toBeLessThanOrEqual(nowS + 121);
    const { protocol, event } = await firstEvent(s.baseUrl, body.value);
    expect(protocol).toBe('realtime');
    expect(['session.created', 'parley.engine', 'session.updated'], JSON.stringify(event)).toContain(event.type);
    // a made-up key does not
    await expect(firstEvent(s.baseUrl, 'ek_not_a_real_key_0000000000')).rejects.toThrow(/HTTP 401/);
  });

  it('is same-origin only and JSON only', async () => {
    const foreign = await postKey(s.baseUrl, {}, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const own = await postKey(s.baseUrl, {}, { origin: s.baseUrl });
    expect(own.status).toBe(200);
    const form = await fetch(`${s.baseUrl}/demo/session`, { method: 'POST', headers: { 'content-type': 'text/plain', origin: s.baseUrl }, body: 'x' });
    expect(form.status).toBe(415);
  });
});

describe('demo routes with PARLEY_DEMO_PASSWORD', () => {
  it('asks for the password, checks it, and slows down guessing', async () => {
    const s = await start({ PARLEY_DEMO_PASSWORD: 'open sesame' });
    const cfg = (await (await fetch(`${s.baseUrl}/demo/config`)).json()) as { passwordRequired: boolean };
    expect(cfg.passwordRequired).toBe(true);
    expect((await postKey(s.baseUrl, {})).status).toBe(401);
    const wrong = await postKey(s.baseUrl, { password: 'open says me' });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('wrong_password');
    expect((await postKey(s.baseUrl, { password: 'open sesame' })).status).toBe(200);
    expect((await postKey(s.baseUrl, {}, { 'x-parley-demo-password': 'open sesame' })).status).toBe(200);
    // 10 wrong guesses a minute, then even the right one waits
    for (let i = 0; i < 8; i++) expect((await postKey(s.baseUrl, { password: `guess ${i}` })).status).toBe(401);
    expect((await postKey(s.baseUrl, { password: 'open sesame' })).status).toBe(429);
  });
});

describe('the page with PARLEY_DEMO_PASSWORD (headless Chromium)', () => {
  it('shows the password field, says in plain words when it is wrong, and connects with the right one', async () => {
    const s = await start({ PARLEY_DEMO_PASSWORD: 'open sesame' });
    const { page, problems } = await openDemo(s, resolve(ROOT, 'fixtures/speech/hello.wav'));
    await expect.poll(() => page.isVisible('#password')).toBe(true);
    await page.fill('#password', 'wrong');
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).stats.errors).toEqual(['Wrong or missing demo password.']);
    expect(await page.textContent('#chat')).toContain('Wrong or missing demo password.');
    await expect.poll(async () => (await snapshot(page)).phase).toBe('idle');
    // the browser itself logs the refused request; nothing else may be logged
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
    await page.fill('#password', 'open sesame');
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).phase, { timeout: 15_000 }).toBe('live');
    await expect.poll(async () => (await snapshot(page)).engine?.engine, { timeout: 15_000 }).toBe('local');
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).phase).toBe('idle');
  }, 60_000);
});

describe('demo routes with PARLEY_DEMO=off', () => {
  it('serves nothing of the demo (404), the API still works', async () => {
    const s = await start({ PARLEY_DEMO: 'off' });
    for (const path of ['/', '/demo/config', '/demo/assets/app.js']) expect((await fetch(`${s.baseUrl}${path}`)).status, path).toBe(404);
    expect((await postKey(s.baseUrl, {})).status).toBe(404);
    const health = await fetch(`${s.baseUrl}/healthz`);
    expect(health.status).toBe(200);
  });
});
