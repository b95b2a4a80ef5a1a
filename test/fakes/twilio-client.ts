/**
 * A carrier's side of a media stream, written from the carriers' published message formats (Twilio Media Streams
 * "WebSocket messages", Telnyx "Media Streaming over WebSockets"; docs/notes/media-streams.md quotes both). It
 * plays the part Twilio or Telnyx plays on a real call:
 *
 * - opens the WebSocket (optionally with headers: X-Twilio-Signature, Authorization), sends `connected` and `start`;
 * - streams caller audio as 20 ms base64 μ-law `media` frames (real time, or as fast as asked), `dtmf`, `stop`;
 * - plays the agent's audio the way the carrier does: `media` payloads queue up and play at real time; a `mark`
 *   is echoed when the audio queued before it has played; `clear` drops the queued audio and echoes every mark
 *   still queued (both carriers document this);
 * - checks what Parley sends against the formats (only media / mark / clear; Twilio's carry the streamSid).
 */
import WebSocket from 'ws';
import { mulawDecode, mulawEncode, resampleWhole } from '../../audio/index.ts';

export type CarrierDialect = 'twilio' | 'telnyx';

export interface StartOptions {
  streamId?: string;
  callId?: string;
  from?: string;
  to?: string;
  /** Custom parameters (Twilio `<Parameter>`s, Telnyx custom_parameters). */
  params?: Record<string, string>;
  encoding?: string;
  sampleRateHz?: number;
}

export interface ReceivedMessage {
  atMs: number;
  msg: Record<string, unknown>;
}

const FRAME_BYTES = 160; // 20 ms of 8 kHz μ-law

export class CarrierClient {
  readonly dialect: CarrierDialect;
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string; atMs: number }>;
  /** Every message Parley sent, as parsed. */
  readonly received: ReceivedMessage[] = [];
  /** What Parley sent that breaks the carrier's format. */
  readonly protocolErrors: string[] = [];
  /** The agent audio as the caller heard it (played out at real time), μ-law bytes. */
  readonly heard: number[] = [];
  /** Marks echoed back: name and when. */
  readonly echoed: Array<{ name: string; atMs: number; byClear: boolean }> = [];
  /** When each `clear` arrived, and how much agent audio had played by then (ms). */
  readonly clears: number[] = [];
  readonly heardAtClearMs: number[] = [];
  /** Agent audio queued and not played when each `clear` came (ms): what the clear dropped. */
  readonly droppedAtClearMs: number[] = [];
  streamId = '';
  #seq = 0;
  #chunk = 0;
  #mediaTsMs = 0;
  /** The playout queue: audio bytes and marks, in the order Parley sent them. */
  readonly #queue: Array<{ audio: Uint8Array; off: number } | { mark: string }> = [];
  #playTimer: NodeJS.Timeout | undefined;
  #lastTickMs = 0;
  #credit = 0;
  #playSpeed: number;
  closedInfo: { code: number; reason: string; atMs: number } | null = null;

  /** `playSpeed`: how fast the agent audio plays (1 = real time, as the carrier does). */
  constructor(url: string, dialect: CarrierDialect, opts: { headers?: Record<string, string>; playSpeed?: number } = {}) {
    this.dialect = dialect;
    this.#playSpeed = opts.playSpeed ?? 1;
    this.ws = new WebSocket(url, { headers: opts.headers ?? {}, perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        clearInterval(this.#playTimer);
        this.closedInfo = { code, reason: reason.toString(), atMs: Date.now() };
        resolve(this.closedInfo);
      }),
    );
    this.ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
  }

  // ------------------------------------------------------------------ carrier → Parley

  #send(m: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  connected(): void {
    this.#send(this.dialect === 'twilio' ? { event: 'connected', protocol: 'Call', version: '1.0.0' } : { event: 'connected', version: '1.0.0' });
  }

  start(o: StartOptions = {}): void {
    const rnd = (): string => Math.random().toString(16).slice(2, 10);
    if (this.dialect === 'twilio') {
      this.streamId = o.streamId ?? `MZ${rnd()}${rnd()}${rnd()}${rnd()}`;
      const callSid = o.callId ?? `CA${rnd()}${rnd()}${rnd()}${rnd()}`;
      this.#send({
        event: 'start',
        sequenceNumber: String(++this.#seq),
        start: {
          accountSid: 'AC00000000000000000000000000000000',
          streamSid: this.streamId,
          callSid,
          tracks: ['inbound'],
          customParameters: o.params ?? {},
          mediaFormat: { encoding: o.encoding ?? 'audio/x-mulaw', sampleRate: o.sampleRateHz ?? 8000, channels: 1 },
        },
        streamSid: this.streamId,
      });
    } else {
      this.streamId = o.streamId ?? `32de0dea-${rnd()}`;
      this.#send({
        event: 'start',
        sequence_number: String(++this.#seq),
        start: {
          user_id: '3e6f995f-85f7-4705-9741-53b116d28237',
          call_control_id: o.callId ?? `v3:${rnd()}${rnd()}`,
          call_session_id: `ff55a038-${rnd()}`,
          from: o.from ?? '+13122010094',
          to: o.to ?? '+13122123456',
          client_state: 'aGF2ZSBhIG5pY2UgZGF5ID1d',
          ...(o.params ? { custom_parameters: o.params } : {}),
          media_format: { encoding: o.encoding ?? 'PCMU', sample_rate: o.sampleRateHz ?? 8000, channels: 1 },
        },
        stream_id: this.streamId,
      });
    }
  }

  /** One media frame of μ-law bytes. */
  media(mulaw: Uint8Array): void {
    const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString('base64');
    const ts = this.#mediaTsMs;
    this.#mediaTsMs += mulaw.byteLength / 8;
    const media = { track: 'inbound', chunk: String(++this.#chunk), timestamp: String(ts), payload };
    // the field order the carriers' own examples show
    this.#send(this.dialect === 'twilio' ? { event: 'media', sequenceNumber: String(++this.#seq), media, streamSid: this.streamId } : { event: 'media', sequence_number: String(++this.#seq), media, stream_id: this.streamId });
  }

  /** Speech (16 kHz pcm16) as 20 ms μ-law frames, followed by `silenceMs` of silence; real time unless `speed` > 1. */
  async speak(pcm16k: Int16Array, opts: { silenceMs?: number; speed?: number } = {}): Promise<void> {
    const pcm8k = resampleWhole(pcm16k, 16_000, 8_000);
    const mulaw = mulawEncode(pcm8k);
    const silence = new Uint8Array(Math.round((opts.silenceMs ?? 0) * 8)).fill(0xff);
    const all = new Uint8Array(mulaw.length + silence.length);
    all.set(mulaw);
    all.set(silence, mulaw.length);
    await this.#sendPaced(all, opts.speed ?? 1);
  }

  async silence(ms: number, speed = 1): Promise<void> {
    await this.#sendPaced(new Uint8Array(Math.round(ms * 8)).fill(0xff), speed);
  }

  /** 20 ms frames on a deadline clock (not setInterval drift). */
  async #sendPaced(bytes: Uint8Array, speed: number): Promise<void> {
    const t0 = performance.now();
    let sent = 0;
    for (let off = 0; off < bytes.length; off += FRAME_BYTES) {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      this.media(bytes.subarray(off, Math.min(bytes.length, off + FRAME_BYTES)));
      sent++;
      const due = t0 + (sent * 20) / speed;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
  }

  dtmf(digit: string): void {
    this.#seq++;
    if (this.dialect === 'twilio') this.#send({ event: 'dtmf', streamSid: this.streamId, sequenceNumber: String(this.#seq), dtmf: { track: 'inbound_track', digit } });
    else this.#send({ event: 'dtmf', stream_id: this.streamId, occurred_at: new Date().toISOString(), sequence_number: String(this.#seq), dtmf: { digit } });
  }

  stop(): void {
    this.#seq++;
    if (this.dialect === 'twilio') this.#send({ event: 'stop', sequenceNumber: String(this.#seq), streamSid: this.streamId, stop: { accountSid: 'AC00000000000000000000000000000000', callSid: 'CA' } });
    else this.#send({ event: 'stop', sequence_number: String(this.#seq), stop: { user_id: 'u', call_control_id: 'c' }, stream_id: this.streamId });
  }

  sendRaw(data: string | Buffer, binary = false): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  close(): void {
    clearInterval(this.#playTimer);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  // ------------------------------------------------------------------ Parley → carrier

  #onMessage(data: Buffer, isBinary: boolean): void {
    const atMs = Date.now();
    if (isBinary) {
      this.protocolErrors.push('binary frame');
      return;
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.protocolErrors.push(`not JSON: ${data.toString('utf8').slice(0, 60)}`);
      return;
    }
    this.received.push({ atMs, msg });
    const event = msg['event'];
    if (this.dialect === 'twilio' && msg['streamSid'] !== this.streamId) this.protocolErrors.push(`${String(event)} without our streamSid`);
    if (event === 'media') {
      const payload = (msg['media'] as { payload?: unknown } | undefined)?.payload;
      if (typeof payload !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0) {
        this.protocolErrors.push('media without a base64 payload');
        return;
      }
      this.#enqueue({ audio: Buffer.from(payload, 'base64'), off: 0 });
    } else if (event === 'mark') {
      const name = (msg['mark'] as { name?: unknown } | undefined)?.name;
      if (typeof name !== 'string') {
        this.protocolErrors.push('mark without a name');
        return;
      }
      this.#enqueue({ mark: name });
    } else if (event === 'clear') {
      this.clears.push(atMs);
      this.heardAtClearMs.push(this.heard.length / 8);
      this.droppedAtClearMs.push(this.queuedMs);
      // the queued audio is dropped; the queued marks come back
      for (const item of this.#queue.splice(0)) if ('mark' in item) this.#echo(item.mark, true);
    } else {
      this.protocolErrors.push(`unexpected event ${String(event)}`);
    }
  }

  #enqueue(item: { audio: Uint8Array; off: number } | { mark: string }): void {
    this.#queue.push(item);
    this.#drainMarks();
    if (this.#playTimer === undefined) {
      this.#lastTickMs = performance.now();
      this.#playTimer = setInterval(() => this.#tick(), 10);
    }
  }

  /** Plays what real time allows since the last tick; echoes each mark whose audio has played. */
  #tick(): void {
    const now = performance.now();
    if (this.#queue.length === 0) {
      this.#lastTickMs = now;
      this.#credit = 0;
      return;
    }
    this.#credit += (now - this.#lastTickMs) * 8 * this.#playSpeed;
    this.#lastTickMs = now;
    let budget = Math.floor(this.#credit);
    this.#credit -= budget;
    while (budget > 0 && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if ('mark' in head) {
        this.#drainMarks();
        continue;
      }
      const take = Math.min(budget, head.audio.length - head.off);
      for (let i = 0; i < take; i++) this.heard.push(head.audio[head.off + i]!);
      head.off += take;
      budget -= take;
      if (head.off >= head.audio.length) this.#queue.shift();
      this.#drainMarks();
    }
  }

  #drainMarks(): void {
    while (this.#queue.length > 0 && 'mark' in this.#queue[0]!) {
      const m = this.#queue.shift() as { mark: string };
      this.#echo(m.mark, false);
    }
  }

  #echo(name: string, byClear: boolean): void {
    this.echoed.push({ name, atMs: Date.now(), byClear });
    this.#seq++;
    this.#send(this.dialect === 'twilio' ? { event: 'mark', sequenceNumber: String(this.#seq), streamSid: this.streamId, mark: { name } } : { event: 'mark', stream_id: this.streamId, sequence_number: String(this.#seq), mark: { name } });
  }

  // ------------------------------------------------------------------ reading what happened

  /** Audio queued and not yet played (ms). */
  get queuedMs(): number {
    let bytes = 0;
    for (const q of this.#queue) if ('audio' in q) bytes += q.audio.length - q.off;
    return bytes / 8;
  }

  of(event: string): ReceivedMessage[] {
    return this.received.filter((r) => r.msg['event'] === event);
  }

  /** Agent audio received (not necessarily played), μ-law bytes concatenated. */
  receivedAudio(fromIndex = 0): Buffer {
    return Buffer.concat(this.received.slice(fromIndex).filter((r) => r.msg['event'] === 'media').map((r) => Buffer.from(String((r.msg['media'] as { payload: string }).payload), 'base64')));
  }

  /** Mean absolute sample value of μ-law audio (0 for digital silence). */
  static level(mulaw: Uint8Array): number {
    if (mulaw.length === 0) return 0;
    const pcm = mulawDecode(mulaw);
    let sum = 0;
    for (const v of pcm) sum += Math.abs(v);
    return sum / pcm.length;
  }
}
