/**
 * The wire edges (the WS door, the `openai` engine's upstream, media-stream doors): typed events ↔ GA
 * JSON. The two hot events (an audio append, an audio delta) are written by hand around the chunk's
 * base64 (no JSON.stringify over the audio); an upstream audio delta is read straight from the
 * received bytes, and a WS client gets the very bytes it came in (no string made, no decode, no
 * encode); its audio is there for anyone in between who wants it (`AudioChunk`).
 * Everything else is JSON.stringify, where an `AudioChunk` writes itself as base64 (`toJSON`).
 *
 * An event read by a byte fast path is an instance of a small class (ReceivedAppend, ReceivedDelta) that
 * holds the message it came in, in a private field: the typed event's own fields are the GA fields, as in a
 * plain object (JSON.stringify, a spread, `in` see just those; a spread copy is a plain object and is
 * serialised). Cheaper than a WeakMap from event to message (measured ≈ 1 µs per event with its GC work).
 */
import { AudioChunk } from './audio.ts';
import { MAX_AUDIO_BASE64_CHARS, MAX_ID_CHARS } from './schema.ts';
import type { ClientEvent, InputAudioBufferAppendEvent, ResponseAudioDeltaEvent, ServerEvent } from './types.ts';

/** A JSON string literal; ids are plain ASCII, so this is usually the fast branch. */
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

const DELTA_TAIL = Buffer.from('"}', 'latin1');
const QUOTE = 0x22;

function deltaHead(ev: ResponseAudioDeltaEvent): string {
  // keep any extra fields a newer upstream added
  let extra = '';
  for (const k in ev) {
    if (k === 'type' || k === 'event_id' || k === 'response_id' || k === 'item_id' || k === 'output_index' || k === 'content_index' || k === 'delta') continue;
    extra += `,${str(k)}:${JSON.stringify(ev[k])}`;
  }
  return `{"type":"response.output_audio.delta","event_id":${str(ev.event_id)},"response_id":${str(ev.response_id)},"item_id":${str(ev.item_id)},"output_index":${ev.output_index},"content_index":${ev.content_index}${extra},"delta":"`;
}

export function serializeServerEvent(ev: ServerEvent): string {
  switch (ev.type) {
    case 'response.output_audio.delta':
      return `${deltaHead(ev)}${ev.delta.base64()}"}`;
    case 'parley.passthrough':
      return JSON.stringify(ev.event);
    default:
      return JSON.stringify(ev);
  }
}

/**
 * The GA JSON of a server event as a WebSocket text payload: an audio delta whose base64 arrived as
 * bytes goes out as bytes around them (send it with `{ binary: false }`); anything else as a string.
 */
export function encodeServerEvent(ev: ServerEvent): string | Buffer {
  if (ev.type === 'response.output_audio.delta') {
    // relayed untouched (nothing on the way changes a delta's JSON): the very bytes it came in
    if (ev instanceof ReceivedDelta) {
      const wire = ev.receivedAs();
      if (wire !== null) return wire;
    }
    const ascii = ev.delta.base64Ascii();
    if (ascii !== null) {
      const head = deltaHead(ev);
      const out = Buffer.allocUnsafe(head.length + ascii.length + 2);
      out.write(head, 0, 'latin1');
      ascii.copy(out, head.length);
      DELTA_TAIL.copy(out, head.length + ascii.length);
      return out;
    }
  }
  return serializeServerEvent(ev);
}

/** A delta read by fastParseAudioDeltaBytes, with the message it was read from (kept only as long as the event). */
class ReceivedDelta implements ResponseAudioDeltaEvent {
  [k: string]: unknown;
  readonly type = 'response.output_audio.delta' as const;
  event_id: string;
  response_id: string;
  item_id: string;
  output_index: number;
  content_index: number;
  delta: AudioChunk;
  readonly #wire: Buffer;
  readonly #delta: AudioChunk;

  constructor(wire: Buffer, eventId: string, responseId: string, itemId: string, outputIndex: number, contentIndex: number, delta: AudioChunk) {
    this.event_id = eventId;
    this.response_id = responseId;
    this.item_id = itemId;
    this.output_index = outputIndex;
    this.content_index = contentIndex;
    this.delta = delta;
    this.#wire = wire;
    this.#delta = delta;
  }

  /** The message it came in, unless its audio was replaced on the way. */
  receivedAs(): Buffer | null {
    return this.delta === this.#delta ? this.#wire : null;
  }
}

const DELTA_PREFIX = Buffer.from('{"type":"response.output_audio.delta",', 'latin1');

/** The string value of `"key":"…"` in head (before `end`): plain printable ASCII only, else undefined. */
function headField(head: string, key: string, end: number): string | undefined {
  const k = head.indexOf(key);
  if (k < 0 || k >= end) return undefined;
  const s = k + key.length;
  const e = head.indexOf('"', s);
  if (e < 0 || e > end) return undefined;
  for (let i = s; i < e; i++) {
    const c = head.charCodeAt(i);
    if (c === 0x5c || c > 0x7e || c < 0x20) return undefined;
  }
  return head.slice(s, e);
}

function headInt(head: string, key: string, end: number): number | undefined {
  const k = head.indexOf(key);
  if (k < 0 || k >= end) return undefined;
  let n = 0;
  let digits = 0;
  for (let i = k + key.length; i < end; i++) {
    const c = head.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits > 0 && digits < 10 ? n : undefined;
}

/** The fields before the audio never take more than this; a longer head takes the general path. */
const MAX_DELTA_HEAD_BYTES = 1024;

/**
 * Fast path for the hot upstream event, read from the received bytes: `response.output_audio.delta`
 * with `type` first and `delta` last (as OpenAI and our engines write it). The base64 stays a slice of
 * `buf` (no copy). Returns null when the message is not in that shape (the caller then parses it).
 * Base64 never contains '"', so a key cannot match inside the delta itself.
 */
export function fastParseAudioDeltaBytes(buf: Buffer): ResponseAudioDeltaEvent | null {
  const n = buf.length;
  if (n < DELTA_PREFIX.length + 2 || buf[n - 1] !== 0x7d || buf[n - 2] !== QUOTE) return null;
  for (let i = 0; i < DELTA_PREFIX.length; i++) if (buf[i] !== DELTA_PREFIX[i]) return null;
  // the fields in the order OpenAI writes them, read in one pass over the bytes
  const inOrder = deltaInOrder(buf);
  if (inOrder !== null) return inOrder;
  // any other order: one native call for the few fields before the audio, then plain string work on that short head
  let head = buf.toString('latin1', 0, Math.min(n, 256));
  let dk = head.indexOf('"delta":"');
  if (dk < 0 && n > 256) {
    head = buf.toString('latin1', 0, Math.min(n, MAX_DELTA_HEAD_BYTES));
    dk = head.indexOf('"delta":"');
  }
  if (dk < 0) return null;
  const ds = dk + 9;
  const de = n - 2;
  if (buf.indexOf(QUOTE, ds) !== de) return null;
  const eventId = headField(head, '"event_id":"', dk);
  const responseId = headField(head, '"response_id":"', dk);
  const itemId = headField(head, '"item_id":"', dk);
  if (eventId === undefined || responseId === undefined || itemId === undefined) return null;
  return new ReceivedDelta(buf, eventId, responseId, itemId, headInt(head, '"output_index":', dk) ?? 0, headInt(head, '"content_index":', dk) ?? 0, AudioChunk.fromBase64Ascii(buf.subarray(ds, de)));
}

/** A plain printable-ASCII JSON string's contents: no quote, no backslash (no escapes to undo). */
const PLAIN = '([\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*)';
/** The head of a delta in exactly OpenAI's field order, up to the audio; ids plain, indices 1 to 9 digits. */
const DELTA_IN_ORDER = new RegExp(
  `^\\{"type":"response\\.output_audio\\.delta","event_id":"${PLAIN}","response_id":"${PLAIN}","item_id":"${PLAIN}","output_index":([0-9]{1,9}),"content_index":([0-9]{1,9}),"delta":"`,
);
/** Where deltaInOrder looks for the head (OpenAI's ids keep it well under this); longer heads take the general reading. */
const IN_ORDER_HEAD_BYTES = 256;

/**
 * The delta with exactly OpenAI's field order after `type` (event_id, response_id, item_id, output_index,
 * content_index, delta), read by one regular expression over the head (one native call for the string, the
 * expression compiled to machine code: about half the time of reading the keys byte by byte in JavaScript,
 * measured): the same event the general head reading gives for such a message; null for anything else (the
 * caller then reads the head in any order).
 */
function deltaInOrder(buf: Buffer): ReceivedDelta | null {
  const n = buf.length;
  const m = DELTA_IN_ORDER.exec(buf.toString('latin1', 0, Math.min(n, IN_ORDER_HEAD_BYTES)));
  if (m === null) return null;
  const ds = m[0].length;
  const de = n - 2;
  if (ds > de || buf.indexOf(QUOTE, ds) !== de) return null;
  return new ReceivedDelta(buf, m[1]!, m[2]!, m[3]!, Number(m[4]), Number(m[5]), AudioChunk.fromBase64Ascii(buf.subarray(ds, de)));
}

/** An append read by fastParseAppendBytes, with the message it was read from. */
class ReceivedAppend implements InputAudioBufferAppendEvent {
  [k: string]: unknown;
  readonly type = 'input_audio_buffer.append' as const;
  // declared, not defined: an append without an id has no event_id key at all (as a plain object would)
  declare event_id?: string;
  declare audio: AudioChunk;
  readonly #wire: Buffer;
  readonly #audio: AudioChunk;

  constructor(wire: Buffer, eventId: string | undefined, audio: AudioChunk) {
    if (eventId !== undefined) this.event_id = eventId;
    this.audio = audio;
    this.#wire = wire;
    this.#audio = audio;
  }

  /** The message it came in, unless its audio was replaced on the way. */
  receivedAs(): Buffer | null {
    return this.audio === this.#audio ? this.#wire : null;
  }
}

/**
 * The GA JSON of a client event as a WebSocket text payload (send it with `{ binary: false }`): an append
 * that came from a WS client in the exact fast shape goes to the upstream as the very bytes it came in.
 */
export function encodeClientEvent(ev: ClientEvent): string | Buffer {
  if (ev instanceof ReceivedAppend) {
    const wire = ev.receivedAs();
    if (wire !== null) return wire;
  }
  return serializeClientEvent(ev);
}

const APPEND_PREFIX = Buffer.from('{"type":"input_audio_buffer.append",', 'latin1');
const APPEND_EVENT_ID_KEY = Buffer.from('"event_id":"', 'latin1');
const APPEND_AUDIO_KEY = Buffer.from('"audio":"', 'latin1');
/** Decode target for validation only (reused; never handed out). */
let b64Scratch = Buffer.allocUnsafeSlow(4096);

/**
 * buf[s, e) is canonical base64 (RFC 4648 §4: the standard alphabet, length a multiple of 4, at most two
 * trailing '='), checked by Node's native decoder: it skips any character outside the alphabet and stops
 * at an inner '=', so anything not canonical decodes to fewer bytes than the length promises; it also
 * takes the URL-safe '-' and '_', which are refused first. About 3× faster than a JavaScript loop per
 * 20 ms frame (measured: 0.66 against 1.7 µs).
 */
function isCanonicalBase64(buf: Buffer, s: number, e: number): boolean {
  const n = e - s;
  if (n % 4 !== 0) return false;
  if (n === 0) return true;
  const dash = buf.indexOf(0x2d, s);
  const under = buf.indexOf(0x5f, s);
  if ((dash >= 0 && dash < e) || (under >= 0 && under < e)) return false;
  const pad = buf[e - 1] === 0x3d ? (buf[e - 2] === 0x3d ? 2 : 1) : 0;
  const expected = (n / 4) * 3 - pad;
  if (b64Scratch.length < expected + 3) b64Scratch = Buffer.allocUnsafeSlow(expected + 3);
  return b64Scratch.write(buf.toString('latin1', s, e), 0, 'base64') === expected;
}

function startsWithAt(buf: Buffer, key: Buffer, at: number): boolean {
  if (at + key.length > buf.length) return false;
  for (let i = 0; i < key.length; i++) if (buf[at + i] !== key[i]) return false;
  return true;
}

/**
 * The hot client event read from the received bytes, in the exact shape clients write with JSON.stringify:
 * `{"type":"input_audio_buffer.append"[,"event_id":"…"],"audio":"<base64>"}` — the same rules as
 * validate.ts's fastParseAppend (ids ASCII here; anything else takes the general path). The audio stays a
 * slice of `buf`. Returns null when the message is not in that shape. Never accepts an invalid message.
 */
export function fastParseAppendBytes(buf: Buffer): InputAudioBufferAppendEvent | null {
  if (!startsWithAt(buf, APPEND_PREFIX, 0)) return null;
  let p = APPEND_PREFIX.length;
  let eventId: string | undefined;
  if (startsWithAt(buf, APPEND_EVENT_ID_KEY, p)) {
    const s = p + APPEND_EVENT_ID_KEY.length;
    const limit = Math.min(buf.length, s + MAX_ID_CHARS + 1);
    let e = s;
    for (; e < limit; e++) {
      const c = buf[e]!;
      if (c === QUOTE) break;
      if (c === 0x5c || c < 0x20 || c > 0x7e) return null;
    }
    if (e === limit || buf[e + 1] !== 0x2c /* , */) return null;
    eventId = buf.toString('latin1', s, e);
    p = e + 2;
  }
  if (!startsWithAt(buf, APPEND_AUDIO_KEY, p)) return null;
  const s = p + APPEND_AUDIO_KEY.length;
  const e = buf.length - 2;
  if (e < s || buf[e] !== QUOTE || buf[e + 1] !== 0x7d || e - s > MAX_AUDIO_BASE64_CHARS || !isCanonicalBase64(buf, s, e)) return null;
  return new ReceivedAppend(buf, eventId, AudioChunk.fromBase64Ascii(buf.subarray(s, e)));
}

export function serializeClientEvent(ev: ClientEvent): string {
  if (ev.type === 'input_audio_buffer.append') {
    const head = ev.event_id === undefined ? '{"type":"input_audio_buffer.append"' : `{"type":"input_audio_buffer.append","event_id":${str(ev.event_id)}`;
    return `${head},"audio":"${ev.audio.base64()}"}`;
  }
  return JSON.stringify(ev);
}
