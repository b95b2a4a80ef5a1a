/**
 * The calls page end to end (docs/notes/calls-page.md): real headless Chromium (Debian `chromium`
 * via playwright-core) against a real Parley server on the offline local engine. The test places a
 * call itself — a WebSocket session on /v1/realtime with a server key, a spoken turn (flite speech →
 * PocketSphinx, "I'd like to book a table…") then a typed one that makes the demo agent call `get_current_time` — while the page,
 * logged in with the demo password, watches it live: the call appears under "Live now" and its
 * transcript grows line by line over the SSE stream. When the caller hangs up, the page shows the
 * call's record: transcript, end reason, cost, and an <audio> whose source answers 200 audio/wav.
 * Screenshots: test-output/browser/calls-live.png, calls-record.png (gitignored artefacts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Page } from 'playwright-core';
import { OUT, SERVER_KEY, startDemoServer, type DemoServer } from './browser-harness.ts';
import { TestClient } from '../component/helpers.ts';
import { speech16k, toAppendChunks } from '../unit/engines/cascade-harness.ts';

const PASSWORD = 'calls-page-e2e-password';

interface CallsSnapshot {
  loggedIn: boolean;
  live: string[];
  recent: string[];
  recentError: string | null;
  selected: { id: string; mode: 'live' | 'record' } | null;
  streamState: string;
  ended: { end_reason: string } | null;
  chat: { role: string; text: string; pending: boolean; latencyMs: number | null; tool: string | null }[];
  errors: string[];
}

const snap = (page: Page): Promise<CallsSnapshot> => page.evaluate(() => window.parleyCalls.snapshot()) as Promise<CallsSnapshot>;

async function waitSnap(page: Page, what: string, ok: (s: CallsSnapshot) => boolean, timeoutMs: number): Promise<CallsSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let s = await snap(page);
  while (!ok(s)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page state: ${JSON.stringify(s).slice(0, 1500)}`);
    if (s.errors.length > 0) throw new Error(`the page reported a problem while waiting for ${what}: ${s.errors.join(' | ')}`);
    await page.waitForTimeout(100);
    s = await snap(page);
  }
  return s;
}

let server: DemoServer;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'parley-calls-e2e-'));
  server = await startDemoServer({ PARLEY_DEMO_PASSWORD: PASSWORD, PARLEY_DATA_DIR: dataDir, PARLEY_RECORDING: 'stereo' });
});
afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('calls page at /calls (headless Chromium, local engine)', () => {
  it('watches a call live as its transcript grows, then shows its record with transcript, end reason, cost and recording', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    server.browsers.push(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));

    // 1. log in with the demo password: a cookie, no key in the page
    await page.goto(`${server.baseUrl}/calls`);
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#secret', 'wrong password');
    await page.click('#login-button');
    await expect.poll(() => page.textContent('#login-error')).toBe('Wrong key or password.');
    expect(problems.splice(0)).toEqual(['console.error: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    await page.fill('#secret', PASSWORD);
    await page.click('#login-button');
    await waitSnap(page, 'login', (s) => s.loggedIn, 5_000);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'parley_calls')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    // 2. a call: a WS session with a server key, transcription on
    const caller = new TestClient(server.baseUrl.replace(/^http/, 'ws') + '/v1/realtime?model=gpt-realtime', { key: SERVER_KEY });
    await caller.opened;
    const created = await caller.waitFor('session.created', 15_000);
    // the call's id is the session's id, as the client reads it in session.created
    const callId = (created['session'] as { id: string }).id;
    expect(server.app.parley.sessions.list().map((x) => x.id)).toEqual([callId]);
    caller.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1' } } } } });
    await caller.waitFor('session.updated', 5_000);

    // it shows up under "Live now"; open it
    await waitSnap(page, 'the call under Live now', (s) => s.live.includes(callId), 5_000);
    await page.click(`#live-list button[data-call-id="${callId}"]`);
    await waitSnap(page, 'the live stream open', (s) => s.selected?.id === callId && s.streamState === 'open', 5_000);

    // 3. turn 1, spoken: the caller's words (PocketSphinx) and the agent's reply appear live
    for (const audio of toAppendChunks(speech16k('book-table'), 'pcm')) caller.send({ type: 'input_audio_buffer.append', audio });
    const afterSpoken = await waitSnap(
      page,
      'the spoken turn and its reply',
      (s) => s.chat.some((l) => l.role === 'user') && s.chat.filter((l) => l.role === 'assistant' && !l.pending).length >= 1,
      25_000,
    );
    const heard = (await caller.waitFor('conversation.item.input_audio_transcription.completed', 1_000))['transcript'] as string;
    expect(afterSpoken.chat.find((l) => l.role === 'user')?.text).toBe(heard);
    const linesBefore = afterSpoken.chat.length;
    await caller.waitFor((e) => e.type === 'response.done' && (e['response'] as { output: { type: string }[] }).output.some((o) => o.type === 'message'), 15_000);

    // 4. turn 2, typed: a tool call and the time, added to the same live transcript (no reload)
    const doneBefore = caller.of('response.done').length;
    caller.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'what time is it' }] } });
    caller.send({ type: 'response.create' });
    const grown = await waitSnap(
      page,
      'the typed turn, the tool call and the time',
      (s) => s.chat.slice(linesBefore).some((l) => l.tool === 'get_current_time') && s.chat.slice(linesBefore).some((l) => l.role === 'assistant' && /^It is \d/.test(l.text) && !l.pending),
      20_000,
    );
    expect(grown.chat.slice(linesBefore).map((l) => l.tool ?? l.role)).toEqual(['user', 'get_current_time', 'assistant']);
    expect(grown.streamState).toBe('open'); // the same stream all along
    expect(await page.locator('#detail[data-mode="live"] #detail-live').isVisible()).toBe(true);
    expect(await page.locator('#transcript .msg.tool').count()).toBe(1);
    await page.screenshot({ path: resolve(OUT, 'calls-live.png'), fullPage: true });
    await caller.waitFor((e) => e.type === 'response.done' && caller.of('response.done').length >= doneBefore + 2, 15_000);

    // 5. the caller hangs up: the stream ends, the page shows the call's record
    caller.close();
    const ended = await waitSnap(page, 'the end of the call', (s) => s.ended !== null, 10_000);
    expect(ended.ended?.end_reason).toBe('caller_hangup');
    await waitSnap(page, 'the call gone from Live now', (s) => !s.live.includes(callId), 5_000);
    // the record (server/calls/) replaces the live view
    const rec = await waitSnap(page, 'the call record', (s) => s.selected?.mode === 'record' && s.recent.includes(callId), 15_000);
    expect(rec.chat.filter((l) => l.role === 'user').map((l) => l.text)).toEqual(expect.arrayContaining([heard, 'what time is it']));
    expect(rec.chat.some((l) => l.tool === 'get_current_time')).toBe(true);
    expect(rec.chat.some((l) => l.role === 'assistant' && /^It is \d/.test(l.text))).toBe(true);
    // timings: the spoken turn's latency (speech stopped → first audio) on its reply and in the summary
    expect(rec.chat.find((l) => l.role === 'assistant')?.latencyMs).toBeGreaterThan(0);
    expect(await page.textContent('#timings')).toMatch(/^Turn latency \(speech stopped → first audio\): \d+ ms/);
    expect(await page.getAttribute('#detail-end', 'data-end-reason')).toBe('caller_hangup');
    expect(await page.textContent('[data-fact="end_reason"]')).toBe('caller hung up');
    expect(await page.textContent('[data-fact="cost"]')).toMatch(/^\$\d+\.\d{2,4} \(estimated\)/);
    expect(await page.locator(`#call-list button[data-call-id="${callId}"]`).count()).toBe(1);
    // the player's source is the call's recording
    expect(await page.getAttribute('#player', 'src')).toBe(`v1/calls/${callId}/recording`);
    expect(await page.locator('#player').isVisible()).toBe(true);
    // and the browser loaded it with the login cookie: the player knows its length
    await expect.poll(() => page.evaluate(() => (document.getElementById('player') as HTMLAudioElement).duration), { timeout: 5_000 }).toBeGreaterThan(1);
    await page.screenshot({ path: resolve(OUT, 'calls-record.png'), fullPage: true });

    // the recording answers the page (its login cookie, no header: what an <audio> sends): 200 audio/wav
    const wav = await page.evaluate(async (u) => {
      const r = await fetch(u);
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), riff: String.fromCharCode(...b.subarray(0, 4)), bytes: b.length };
    }, `v1/calls/${callId}/recording`);
    expect(wav).toMatchObject({ status: 200, type: 'audio/wav', riff: 'RIFF' });
    expect(wav.bytes).toBeGreaterThan(8000); // seconds of audio, not just a header

    // it fits a phone screen: one column, no sideways scrolling
    await page.setViewportSize({ width: 390, height: 844 });
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.inner);
    await page.screenshot({ path: resolve(OUT, 'calls-phone.png'), fullPage: true });

    // no key in any URL the page asked for, none in the page; no console errors
    for (const u of requested) expect(u).not.toContain(SERVER_KEY);
    expect(await page.content()).not.toContain(SERVER_KEY);
    expect(problems).toEqual([]);
  }, 90_000);
});
