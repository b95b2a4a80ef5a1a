/**
 * Client event validation (issue 2 §9): JSON, known type, required fields, size, base64 audio.
 * A failure is a ProtocolError that the door turns into a GA `error` event; the session goes on.
 */
import { ProtocolError } from '../errors.ts';
import { CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES, type ClientEvent, type ErrorBody, type ErrorEvent, type ServerEvent } from './types.ts';
import { AudioChunk } from './audio.ts';
import { newEventId } from './ids.ts';
import { base64ByteLength, isBase64, isBase64Range } from './base64.ts';

export { base64ByteLength, isBase64, isBase64Range };

/** Largest client message accepted (bytes): 16 MiB. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const KNOWN = new Set<string>(CLIENT_EVENT_TYPES);

const APPEND_PREFIX = '{"type":"input_audio_buffer.append",';
const EVENT_ID_KEY = '"event_id":"';
const AUDIO_KEY = '"audio":"';

/**
 * Fast path for the hot event, `input_audio_buffer.append`, in the exact shape clients produce
 * with JSON.stringify: `{"type":"input_audio_buffer.append"[,"event_id":"…"],"audio":"<b64>"}`.
 * Returns the event (audio as a V8 sliced string, no copy) or null when the message is not in
 * that shape (the caller then takes the general path). Never accepts an invalid message.
 */
export function fastParseAppend(raw: string): ClientEvent | null {
  if (!raw.startsWith(APPEND_PREFIX)) return null;
  let p = APPEND_PREFIX.length;
  let eventId: string | undefined;
  if (raw.startsWith(EVENT_ID_KEY, p)) {
    const s = p + EVENT_ID_KEY.length;
    const e = raw.indexOf('"', s);
    if (e < 0) return null;
    eventId = raw.slice(s, e);
    if (eventId.indexOf('\\') >= 0) return null;
    if (raw.charCodeAt(e + 1) !== 44 /* , */) return null;
    p = e + 2;
  }
  if (!raw.startsWith(AUDIO_KEY, p)) return null;
  const s = p + AUDIO_KEY.length;
  const e = raw.length - 2;
  if (raw.charCodeAt(e) !== 34 /* " */ || raw.charCodeAt(e + 1) !== 125 /* } */) return null;
  if (!isBase64Range(raw, s, e)) return null;
  const audio = AudioChunk.fromBase64(raw.slice(s, e));
  return eventId === undefined ? { type: 'input_audio_buffer.append', audio } : { type: 'input_audio_buffer.append', event_id: eventId, audio };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(gaCode: string, message: string, param: string | null, eventId: string | null): never {
  const code = gaCode === 'unknown_event' ? 'PROTOCOL_UNKNOWN_EVENT' : 'PROTOCOL_INVALID_EVENT';
  throw new ProtocolError(code, gaCode, message, { param, eventId });
}

const BETA_SESSION_FIELDS = [
  'modalities',
  'voice',
  'input_audio_format',
  'output_audio_format',
  'turn_detection',
  'input_audio_transcription',
  'input_audio_noise_reduction',
  'temperature',
  'max_response_output_tokens',
];

function checkSession(s: unknown, eventId: string | null): void {
  if (!isObject(s)) fail('missing_required_parameter', "Missing required parameter: 'session'.", 'session', eventId);
  if (s['type'] !== undefined && s['type'] !== 'realtime') {
    fail('invalid_value', `Invalid value: '${String(s['type'])}'. Supported values are: 'realtime'.`, 'session.type', eventId);
  }
  for (const f of BETA_SESSION_FIELDS) {
    if (f in s) fail('unknown_parameter', `Unknown parameter: 'session.${f}' (a beta-API field; see the GA session shape).`, `session.${f}`, eventId);
  }
  if (s['tools'] !== undefined) {
    if (!Array.isArray(s['tools'])) fail('invalid_type', "Invalid type for 'session.tools': expected an array.", 'session.tools', eventId);
    s['tools'].forEach((t: unknown, i: number) => checkTool(t, `session.tools[${i}]`, eventId));
  }
  if (s['instructions'] !== undefined && typeof s['instructions'] !== 'string') {
    fail('invalid_type', "Invalid type for 'session.instructions': expected a string.", 'session.instructions', eventId);
  }
  if (s['audio'] !== undefined) {
    if (!isObject(s['audio'])) fail('invalid_type', "Invalid type for 'session.audio': expected an object.", 'session.audio', eventId);
    for (const dir of ['input', 'output'] as const) {
      const d = s['audio'][dir];
      if (d === undefined) continue;
      if (!isObject(d)) fail('invalid_type', `Invalid type for 'session.audio.${dir}': expected an object.`, `session.audio.${dir}`, eventId);
      if (d['format'] !== undefined) checkFormat(d['format'], `session.audio.${dir}.format`, eventId);
      if (dir === 'input' && d['turn_detection'] !== undefined && d['turn_detection'] !== null) {
        const td = d['turn_detection'];
        if (!isObject(td) || (td['type'] !== 'server_vad' && td['type'] !== 'semantic_vad')) {
          fail('invalid_value', "Invalid value for 'session.audio.input.turn_detection.type': expected 'server_vad' or 'semantic_vad' (or turn_detection: null).", 'session.audio.input.turn_detection.type', eventId);
        }
      }
    }
  }
  const om = s['output_modalities'];
  if (om !== undefined && !(Array.isArray(om) && om.length === 1 && (om[0] === 'audio' || om[0] === 'text'))) {
    fail('invalid_value', "Invalid value for 'session.output_modalities': expected [\"audio\"] or [\"text\"].", 'session.output_modalities', eventId);
  }
  const mot = s['max_output_tokens'];
  if (mot !== undefined && mot !== 'inf' && !(Number.isInteger(mot) && (mot as number) >= 1)) {
    fail('invalid_value', "Invalid value for 'session.max_output_tokens': an integer ≥ 1 or 'inf'.", 'session.max_output_tokens', eventId);
  }
}

const FORMAT_TYPES = new Set(['audio/pcm', 'audio/pcmu', 'audio/pcma']);

/** GA audio formats are objects: `{type:"audio/pcm", rate:24000}` (24 kHz only), `{type:"audio/pcmu"}`, `{type:"audio/pcma"}`. */
function checkFormat(f: unknown, param: string, eventId: string | null): void {
  if (!isObject(f)) fail('invalid_type', `Invalid type for '${param}': expected an object such as {"type":"audio/pcm","rate":24000} (the beta string formats are not supported).`, param, eventId);
  if (typeof f['type'] !== 'string' || !FORMAT_TYPES.has(f['type'])) {
    fail('invalid_value', `Invalid value for '${param}.type': expected 'audio/pcm', 'audio/pcmu' or 'audio/pcma'.`, `${param}.type`, eventId);
  }
  if (f['type'] === 'audio/pcm' && f['rate'] !== undefined && f['rate'] !== 24000) {
    fail('invalid_value', `Invalid value for '${param}.rate': only 24000 is supported for audio/pcm.`, `${param}.rate`, eventId);
  }
}

function checkTool(t: unknown, param: string, eventId: string | null): void {
  if (!isObject(t) || typeof t['type'] !== 'string') fail('invalid_type', `Invalid tool at '${param}': expected an object with 'type'.`, param, eventId);
  if (t['type'] === 'function' && (typeof t['name'] !== 'string' || t['name'] === '')) {
    fail('missing_required_parameter', `Missing required parameter: '${param}.name'.`, `${param}.name`, eventId);
  }
}

const ITEM_TYPES = new Set(['message', 'function_call', 'function_call_output', 'mcp_call', 'mcp_list_tools', 'mcp_approval_request', 'mcp_approval_response']);
const ROLES = new Set(['user', 'assistant', 'system']);

function checkItem(item: unknown, eventId: string | null): void {
  if (!isObject(item)) fail('missing_required_parameter', "Missing required parameter: 'item'.", 'item', eventId);
  const type = item['type'];
  if (typeof type !== 'string' || !ITEM_TYPES.has(type)) {
    fail('invalid_value', `Invalid value for 'item.type': ${JSON.stringify(type ?? null)}.`, 'item.type', eventId);
  }
  if (type === 'message') {
    if (typeof item['role'] !== 'string' || !ROLES.has(item['role'])) fail('invalid_value', "Invalid value for 'item.role': expected 'user', 'assistant' or 'system'.", 'item.role', eventId);
    if (!Array.isArray(item['content'])) fail('missing_required_parameter', "Missing required parameter: 'item.content'.", 'item.content', eventId);
    item['content'].forEach((c: unknown, i: number) => {
      if (!isObject(c) || typeof c['type'] !== 'string') fail('invalid_type', `Invalid content part at 'item.content[${i}]'.`, `item.content[${i}]`, eventId);
      if (c['type'] === 'input_audio' && c['audio'] !== undefined && (typeof c['audio'] !== 'string' || !isBase64(c['audio']))) {
        fail('invalid_value', `Invalid base64 audio at 'item.content[${i}].audio'.`, `item.content[${i}].audio`, eventId);
      }
    });
  } else if (type === 'function_call_output') {
    if (typeof item['call_id'] !== 'string') fail('missing_required_parameter', "Missing required parameter: 'item.call_id'.", 'item.call_id', eventId);
    if (typeof item['output'] !== 'string') fail('missing_required_parameter', "Missing required parameter: 'item.output' (a string).", 'item.output', eventId);
  } else if (type === 'function_call') {
    if (typeof item['name'] !== 'string') fail('missing_required_parameter', "Missing required parameter: 'item.name'.", 'item.name', eventId);
    if (typeof item['arguments'] !== 'string') fail('missing_required_parameter', "Missing required parameter: 'item.arguments'.", 'item.arguments', eventId);
  }
}

function requireString(ev: Record<string, unknown>, key: string, eventId: string | null): void {
  if (typeof ev[key] !== 'string' || ev[key] === '') fail('missing_required_parameter', `Missing required parameter: '${key}'.`, key, eventId);
}
function requireNonNegInt(ev: Record<string, unknown>, key: string, eventId: string | null): void {
  const v = ev[key];
  if (v === undefined) fail('missing_required_parameter', `Missing required parameter: '${key}'.`, key, eventId);
  if (!Number.isInteger(v) || (v as number) < 0) fail('invalid_value', `Invalid value for '${key}': expected an integer ≥ 0.`, key, eventId);
}

/** Checks a parsed value is an acceptable GA client event; throws ProtocolError otherwise. */
export function validateClientEvent(ev: unknown): ClientEvent {
  if (!isObject(ev)) fail('invalid_event', 'The event must be a JSON object.', null, null);
  const eventId = typeof ev['event_id'] === 'string' ? ev['event_id'] : null;
  if (ev['event_id'] !== undefined && typeof ev['event_id'] !== 'string') fail('invalid_type', "Invalid type for 'event_id': expected a string.", 'event_id', null);
  const type = ev['type'];
  if (typeof type !== 'string') fail('missing_required_parameter', "Missing required parameter: 'type'.", 'type', eventId);
  if (!KNOWN.has(type)) fail('unknown_event', `Invalid value: '${type}'. Not a known client event type.`, 'type', eventId);
  switch (type) {
    case 'session.update':
    case 'transcription_session.update':
      checkSession(ev['session'], eventId);
      break;
    case 'input_audio_buffer.append': {
      const audio = ev['audio'];
      if (typeof audio !== 'string') fail('missing_required_parameter', "Missing required parameter: 'audio'.", 'audio', eventId);
      if (!isBase64(audio)) fail('invalid_value', "Invalid value for 'audio': not valid base64.", 'audio', eventId);
      break;
    }
    case 'conversation.item.create':
      checkItem(ev['item'], eventId);
      if (ev['previous_item_id'] !== undefined && ev['previous_item_id'] !== null && typeof ev['previous_item_id'] !== 'string') {
        fail('invalid_type', "Invalid type for 'previous_item_id'.", 'previous_item_id', eventId);
      }
      break;
    case 'conversation.item.retrieve':
    case 'conversation.item.delete':
      requireString(ev, 'item_id', eventId);
      break;
    case 'conversation.item.truncate':
      requireString(ev, 'item_id', eventId);
      requireNonNegInt(ev, 'content_index', eventId);
      requireNonNegInt(ev, 'audio_end_ms', eventId);
      break;
    case 'response.create': {
      const r = ev['response'];
      if (r !== undefined && !isObject(r)) fail('invalid_type', "Invalid type for 'response': expected an object.", 'response', eventId);
      if (r !== undefined && r['tools'] !== undefined) {
        if (!Array.isArray(r['tools'])) fail('invalid_type', "Invalid type for 'response.tools'.", 'response.tools', eventId);
        r['tools'].forEach((t: unknown, i: number) => checkTool(t, `response.tools[${i}]`, eventId));
      }
      break;
    }
    case 'response.cancel':
      if (ev['response_id'] !== undefined && typeof ev['response_id'] !== 'string') fail('invalid_type', "Invalid type for 'response_id'.", 'response_id', eventId);
      break;
    default:
      break;
  }
  // the one place where a checked JSON value becomes a typed event; audio becomes an AudioChunk
  if (type === 'input_audio_buffer.append') ev['audio'] = AudioChunk.fromBase64(ev['audio'] as string);
  return ev as unknown as ClientEvent;
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
