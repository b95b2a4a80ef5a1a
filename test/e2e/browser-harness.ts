/**
 * Shared harness for the browser demo tests (test/e2e/browser-*.test.ts): a real Parley server on
 * the offline local engine, real headless Chromium (Debian `chromium` via playwright-core) with its
 * microphone faked from a flite speech WAV, and helpers to read the page's counters.
 *
 * Chromium's fake capture device plays the WAV in a loop (any rate; 16 kHz mono pcm16 works), so
 * tests write WAVs with long silence after the speech: nothing repeats within a test, and every test
 * ends with the agent idle. One browser session per server process (one test file each).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { readWavFile, writeWavFile } from '../../audio/index.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const OUT = resolve(ROOT, 'test-output/browser');
export const SERVER_KEY = 'server-key-must-never-reach-the-page-0123';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export interface Snapshot {
  phase: string;
  engine: { engine: string; reason: string } | null;
  stats: {
    playedMs: number;
    audioDeltaSamples: number;
    appendsSent: number;
    appendBytesSent: number;
    truncatesSent: number;
    truncatedEvents: number;
    truncatedByItem: Record<string, number>;
    latenciesMs: number[];
    itemsFinished: number;
    errors: string[];
    sampleRateHz: number;
    micRmsDbfsMax: number;
    micSettings: { echoCancellation: boolean; noiseSuppression: boolean } | null;
    speechStatesSeen: string[];
  };
  user: string[];
  assistant: string[];
  entries: { kind: string; text: string; interrupted?: boolean; latencyMs?: number; tool?: { name: string; arguments: string; output?: string } }[];
}

export interface Watched {
  page: Page;
  problems: string[];
  sent: Record<string, unknown>[];
  received: Record<string, unknown>[];
  /** Assistant audio received per item, in ms (from the output_audio.delta sizes). */
  generatedMs: Map<string, number>;
}

export interface DemoServer {
  app: FastifyInstance;
  baseUrl: string;
  browsers: Browser[];
  close(): Promise<void>;
}

/** A Parley server on the real local engine, listening on 127.0.0.1, ephemeral port. */
export async function startDemoServer(env: Record<string, string> = {}): Promise<DemoServer> {
  mkdirSync(OUT, { recursive: true });
  const config = loadConfig({ PORT: '0', PARLEY_API_KEYS: SERVER_KEY, PARLEY_ENGINE: 'local', LOG_LEVEL: 'silent', ...env });
  // the real offline engine, as `npm start` runs it
  const app = await buildApp(config);
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  const browsers: Browser[] = [];
  return {
    app,
    baseUrl,
    browsers,
    async close() {
      for (const b of browsers) await b.close().catch(() => undefined);
      await app.close();
    },
  };
}

/** Speech segments separated by silence: [silenceMs, speechFile, silenceMs, speechFile, …, silenceMs]. */
export function speechSequence(name: string, parts: (number | string)[]): string {
  let rate = 16000;
  const chunks: Int16Array[] = [];
  for (const p of parts) {
    if (typeof p === 'string') {
      const wav = readWavFile(resolve(ROOT, 'fixtures/speech', p));
      rate = wav.sampleRateHz;
      chunks.push(wav.samples);
    } else {
      chunks.push(new Int16Array(Math.round((p * rate) / 1000)));
    }
  }
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  const path = resolve(OUT, name);
  writeWavFile(path, out, rate);
  return path;
}

/** Launches Chromium with `wavPath` as its microphone and opens the demo page. */
export async function openDemo(server: DemoServer, wavPath: string, viewport = { width: 1280, height: 800 }): Promise<Watched> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_FLAGS, `--use-file-for-fake-audio-capture=${wavPath}`],
  });
  server.browsers.push(browser);
  const page = await browser.newPage({ viewport });
  const w: Watched = { page, problems: [], sent: [], received: [], generatedMs: new Map() };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') w.problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => w.problems.push(`pageerror: ${e.message}`));
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      const ev = JSON.parse(String(f.payload)) as Record<string, unknown>;
      if (ev.type !== 'input_audio_buffer.append') w.sent.push(ev);
    });
    ws.on('framereceived', (f) => {
      const ev = JSON.parse(String(f.payload)) as Record<string, unknown>;
      if (ev.type !== 'response.output_audio.delta') w.received.push(ev);
      else {
        const id = String(ev.item_id);
        const bytes = Buffer.from(String(ev.delta), 'base64').length;
        w.generatedMs.set(id, (w.generatedMs.get(id) ?? 0) + (bytes / 2 / 24000) * 1000);
      }
    });
  });
  await page.goto(`${server.baseUrl}/`);
  return w;
}

export const snapshot = (page: Page): Promise<Snapshot> => page.evaluate(() => window.parleyDemo.snapshot()) as unknown as Promise<Snapshot>;

export async function waitFor(page: Page, what: string, ok: (s: Snapshot) => boolean, timeoutMs: number): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let s = await snapshot(page);
  while (!ok(s)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page state: ${JSON.stringify(s).slice(0, 1500)}`);
    // the page showed a problem: fail now, with what it said
    if (s.stats.errors.length > 0) throw new Error(`the page reported a problem while waiting for ${what}: ${s.stats.errors.join(' | ')}`);
    await page.waitForTimeout(200);
    s = await snapshot(page);
  }
  return s;
}
