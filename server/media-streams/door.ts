/**
 * The media-stream door: a carrier (Twilio, Telnyx, …: one dialect each, dialect.ts) opens a WebSocket per
 * call and streams the caller's G.711 audio as base64 JSON frames; each stream becomes a session (leg
 * 'media-stream'), the door being its GA client, like the SIP door (server/sip-bridge.ts).
 *
 *  carrier `media` (base64 μ-law, 20 ms) → bytes (decoded once, into one buffer per call) → input_audio_buffer.append → session
 *  session → response.output_audio.delta → `media` (≤ 100 ms each), a `mark` every 100 ms → carrier, which plays them
 *
 * μ-law (or A-law) passes straight through: the session runs in `audio/pcmu` (`audio/pcma`) both ways, no
 * resampling, as on a SIP call.
 *
 * Playout clock and barge-in. The carrier queues the audio it gets and plays it at real time; a mark sent after a
 * chunk comes back when the audio before it has played. Each mark is named after the door's playout position at
 * the end of its chunk (`parley:<ms>`), so the last mark echoed is what the caller has heard. On
 * `input_audio_buffer.speech_started` the door sends `clear` at once (the carrier drops its queue) and the call's
 * PlayoutLedger (server/session/playout.ts) turns that position into the `conversation.item.truncate`: audio_end_ms
 * is what was actually played. The marks the clear sends back (the carrier returns every queued mark) are ignored.
 *
 * Call control: `end_call` closes the stream once the goodbye has played (its marks are back) — the carrier then
 * runs what follows the stream in its call flow (the TwiML/TeXML Parley serves says `<Hangup/>`); end reason
 * agent_ended. `stop` or the socket closing: caller_hangup. DTMF reaches the conversation as a user message, as on
 * SIP in text mode. The profile comes from `profiles.resolve()` (routes by dialled number / caller / trunk = the
 * carrier's name, then the incoming-call hook); its first message is spoken when the stream starts.
 *
 * Robustness: the stream must authenticate in its `start` (dialect.authorize) within START_TIMEOUT_MS, before any
 * session opens; messages are bounded (MAX_MESSAGE_BYTES, refused by the WebSocket layer above); a bad frame is
 * counted (parley_media_stream_bad_frames_total) and logged once per kind per call, never fatal.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { ParleyError } from '../errors.ts';
import { AudioChunk, bytesPerMs, type AudioFormat, type InputAudioBufferAppendEvent, type ServerEvent } from '../protocol/index.ts';
import { PlayoutLedger, type CallFacts, type EndReason, type RealtimeSessionHandle, type SessionClient } from '../session/index.ts';
import { admitOrThrow, type EngineName } from '../engines/index.ts';
import type { ToolDefinition } from '../tools/index.ts';
import { Counter, Gauge } from '../metrics.ts';
import { MaxCallTimer, firstMessageEvent, withAudioFormat } from '../profiles/index.ts';
import type { ParleyConfig } from '../config.ts';
import type { MediaStreamDialect, StreamStart, UpgradeCredentials } from './dialect.ts';

/** Largest message a carrier may send (a start with its parameters; media frames are ~300 bytes). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** The stream must authenticate (its `start`) this soon after the handshake. */
export const START_TIMEOUT_MS = 10_000;
/** No message from the carrier for this long: the call is gone (end reason rtp_timeout). */
export const MEDIA_TIMEOUT_MS = 30_000;
/** Agent audio goes out in chunks of at most this much, and a mark follows every this much (the barge-in precision). */
export const CHUNK_MS = 100;
const MARK_PREFIX = 'parley:';
const END_CALL_QUIET_MS = 700;
const END_CALL_MAX_WAIT_MS = 30_000;
/** A stream whose carrier stopped echoing marks counts as drained this long after its audio should have played. */
const MARK_GRACE_MS = 2_000;
/** The session ended: the door closes the stream once what is queued has played, at most this long after. */
const CLOSE_DRAIN_MAX_MS = 10_000;

const MEDIA_PREFIX = Buffer.from('{"event":"media"', 'latin1');
const PAYLOAD_KEY = Buffer.from('"payload":"', 'latin1');
const OUTBOUND_TRACK = Buffer.from('"track":"outbound', 'latin1');
const MARK_EVENT_PREFIX = Buffer.from('{"event":"mark"', 'latin1');
const MARK_NAME_KEY = Buffer.from('"name":"parley:', 'latin1');
const QUOTE = 0x22;

export interface MediaStreamDoorOptions {
  /** Start the sessions on this engine instead of the configured / the profile's one (tests, bench). */
  engine?: EngineName;
  /** Digits typed this long ago without a '#' go to the conversation. */
  dtmfFlushMs?: number;
  /** Sees every server event a stream's session sends (tests); must not throw. */
  observe?: (call: MediaStreamCall, event: ServerEvent) => void;
}

interface DoorMetrics {
  streams: Counter;
  badFrames: Counter;
  refused: Counter;
}

/** The base URL the carrier reaches this server at: PARLEY_PUBLIC_URL, else rebuilt from the request. */
export function publicBaseUrl(config: ParleyConfig, req: IncomingMessage): string {
  if (config.mediaStreams.publicUrl !== null) return config.mediaStreams.publicUrl;
  return `${config.tls ? 'https' : 'http'}://${req.headers.host ?? `${config.host}:${config.port}`}`;
}

/** The WebSocket URL of a door path as the carrier reaches it (https → wss). */
export function streamUrlFor(config: ParleyConfig, req: IncomingMessage, path: string): string {
  return publicBaseUrl(config, req).replace(/^http/i, 'ws') + path;
}

function reject(socket: Duplex, status: number, text: string, message: string): void {
  const body = JSON.stringify({ error: { code: text.toLowerCase().replace(/\s+/g, '_'), message } });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Every media-stream door of one app: one WebSocket upgrade listener for all the dialects' paths. */
export class MediaStreamDoors {
  readonly app: FastifyInstance;
  readonly calls = new Set<MediaStreamCall>();
  readonly #dialects = new Map<string, MediaStreamDialect>();
  readonly #wss: WebSocketServer;
  readonly #opts: MediaStreamDoorOptions;
  readonly #metrics: DoorMetrics;
  readonly #otherPaths: readonly string[];
  readonly #idleTimer: NodeJS.Timeout;
  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.#upgrade(req, socket, head);

  /** `otherPaths`: WebSocket paths another listener serves (the realtime door); any other path is answered 404 here. */
  constructor(app: FastifyInstance, dialects: MediaStreamDialect[], otherPaths: readonly string[], opts: MediaStreamDoorOptions = {}) {
    this.app = app;
    this.#opts = opts;
    this.#otherPaths = otherPaths;
    for (const d of dialects) this.#dialects.set(d.path, d);
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: MAX_MESSAGE_BYTES });
    const m = app.parley.metrics;
    this.#metrics = {
      streams: m.register(new Counter('parley_media_stream_streams_total', 'Carrier media streams, by carrier and outcome (session | refused | failed)', ['carrier', 'outcome'])),
      badFrames: m.register(new Counter('parley_media_stream_bad_frames_total', 'Carrier media-stream messages dropped, by carrier and reason', ['carrier', 'reason'])),
      refused: m.register(new Counter('parley_media_stream_refused_total', 'Carrier media streams refused before a session, by carrier and reason', ['carrier', 'reason'])),
    };
    const active = new Gauge('parley_media_stream_calls_active', 'Carrier media-stream calls up now', []);
    active.collect(() => this.calls.size);
    m.register(active);
    // one timer for every stream: a carrier that went silent (no frame for MEDIA_TIMEOUT_MS) has lost the call
    this.#idleTimer = setInterval(() => {
      const now = Date.now();
      for (const c of this.calls) c.checkIdle(now);
    }, 5_000);
    this.#idleTimer.unref();
    app.server.on('upgrade', this.#onUpgrade);
  }

  get opts(): MediaStreamDoorOptions {
    return this.#opts;
  }

  countBad(carrier: string, reason: string): void {
    this.#metrics.badFrames.inc(carrier, reason);
  }

  countStream(carrier: string, outcome: 'session' | 'refused' | 'failed'): void {
    this.#metrics.streams.inc(carrier, outcome);
  }

  countRefused(carrier: string, reason: string): void {
    this.#metrics.refused.inc(carrier, reason);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const dialect = this.#dialects.get(path);
    if (!dialect) {
      // the realtime door answers its own path; with more than one listener it leaves the rest to us
      if (!this.#otherPaths.some((p) => path === p || path === `${p}/`)) reject(socket, 404, 'Not Found', `No WebSocket endpoint at ${url.pathname}.`);
      return;
    }
    socket.on('error', () => socket.destroy());
    const refusal = dialect.checkUpgrade(req, streamUrlFor(this.app.parley.config, req, dialect.path));
    if (refusal) {
      this.countRefused(dialect.name, refusal.reason);
      this.countStream(dialect.name, 'refused');
      this.app.parley.log.warn({ carrier: dialect.name, reason: refusal.reason, remote: req.socket.remoteAddress }, 'media stream refused at the handshake');
      reject(socket, refusal.status, refusal.status === 403 ? 'Forbidden' : 'Unauthorized', `The stream was refused (${refusal.reason}).`);
      return;
    }
    try {
      this.app.parley.sessions.checkCanOpen();
    } catch (err) {
      reject(socket, 503, 'Service Unavailable', err instanceof Error ? err.message : 'unavailable');
      return;
    }
    const auth = req.headers.authorization;
    const creds: UpgradeCredentials = {
      bearer: typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : null,
      queryToken: url.searchParams.get('token'),
    };
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const call = new MediaStreamCall(this, dialect, ws, creds);
      this.calls.add(call);
    });
  }

  /** The server stops: every stream ends (end reason shutdown) and the listener goes. */
  close(): void {
    clearInterval(this.#idleTimer);
    this.app.server.off('upgrade', this.#onUpgrade);
    for (const c of this.calls) c.finish('server shutting down', 'shutdown', 1001);
    this.#wss.close();
  }
}

type State = 'waiting' | 'opening' | 'open' | 'closed';

/** One carrier stream ↔ one session. */
export class MediaStreamCall implements SessionClient {
  readonly dialect: MediaStreamDialect;
  readonly log: Logger;
  #state: State = 'waiting';
  readonly #doors: MediaStreamDoors;
  readonly #app: FastifyInstance;
  readonly #ws: WebSocket;
  readonly #upgrade: UpgradeCredentials;
  readonly #gone = new AbortController();
  #session: RealtimeSessionHandle | null = null;
  #start: StreamStart | null = null;
  #quotedStreamId = '""';
  #format: AudioFormat = { type: 'audio/pcmu' };
  #bytesPerMs = 8;
  #startTimer: NodeJS.Timeout | undefined;
  #lastInboundMs = Date.now();
  #maxCall: MaxCallTimer | null = null;
  // caller audio: decoded into one buffer per call, handed on through one chunk and one event (no allocation per frame)
  #scratch = Buffer.allocUnsafeSlow(1024);
  #view: Uint8Array = new Uint8Array(0);
  readonly #callerChunk: AudioChunk;
  readonly #append: InputAudioBufferAppendEvent;
  /** Caller audio that arrived before the session was open (dropped), in bytes. */
  #earlyBytes = 0;
  // agent audio and the playout clock (ms of agent audio)
  readonly #ledger = new PlayoutLedger();
  /** Position at the end of all the agent audio sent to the carrier. */
  #enqueuedMs = 0;
  /** Position of the last mark echoed: what the caller has heard. */
  #playedMs = 0;
  /** Agent audio sent since the last mark (ms). */
  #unmarkedMs = 0;
  /** Marks up to here were returned by a `clear`, not played. */
  #ignoreMarksUpToMs = -1;
  /** When the audio sent should have finished playing (wall clock), for carriers that drop marks. */
  #playoutEndsAtMs = 0;
  #lastActivityMs = Date.now();
  #endRequested = false;
  #closingAfterDrain = false;
  // DTMF
  #digits = '';
  #dtmfTimer: NodeJS.Timeout | undefined;
  /** Bad-frame reasons already logged for this stream (each is logged once, counted always). */
  readonly #logged = new Set<string>();
  /** Agent chunks / marks sent and marks echoed (tests, logs). */
  readonly stats = { framesIn: 0, chunksOut: 0, marksOut: 0, marksEchoed: 0, clears: 0, badFrames: 0 };

  constructor(doors: MediaStreamDoors, dialect: MediaStreamDialect, ws: WebSocket, upgrade: UpgradeCredentials) {
    this.#doors = doors;
    this.#app = doors.app;
    this.dialect = dialect;
    this.#ws = ws;
    this.#upgrade = upgrade;
    this.log = this.#app.parley.log.child({ leg: 'media-stream', carrier: dialect.name });
    this.#callerChunk = AudioChunk.fromBytes(this.#view, this.#format);
    this.#append = { type: 'input_audio_buffer.append', audio: this.#callerChunk };
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', (err) => this.log.debug({ err: { message: err.message } }, 'media stream socket error'));
    ws.on('close', (code) => this.#onSocketClose(code));
    this.#startTimer = setTimeout(() => {
      if (this.#state !== 'waiting') return;
      this.#doors.countRefused(dialect.name, 'no_start');
      this.#doors.countStream(dialect.name, 'refused');
      this.log.warn('media stream sent no start in time: closing');
      this.#closeSocket(1008, 'no start message');
    }, START_TIMEOUT_MS);
  }

  /** A method, not a property read: TypeScript does not narrow it across an await. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  get state(): State {
    return this.#state;
  }

  get session(): RealtimeSessionHandle | null {
    return this.#session;
  }

  get streamStart(): StreamStart | null {
    return this.#start;
  }

  /** ms of agent audio sent and not yet heard, per the echoed marks. */
  get queuedMs(): number {
    return this.#enqueuedMs - this.#playedMs;
  }

  get playedMs(): number {
    return this.#playedMs;
  }

  get enqueuedMs(): number {
    return this.#enqueuedMs;
  }

  checkIdle(nowMs: number): void {
    if (this.#state === 'open' && nowMs - this.#lastInboundMs > MEDIA_TIMEOUT_MS) this.finish('no media from the carrier', 'rtp_timeout', 1001);
  }

  // ------------------------------------------------------------------ carrier → Parley

  #onMessage(data: RawData, isBinary: boolean): void {
    this.#lastInboundMs = Date.now();
    if (this.#state === 'closed') return;
    if (isBinary) return this.#bad('binary_frame');
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // hot path: a media frame read straight from the bytes (no JSON parse, no object)
    if (this.#state === 'open' && (this.#fastMedia(buf) || this.#fastMark(buf))) return;
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      return this.#bad('invalid_json');
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.#bad('not_an_object');
    const ev = this.dialect.parse(msg as Record<string, unknown>);
    switch (ev.kind) {
      case 'connected':
        return;
      case 'start':
        if (this.#state !== 'waiting') return this.#bad('second_start');
        return this.#onStart(ev.start);
      case 'media':
        if (ev.track !== null && ev.track.startsWith('outbound')) return;
        if (this.#state !== 'open') return this.#early(ev.payload.length);
        return this.#feedBase64(ev.payload);
      case 'dtmf':
        return this.#onDtmf(ev.digit);
      case 'mark':
        return this.#onMark(ev.name);
      case 'stop':
        this.log.info('the carrier stopped the stream');
        return this.finish('stream stopped by the carrier', 'caller_hangup');
      case 'error':
        this.log.warn({ detail: ev.detail }, 'the carrier reported a stream error');
        return;
      case 'unknown':
        return this.#bad('unknown_event');
      case 'bad':
        return this.#bad(ev.reason);
    }
  }

  #bad(reason: string): void {
    this.stats.badFrames++;
    this.#doors.countBad(this.dialect.name, reason);
    if (!this.#logged.has(reason)) {
      this.#logged.add(reason);
      this.log.warn({ reason }, 'bad media-stream frame dropped (counted; logged once per kind)');
    }
  }

  #early(base64Chars: number): void {
    this.#earlyBytes += (base64Chars * 3) >> 2;
  }

  /** `{"event":"media"…"payload":"<base64>"…}`: the caller's audio without parsing the message. */
  #fastMedia(buf: Buffer): boolean {
    if (buf.length < MEDIA_PREFIX.length || buf.compare(MEDIA_PREFIX, 0, MEDIA_PREFIX.length, 0, MEDIA_PREFIX.length) !== 0) return false;
    const k = buf.indexOf(PAYLOAD_KEY, MEDIA_PREFIX.length);
    if (k < 0) return false;
    const s = k + PAYLOAD_KEY.length;
    const e = buf.indexOf(QUOTE, s);
    if (e < 0) return false;
    if (buf.indexOf(OUTBOUND_TRACK, MEDIA_PREFIX.length) >= 0) return true; // the agent's own track (both_tracks): not the caller
    this.#feedAscii(buf, s, e);
    return true;
  }

  /** `{"event":"mark"…"name":"parley:<ms>"…}`: one of our marks echoed, read without parsing the message. */
  #fastMark(buf: Buffer): boolean {
    if (buf.length < MARK_EVENT_PREFIX.length || buf.compare(MARK_EVENT_PREFIX, 0, MARK_EVENT_PREFIX.length, 0, MARK_EVENT_PREFIX.length) !== 0) return false;
    const k = buf.indexOf(MARK_NAME_KEY, MARK_EVENT_PREFIX.length);
    if (k < 0) return false;
    const s = k + MARK_NAME_KEY.length;
    let pos = 0;
    let scale = 0;
    let e = s;
    for (; e < buf.length && e - s < 24; e++) {
      const c = buf[e]!;
      if (c >= 0x30 && c <= 0x39) {
        pos = pos * 10 + (c - 0x30);
        if (scale > 0) scale *= 10;
      } else if (c === 0x2e && scale === 0) scale = 1;
      else break;
    }
    if (e === s || buf[e] !== QUOTE) return false; // anything unusual: the general path decides
    this.#markAt(scale > 0 ? pos / scale : pos);
    return true;
  }

  #feedAscii(buf: Buffer, s: number, e: number): void {
    this.#feed(buf.toString('latin1', s, e));
  }

  #feedBase64(b64: string): void {
    this.#feed(b64);
  }

  /** Canonical base64 (checked by its decoded length) → the call's buffer → one append. */
  #feed(b64: string): void {
    const n = b64.length;
    if (n === 0) return;
    if (n % 4 !== 0) return this.#bad('bad_base64');
    const pad = b64.charCodeAt(n - 1) === 61 ? (b64.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
    const expected = (n / 4) * 3 - pad;
    if (this.#scratch.length < expected) {
      this.#scratch = Buffer.allocUnsafeSlow(Math.max(expected, this.#scratch.length * 2));
      this.#view = new Uint8Array(0);
    }
    const written = this.#scratch.write(b64, 0, 'base64');
    if (written !== expected) return this.#bad('bad_base64');
    if (this.#view.byteLength !== written) this.#view = this.#scratch.subarray(0, written);
    this.stats.framesIn++;
    this.#callerChunk.setBytes(this.#view);
    this.#session?.handleClientEvent(this.#append);
  }

  #onStart(start: StreamStart): void {
    clearTimeout(this.#startTimer);
    const auth = this.dialect.authorize(start, this.#upgrade);
    if (!auth.ok) {
      this.#doors.countRefused(this.dialect.name, auth.reason);
      this.#doors.countStream(this.dialect.name, 'refused');
      this.#app.parley.metrics.authFailures.inc(`media_stream_${auth.reason}`);
      this.log.warn({ reason: auth.reason, callId: start.callId }, 'media stream refused: it did not authenticate');
      return this.#closeSocket(1008, 'unauthorized');
    }
    if (start.format === null) {
      this.#doors.countRefused(this.dialect.name, 'unsupported_format');
      this.#doors.countStream(this.dialect.name, 'refused');
      this.log.warn({ encoding: start.encoding }, 'media stream refused: only 8 kHz μ-law and A-law are passed through');
      return this.#closeSocket(1003, 'unsupported media format');
    }
    this.#start = start;
    this.#format = start.format;
    this.#bytesPerMs = bytesPerMs(start.format);
    this.#callerChunk.format = start.format;
    this.#quotedStreamId = JSON.stringify(start.streamId);
    this.#state = 'opening';
    this.open(start).catch((err: unknown) => {
      this.#doors.countStream(this.dialect.name, 'failed');
      const code = ParleyError.is(err) ? err.code : 'INTERNAL';
      this.log.error({ err: { message: err instanceof Error ? err.message : String(err), code } }, 'media stream: the session could not start');
      this.#closeSocket(ParleyError.is(err) && err.retryable ? 1013 : 1011, 'session could not start');
    });
  }

  /** The profile (routes, the incoming-call hook), then the session; the first message once it is open. */
  async open(start: StreamStart): Promise<void> {
    const app = this.#app;
    const facts: CallFacts = {
      sipCallId: start.callId,
      trunk: this.dialect.name,
      ...(start.from !== undefined ? { from: start.from } : {}),
      ...(start.to !== undefined ? { to: start.to, dialled: start.to } : {}),
    };
    const plan = await app.parley.profiles.resolve({ door: 'media-stream', call: facts });
    if (this.#isClosed()) return;
    const maxCall = new MaxCallTimer(plan.maxCallS);
    this.#maxCall = maxCall;
    const engine = plan.engine ?? this.#doors.opts.engine;
    // admission control (server/engines/admission.ts): an engine at capacity refuses (close 1013, retry later)
    const admission = admitOrThrow(app.parley.engines, engine ?? app.parley.config.engine);
    const session = await app.parley.sessions
      .open({
        leg: 'media-stream',
        client: this,
        session: withAudioFormat(plan.session, this.#format),
        tools: [...this.#tools(), ...plan.tools],
        callId: start.callId,
        signal: this.#gone.signal,
        call: facts,
        metadata: { ...plan.metadata, carrier: this.dialect.name, stream_id: start.streamId.slice(0, 128) },
        observers: [maxCall.observer],
        ...(plan.profile !== null ? { profile: plan.profile } : {}),
        ...(plan.recording !== undefined ? { recording: plan.recording } : {}),
        ...(plan.toolNames !== undefined ? { toolNames: plan.toolNames } : {}),
        ...(engine ? { engine } : {}),
      })
      .finally(admission.release);
    if (this.#isClosed()) {
      session.close('stream ended while the session opened', 'caller_hangup');
      return;
    }
    this.#session = session;
    this.#state = 'open';
    this.#doors.countStream(this.dialect.name, 'session');
    session.markAnswered();
    this.log.info({ sessionId: session.id, callId: start.callId, format: this.#format.type, profile: plan.profile, droppedBeforeOpenMs: Math.round(this.#earlyBytes / this.#bytesPerMs) }, 'media stream bridged to a session');
    if (plan.firstMessage) session.handleClientEvent(firstMessageEvent(plan.firstMessage));
    maxCall.arm(session);
  }

  #onMark(name: string): void {
    if (!name.startsWith(MARK_PREFIX)) return;
    const pos = Number(name.slice(MARK_PREFIX.length));
    if (!Number.isFinite(pos)) return this.#bad('bad_mark');
    this.#markAt(pos);
  }

  /** A mark of ours came back: the caller has heard the agent audio up to `pos`. */
  #markAt(pos: number): void {
    this.stats.marksEchoed++;
    if (pos <= this.#ignoreMarksUpToMs) return; // returned by a clear: never played
    if (pos > this.#playedMs) this.#playedMs = Math.min(pos, this.#enqueuedMs);
  }

  // ------------------------------------------------------------------ SessionClient (Parley → carrier)

  send(event: ServerEvent): void {
    this.#doors.opts.observe?.(this, event);
    this.#ledger.onEvent(event);
    switch (event.type) {
      case 'response.output_audio.delta':
        if (!this.#ledger.onAudio(event, this.#enqueuedMs)) return; // late deltas of a cut item
        this.#lastActivityMs = Date.now();
        this.#play(event.delta);
        return;
      case 'input_audio_buffer.speech_started':
        this.#bargeIn();
        return;
      case 'response.output_audio.done':
      case 'response.done':
        // the end of the response's audio is marked, whatever its length
        if (this.#unmarkedMs > 0) this.#mark();
        this.#lastActivityMs = Date.now();
        return;
      case 'response.created':
        this.#lastActivityMs = Date.now();
        return;
      case 'error':
        this.log.warn({ error: event.error }, 'session error event');
        return;
      default:
        return;
    }
  }

  /**
   * Agent audio → `media` messages of ≤ CHUNK_MS; a mark once CHUNK_MS of audio has gone out since the last one
   * (named after the playout position there), and one at the end of each response's audio. Small deltas (an
   * engine sending 20 ms at a time) thus cost one mark per 100 ms, not one per delta.
   */
  #play(chunk: AudioChunk): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const bytes = chunk.bytes();
    const step = CHUNK_MS * this.#bytesPerMs;
    const now = Date.now();
    for (let off = 0; off < bytes.byteLength; off += step) {
      const end = Math.min(bytes.byteLength, off + step);
      const b64 = Buffer.from(bytes.buffer, bytes.byteOffset + off, end - off).toString('base64');
      const ms = (end - off) / this.#bytesPerMs;
      this.#enqueuedMs += ms;
      this.#unmarkedMs += ms;
      this.#playoutEndsAtMs = Math.max(now, this.#playoutEndsAtMs) + ms;
      this.#ws.send(this.dialect.media(this.#quotedStreamId, b64));
      this.stats.chunksOut++;
      if (this.#unmarkedMs >= CHUNK_MS) this.#mark();
    }
  }

  /** A mark at the current end of the agent audio sent. */
  #mark(): void {
    this.#unmarkedMs = 0;
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(this.dialect.mark(this.#quotedStreamId, MARK_PREFIX + String(this.#enqueuedMs)));
    this.stats.marksOut++;
  }

  /** The caller spoke: `clear` now; the truncation is what the echoed marks say was played. */
  #bargeIn(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(this.dialect.clear(this.#quotedStreamId));
    this.stats.clears++;
    const playedMs = this.#playedMs;
    const droppedMs = this.#enqueuedMs - playedMs;
    const truncate = this.#ledger.cut(playedMs, droppedMs);
    // the carrier's queue is empty now: the clock starts again at the end of what was sent
    this.#ignoreMarksUpToMs = this.#enqueuedMs;
    this.#playedMs = this.#enqueuedMs;
    this.#unmarkedMs = 0;
    this.#playoutEndsAtMs = Date.now();
    if (!truncate) return;
    this.log.info({ itemId: truncate.item_id, audioEndMs: truncate.audio_end_ms, droppedMs }, 'barge-in: clear sent, truncating at the last echoed mark');
    this.#session?.handleClientEvent(truncate);
  }

  /** Everything sent has played (its marks are back), or should have long ago (a carrier that dropped the marks). */
  #drained(nowMs: number): boolean {
    return this.queuedMs <= 0 || nowMs > this.#playoutEndsAtMs + MARK_GRACE_MS;
  }

  /** SessionClient.close: the session ended (engine gone, max length, shutdown): close the stream once what is queued has played. */
  close(code: number, reason: string): void {
    if (this.#state === 'closed' || this.#closingAfterDrain) return;
    this.#closingAfterDrain = true;
    this.log.info({ code, reason }, 'session ended: closing the stream');
    if (code === 1001) return this.#closeNow(code, reason);
    const t0 = Date.now();
    const check = (): void => {
      if (this.#state === 'closed') return;
      const now = Date.now();
      if (this.#drained(now) || now - t0 > CLOSE_DRAIN_MAX_MS) return this.#closeNow(1000, reason);
      setTimeout(check, 50);
    };
    check();
  }

  #closeNow(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#cleanup();
    this.#closeSocket(code, reason);
  }

  /** The door ends the call: the session closes with `endReason`, then the stream. */
  finish(reason: string, endReason: EndReason, code = 1000): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#cleanup();
    this.#session?.close(reason, endReason);
    this.#closeSocket(code, reason);
  }

  #onSocketClose(code: number): void {
    this.#doors.calls.delete(this);
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#cleanup();
    this.log.info({ code }, 'the carrier closed the stream');
    this.#session?.close('stream closed by the carrier', 'caller_hangup');
  }

  #cleanup(): void {
    clearTimeout(this.#startTimer);
    clearTimeout(this.#dtmfTimer);
    this.#maxCall?.cancel();
    this.#gone.abort();
  }

  #closeSocket(code: number, reason: string): void {
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#cleanup();
    }
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(code, reason.slice(0, 120));
  }

  // ------------------------------------------------------------------ DTMF (text mode, as on SIP)

  #onDtmf(digit: string): void {
    if (!/^[0-9*#A-D]$/.test(digit)) return this.#bad('bad_dtmf');
    const session = this.#session;
    if (!session || this.#state !== 'open') return;
    session.reportDtmf(digit);
    this.#digits += digit;
    clearTimeout(this.#dtmfTimer);
    if (digit === '#') this.#flushDigits();
    else this.#dtmfTimer = setTimeout(() => this.#flushDigits(), this.#doors.opts.dtmfFlushMs ?? 2000);
  }

  /** The digits become a user message and the agent answers. */
  #flushDigits(): void {
    const digits = this.#digits;
    this.#digits = '';
    const session = this.#session;
    if (!digits || !session || this.#state !== 'open') return;
    this.log.info({ count: digits.length }, 'dtmf digits to the conversation');
    session.handleClientEvent({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: `[The caller pressed the phone keys: ${digits.split('').join(' ')}]` }] },
    });
    session.handleClientEvent({ type: 'response.create' });
  }

  // ------------------------------------------------------------------ tools

  #tools(): ToolDefinition[] {
    return [
      {
        name: 'end_call',
        description: 'Hang up the phone call. Say goodbye first: the call ends after your goodbye has finished playing.',
        parameters: { type: 'object', properties: { reason: { type: 'string', description: 'Why the call ends (for the log).' } }, additionalProperties: false },
        handler: (args: unknown) => {
          const reason = typeof (args as { reason?: unknown })?.reason === 'string' ? (args as { reason: string }).reason : 'end_call';
          this.#requestEnd(reason);
          return 'The call will end as soon as your goodbye has played. Do not say anything else.';
        },
      },
    ];
  }

  /** end_call: close the stream once the response is done and the goodbye has played (its marks are back). */
  #requestEnd(reason: string): void {
    if (this.#endRequested) return;
    this.#endRequested = true;
    const t0 = Date.now();
    this.log.info({ reason }, 'end_call: closing the stream after the goodbye');
    const check = (): void => {
      if (this.#state === 'closed') return;
      const now = Date.now();
      const quiet = !this.#ledger.responseActive && this.#drained(now) && now - this.#lastActivityMs >= END_CALL_QUIET_MS;
      if (quiet || now - t0 > END_CALL_MAX_WAIT_MS) return this.finish(`end_call: ${reason}`, 'agent_ended');
      setTimeout(check, 100);
    };
    setTimeout(check, 100);
  }
}
