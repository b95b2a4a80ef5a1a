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
import type { IncomingMessage, ClientRequest } from 'node:http';
import { EngineError } from '../../errors.ts';
import { fastParseAudioDeltaBytes, newEventId, newItemId, parseServerEvent, serializeClientEvent, type ClientEvent, type ServerEvent } from '../../protocol/index.ts';
import { SendBackpressure } from '../../backpressure.ts';
import type { Engine, EngineCallbacks, EngineConnection, EngineDeps, EngineOpenOptions } from '../types.ts';

export interface OpenAIEngineOptions {
  apiKey: string | null;
  /** https://api.openai.com/v1 or any GA-compatible base (http(s) or ws(s)). */
  baseUrl: string;
  connectTimeoutMs: number;
  /** Outbound buffer (bytes) above which the client is paused. */
  highWaterBytes: number;
  /** Extra `ws` client options (e.g. `ca` for a private upstream). */
  wsOptions?: ClientOptions;
}

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

export function createOpenAIEngine(deps: EngineDeps): Engine {
  return new OpenAIEngine({
    apiKey: deps.config.openai.apiKey,
    baseUrl: deps.config.openai.baseUrl,
    connectTimeoutMs: deps.config.openai.connectTimeoutMs,
    highWaterBytes: deps.config.limits.sendHighWaterBytes,
  });
}

export class OpenAIEngine implements Engine {
  readonly name = 'openai' as const;
  readonly #opts: OpenAIEngineOptions;

  constructor(opts: OpenAIEngineOptions) {
    this.#opts = opts;
  }

  open(opts: EngineOpenOptions): Promise<EngineConnection> {
    const { apiKey, baseUrl, connectTimeoutMs } = this.#opts;
    if (!apiKey) {
      return Promise.reject(new EngineError('ENGINE_UNAVAILABLE', 'OPENAI_API_KEY is not configured.', { fallbackable: true }));
    }
    const model = opts.session.model ?? 'gpt-realtime';
    const url = realtimeUrl(baseUrl, model);
    return new Promise<EngineConnection>((resolve, reject) => {
      const ws = new WebSocket(url, {
        ...this.#opts.wsOptions,
        // Azure OpenAI takes its key as `api-key`; everyone else as a Bearer token
        headers: isAzureHost(url) ? { 'api-key': apiKey } : { Authorization: `Bearer ${apiKey}` },
        perMessageDeflate: false,
        handshakeTimeout: connectTimeoutMs,
        maxPayload: MAX_PAYLOAD_BYTES,
      });
      let settled = false;
      const onAbort = (): void => {
        fail(new EngineError('ENGINE_CONNECT_FAILED', 'The session ended while connecting.', { fallbackable: false }));
        ws.terminate();
      };
      const cleanup = (): void => {
        ws.off('open', onOpen);
        ws.off('error', onError);
        ws.off('unexpected-response', onUnexpected);
        ws.off('close', onEarlyClose);
        opts.signal?.removeEventListener('abort', onAbort);
        // terminate() on a connecting socket emits 'error': never let that be uncaught
        ws.on('error', noop);
      };
      const fail = (e: EngineError): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(e);
      };
      const onOpen = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(new OpenAIConnection(ws, opts, this.#opts.highWaterBytes));
      };
      const onError = (err: Error): void => {
        fail(new EngineError('ENGINE_CONNECT_FAILED', `Could not connect to the realtime upstream: ${err.message}`, { retryable: true, fallbackable: true, cause: err }));
      };
      const onEarlyClose = (code: number): void => {
        fail(new EngineError('ENGINE_CONNECT_FAILED', `The realtime upstream closed during the handshake (${code}).`, { retryable: true, fallbackable: true }));
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
          try {
            const j = JSON.parse(body) as { error?: { code?: unknown } };
            if (typeof j.error?.code === 'string') upstreamCode = j.error.code;
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

  constructor(ws: WebSocket, opts: EngineOpenOptions, highWater: number) {
    this.#ws = ws;
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
    // the wire edge: typed event → GA JSON (an append's base64 is made here, once, or relayed as it came)
    this.#ws.send(serializeClientEvent(event));
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
    if (ev.type === 'error') {
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
