/**
 * Client event validation (issue 2 §9, issue 10): JSON, known type, then every field of the event
 * against the declarative GA tables (client-event-schema.ts): types, ranges, closed objects
 * (unknown fields refused), bounded strings, arrays and nesting. A failure is a ProtocolError that
 * the door turns into a GA `error` event (`invalid_request_error` with `code`, `param`, `event_id`);
 * the session goes on, and nothing invalid reaches the session or an engine.
 */
import { ProtocolError } from '../errors.ts';
import { SERVER_EVENT_TYPES, type ClientEvent, type ErrorBody, type ErrorEvent, type ServerEvent } from './types.ts';
import { AudioChunk } from './audio.ts';
import { base64ByteLength } from './base64.ts';
import { newEventId } from './ids.ts';
import { MAX_AUDIO_BASE64_CHARS, MAX_ID_CHARS, SchemaChecker, formatParam, isBase64Range, isObject } from './schema.ts';
import { BETA_SESSION_FIELDS, CLIENT_EVENTS, SESSION } from './client-event-schema.ts';

export { isBase64Range } from './schema.ts';

/** Largest client message accepted (bytes): 16 MiB. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Keys every event may carry besides its own fields. */
const EVENT_KEYS: ReadonlySet<string> = new Set(['type', 'event_id']);

export function isBase64(s: string): boolean {
  return isBase64Range(s, 0, s.length);
}

export { base64ByteLength };

const APPEND_PREFIX = '{"type":"input_audio_buffer.append",';
const EVENT_ID_KEY = '"event_id":"';
const AUDIO_KEY = '"audio":"';

/**
 * Fast path for the hot event, `input_audio_buffer.append`, in the exact shape clients produce
 * with JSON.stringify: `{"type":"input_audio_buffer.append"[,"event_id":"…"],"audio":"<b64>"}`.
 * Returns the event (audio as a V8 sliced string, no copy) or null when the message is not in
 * that shape (the caller then takes the general path). Never accepts an invalid message: an
 * event_id with an escape or a control character, or longer than MAX_ID_CHARS, and audio over
 * MAX_AUDIO_BASE64_CHARS go the general way.
 */
export function fastParseAppend(raw: string): ClientEvent | null {
  if (!raw.startsWith(APPEND_PREFIX)) return null;
  let p = APPEND_PREFIX.length;
  let eventId: string | undefined;
  if (raw.startsWith(EVENT_ID_KEY, p)) {
    const s = p + EVENT_ID_KEY.length;
    const limit = Math.min(raw.length, s + MAX_ID_CHARS + 1);
    let e = s;
    for (; e < limit; e++) {
      const c = raw.charCodeAt(e);
      if (c === 34 /* " */) break;
      if (c === 92 /* \ */ || c < 32) return null;
    }
    if (e === limit) return null;
    eventId = raw.slice(s, e);
    if (raw.charCodeAt(e + 1) !== 44 /* , */) return null;
    p = e + 2;
  }
  if (!raw.startsWith(AUDIO_KEY, p)) return null;
  const s = p + AUDIO_KEY.length;
  const e = raw.length - 2;
  if (raw.charCodeAt(e) !== 34 /* " */ || raw.charCodeAt(e + 1) !== 125 /* } */) return null;
  if (e - s > MAX_AUDIO_BASE64_CHARS || !isBase64Range(raw, s, e)) return null;
  const audio = AudioChunk.fromBase64(raw.slice(s, e));
  return eventId === undefined ? { type: 'input_audio_buffer.append', audio } : { type: 'input_audio_buffer.append', event_id: eventId, audio };
}

function fail(gaCode: string, message: string, param: string | null, eventId: string | null): never {
  const code = gaCode === 'unknown_event' ? 'PROTOCOL_UNKNOWN_EVENT' : 'PROTOCOL_INVALID_EVENT';
  throw new ProtocolError(code, gaCode, message, { param, eventId });
}

/** Checks a parsed value is an acceptable GA client event; throws ProtocolError otherwise. */
export function validateClientEvent(ev: unknown): ClientEvent {
  if (!isObject(ev)) fail('invalid_event', 'The event must be a JSON object.', null, null);
  const rawId = ev['event_id'];
  if (rawId !== undefined && typeof rawId !== 'string') fail('invalid_type', "Invalid type for 'event_id': expected a string.", 'event_id', null);
  if (typeof rawId === 'string' && rawId.length > MAX_ID_CHARS) {
    fail('string_above_max_length', `Invalid 'event_id': string too long. Expected a string with maximum length ${MAX_ID_CHARS}, but got a string with length ${rawId.length} instead.`, 'event_id', null);
  }
  const eventId = rawId ?? null;
  const type = ev['type'];
  if (type === undefined) fail('missing_required_parameter', "Missing required parameter: 'type'.", 'type', eventId);
  if (typeof type !== 'string') fail('invalid_type', "Invalid type for 'type': expected a string.", 'type', eventId);
  const schema = Object.hasOwn(CLIENT_EVENTS, type) ? CLIENT_EVENTS[type as keyof typeof CLIENT_EVENTS] : undefined;
  if (schema === undefined) fail('unknown_event', `Invalid value: '${type.length > 64 ? `${type.slice(0, 64)}…` : type}'. Not a known client event type.`, 'type', eventId);
  if (type === 'session.update' && isObject(ev['session'])) {
    for (const key of Object.keys(ev['session'])) {
      if (BETA_SESSION_FIELDS.has(key) && !SESSION.byName.has(key)) {
        const param = formatParam(['session', key]);
        fail('unknown_parameter', `Unknown parameter: '${param}' (a beta-API field; see the GA session shape).`, param, eventId);
      }
    }
  }
  new SchemaChecker(eventId).checkObject(schema, ev, [], EVENT_KEYS);
  // the one place where a checked JSON value becomes a typed event; audio becomes an AudioChunk
  const typed = type === 'input_audio_buffer.append' && typeof ev['audio'] === 'string' ? { ...ev, audio: AudioChunk.fromBase64(ev['audio']) } : ev;
  return typed as unknown as ClientEvent;
}

/**
 * Parse and validate one client WebSocket message. `byteLength` is the wire size.
 * Throws ProtocolError (invalid_json, message_too_large, …).
 */
export function parseClientEvent(raw: string, byteLength = raw.length, maxBytes = MAX_MESSAGE_BYTES): ClientEvent {
  if (byteLength > maxBytes) {
    throw new ProtocolError('PROTOCOL_MESSAGE_TOO_LARGE', 'message_too_large', `The message is ${byteLength} bytes; the limit is ${maxBytes}.`);
  }
  const fast = fastParseAppend(raw);
  if (fast !== null) return fast;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ProtocolError('PROTOCOL_INVALID_JSON', 'invalid_json', 'The message is not valid JSON.', { cause: err });
  }
  return validateClientEvent(parsed);
}

/** A GA `error` server event. */
export function errorEvent(body: Partial<ErrorBody> & { message: string }): ErrorEvent {
  return {
    type: 'error',
    event_id: newEventId(),
    error: {
      type: body.type ?? 'invalid_request_error',
      code: body.code ?? null,
      message: body.message,
      param: body.param ?? null,
      event_id: body.event_id ?? null,
    },
  };
}

/** The GA `error` event for a ProtocolError. */
export function protocolErrorEvent(err: ProtocolError): ErrorEvent {
  return errorEvent({ type: 'invalid_request_error', code: err.gaCode, message: err.message, param: err.param, event_id: err.eventId });
}

const DELTA_PREFIX = '{"type":"response.output_audio.delta",';

function stringField(raw: string, key: string): string | undefined {
  // base64 never contains '"', so a key cannot match inside the delta itself
  const k = raw.indexOf(key);
  if (k < 0) return undefined;
  const s = k + key.length;
  const e = raw.indexOf('"', s);
  if (e < 0) return undefined;
  const v = raw.slice(s, e);
  return v.indexOf('\\') >= 0 ? undefined : v;
}

function intField(raw: string, key: string): number | undefined {
  const k = raw.indexOf(key);
  if (k < 0) return undefined;
  let i = k + key.length;
  let n = 0;
  let digits = 0;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits > 0 && digits < 10 ? n : undefined;
}

/**
 * Fast path for the hot server event, `response.output_audio.delta`, when `type` comes first
 * (as OpenAI and our engines write it): pulls `event_id`, `response_id`, `item_id`,
 * `output_index`, `content_index` and `delta` (a V8 sliced string, no copy) without JSON.parse.
 * Returns null when the message is not in that shape; the caller then parses it.
 */
export function fastParseAudioDelta(raw: string): ServerEvent | null {
  if (!raw.startsWith(DELTA_PREFIX) || raw.charCodeAt(raw.length - 1) !== 125) return null;
  const dk = raw.indexOf('"delta":"');
  if (dk < 0) return null;
  const ds = dk + 9;
  const de = raw.indexOf('"', ds);
  if (de < 0) return null;
  const eventId = stringField(raw, '"event_id":"');
  const responseId = stringField(raw, '"response_id":"');
  const itemId = stringField(raw, '"item_id":"');
  if (eventId === undefined || responseId === undefined || itemId === undefined) return null;
  return {
    type: 'response.output_audio.delta',
    event_id: eventId,
    response_id: responseId,
    item_id: itemId,
    output_index: intField(raw, '"output_index":') ?? 0,
    content_index: intField(raw, '"content_index":') ?? 0,
    delta: AudioChunk.fromBase64(raw.slice(ds, de)),
  };
}

/** Parses one server event (fast path for audio deltas). Throws on invalid JSON. */
export function parseServerEvent(raw: string): ServerEvent {
  const fast = fastParseAudioDelta(raw);
  if (fast !== null) return fast;
  const ev = JSON.parse(raw) as unknown;
  if (!isObject(ev) || typeof ev['type'] !== 'string') throw new SyntaxError('not a realtime event');
  const eventId = typeof ev['event_id'] === 'string' ? ev['event_id'] : newEventId();
  // a type Parley does not know is carried through untouched, never interpreted
  if (!SERVER_EVENT_TYPES.has(ev['type']) || ev['type'] === 'parley.engine') return { type: 'parley.passthrough', event_id: eventId, event: { ...ev, type: ev['type'] } };
  ev['event_id'] = eventId;
  if (ev['type'] === 'response.output_audio.delta') {
    if (typeof ev['delta'] !== 'string') throw new SyntaxError('response.output_audio.delta without a delta');
    ev['delta'] = AudioChunk.fromBase64(ev['delta']);
  }
  // the upstream is trusted to speak GA for the types it names (the `openai` engine's one edge)
  return ev as unknown as ServerEvent;
}
