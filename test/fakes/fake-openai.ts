/**
 * A GA-faithful fake of the OpenAI Realtime WebSocket server (docs/protocol.md §1.8–1.13), for tests.
 * It plays the golden sequences of docs/protocol.md §1.10 (connect, VAD turn, audio reply,
 * interruption, tool call), checks every client event against the GA shapes (violations are
 * recorded AND answered with a GA `error`), and rejects beta shapes (`OpenAI-Beta` header or
 * beta session fields → `error` `beta_api_shape_disabled` + close 4000).
 *
 * Its "model" is a small deterministic brain (see `FakeBrain`): by default it answers the user's
 * text, and calls a declared tool when the user's words mention it.
 *
 * Knobs for failure tests: `refuseWith(status)` (HTTP error at upgrade), `dropAll()` (sockets
 * destroyed mid-session: the client sees 1006), `closeAfterTurns` (error `session_expired` then
 * close 1001 after N completed responses). Retries: `refuseWith(status, { headers, times, code, body })`
 * (refuse the next `times` upgrades with these headers, then accept), `upgradeTimes` (when each
 * upgrade came), `resetUpgrades(n)` (a network error at connect), `dropMidResponse(n)` (the next response's socket is destroyed after n audio
 * deltas), `broadcast(ev)` (a server event, e.g. `rate_limits.updated`, to every open connection).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';

export const FAKE_API_KEY = 'sk-fake-test-key-0123456789';

type Json = Record<string, unknown>;

export interface FakeItem {
  id: string;
  type: string;
  role?: string;
  content?: Json[];
  call_id?: string;
  name?: string;
  arguments?: string;
  output?: string;
  status?: string;
  /** Assistant audio generated for this item (ms). */
  audioMs?: number;
}

export type FakeReply = { text: string } | { toolCall: { name: string; arguments: string } };

/** Decides the next response from the conversation (items) and the declared tools. */
export type FakeBrain = (ctx: { items: readonly FakeItem[]; tools: readonly Json[]; instructions: string }) => FakeReply;

const USER_TEXT = (it: FakeItem): string =>
  (it.content ?? []).map((c) => (typeof c['text'] === 'string' ? c['text'] : typeof c['transcript'] === 'string' ? c['transcript'] : '')).join(' ');

/** Default brain: a tool output → speak it; words naming a declared tool → call it; else echo. */
export const defaultBrain: FakeBrain = ({ items, tools }) => {
  const last = items[items.length - 1];
  if (last?.type === 'function_call_output') return { text: `The tool answered: ${last.output ?? ''}` };
  const lastUser = [...items].reverse().find((i) => i.type === 'message' && i.role === 'user');
  const said = lastUser ? USER_TEXT(lastUser).toLowerCase() : '';
  for (const t of tools) {
    const name = typeof t['name'] === 'string' ? t['name'] : '';
    const keywords = name.split('_').filter((w) => w !== 'get' && w.length > 2);
    if (t['type'] === 'function' && keywords.some((k) => said.includes(k))) {
      return { toolCall: { name, arguments: name === 'get_current_time' ? '{"timezone":"UTC"}' : '{}' } };
    }
  }
  return { text: said ? `You said: ${said}` : 'Hello, how can I help?' };
};

export interface FakeOpenAIOptions {
  apiKey?: string;
  brain?: FakeBrain;
  /** Transcript the fake "hears" for the Nth committed user audio (default: 'what time is it'). */
  transcribe?: (turn: number) => string;
  /** Assistant audio per reply (ms; default 600) and per delta (ms; default 100). */
  replyAudioMs?: number;
  /**
   * What the fake says when the session's output is audio/pcmu: these μ-law 8 kHz bytes (e.g. recorded
   * speech), in deltas of `deltaMs`, instead of `replyAudioMs` of a constant filler. Other formats keep the filler.
   */
  replyMulaw?: Buffer;
  deltaMs?: number;
  /** Wall-clock pause between deltas (ms; default 2): faster than real time, like OpenAI. */
  deltaIntervalMs?: number;
  /** VAD: silence that ends a turn (ms of appended audio; default 200). */
  silenceMs?: number;
  /**
   * Responses the fake starts on its own (VAD turns) become active at once but emit their events
   * this much later (default 0): a client response.create in between collides
   * (`conversation_already_has_active_response`), as it can with OpenAI.
   */
  autoResponseDelayMs?: number;
}

export interface RefuseOptions {
  /** Headers added to the refusal (e.g. `{ 'Retry-After': '0.2' }`). */
  headers?: Record<string, string>;
  /** Refuse only the next n upgrades, then accept. */
  times?: number;
  /** The error code in the body (default: by status). */
  code?: string;
  /** The whole JSON body instead of the default error. */
  body?: Json;
}

interface Conn {
  ws: WebSocket;
  headers: IncomingMessage['headers'];
  url: string;
  received: Json[];
  session: Json;
  items: FakeItem[];
  audioBufferMs: number;
  speaking: boolean;
  silenceRunMs: number;
  speechStartMs: number;
  totalAudioMs: number;
  turn: number;
  active: { id: string; cancel: (reason: string) => void } | null;
  completedResponses: number;
  timers: Set<NodeJS.Timeout>;
}

let idCounter = 0;
const nid = (p: string): string => `${p}_${(++idCounter).toString(36).padStart(6, '0')}fake`;

const BETA_FIELDS = ['modalities', 'voice', 'input_audio_format', 'output_audio_format', 'turn_detection', 'input_audio_transcription', 'temperature', 'max_response_output_tokens'];
const GA_CLIENT_TYPES = new Set([
  'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear',
  'output_audio_buffer.clear', 'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate',
  'conversation.item.delete', 'response.create', 'response.cancel',
]);
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function bytesPerMs(format: unknown): number {
  const t = (format as Json | undefined)?.['type'];
  return t === 'audio/pcmu' || t === 'audio/pcma' ? 8 : 48;
}

export class FakeOpenAI {
  readonly apiKey: string;
  readonly #opts: Required<Omit<FakeOpenAIOptions, 'apiKey'>>;
  #server: Server | null = null;
  #wss: WebSocketServer | null = null;
  readonly connections: Conn[] = [];
  /** Every GA violation seen in client events (should stay empty in a good test). */
  readonly violations: string[] = [];
  /** Upgrade attempts (including refused ones). */
  upgrades = 0;
  /** performance.now() of each upgrade attempt (including refused ones). */
  readonly upgradeTimes: number[] = [];
  #refuse: number | null = null;
  #refuseOpts: RefuseOptions = {};
  /** Refusals left before upgrades are accepted again (null: until refuseWith(null)). */
  #refuseLeft: number | null = null;
  /** Upgrades left whose TCP socket is destroyed without an answer (a network error at connect). */
  #resetLeft = 0;
  /** The next response's socket is destroyed after this many audio deltas (one-shot). */
  #dropAfterDeltas: number | null = null;
  /** After this many completed responses on a connection: error session_expired, close 1001. */
  closeAfterTurns: number | null = null;
  brain: FakeBrain;

  constructor(opts: FakeOpenAIOptions = {}) {
    this.apiKey = opts.apiKey ?? FAKE_API_KEY;
    this.brain = opts.brain ?? defaultBrain;
    this.#opts = {
      brain: this.brain,
      transcribe: opts.transcribe ?? (() => 'what time is it'),
      replyAudioMs: opts.replyAudioMs ?? 600,
      deltaMs: opts.deltaMs ?? 100,
      deltaIntervalMs: opts.deltaIntervalMs ?? 2,
      silenceMs: opts.silenceMs ?? 200,
      autoResponseDelayMs: opts.autoResponseDelayMs ?? 0,
      replyMulaw: opts.replyMulaw ?? Buffer.alloc(0),
    };
  }

  /** Base URL to give Parley as OPENAI_BASE_URL. */
  get baseUrl(): string {
    const a = this.#server?.address() as AddressInfo | null;
    if (!a) throw new Error('fake not started');
    return `http://127.0.0.1:${a.port}/v1`;
  }

  /** Open connections (not yet closed). */
  get open(): number {
    return this.connections.filter((c) => c.ws.readyState === WebSocket.OPEN).length;
  }

  /**
   * Refuse upgrades with this HTTP status (null: accept again). `headers` are added to the answer
   * (e.g. `Retry-After`), `code`/`body` replace the error code/body, `times` refuses only the next
   * n upgrades.
   */
  refuseWith(status: number | null, opts: RefuseOptions = {}): void {
    this.#refuse = status;
    this.#refuseOpts = opts;
    this.#refuseLeft = opts.times ?? null;
  }

  /** The next n upgrades get no answer: their TCP socket is reset (the client sees a network error). */
  resetUpgrades(n: number): void {
    this.#resetLeft = n;
  }

  /** True while upgrades are refused (refuseWith). */
  get refusing(): boolean {
    return this.#refuse !== null;
  }

  /** Destroy the socket of the next response (no close frame: 1006) after `afterDeltas` audio deltas. */
  dropMidResponse(afterDeltas = 1): void {
    this.#dropAfterDeltas = afterDeltas;
  }

  /** Send a server event (e.g. `rate_limits.updated`) on every open connection. */
  broadcast(ev: Json): void {
    for (const c of this.connections) this.#send(c, ev);
  }

  /** Destroy every socket without a close frame (the client sees 1006). */
  dropAll(): void {
    for (const c of this.connections) {
      this.#clearTimers(c);
      (c.ws as unknown as { _socket?: { destroy(): void } })._socket?.destroy();
    }
  }

  /** Close every connection cleanly with this code and reason (e.g. 1000, 'bye'). */
  closeAll(code: number, reason: string): void {
    for (const c of this.connections) {
      this.#clearTimers(c);
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
    }
  }

  received(type?: string): Json[] {
    const all = this.connections.flatMap((c) => c.received);
    return type ? all.filter((e) => e['type'] === type) : all;
  }

  async start(): Promise<this> {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 32 * 1024 * 1024 });
    this.#wss = wss;
    const server = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) {
      this.#clearTimers(c);
      c.ws.terminate();
    }
    this.#wss?.close();
    const s = this.#server;
    this.#server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  #httpError(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}, bodyJson?: Json): void {
    const body = JSON.stringify(bodyJson ?? { error: { type: status === 401 ? 'invalid_request_error' : 'server_error', code, message, param: null } });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgrades++;
    this.upgradeTimes.push(performance.now());
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/v1/realtime') return this.#httpError(socket, 404, 'not_found', 'no such path');
    if (this.#resetLeft > 0) {
      this.#resetLeft--;
      socket.destroy();
      return;
    }
    if (this.#refuse !== null) {
      const status = this.#refuse;
      const o = this.#refuseOpts;
      if (this.#refuseLeft !== null && --this.#refuseLeft <= 0) this.#refuse = null;
      const code = o.code ?? (status === 429 ? 'rate_limit_exceeded' : status === 401 ? 'invalid_api_key' : 'server_error');
      return this.#httpError(socket, status, code, 'refused by the fake (knob)', o.headers, o.body);
    }
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return this.#httpError(socket, 401, 'invalid_api_key', 'Incorrect API key provided.');
    if (!url.searchParams.get('model')) return this.#httpError(socket, 400, 'missing_model', 'model is required');
    this.#wss!.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req, url));
  }

  #onConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const c: Conn = {
      ws,
      headers: req.headers,
      url: url.toString(),
      received: [],
      session: {
        type: 'realtime',
        object: 'realtime.session',
        id: nid('sess'),
        model: url.searchParams.get('model'),
        instructions: 'default upstream instructions',
        output_modalities: ['audio'],
        audio: {
          input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, noise_reduction: null, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500, create_response: true, interrupt_response: true } },
          output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
        },
        tools: [],
        tool_choice: 'auto',
        max_output_tokens: 'inf',
      },
      items: [],
      audioBufferMs: 0,
      speaking: false,
      silenceRunMs: 0,
      speechStartMs: 0,
      totalAudioMs: 0,
      turn: 0,
      active: null,
      completedResponses: 0,
      timers: new Set(),
    };
    this.connections.push(c);
    ws.on('close', () => this.#clearTimers(c));
    ws.on('error', () => undefined);
    if (req.headers['openai-beta'] !== undefined) {
      this.#betaReject(c, 'The OpenAI-Beta header was sent.');
      return;
    }
    this.#send(c, { type: 'session.created', session: c.session });
    this.#send(c, { type: 'conversation.created', conversation: { id: nid('conv'), object: 'realtime.conversation' } });
    ws.on('message', (data, isBinary) => this.#onMessage(c, isBinary ? null : data.toString()));
  }

  #betaReject(c: Conn, why: string): void {
    this.violations.push(`beta shape: ${why}`);
    this.#send(c, { type: 'error', error: { type: 'invalid_request_error', code: 'beta_api_shape_disabled', message: 'The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.', param: null, event_id: null } });
    c.ws.close(4000, 'beta_api_shape_disabled');
  }

  #send(c: Conn, ev: Json): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    // `type` first, like OpenAI (Parley's fast path relies on it only as an optimisation)
    const { type, ...rest } = ev;
    c.ws.send(JSON.stringify({ type, event_id: nid('event'), ...rest }));
  }

  #error(c: Conn, code: string, message: string, param: string | null, eventId: unknown): void {
    this.#send(c, { type: 'error', error: { type: 'invalid_request_error', code, message, param, event_id: typeof eventId === 'string' ? eventId : null } });
  }

  #violation(c: Conn, ev: Json | null, what: string, param: string | null): void {
    this.violations.push(what);
    this.#error(c, 'invalid_value', what, param, ev?.['event_id']);
  }

  #timer(c: Conn, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      c.timers.delete(t);
      fn();
    }, ms);
    c.timers.add(t);
  }

  #clearTimers(c: Conn): void {
    for (const t of c.timers) clearTimeout(t);
    c.timers.clear();
  }

  #onMessage(c: Conn, raw: string | null): void {
    if (raw === null) return this.#violation(c, null, 'binary frame', null);
    let ev: Json;
    try {
      ev = JSON.parse(raw) as Json;
    } catch {
      this.violations.push('invalid JSON');
      return this.#error(c, 'invalid_json', 'invalid JSON', null, null);
    }
    c.received.push(ev);
    const type = ev['type'];
    if (typeof type !== 'string' || !GA_CLIENT_TYPES.has(type)) return this.#violation(c, ev, `unknown client event type ${String(type)}`, 'type');
    if (ev['event_id'] !== undefined && typeof ev['event_id'] !== 'string') return this.#violation(c, ev, 'event_id not a string', 'event_id');
    switch (type) {
      case 'session.update':
        return this.#sessionUpdate(c, ev);
      case 'input_audio_buffer.append':
        return this.#append(c, ev);
      case 'input_audio_buffer.commit':
        if (c.audioBufferMs <= 0) return this.#error(c, 'input_audio_buffer_commit_empty', 'buffer too small', null, ev['event_id']);
        return this.#commit(c, false);
      case 'input_audio_buffer.clear':
        c.audioBufferMs = 0;
        return this.#send(c, { type: 'input_audio_buffer.cleared' });
      case 'output_audio_buffer.clear':
        return this.#error(c, 'invalid_request', 'output_audio_buffer.clear is only for WebRTC/SIP sessions', null, ev['event_id']);
      case 'conversation.item.create':
        return this.#itemCreate(c, ev);
      case 'conversation.item.retrieve':
      case 'conversation.item.delete': {
        const id = ev['item_id'];
        if (typeof id !== 'string') return this.#violation(c, ev, `${type} without item_id`, 'item_id');
        const idx = c.items.findIndex((i) => i.id === id);
        if (idx < 0) return this.#error(c, 'item_not_found', `Item ${id} not found`, 'item_id', ev['event_id']);
        if (type === 'conversation.item.delete') {
          c.items.splice(idx, 1);
          return this.#send(c, { type: 'conversation.item.deleted', item_id: id });
        }
        return this.#send(c, { type: 'conversation.item.retrieved', item: c.items[idx] });
      }
      case 'conversation.item.truncate':
        return this.#truncate(c, ev);
      case 'response.create':
        return this.#responseCreate(c, ev);
      case 'response.cancel':
        if (!c.active) return this.#error(c, 'response_cancel_not_active', 'Cancellation failed: no active response found.', null, ev['event_id']);
        return c.active.cancel('client_cancelled');
      default:
        return undefined;
    }
  }

  #sessionUpdate(c: Conn, ev: Json): void {
    const s = ev['session'];
    if (typeof s !== 'object' || s === null) return this.#violation(c, ev, 'session.update without session', 'session');
    const sess = s as Json;
    for (const f of BETA_FIELDS) if (f in sess) return this.#betaReject(c, `session.${f}`);
    if (sess['type'] !== 'realtime') return this.#violation(c, ev, "session.type must be 'realtime'", 'session.type');
    const audio = sess['audio'] as Json | undefined;
    for (const dir of ['input', 'output']) {
      const fmt = (audio?.[dir] as Json | undefined)?.['format'];
      if (fmt !== undefined && (typeof fmt !== 'object' || fmt === null)) return this.#betaReject(c, `session.audio.${dir}.format is not an object`);
      if (fmt && (fmt as Json)['type'] === 'audio/pcm' && (fmt as Json)['rate'] !== undefined && (fmt as Json)['rate'] !== 24000) {
        return this.#violation(c, ev, 'audio/pcm supports 24000 Hz only', `session.audio.${dir}.format.rate`);
      }
    }
    if (sess['model'] !== undefined && sess['model'] !== c.session['model']) return this.#error(c, 'invalid_value', 'model cannot be changed after connect', 'session.model', ev['event_id']);
    const merged: Json = { ...c.session, ...sess };
    if (audio) {
      const base = c.session['audio'] as Json;
      merged['audio'] = {
        input: { ...(base['input'] as Json), ...((audio['input'] as Json | undefined) ?? {}) },
        output: { ...(base['output'] as Json), ...((audio['output'] as Json | undefined) ?? {}) },
      };
    }
    c.session = merged;
    this.#send(c, { type: 'session.updated', session: c.session });
  }

  #inputFormatBpm(c: Conn): number {
    return bytesPerMs((((c.session['audio'] as Json)['input'] as Json)['format']));
  }

  #append(c: Conn, ev: Json): void {
    const audio = ev['audio'];
    if (typeof audio !== 'string' || !B64_RE.test(audio)) return this.#violation(c, ev, 'append with invalid base64 audio', 'audio');
    const bytes = Buffer.from(audio, 'base64');
    const bpm = this.#inputFormatBpm(c);
    const ms = bytes.length / bpm;
    // energy "VAD": pcm16 samples with |x| > 1000 (or any μ-law byte other than silence) are speech
    let loud = false;
    if (bpm === 48) {
      for (let i = 0; i + 1 < bytes.length; i += 2) if (Math.abs(bytes.readInt16LE(i)) > 1000) { loud = true; break; }
    } else {
      for (const b of bytes) if (b !== 0xff && b !== 0x7f && b !== 0xd5 && b !== 0x55) { loud = true; break; }
    }
    c.audioBufferMs += ms;
    c.totalAudioMs += ms;
    const td = ((c.session['audio'] as Json)['input'] as Json)['turn_detection'] as Json | null;
    if (!td) return;
    if (loud) {
      c.silenceRunMs = 0;
      if (!c.speaking) {
        c.speaking = true;
        c.speechStartMs = Math.max(0, c.totalAudioMs - ms);
        const itemId = nid('item');
        (c as Conn & { pendingItem?: string }).pendingItem = itemId;
        this.#send(c, { type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(c.speechStartMs), item_id: itemId });
        if (c.active && td['interrupt_response'] !== false) c.active.cancel('turn_detected');
      }
    } else if (c.speaking) {
      c.silenceRunMs += ms;
      if (c.silenceRunMs >= this.#opts.silenceMs) {
        c.speaking = false;
        const itemId = (c as Conn & { pendingItem?: string }).pendingItem ?? nid('item');
        this.#send(c, { type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(c.totalAudioMs - c.silenceRunMs), item_id: itemId });
        this.#commit(c, td['create_response'] !== false, itemId);
      }
    }
  }

  #commit(c: Conn, respond: boolean, itemId = nid('item')): void {
    const previous = c.items[c.items.length - 1]?.id ?? null;
    c.audioBufferMs = 0;
    const turn = c.turn++;
    const transcript = this.#opts.transcribe(turn);
    const item: FakeItem = { id: itemId, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_audio', transcript: null }] };
    c.items.push(item);
    this.#send(c, { type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: itemId });
    this.#send(c, { type: 'conversation.item.added', previous_item_id: previous, item: { ...item, object: 'realtime.item', status: 'in_progress' } });
    item.content = [{ type: 'input_audio', transcript }];
    const transcription = ((c.session['audio'] as Json)['input'] as Json)['transcription'];
    if (transcription) {
      this.#send(c, { type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: transcript });
      this.#send(c, { type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript, usage: { type: 'duration', seconds: 1 } });
    }
    this.#send(c, { type: 'conversation.item.done', previous_item_id: previous, item: { ...item, object: 'realtime.item' } });
    if (!respond) return;
    const delay = this.#opts.autoResponseDelayMs;
    if (delay <= 0) return this.#startResponse(c, null, null);
    c.active = { id: 'resp_pending', cancel: () => undefined };
    this.#timer(c, delay, () => {
      c.active = null;
      this.#startResponse(c, null, null);
    });
  }

  #itemCreate(c: Conn, ev: Json): void {
    const item = ev['item'] as Json | undefined;
    if (!item || typeof item !== 'object') return this.#violation(c, ev, 'item.create without item', 'item');
    const type = item['type'];
    if (type === 'message') {
      const role = item['role'];
      if (role !== 'user' && role !== 'assistant' && role !== 'system') return this.#violation(c, ev, 'bad role', 'item.role');
      const content = item['content'];
      if (!Array.isArray(content)) return this.#violation(c, ev, 'message without content', 'item.content');
      for (const p of content as Json[]) {
        const pt = p['type'];
        const ok = role === 'assistant' ? pt === 'output_text' : pt === 'input_text' || pt === 'input_audio' || pt === 'input_image';
        if (!ok) return this.#violation(c, ev, `content type ${String(pt)} not allowed for role ${role} (GA)`, 'item.content');
      }
    } else if (type === 'function_call_output') {
      if (typeof item['call_id'] !== 'string' || typeof item['output'] !== 'string') return this.#violation(c, ev, 'function_call_output needs call_id and string output', 'item');
    } else if (type === 'function_call') {
      if (typeof item['call_id'] !== 'string' || typeof item['name'] !== 'string' || typeof item['arguments'] !== 'string') return this.#violation(c, ev, 'function_call needs call_id, name, arguments', 'item');
    } else {
      return this.#violation(c, ev, `unsupported item type ${String(type)}`, 'item.type');
    }
    const id = typeof item['id'] === 'string' ? item['id'] : nid('item');
    if (id.length > 32) return this.#violation(c, ev, 'item id longer than 32 characters', 'item.id');
    const stored: FakeItem = { ...(item as unknown as FakeItem), id, status: 'completed' };
    const previous = c.items[c.items.length - 1]?.id ?? null;
    c.items.push(stored);
    this.#send(c, { type: 'conversation.item.added', previous_item_id: previous, item: { ...stored, object: 'realtime.item' } });
    this.#send(c, { type: 'conversation.item.done', previous_item_id: previous, item: { ...stored, object: 'realtime.item' } });
  }

  #truncate(c: Conn, ev: Json): void {
    const id = ev['item_id'];
    const ci = ev['content_index'];
    const end = ev['audio_end_ms'];
    if (typeof id !== 'string' || typeof ci !== 'number' || typeof end !== 'number') return this.#violation(c, ev, 'truncate needs item_id, content_index, audio_end_ms', 'item_id');
    const item = c.items.find((i) => i.id === id);
    if (!item || item.role !== 'assistant') return this.#error(c, 'invalid_value', 'Only assistant messages can be truncated', 'item_id', ev['event_id']);
    if (end > (item.audioMs ?? 0)) return this.#error(c, 'invalid_value', `Audio content of ${item.audioMs ?? 0}ms is already shorter than ${end}ms`, 'audio_end_ms', ev['event_id']);
    item.audioMs = end;
    this.#send(c, { type: 'conversation.item.truncated', item_id: id, content_index: ci, audio_end_ms: end });
  }

  #responseCreate(c: Conn, ev: Json): void {
    const r = ev['response'] as Json | undefined;
    if (r !== undefined && (typeof r !== 'object' || r === null)) return this.#violation(c, ev, 'response must be an object', 'response');
    if (r && ('modalities' in r || 'voice' in r)) return this.#betaReject(c, 'response.modalities/voice');
    if (c.active && r?.['conversation'] !== 'none') {
      return this.#error(c, 'conversation_already_has_active_response', `Conversation already has an active response in progress: ${c.active.id}. Wait until the response is finished before creating a new one.`, null, ev['event_id']);
    }
    this.#startResponse(c, r ?? null, ev);
  }

  #startResponse(c: Conn, overrides: Json | null, _ev: Json | null): void {
    if (c.active) return;
    const responseId = nid('resp');
    const tools = (overrides?.['tools'] as Json[] | undefined) ?? ((c.session['tools'] as Json[] | undefined) ?? []);
    const reply = this.brain({ items: c.items, tools, instructions: String(c.session['instructions'] ?? '') });
    const outFmt = ((c.session['audio'] as Json)['output'] as Json)['format'];
    const bpm = bytesPerMs(outFmt);
    const base = { object: 'realtime.response', conversation_id: 'conv_fake', output_modalities: ['audio'], max_output_tokens: c.session['max_output_tokens'] ?? 'inf', audio: { output: { format: outFmt, voice: ((c.session['audio'] as Json)['output'] as Json)['voice'] } } };
    this.#send(c, { type: 'response.created', response: { id: responseId, ...base, status: 'in_progress', status_details: null, output: [], usage: null } });
    const previous = (): string | null => c.items[c.items.length - 1]?.id ?? null;
    let cancelled: string | null = null;
    const outputItems: FakeItem[] = [];
    const done = (status: string, reason: string | null): void => {
      c.active = null;
      this.#send(c, {
        type: 'response.done',
        response: {
          id: responseId, ...base, status,
          status_details: reason ? { type: status, reason } : null,
          output: outputItems.map((i) => ({ ...i, object: 'realtime.item' })),
          usage: { total_tokens: 10, input_tokens: 5, output_tokens: 5, input_token_details: { text_tokens: 5, audio_tokens: 0, cached_tokens: 0 }, output_token_details: { text_tokens: 5, audio_tokens: 0 } },
        },
      });
      if (status === 'completed') {
        c.completedResponses++;
        if (this.closeAfterTurns !== null && c.completedResponses >= this.closeAfterTurns) {
          this.#send(c, { type: 'error', error: { type: 'invalid_request_error', code: 'session_expired', message: 'Your session hit the maximum duration of 60 minutes.', param: null, event_id: null } });
          c.ws.close(1001, 'Your session hit the maximum duration of 60 minutes.');
        }
      }
    };

    if ('toolCall' in reply) {
      const callId = nid('call');
      const item: FakeItem = { id: nid('item'), type: 'function_call', status: 'in_progress', name: reply.toolCall.name, call_id: callId, arguments: '' };
      const prev = previous();
      c.items.push(item);
      outputItems.push(item);
      c.active = { id: responseId, cancel: () => undefined };
      this.#send(c, { type: 'response.output_item.added', response_id: responseId, output_index: 0, item: { ...item, object: 'realtime.item' } });
      this.#send(c, { type: 'conversation.item.added', previous_item_id: prev, item: { ...item, object: 'realtime.item' } });
      this.#send(c, { type: 'response.function_call_arguments.delta', response_id: responseId, item_id: item.id, output_index: 0, call_id: callId, delta: reply.toolCall.arguments });
      this.#send(c, { type: 'response.function_call_arguments.done', response_id: responseId, item_id: item.id, output_index: 0, call_id: callId, name: reply.toolCall.name, arguments: reply.toolCall.arguments });
      item.arguments = reply.toolCall.arguments;
      item.status = 'completed';
      this.#send(c, { type: 'response.output_item.done', response_id: responseId, output_index: 0, item: { ...item, object: 'realtime.item' } });
      this.#send(c, { type: 'conversation.item.done', previous_item_id: prev, item: { ...item, object: 'realtime.item' } });
      // like OpenAI, response.done comes a moment later
      this.#timer(c, 5, () => done('completed', null));
      return;
    }

    const text = reply.text;
    const item: FakeItem = { id: nid('item'), type: 'message', role: 'assistant', status: 'in_progress', content: [{ type: 'output_audio', transcript: '' }], audioMs: 0 };
    const prev = previous();
    c.items.push(item);
    outputItems.push(item);
    this.#send(c, { type: 'response.output_item.added', response_id: responseId, output_index: 0, item: { ...item, object: 'realtime.item', content: [] } });
    this.#send(c, { type: 'conversation.item.added', previous_item_id: prev, item: { ...item, object: 'realtime.item', content: [] } });
    this.#send(c, { type: 'response.content_part.added', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, part: { type: 'audio', transcript: '' } });
    const words = text.split(' ');
    const chunkBytes = Math.round(this.#opts.deltaMs * bpm);
    const speech = bpm === 8 && (outFmt as Json | undefined)?.['type'] === 'audio/pcmu' && this.#opts.replyMulaw.length > 0 ? this.#opts.replyMulaw : null;
    const chunks = speech ? Math.ceil(speech.length / chunkBytes) : Math.max(1, Math.round(this.#opts.replyAudioMs / this.#opts.deltaMs));
    const pcm = Buffer.alloc(chunkBytes);
    for (let i = 0; i + 1 < chunkBytes && bpm === 48; i += 2) pcm.writeInt16LE(Math.round(3000 * Math.sin(i / 10)), i);
    if (bpm === 8) pcm.fill(0x55);
    const filler = pcm.toString('base64');
    let sentTranscript = '';
    let i = 0;
    const finish = (status: string, reason: string | null): void => {
      item.status = status === 'completed' ? 'completed' : 'incomplete';
      item.content = [{ type: 'output_audio', transcript: sentTranscript }];
      this.#send(c, { type: 'response.output_audio.done', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0 });
      this.#send(c, { type: 'response.output_audio_transcript.done', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, transcript: sentTranscript });
      this.#send(c, { type: 'response.content_part.done', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, part: { type: 'audio', transcript: sentTranscript } });
      this.#send(c, { type: 'response.output_item.done', response_id: responseId, output_index: 0, item: { ...item, object: 'realtime.item' } });
      this.#send(c, { type: 'conversation.item.done', previous_item_id: prev, item: { ...item, object: 'realtime.item' } });
      done(status, reason);
    };
    const step = (): void => {
      if (cancelled !== null) return;
      if (i >= chunks) return finish('completed', null);
      const w = words.slice(Math.floor((i * words.length) / chunks), Math.floor(((i + 1) * words.length) / chunks)).join(' ');
      if (w) {
        const d = (sentTranscript ? ' ' : '') + w;
        sentTranscript += d;
        this.#send(c, { type: 'response.output_audio_transcript.delta', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, delta: d });
      }
      const delta = speech ? speech.subarray(i * chunkBytes, (i + 1) * chunkBytes).toString('base64') : filler;
      this.#send(c, { type: 'response.output_audio.delta', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, delta });
      item.audioMs = (item.audioMs ?? 0) + (speech ? Math.min(chunkBytes, speech.length - i * chunkBytes) / bpm : this.#opts.deltaMs);
      i++;
      if (this.#dropAfterDeltas !== null && i >= this.#dropAfterDeltas) {
        // the upstream vanishes mid-response: no close frame (the client sees 1006)
        this.#dropAfterDeltas = null;
        this.#clearTimers(c);
        (c.ws as unknown as { _socket?: { destroy(): void } })._socket?.destroy();
        return;
      }
      this.#timer(c, this.#opts.deltaIntervalMs, step);
    };
    c.active = {
      id: responseId,
      cancel: (reason: string) => {
        if (cancelled !== null) return;
        cancelled = reason;
        finish('cancelled', reason);
      },
    };
    step();
  }
}

/** A loud 24 kHz pcm16 chunk (speech for the fake's VAD) and a silent one, base64. */
export function pcmChunkB64(ms: number, loud: boolean): string {
  const samples = Math.round(24 * ms);
  const buf = Buffer.alloc(samples * 2);
  if (loud) for (let i = 0; i < samples; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 24000)), i * 2);
  return buf.toString('base64');
}
