/**
 * The chaos suite's common parts: a seeded PRNG (the seed is printed in every summary and failure),
 * the scale knob (CHAOS_SCALE: 1 in `npm test`, 10 in `npm run chaos`), resource probes (open file
 * descriptors from /proc/self/fd, RSS with its peak), /metrics and /healthz read over real HTTP, raw
 * WebSocket frames for clients that misbehave below the `ws` library, and a small scripted GA engine
 * (registered in the app like test/component/session-hub.test.ts does) whose connections are counted.
 */
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Engine, EngineConnection, EngineOpenOptions } from '../../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEventBody } from '../../server/protocol/index.ts';

// ------------------------------------------------------------------ scale and seed

/** 1 by default (CI), 10 for `npm run chaos`. */
export const SCALE = Math.max(0.1, Number(process.env['CHAOS_SCALE'] ?? '1') || 1);

/** CHAOS_SEED (decimal or 0x hex) reproduces a run; otherwise a fresh random seed. */
export function chaosSeed(): number {
  const s = process.env['CHAOS_SEED'];
  if (s !== undefined && s !== '') return Number(s) >>> 0;
  return randomBytes(4).readUInt32BE(0);
}

/** A test timeout that grows with the scale. */
export const scaled = (ms: number): number => Math.round(ms * Math.max(1, SCALE));

// ------------------------------------------------------------------ PRNG

/** sfc32 seeded through splitmix32: small, fast, deterministic for a seed. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    let s = this.seed;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  /** Picks by weight: [[weight, value], …]. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of table) total += w;
    let x = this.float() * total;
    for (const [w, v] of table) {
      x -= w;
      if (x < 0) return v;
    }
    return table[table.length - 1]![1];
  }

  /** A string of `len` characters drawn from ASCII, quotes, escapes, controls, non-BMP and lone surrogates. */
  text(len: number): string {
    const pools = [
      'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
      '"\\/\b\f\n\r\t{}[]:,',
      '\u0000\u0001\u001f\u007f',
      'éßøπЖ中文日本語',
      '😀🎧🔊',
      '\ud800\udfff', // lone surrogates: JSON.stringify escapes them (well-formed JSON.stringify)
    ];
    let out = '';
    while (out.length < len) {
      const pool = this.weighted([[20, pools[0]!], [3, pools[1]!], [1, pools[2]!], [2, pools[3]!], [1, pools[4]!], [1, pools[5]!]]);
      const cps = [...pool];
      out += this.pick(cps);
    }
    return out;
  }

  /** An identifier-ish string (letters, digits, `_`). */
  ident(len: number): string {
    const a = 'abcdefghijklmnopqrstuvwxyz0123456789_';
    let s = '';
    for (let i = 0; i < len; i++) s += a[this.int(a.length)];
    return s;
  }

  /** A random JSON value, `depth` levels at most. */
  json(depth = 3): unknown {
    const kind = depth <= 0 ? this.int(5) : this.int(7);
    switch (kind) {
      case 0: return null;
      case 1: return this.chance(0.5);
      case 2: return this.weighted<number>([[3, this.range(-1000, 1000)], [1, this.float()], [1, 1e300], [1, -0], [1, Number.MAX_SAFE_INTEGER + 2]]);
      case 3: return this.text(this.range(0, 20));
      case 4: return this.ident(this.range(1, 10));
      case 5: return Array.from({ length: this.range(0, 4) }, () => this.json(depth - 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.range(0, 4); i > 0; i--) o[this.ident(this.range(1, 8))] = this.json(depth - 1);
        return o;
      }
    }
  }
}

// ------------------------------------------------------------------ resources

export const fdCount = (): number => readdirSync('/proc/self/fd').length;
export const rssMiB = (): number => process.memoryUsage.rss() / (1024 * 1024);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until fn() is truthy or timeoutMs passes; returns whether it became true. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
}

/**
 * One part's figures: fds and RSS at the start, RSS sampled every 20 ms for the peak, and a one-line
 * summary (`chaos <part> seed=… events=… errors=… fds a→b rss a→b (peak p) MiB`).
 */
export class PartProbe {
  readonly part: string;
  readonly seed: number;
  readonly fdsStart: number;
  readonly rssStart: number;
  rssPeak: number;
  events = 0;
  errors = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #t0 = Date.now();
  readonly #cpu0 = process.cpuUsage();

  constructor(part: string, seed: number) {
    this.part = part;
    this.seed = seed;
    this.fdsStart = fdCount();
    this.rssStart = rssMiB();
    this.rssPeak = this.rssStart;
    this.#timer = setInterval(() => {
      this.rssPeak = Math.max(this.rssPeak, rssMiB());
    }, 20);
    this.#timer.unref();
  }

  /** Waits (up to settleMs) for the fd count to come back to the start (± slack); returns the last count. */
  async settleFds(slack = 0, settleMs = 5000): Promise<number> {
    let n = fdCount();
    await eventually(() => (n = fdCount()) <= this.fdsStart + slack, settleMs, 50);
    return n;
  }

  /** Stops sampling and prints the summary line; returns the figures. */
  finish(extra = ''): { fdsStart: number; fdsEnd: number; rssStart: number; rssEnd: number; rssPeak: number } {
    clearInterval(this.#timer);
    const fdsEnd = fdCount();
    const rssEnd = rssMiB();
    this.rssPeak = Math.max(this.rssPeak, rssEnd);
    const f = (x: number): string => x.toFixed(0);
    process.stdout.write(
      `chaos ${this.part}: seed=0x${this.seed.toString(16)} scale=${SCALE} events=${this.events} errors=${this.errors} ` +
        `fds ${this.fdsStart}→${fdsEnd} rss ${f(this.rssStart)}→${f(rssEnd)} (peak ${f(this.rssPeak)}) MiB ${((Date.now() - this.#t0) / 1000).toFixed(1)} s (cpu ${cpuS(process.cpuUsage(this.#cpu0)).toFixed(1)} s)${extra ? ` ${extra}` : ''}\n`,
    );
    return { fdsStart: this.fdsStart, fdsEnd, rssStart: this.rssStart, rssEnd, rssPeak: this.rssPeak };
  }
}

const cpuS = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

// ------------------------------------------------------------------ HTTP probes (no keep-alive: no pooled socket holds an fd)

export function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

/** The unlabelled samples of /metrics (`name value`). */
export async function scrape(httpUrl: string): Promise<Map<string, number>> {
  const { status, body } = await httpGet(`${httpUrl}/metrics`);
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.set(m[2] ? `${m[1]}${m[2]}` : m[1]!, Number(m[3]));
  }
  return out;
}

export async function healthz(httpUrl: string): Promise<number> {
  return (await httpGet(`${httpUrl}/healthz`)).status;
}

/** Waits until the gauges read over /metrics are 0; returns the last values (NaN for a gauge /metrics lacks). */
export async function gaugesToZero(httpUrl: string, names: string[], timeoutMs = 5000): Promise<Record<string, number>> {
  let last: Record<string, number> = {};
  await eventually(async () => {
    const m = await scrape(httpUrl);
    last = Object.fromEntries(names.map((n) => [n, m.get(n) ?? Number.NaN]));
    return names.every((n) => last[n] === 0);
  }, timeoutMs, 50);
  return last;
}

// ------------------------------------------------------------------ raw WebSocket (RFC 6455 §5.2)

/** A client frame: FIN bit, opcode, masked payload (clients must mask, §5.3). */
export function wsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: boolean; declaredLength?: number } = {}): Buffer {
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const len = opts.declaredLength ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | (opcode & 0x0f)];
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else if (len < 65536) head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
  else {
    head.push((mask ? 0x80 : 0) | 127);
    const hi = Math.floor(len / 2 ** 32);
    const lo = len >>> 0;
    head.push((hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, (lo >>> 24) & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

export function upgradeRequest(port: number, key: string, path = '/v1/realtime?model=gpt-realtime'): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${key}\r\n\r\n`
  );
}

/** A TCP socket that has completed the upgrade (resolves after the 101's header). Rejects on another status. */
export function rawUpgrade(port: number, key: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!buf.startsWith('HTTP/1.1 101')) {
        s.destroy();
        reject(new Error(`upgrade answered: ${buf.slice(0, buf.indexOf('\r\n'))}`));
        return;
      }
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('connect', () => s.write(upgradeRequest(port, key)));
  });
}

/** Tears a socket down with a TCP RST (no FIN), as a crashed peer or a middlebox does. */
export function reset(s: net.Socket): void {
  if (typeof s.resetAndDestroy === 'function' && !s.destroyed && s.readyState !== 'opening') s.resetAndDestroy();
  else s.destroy();
}

// ------------------------------------------------------------------ a scripted GA engine

export interface ChaosEngineOptions {
  /** Delay before open resolves (ms). */
  openDelayMs?: () => number;
  /** Audio deltas (100 ms of pcm16 at 24 kHz, 4800 bytes each) per response. Infinity: until cancelled. */
  deltas?: number;
  /** Delay between deltas (ms; 0 = setImmediate). */
  deltaIntervalMs?: number;
}

export interface ChaosEngineStats {
  opened: number;
  closed: number;
  /** Connections opened and not closed by the session. */
  readonly live: number;
  /** Audio bytes emitted by all connections. */
  audioBytes: number;
  /** Client events received, by type. */
  received: Map<string, number>;
  /** Events the engine saw that violated what a validated event may hold (should stay empty). */
  violations: string[];
}

/**
 * A small GA peer: session.update → session.updated; items are kept (unknown ids → error); one response
 * at a time in the default conversation (a second → `conversation_already_has_active_response`, as
 * OpenAI), out-of-band ones run beside it; response.cancel with nothing active → error; commit of an
 * empty buffer → error. Responses stream `deltas` audio deltas and honour pause()/resume().
 */
export function chaosEngine(opts: ChaosEngineOptions = {}): { factory: () => Engine; stats: ChaosEngineStats } {
  const conns = new Set<object>();
  const stats: ChaosEngineStats = {
    opened: 0,
    closed: 0,
    get live() {
      return conns.size;
    },
    audioBytes: 0,
    received: new Map(),
    violations: [],
  };
  let seq = 0;
  const nid = (p: string): string => `${p}_chaos${(++seq).toString(36)}`;
  const pcm = new Uint8Array(4800);
  for (let i = 0; i < pcm.length; i += 2) {
    const v = Math.round(3000 * Math.sin(i / 9));
    pcm[i] = v & 0xff;
    pcm[i + 1] = (v >> 8) & 0xff;
  }
  const open = async (o: EngineOpenOptions): Promise<EngineConnection> => {
    const delay = opts.openDelayMs?.() ?? 0;
    if (delay > 0) await sleep(delay);
    stats.opened++;
    const me = {};
    conns.add(me);
    let closed = false;
    let paused = false;
    let bufferedMs = 0;
    const items = new Map<string, { role: 'user' | 'assistant' | 'system' | undefined; audio: boolean }>();
    let active: { id: string; cancel(): void } | null = null;
    const timers = new Set<NodeJS.Timeout | NodeJS.Immediate>();
    const emit = (b: ServerEventBody): void => {
      if (closed) return;
      o.callbacks.onEvent({ ...b, event_id: nid('event') } as Parameters<typeof o.callbacks.onEvent>[0]);
    };
    const later = (ms: number, fn: () => void): void => {
      const t: NodeJS.Timeout | NodeJS.Immediate = ms > 0 ? setTimeout(() => { timers.delete(t); fn(); }, ms) : setImmediate(() => { timers.delete(t); fn(); });
      timers.add(t);
    };
    const err = (code: string, message: string, eventId: string | undefined, param: string | null = null): void =>
      emit({ type: 'error', error: { type: 'invalid_request_error', code, message, param, event_id: eventId ?? null } });
    const respond = (ev: Extract<ClientEvent, { type: 'response.create' }>): void => {
      const oob = ev.response?.conversation === 'none';
      if (!oob && active) return err('conversation_already_has_active_response', `Conversation already has an active response in progress: ${active.id}.`, ev.event_id);
      const id = nid('resp');
      const itemId = nid('item');
      const conversation_id = oob ? null : 'conv_chaos';
      let cancelled = false;
      let n = 0;
      const total = opts.deltas ?? 2;
      const done = (status: 'completed' | 'cancelled'): void => {
        if (!oob && active?.id === id) active = null;
        if (!oob) items.set(itemId, { role: 'assistant', audio: true });
        emit({ type: 'response.output_audio.done', response_id: id, item_id: itemId, output_index: 0, content_index: 0 });
        emit({ type: 'response.done', response: { id, object: 'realtime.response', status, output: [{ id: itemId, type: 'message', role: 'assistant', status: status === 'completed' ? 'completed' : 'incomplete', content: [{ type: 'output_audio', transcript: 'chaos' }] }], conversation_id } });
      };
      const step = (): void => {
        if (closed || cancelled) return;
        if (paused) return later(5, step);
        if (n >= total) return done('completed');
        n++;
        stats.audioBytes += pcm.length;
        emit({ type: 'response.output_audio.delta', response_id: id, item_id: itemId, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(pcm) });
        later(opts.deltaIntervalMs ?? 0, step);
      };
      const handle = {
        id,
        cancel: () => {
          if (cancelled) return;
          cancelled = true;
          done('cancelled');
        },
      };
      if (!oob) active = handle;
      emit({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [], conversation_id } });
      emit({ type: 'response.output_item.added', response_id: id, output_index: 0, item: { id: itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } });
      later(0, step);
    };
    const conn: EngineConnection = {
      send(ev) {
        if (closed) {
          stats.violations.push(`event after close: ${ev.type}`);
          return;
        }
        stats.received.set(ev.type, (stats.received.get(ev.type) ?? 0) + 1);
        if (ev.event_id !== undefined && (typeof ev.event_id !== 'string' || ev.event_id.length > 512)) stats.violations.push(`bad event_id on ${ev.type}`);
        switch (ev.type) {
          case 'session.update':
          case 'transcription_session.update':
            if (typeof ev.session !== 'object' || ev.session === null) stats.violations.push('session.update without a session');
            return emit({ type: 'session.updated', session: { ...o.session, ...ev.session, type: 'realtime' } });
          case 'input_audio_buffer.append':
            if (!(ev.audio instanceof AudioChunk)) stats.violations.push('append audio is not an AudioChunk');
            bufferedMs += ev.audio.byteLength / 48;
            return;
          case 'input_audio_buffer.commit': {
            if (bufferedMs < 100) return err('input_audio_buffer_commit_empty', 'buffer too small', ev.event_id);
            bufferedMs = 0;
            const id = nid('item');
            items.set(id, { role: 'user', audio: true });
            emit({ type: 'input_audio_buffer.committed', item_id: id, previous_item_id: null });
            emit({ type: 'conversation.item.added', item: { id, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] } });
            return;
          }
          case 'input_audio_buffer.clear':
            bufferedMs = 0;
            return emit({ type: 'input_audio_buffer.cleared' });
          case 'output_audio_buffer.clear':
            return err('invalid_request', 'output_audio_buffer.clear is only for WebRTC/SIP sessions', ev.event_id);
          case 'conversation.item.create': {
            if (typeof ev.item !== 'object' || ev.item === null || typeof ev.item.type !== 'string') stats.violations.push('item.create without an item');
            const id = typeof ev.item.id === 'string' ? ev.item.id : nid('item');
            if (ev.previous_item_id && ev.previous_item_id !== 'root' && !items.has(ev.previous_item_id)) return err('item_not_found', 'previous item not found', ev.event_id, 'previous_item_id');
            items.set(id, { role: ev.item.role, audio: false });
            if (items.size > 2000) items.delete(items.keys().next().value!); // bounded, as the session's conversation is
            emit({ type: 'conversation.item.added', item: { ...ev.item, id } });
            emit({ type: 'conversation.item.done', item: { ...ev.item, id, status: 'completed' } });
            return;
          }
          case 'conversation.item.retrieve':
          case 'conversation.item.delete': {
            const it = items.get(ev.item_id);
            if (!it) return err('item_not_found', `Item ${ev.item_id.slice(0, 40)} not found`, ev.event_id, 'item_id');
            if (ev.type === 'conversation.item.delete') {
              items.delete(ev.item_id);
              return emit({ type: 'conversation.item.deleted', item_id: ev.item_id });
            }
            return emit({ type: 'conversation.item.retrieved', item: { id: ev.item_id, type: 'message', role: it.role ?? 'user', status: 'completed', content: [] } });
          }
          case 'conversation.item.truncate': {
            const it = items.get(ev.item_id);
            if (!it || it.role !== 'assistant') return err('invalid_value', 'Only assistant messages can be truncated', ev.event_id, 'item_id');
            return emit({ type: 'conversation.item.truncated', item_id: ev.item_id, content_index: ev.content_index, audio_end_ms: ev.audio_end_ms });
          }
          case 'response.create':
            return respond(ev);
          case 'response.cancel':
            if (!active) return err('response_cancel_not_active', 'Cancellation failed: no active response found.', ev.event_id);
            return active.cancel();
          default:
            stats.violations.push(`unknown event type reached the engine: ${String((ev as { type: unknown }).type).slice(0, 40)}`);
            return;
        }
      },
      close() {
        if (closed) return;
        closed = true;
        stats.closed++;
        conns.delete(me);
        for (const t of timers) {
          clearTimeout(t as NodeJS.Timeout);
          clearImmediate(t as NodeJS.Immediate);
        }
        timers.clear();
      },
      pause() {
        paused = true;
      },
      resume() {
        paused = false;
      },
    };
    queueMicrotask(() => {
      emit({ type: 'session.created', session: o.session });
      emit({ type: 'conversation.created', conversation: { id: 'conv_chaos', object: 'realtime.conversation' } });
    });
    return conn;
  };
  return { factory: () => ({ name: 'local', open }), stats };
}

/** Registers the scripted engine as `local` (the engine sessions start on with PARLEY_ENGINE=local). */
export function useChaosEngine(app: FastifyInstance, opts: ChaosEngineOptions = {}): ChaosEngineStats {
  const e = chaosEngine(opts);
  app.parley.engines.register('local', e.factory);
  return e.stats;
}
