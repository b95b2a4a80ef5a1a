/** Shared helpers for the server's component tests: a Parley app on 127.0.0.1 against the fake. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { FakeOpenAI } from '../fakes/index.ts';

export const TEST_KEY = 'pk_test_component_key_0123456789';

export interface TestCert {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  cleanup(): void;
}

/** A self-signed certificate for 127.0.0.1/localhost, made with openssl in a temp dir. */
export function makeTestCert(): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'parley-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { dir, certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Parley {
  app: FastifyInstance;
  /** http(s)://127.0.0.1:port */
  httpUrl: string;
  /** ws(s)://127.0.0.1:port/v1/realtime?model=gpt-realtime */
  wsUrl: string;
  close(): Promise<void>;
}

export async function startParley(opts: { fake?: FakeOpenAI; env?: Record<string, string>; cert?: TestCert; deps?: AppDeps; /** the PARLEY_CONFIG file's content */ file?: unknown } = {}): Promise<Parley> {
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    PARLEY_API_KEYS: TEST_KEY,
    PARLEY_DEMO: 'off',
    PARLEY_FALLBACK_ENGINE: 'none',
    LOG_LEVEL: 'silent',
    ...(opts.fake ? { OPENAI_API_KEY: opts.fake.apiKey, OPENAI_BASE_URL: opts.fake.baseUrl, PARLEY_ENGINE: 'openai' } : {}),
    ...(opts.cert ? { PARLEY_TLS_CERT: opts.cert.certPath, PARLEY_TLS_KEY: opts.cert.keyPath } : {}),
    ...opts.env,
  };
  // each app its own call store and recordings (not the repository's ./data), gone with the app
  const dataDir = env['PARLEY_DATA_DIR'] === undefined ? mkdtempSync(join(tmpdir(), 'parley-data-')) : null;
  if (dataDir !== null) env['PARLEY_DATA_DIR'] = dataDir;
  let app: FastifyInstance;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env, opts.file);
    app = await buildApp(config, opts.deps ?? {});
  } catch (err) {
    if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const tls = config.tls !== null;
  return {
    app,
    httpUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    wsUrl: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`,
    close: async () => {
      await app.close();
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Ev = Record<string, unknown> & { type: string };

/** A plain `ws` GA client that records every server event. */
export class TestClient {
  readonly ws: WebSocket;
  readonly events: Ev[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: Array<{ pred: (e: Ev) => boolean; resolve: (e: Ev) => void }> = [];

  constructor(url: string, opts: { key?: string | null; protocols?: string[]; headers?: Record<string, string>; ca?: string } = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key !== null) headers['Authorization'] = `Bearer ${opts.key ?? TEST_KEY}`;
    this.ws = new WebSocket(url, opts.protocols ?? [], { headers, perMessageDeflate: false, ...(opts.ca ? { ca: opts.ca } : {}) });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data) => {
      const ev = JSON.parse(data.toString()) as Ev;
      this.events.push(ev);
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i]!;
        if (w.pred(ev)) {
          this.#waiters.splice(i, 1);
          w.resolve(ev);
        }
      }
    });
  }

  send(ev: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(ev));
  }

  sendRaw(s: string): void {
    this.ws.send(s);
  }

  of(type: string): Ev[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Resolves with the first event (already received or future) matching; rejects after timeoutMs. */
  waitFor(pred: string | ((e: Ev) => boolean), timeoutMs = 5000, fromIndex = 0): Promise<Ev> {
    const p = typeof pred === 'string' ? (e: Ev) => e.type === pred : pred;
    const existing = this.events.slice(fromIndex).find(p);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const w = { pred: p, resolve: (e: Ev) => { clearTimeout(t); resolve(e); } };
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`timed out waiting for ${typeof pred === 'string' ? pred : 'event'}; got: ${this.events.map((e) => e.type).join(', ')}`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Sends `ms` of audio in 20 ms appends (loud = speech for the fake's VAD). */
export function speak(send: (ev: Record<string, unknown>) => void, pcmChunkB64: (ms: number, loud: boolean) => string, loudMs: number, silentMs: number): void {
  const loud = pcmChunkB64(20, true);
  const quiet = pcmChunkB64(20, false);
  for (let t = 0; t < loudMs; t += 20) send({ type: 'input_audio_buffer.append', audio: loud });
  for (let t = 0; t < silentMs; t += 20) send({ type: 'input_audio_buffer.append', audio: quiet });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until fn() is truthy or timeoutMs passes. */
export async function until(fn: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
