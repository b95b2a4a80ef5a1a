/**
 * The demo in real Firefox (Debian `firefox-esr`, headless), against the server on the local engine.
 * playwright-core cannot drive a stock Firefox ESR here (its BiDi mode sends a command ESR lacks),
 * so this test speaks WebDriver BiDi (the W3C protocol Firefox serves on --remote-debugging-port)
 * directly over `ws`: start a session, subscribe to console logs, navigate, evaluate, screenshot.
 *
 * Firefox's AudioContext only runs with an output device, so the test starts PulseAudio with a null
 * sink (Debian `pulseaudio`) for Firefox alone. Its fake microphone (media.navigator.streams.fake) is
 * a tone, not speech, so the agent is
 * asked by a typed message (the page's text box); the reply comes back as audio and must be played
 * in full by the playback worklet. The mic path still runs: 20 ms frames of 24 kHz pcm16 go out.
 * (Firefox's fake device reports no echo cancellation whatever is asked, so that is checked in
 * Chromium only.)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OUT, startDemoServer } from './browser-harness.ts';
import type { DemoServer, Snapshot } from './browser-harness.ts';

const FIREFOX = '/usr/bin/firefox-esr';
const PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'media.autoplay.block-webaudio': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'app.update.enabled': false,
  'network.captive-portal-service.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'remote.prefs.recommended': true,
};

/** A minimal WebDriver BiDi client: commands by id, events to a listener. */
class Bidi {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  constructor(private readonly ws: WebSocket, onEvent: (method: string, params: Record<string, unknown>) => void) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; type: string; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: string; message?: string };
      if (msg.type === 'event' && msg.method) onEvent(msg.method, msg.params ?? {});
      else if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.type === 'error') p?.reject(new Error(`${msg.error}: ${msg.message}`));
        else p?.resolve(msg.result ?? {});
      }
    });
  }

  static async connect(url: string, onEvent: (method: string, params: Record<string, unknown>) => void): Promise<Bidi> {
    const ws = new WebSocket(url);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    return new Bidi(ws, onEvent);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

let server: DemoServer;
let firefox: ChildProcess | null = null;
let pulse: ChildProcess | null = null;
let profile = '';
let bidi: Bidi | null = null;
const logs: { level: string; text: string }[] = [];

beforeAll(async () => {
  server = await startDemoServer();
  profile = mkdtempSync(join(tmpdir(), 'parley-firefox-'));
  // a sound server with a null sink: Firefox's AudioContext only runs with an output device
  pulse = spawn('pulseaudio', ['--daemonize=no', '--exit-idle-time=-1', '--disable-shm=yes', '-n', '--load=module-null-sink sink_name=parley_null', `--load=module-native-protocol-unix socket=${join(profile, 'pulse')} auth-anonymous=1`], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(join(profile, 'pulse')); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(join(profile, 'pulse'))) throw new Error('pulseaudio did not start');
  writeFileSync(join(profile, 'user.js'), Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));
  const ff = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0', 'about:blank'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOZ_HEADLESS: '1', PULSE_SERVER: `unix:${join(profile, 'pulse')}` },
  });
  firefox = ff;
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('Firefox did not start its WebDriver BiDi server within 30 s')), 30_000);
    const scan = (chunk: Buffer): void => {
      const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(String(chunk));
      if (m?.[1]) {
        clearTimeout(timer);
        res(m[1]);
      }
    };
    ff.stderr?.on('data', scan);
    ff.stdout?.on('data', scan);
    ff.once('exit', (code) => rej(new Error(`Firefox exited (${code})`)));
  });
  bidi = await Bidi.connect(`${url}/session`, (method, params) => {
    if (method === 'log.entryAdded') logs.push({ level: String(params.level), text: String(params.text) });
  });
  await bidi.send('session.new', { capabilities: {} });
  await bidi.send('session.subscribe', { events: ['log.entryAdded'] });
}, 60_000);

afterAll(async () => {
  if (bidi) await bidi.send('session.end').catch(() => undefined);
  bidi?.close();
  if (firefox?.pid && firefox.exitCode === null) {
    const exited = new Promise((r) => firefox?.once('exit', r));
    firefox.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (firefox.exitCode === null) firefox.kill('SIGKILL');
  }
  if (pulse?.pid && pulse.exitCode === null) pulse.kill('SIGTERM');
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.close();
});

describe('browser demo in Firefox (WebDriver BiDi, local engine)', () => {
  it('connects, streams the microphone, plays a spoken reply in full, logs no errors', async () => {
    const b = bidi;
    if (!b) throw new Error('no BiDi session');
    const tree = (await b.send('browsingContext.getTree')) as { contexts: { context: string }[] };
    const context = tree.contexts[0]?.context;
    if (!context) throw new Error('no browsing context');
    await b.send('browsingContext.setViewport', { context, viewport: { width: 1280, height: 800 } });
    await b.send('browsingContext.navigate', { context, url: `${server.baseUrl}/`, wait: 'complete' });
    const evaluate = async (expression: string): Promise<unknown> => {
      const r = (await b.send('script.evaluate', { expression, target: { context }, awaitPromise: true })) as { type: string; result?: { value?: unknown }; exceptionDetails?: { text?: string } };
      if (r.type === 'exception') throw new Error(`page threw: ${r.exceptionDetails?.text}`);
      return r.result?.value;
    };
    const snap = async (): Promise<Snapshot> => JSON.parse(String(await evaluate('JSON.stringify(window.parleyDemo.snapshot())'))) as Snapshot;
    const until = async (what: string, ok: (s: Snapshot) => boolean, timeoutMs: number): Promise<Snapshot> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await snap();
        if (ok(s)) return s;
        if (s.stats.errors.length > 0) throw new Error(`the page reported a problem while waiting for ${what}: ${s.stats.errors.join(' | ')}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s).slice(0, 1200)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    // a real click (user activation), as a person would: the AudioContext may start
    const click = async (id: string): Promise<void> => {
      const r = JSON.parse(String(await evaluate(`JSON.stringify(document.getElementById('${id}').getBoundingClientRect())`))) as { x: number; y: number; width: number; height: number };
      const x = Math.round(r.x + r.width / 2);
      const y = Math.round(r.y + r.height / 2);
      await b.send('input.performActions', {
        context,
        actions: [{ type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions: [{ type: 'pointerMove', x, y }, { type: 'pointerDown', button: 0 }, { type: 'pointerUp', button: 0 }] }],
      });
    };
    await click('start');
    const live = await until('the connection', (s) => s.phase === 'live' && s.engine?.engine === 'local' && s.stats.appendsSent > 10, 30_000);
    expect(live.stats.appendBytesSent / live.stats.appendsSent).toBe(960); // 20 ms of 24 kHz pcm16
    expect(live.stats.sampleRateHz).toBeGreaterThan(0);

    // type a question: the agent calls get_current_time and answers in voice
    await evaluate("(() => { const t = document.getElementById('text'); t.value = 'what time is it'; document.getElementById('send').click(); })()");
    const s = await until('the spoken reply to be played', (x) => x.stats.itemsFinished >= 1 && x.assistant.some((t) => /\d/.test(t)), 60_000);
    const generatedMs = (s.stats.audioDeltaSamples / 24000) * 1000;
    expect(generatedMs).toBeGreaterThan(500);
    expect(Math.abs(s.stats.playedMs - generatedMs)).toBeLessThan(10);
    expect(s.user).toContain('what time is it');
    expect(s.entries.some((e) => e.kind === 'tool' && e.tool?.name === 'get_current_time')).toBe(true);

    const shot = (await b.send('browsingContext.captureScreenshot', { context })) as { data: string };
    writeFileSync(resolve(OUT, 'demo-firefox.png'), Buffer.from(shot.data, 'base64'));
    await click('start');
    await until('the stop', (x) => x.phase === 'idle', 10_000);
    // the page's own console: no errors or warnings from our code
    expect(logs.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
  }, 150_000);
});
