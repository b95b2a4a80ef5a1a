/**
 * The `openai` engine: a GA Realtime WebSocket upstream (OpenAI, Azure, or any GA-compatible
 * server at OPENAI_BASE_URL), authenticated with the server's key. Relays events both ways,
 * with backpressure; closes cleanly; maps upstream failures to EngineError.
 *
 * Wire: `wss://<base>/realtime?model=<m>`, `Authorization: Bearer <key>`, no `OpenAI-Beta`
 * header (the beta shape is shut down: docs/protocol.md §1.2, §1.16).
 */
import WebSocket from 'ws';
import type { ClientOptions, RawData } from 'ws';
import type { IncomingMessage, IncomingHttpHeaders, ClientRequest } from 'node:http';
import { EngineError } from '../../errors.ts';
import { encodeClientEvent, fastParseAudioDeltaBytes, newEventId, newItemId, parseServerEvent, type ClientEvent, type ServerEvent } from '../../protocol/index.ts';
import { SendBackpressure } from '../../backpressure.ts';
import type { Engine, EngineCallbacks, EngineConnection, EngineDeps, EngineOpenOptions } from '../types.ts';

export interface OpenAIEngineOptions {
  apiKey: string | null;
  /** https://api.openai.com/v1 or any GA-compatible base (http(s) or ws(s)). */
  baseUrl: string;
  /** The whole connect, retries and their waits included. */
  connectTimeoutMs: number;
  /** Outbound buffer (bytes) above which the client is paused. */
  highWaterBytes: number;
  /** Extra `ws` client options (e.g. `ca` for a private upstream). */
  wsOptions?: ClientOptions;
  /** Retries at connect before open() rejects (PARLEY_OPENAI_RETRIES; default 1). */
  retries?: number;
  /** The longest wait an upstream may ask for that is still waited out (PARLEY_OPENAI_RETRY_MAX_WAIT_MS; default 1000). */
  retryMaxWaitMs?: number;
  /** Told of every retry decision (parley_upstream_retries_total). */
  onRetry?: (reason: RetryReason, outcome: RetryOutcome) => void;
}

/** Why a connect was retried (`drop`: a reconnect after a mid-call drop, decided by the session's fallback policy). */
export type RetryReason = 'server_error' | 'rate_limit' | 'network' | 'drop';
/** ok: the retry connected; failed: it did not; too_long: the wait asked for (or the connect budget left) allowed no retry. */
export type RetryOutcome = 'ok' | 'failed' | 'too_long';

/** The realtime URL for a base URL: https→wss, http→ws, `/realtime?model=`. */
export function realtimeUrl(baseUrl: string, model: string): string {
  const u = new URL(baseUrl.replace(/\/+$/, '') + '/realtime');
  if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol === 'http:') u.protocol = 'ws:';
  u.searchParams.set('model', model);
  return u.toString();
}

/** Azure OpenAI endpoints (`*.openai.azure.com`, `*.cognitiveservices.azure.com`, `*.services.ai.azure.com`). */
export function isAzureHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host.endsWith('.azure.com');
}

const FALLBACK_STATUSES = new Set([408, 409, 425, 429, 500, 502, 503, 504]);
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
const TEXT_FRAME = { binary: false } as const;
/** The first retry after a 5xx or a network error waits 100–300 ms (base × 2^n × [0.5, 1.5)). */
const RETRY_BASE_MS = 200;
/** A retry is not started with less than this left of the connect budget. */
const MIN_ATTEMPT_MS = 100;
const DEFAULT_RETRIES = 1;
const DEFAULT_RETRY_MAX_WAIT_MS = 1000;

export function createOpenAIEngine(deps: EngineDeps): Engine {
  const retries = deps.metrics?.upstreamRetries;
  return new OpenAIEngine({
    apiKey: deps.config.openai.apiKey,
    baseUrl: deps.config.openai.baseUrl,
    connectTimeoutMs: deps.config.openai.connectTimeoutMs,
    highWaterBytes: deps.config.limits.sendHighWaterBytes,
    retries: deps.config.openai.retries,
    retryMaxWaitMs: deps.config.openai.retryMaxWaitMs,
    ...(retries ? { onRetry: (reason: RetryReason, outcome: RetryOutcome) => retries.inc('openai', reason, outcome) } : {}),
  });
}

/** One connect attempt: the connection, or why not and whether a retry could help. */
type Attempt =
  | { conn: OpenAIConnection }
  | {
      conn: null;
      error: EngineError;
      /** What a retry would answer, or null when none can help (auth, a bad request, the budget spent, the session gone). */
      reason: Exclude<RetryReason, 'drop'> | null;
      /** The wait the upstream asked for (ms), or null. */
      waitMs: number | null;
    };

/** The upstream asked not to come back before `until` (Date.now ms): a refusal's Retry-After, or an exhausted rate limit. */
interface Hold {
  until: number;
  reason: Exclude<RetryReason, 'drop'>;
  status: number;
  upstreamCode: string | undefined;
}

export class OpenAIEngine implements Engine {
  readonly name = 'openai' as const;
  readonly #opts: OpenAIEngineOptions;
  /** Shared by the sessions of this engine (one key, one account): its rate limits are theirs. */
  #hold: Hold | null = null;

  constructor(opts: OpenAIEngineOptions) {
    this.#opts = opts;
  }

  /**
   * Connects, with a short bounded retry where it helps the caller: a 5xx or a network error at
   * connect is retried after 100–300 ms (jittered); a wait the upstream asks for (Retry-After,
   * retry-after-ms, x-ratelimit-reset-*, a `rate_limits` reset) is waited out when it is at most
   * retryMaxWaitMs, otherwise open() rejects at once (the session falls back). Auth and request
   * errors are never retried. Everything fits in connectTimeoutMs.
   */
  async open(opts: EngineOpenOptions): Promise<EngineConnection> {
    const { apiKey, connectTimeoutMs } = this.#opts;
    if (!apiKey) {
      throw new EngineError('ENGINE_UNAVAILABLE', 'OPENAI_API_KEY is not configured.', { fallbackable: true });
    }
    const retries = this.#opts.retries ?? DEFAULT_RETRIES;
    const maxWaitMs = this.#opts.retryMaxWaitMs ?? DEFAULT_RETRY_MAX_WAIT_MS;
    const url = realtimeUrl(this.#opts.baseUrl, opts.session.model ?? 'gpt-realtime');
    const deadline = performance.now() + connectTimeoutMs;
    let retrying: RetryReason | null = null;
    for (let attempt = 0; ; attempt++) {
      // an earlier answer (this session's or another's) said when to come back
      const hold = this.#hold;
      const holdMs = hold === null ? 0 : hold.until - Date.now();
      if (hold !== null && holdMs > 0) {
        const err = new EngineError('ENGINE_REJECTED', `The realtime upstream asked to wait ${Math.ceil(holdMs)} ms before connecting again (${hold.upstreamCode ?? `HTTP ${hold.status}`}).`, {
          status: hold.status,
          retryable: true,
          fallbackable: true,
          ...(hold.upstreamCode !== undefined ? { upstreamCode: hold.upstreamCode } : {}),
        });
        if (holdMs > maxWaitMs || performance.now() + holdMs + MIN_ATTEMPT_MS > deadline) {
          this.#opts.onRetry?.(retrying ?? hold.reason, 'too_long');
          opts.log.info({ waitMs: Math.ceil(holdMs) }, 'realtime upstream asked for a long wait; not retrying');
          throw err;
        }
        if (!(await delay(holdMs + jitterMs(holdMs), opts.signal))) throw endedWhileConnecting();
      } else if (hold !== null) this.#hold = null;

      const r = await this.#attempt(url, apiKey, opts, deadline - performance.now());
      if (r.conn !== null) {
        if (retrying !== null) this.#opts.onRetry?.(retrying, 'ok');
        return r.conn;
      }
      if (retrying !== null) this.#opts.onRetry?.(retrying, 'failed');
      if (r.waitMs !== null && r.reason !== null) this.#holdUntil({ until: Date.now() + r.waitMs, reason: r.reason, status: r.error.status ?? 503, upstreamCode: r.error.upstreamCode });
      if (r.reason === null || attempt >= retries || opts.signal?.aborted === true) throw r.error;
      const waitMs = r.waitMs ?? backoffMs(attempt);
      if (waitMs > maxWaitMs || performance.now() + waitMs + MIN_ATTEMPT_MS > deadline) {
        this.#opts.onRetry?.(r.reason, 'too_long');
        opts.log.info({ code: r.error.code, status: r.error.status, waitMs: Math.ceil(waitMs) }, 'realtime upstream refused; the wait is too long to retry');
        throw r.error;
      }
      opts.log.info({ code: r.error.code, status: r.error.status, waitMs: Math.ceil(waitMs), attempt: attempt + 1 }, 'realtime upstream refused; retrying');
      retrying = r.reason;
      // a wait the upstream asked for is taken by the hold at the top of the loop
      if (r.waitMs === null && !(await delay(waitMs, opts.signal))) throw endedWhileConnecting();
    }
  }

  /** Remember that the upstream asked not to come back before `until` (a later open waits or falls back at once). */
  #holdUntil(hold: Hold): void {
    if (this.#hold !== null && this.#hold.until >= hold.until) return;
    this.#hold = hold;
  }

  #attempt(url: string, apiKey: string, opts: EngineOpenOptions, timeoutMs: number): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      const ws = new WebSocket(url, {
        ...this.#opts.wsOptions,
        // Azure OpenAI takes its key as `api-key`; everyone else as a Bearer token
        headers: isAzureHost(url) ? { 'api-key': apiKey } : { Authorization: `Bearer ${apiKey}` },
        perMessageDeflate: false,
        maxPayload: MAX_PAYLOAD_BYTES,
      });
      let settled = false;
      const timer = setTimeout(() => {
        // the connect budget is spent: no retry
        fail(new EngineError('ENGINE_CONNECT_FAILED', `The realtime upstream did not answer within ${this.#opts.connectTimeoutMs} ms.`, { retryable: true, fallbackable: true }), null, null);
        ws.terminate();
      }, Math.max(1, timeoutMs));
      const onAbort = (): void => {
        fail(endedWhileConnecting(), null, null);
        ws.terminate();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        ws.off('open', onOpen);
        ws.off('error', onError);
        ws.off('unexpected-response', onUnexpected);
        ws.off('close', onEarlyClose);
        opts.signal?.removeEventListener('abort', onAbort);
        // terminate() on a connecting socket emits 'error': never let that be uncaught
        ws.on('error', noop);
      };
      const fail = (error: EngineError, reason: Exclude<RetryReason, 'drop'> | null, waitMs: number | null): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ conn: null, error, reason, waitMs });
      };
      const onOpen = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ conn: new OpenAIConnection(ws, opts, this.#opts.highWaterBytes, (until) => this.#holdUntil({ until, reason: 'rate_limit', status: 429, upstreamCode: 'rate_limit_exceeded' })) });
      };
      const onError = (err: Error): void => {
        fail(new EngineError('ENGINE_CONNECT_FAILED', `Could not connect to the realtime upstream: ${err.message}`, { retryable: true, fallbackable: true, cause: err }), 'network', null);
      };
      const onEarlyClose = (code: number): void => {
        fail(new EngineError('ENGINE_CONNECT_FAILED', `The realtime upstream closed during the handshake (${code}).`, { retryable: true, fallbackable: true }), 'network', null);
      };
      const onUnexpected = (_req: ClientRequest, res: IncomingMessage): void => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        const finish = (): void => {
          let upstreamCode: string | undefined;
          let json: unknown = null;
          try {
            json = JSON.parse(body) as unknown;
            const code = (json as { error?: { code?: unknown } } | null)?.error?.code;
            if (typeof code === 'string') upstreamCode = code;
          } catch {
            /* not JSON */
          }
          const fallbackable = FALLBACK_STATUSES.has(status) || status >= 500;
          fail(
            new EngineError('ENGINE_REJECTED', `The realtime upstream answered HTTP ${status}${upstreamCode ? ` (${upstreamCode})` : ''}.`, {
              status,
              retryable: fallbackable,
              fallbackable,
              ...(upstreamCode !== undefined ? { upstreamCode } : {}),
            }),
            refusalRetryReason(status, res.headers, upstreamCode),
            upstreamWaitMs(res.headers, json),
          );
          ws.terminate();
        };
        res.once('end', finish);
        res.once('error', finish);
        res.once('aborted', finish);
      };
      ws.on('open', onOpen);
      ws.on('error', onError);
      ws.on('unexpected-response', onUnexpected);
      ws.on('close', onEarlyClose);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function endedWhileConnecting(): EngineError {
  return new EngineError('ENGINE_CONNECT_FAILED', 'The session ended while connecting.', { fallbackable: false });
}

/** Whether a refusal at upgrade is worth a retry, and why (null: it is not). */
export function refusalRetryReason(status: number, headers: IncomingHttpHeaders, upstreamCode: string | undefined): 'server_error' | 'rate_limit' | null {
  // the upstream's own verdict wins (the openai SDK honours it the same way)
  if (header(headers, 'x-should-retry') === 'false') return null;
  if (status === 429) return upstreamCode === 'insufficient_quota' ? null : 'rate_limit';
  if (status >= 500 || status === 408 || status === 409 || status === 425) return 'server_error';
  return null;
}

/**
 * The wait (ms) an upstream's refusal asks for, or null: `retry-after-ms`, `Retry-After` (seconds or
 * an HTTP date, RFC 9110 §10.2.3), else the latest reset of an exhausted rate limit: the
 * `x-ratelimit-reset-requests|tokens` headers (durations such as `1s`, `6m0s`, `20ms`) whose
 * `x-ratelimit-remaining-*` is 0 or absent, or a body's `rate_limits` entries with `remaining: 0`
 * (the shape of `rate_limits.updated`, docs/protocol.md).
 */
export function upstreamWaitMs(headers: IncomingHttpHeaders, body: unknown, nowMs = Date.now()): number | null {
  const ms = Number(header(headers, 'retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const ra = header(headers, 'retry-after');
  if (ra !== undefined) {
    const trimmed = ra.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
    const at = Date.parse(trimmed);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  let reset: number | null = null;
  for (const bucket of ['requests', 'tokens']) {
    const remaining = header(headers, `x-ratelimit-remaining-${bucket}`);
    if (remaining !== undefined && Number(remaining) > 0) continue;
    const d = parseDurationMs(header(headers, `x-ratelimit-reset-${bucket}`));
    if (d !== null) reset = Math.max(reset ?? 0, d);
  }
  if (reset !== null) return reset;
  const b = body as { rate_limits?: unknown; error?: { rate_limits?: unknown } } | null;
  return exhaustedResetMs(b?.rate_limits ?? b?.error?.rate_limits);
}

/** The latest `reset_seconds` (ms) among `rate_limits` entries with nothing remaining, or null. */
export function exhaustedResetMs(rateLimits: unknown): number | null {
  if (!Array.isArray(rateLimits)) return null;
  let reset: number | null = null;
  for (const r of rateLimits as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const { remaining, reset_seconds: s } = r as { remaining?: unknown; reset_seconds?: unknown };
    if (remaining !== 0 || typeof s !== 'number' || !Number.isFinite(s) || s < 0) continue;
    reset = Math.max(reset ?? 0, s * 1000);
  }
  return reset;
}

/** `1s`, `6m0s`, `1h2m3.5s`, `20ms`, or a bare number of seconds → ms; null when unreadable. */
export function parseDurationMs(v: string | undefined): number | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(t);
  if (!m || t === '') return null;
  const [, h, min, sec, ms] = m;
  return Number(h ?? 0) * 3_600_000 + Number(min ?? 0) * 60_000 + Number(sec ?? 0) * 1000 + Number(ms ?? 0);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** 100–300 ms for the first retry, doubling after. */
function backoffMs(attempt: number): number {
  return RETRY_BASE_MS * 2 ** attempt * (0.5 + Math.random());
}

/** A little on top of a wait the upstream asked for, so the sessions it refused do not come back at once. */
function jitterMs(waitMs: number): number {
  return Math.random() * Math.min(50, waitMs * 0.1);
}

/** Resolves true after ms, or false at once when the signal aborts. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

type InitState = 'init' | 'live';

class OpenAIConnection implements EngineConnection {
  readonly #ws: WebSocket;
  readonly #cb: EngineCallbacks;
  readonly #log: EngineOpenOptions['log'];
  readonly #backpressure: SendBackpressure;
  #closedLocally = false;
  #ended = false;
  #state: InitState = 'init';
  #initUpdateId: string;
  #stashedCreated: ServerEvent | null = null;
  #buffered: ServerEvent[] = [];
  /** Items replayed from history: their added/done events are not relayed. */
  readonly #replayed = new Set<string>();
  #lastUpstreamErrorCode: string | null = null;
  /** The latest `rate_limits.updated` said a limit is exhausted until then (Date.now ms; 0: none). */
  #rateLimitedUntil = 0;
  /** Told, when the connection fails, that the upstream's rate limit holds until then. */
  readonly #onRateLimited: (until: number) => void;

  constructor(ws: WebSocket, opts: EngineOpenOptions, highWater: number, onRateLimited: (until: number) => void) {
    this.#ws = ws;
    this.#onRateLimited = onRateLimited;
    this.#cb = opts.callbacks;
    this.#log = opts.log;
    this.#backpressure = new SendBackpressure(ws, highWater, (congested) => this.#cb.onBackpressure?.(congested));
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
    ws.on('error', this.#onError);
    // the effective session first, then the history as text items
    this.#initUpdateId = newEventId();
    this.send({ type: 'session.update', event_id: this.#initUpdateId, session: opts.session });
    let prev: string | null = null;
    for (const item of opts.history ?? []) {
      const id = newItemId();
      this.#replayed.add(id);
      this.send({ type: 'conversation.item.create', event_id: newEventId(), item: { ...item, id }, ...(prev !== null ? { previous_item_id: prev } : {}) });
      prev = id;
    }
  }

  send(event: ClientEvent): void {
    if (this.#ended || this.#ws.readyState !== WebSocket.OPEN) return;
    // the wire edge: typed event → GA JSON (an append's base64 is made here, once, or relayed as the bytes it came in)
    this.#ws.send(encodeClientEvent(event), TEXT_FRAME);
    this.#backpressure.sent();
  }

  pause(): void {
    if (!this.#ended) this.#ws.pause();
  }

  resume(): void {
    if (!this.#ended) this.#ws.resume();
  }

  close(reason = 'session closed'): void {
    if (this.#closedLocally || this.#ended) return;
    this.#closedLocally = true;
    this.#ended = true;
    this.#detach();
    if (this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.terminate();
      return;
    }
    try {
      this.#ws.close(1000, truncateReason(reason));
    } catch {
      this.#ws.terminate();
    }
    // don't wait 30 s for a peer that never completes the close handshake
    const t = setTimeout(() => this.#ws.terminate(), 2000);
    t.unref();
    this.#ws.once('close', () => clearTimeout(t));
  }

  #detach(): void {
    this.#backpressure.close();
    this.#ws.off('message', this.#onMessage);
    this.#ws.off('close', this.#onClose);
    // keep a no-op error listener so a late socket error is not an uncaught exception
    this.#ws.off('error', this.#onError);
    this.#ws.on('error', noop);
  }

  readonly #onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.#ended) return;
    if (isBinary) return;
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // the hot event straight from the bytes; anything else parsed as JSON
    let ev: ServerEvent | null = fastParseAudioDeltaBytes(buf);
    try {
      ev ??= parseServerEvent(buf.toString('utf8'));
    } catch {
      this.#log.warn('dropping an upstream message that is not a realtime event');
      return;
    }
    if (ev.type === 'rate_limits.updated') {
      const resetMs = exhaustedResetMs(ev.rate_limits);
      this.#rateLimitedUntil = resetMs === null ? 0 : Date.now() + resetMs;
    } else if (ev.type === 'error') {
      const code = ev.error.code;
      this.#lastUpstreamErrorCode = code;
      // the 60-minute cap: the close (1001) follows; the session decides (rotation), so the
      // client does not see this error
      if (code === 'session_expired') return;
    }
    if (this.#state === 'init') {
      this.#onInitEvent(ev);
      return;
    }
    if (this.#replayed.size > 0 && isReplayEcho(ev, this.#replayed)) return;
    try {
      this.#cb.onEvent(ev);
    } catch (err) {
      // never let a bug downstream escape into the socket's event emitter (process crash)
      this.#log.error({ err: { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined }, type: ev.type }, 'internal error handling an upstream event');
    }
  };

  /** Until our first session.update is answered, hold events; then emit session.created with the effective session. */
  #onInitEvent(ev: ServerEvent): void {
    if (ev.type === 'session.created') {
      this.#log.info({ upstreamSessionId: ev.session.id ?? null }, 'realtime upstream session created');
      this.#stashedCreated = ev;
      return;
    }
    if (ev.type === 'session.updated' || (ev.type === 'error' && ev.error.event_id === this.#initUpdateId)) {
      this.#state = 'live';
      const created = this.#stashedCreated;
      this.#stashedCreated = null;
      if (ev.type === 'session.updated') {
        this.#cb.onEvent({ ...ev, type: 'session.created', event_id: created?.event_id ?? newEventId() });
      } else if (created) {
        this.#cb.onEvent(created);
      }
      const buffered = this.#buffered;
      this.#buffered = [];
      for (const b of buffered) {
        if (this.#ended) return;
        if (!(this.#replayed.size > 0 && isReplayEcho(b, this.#replayed))) this.#cb.onEvent(b);
      }
      if (ev.type === 'error' && !this.#ended) this.#cb.onEvent(ev);
      return;
    }
    // a delta's chunk is only valid now: keep a copy while waiting
    this.#buffered.push(ev.type === 'response.output_audio.delta' ? { ...ev, delta: ev.delta.copy() } : ev);
  }

  readonly #onError = (err: Error): void => {
    this.#log.warn({ err: { message: err.message } }, 'realtime upstream socket error');
  };

  readonly #onClose = (code: number, reasonBuf: Buffer): void => {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach();
    const reason = reasonBuf.toString('utf8');
    if (code === 1000 && this.#lastUpstreamErrorCode === null) {
      this.#cb.onClose({ code, reason });
      return;
    }
    // a reconnect now would meet the exhausted limit: a later open waits for it, or falls back at once
    if (this.#rateLimitedUntil > Date.now()) this.#onRateLimited(this.#rateLimitedUntil);
    this.#cb.onClose({ code, reason, error: closeError(code, reason, this.#lastUpstreamErrorCode) });
  };
}

function closeError(code: number, reason: string, upstreamCode: string | null): EngineError {
  const up = upstreamCode ?? undefined;
  const detail = `The realtime upstream closed the connection (${code}${reason ? `: ${reason}` : ''}).`;
  if (code === 1001 || up === 'session_expired') {
    return new EngineError('ENGINE_SESSION_EXPIRED', detail, { retryable: true, fallbackable: true, upstreamCode: up ?? 'session_expired' });
  }
  if (code === 4000 || up === 'beta_api_shape_disabled') {
    return new EngineError('ENGINE_PROTOCOL', detail, { fallbackable: false, ...(up ? { upstreamCode: up } : {}) });
  }
  if (code === 1006) return new EngineError('ENGINE_DROPPED', detail, { retryable: true, fallbackable: true, ...(up ? { upstreamCode: up } : {}) });
  const fatal = up !== undefined && FATAL_UPSTREAM_CODES.has(up);
  return new EngineError('ENGINE_CLOSED', detail, { retryable: !fatal, fallbackable: !fatal, ...(up ? { upstreamCode: up } : {}) });
}

/** Upstream error codes that another engine on the same account would not fix (LiveKit FATAL_ERROR_CODES). */
const FATAL_UPSTREAM_CODES = new Set(['invalid_api_key', 'account_deactivated']);

function isReplayEcho(ev: ServerEvent, replayed: Set<string>): boolean {
  if (ev.type !== 'conversation.item.added' && ev.type !== 'conversation.item.done' && ev.type !== 'conversation.item.created') return false;
  return typeof ev.item.id === 'string' && replayed.has(ev.item.id);
}

function truncateReason(reason: string): string {
  return Buffer.byteLength(reason) <= 120 ? reason : Buffer.from(reason).subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '');
}

function noop(): void {}
