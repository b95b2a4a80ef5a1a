/**
 * What the WS fuzzer sends, drawn from a seeded Rng. Each case says what it must get back:
 *  - `error`: a malformed event with a string event_id → an `error` naming that event_id (not server_error);
 *  - `error-noid`: a malformed message that has no usable event_id (invalid or truncated JSON, a binary
 *    frame, a non-object, an event_id of the wrong type or length, a message above the limit) → an `error`
 *    with event_id null;
 *  - `ok`: a valid session.update → no error naming it;
 *  - `any`: valid events in hostile orders (truncate/delete of unknown items, cancel with nothing active,
 *    commit of an empty buffer, response.create and out-of-band floods, …) → errors allowed, never server_error.
 *
 * The table of fields and their wrong values is written from the GA reference (docs/protocol.md), not
 * from Parley's own schema, so the fuzzer checks the validator instead of restating it.
 */
import type { Rng } from './harness.ts';

export type Frame = { kind: 'text'; data: string } | { kind: 'binary'; data: Buffer } | { kind: 'fragments'; parts: string[] };
export type Expect = 'error' | 'error-noid' | 'ok' | 'any';

export interface FuzzCase {
  label: string;
  expect: Expect;
  /** The event_id the error must name (expect === 'error'). */
  id?: string;
  frames: Frame[];
  /** Bytes on the wire (for the summary). */
  bytes: number;
}

type Json = Record<string, unknown>;

const VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar'];
const FORMATS: Json[] = [{ type: 'audio/pcm', rate: 24000 }, { type: 'audio/pcmu' }, { type: 'audio/pcma' }];
const CLIENT_TYPES = [
  'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'output_audio_buffer.clear',
  'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', 'conversation.item.delete', 'response.create', 'response.cancel',
];
/** Limits of the GA reference or Parley's documented bounds (docs/contracts.md), with a wide margin. */
const HUGE_TEXT_CHARS = 1024 * 1024 + 1;

/** Values of each JSON kind, to pick a wrong one for a field. */
function valueOfKind(r: Rng, kind: 'string' | 'number' | 'bool' | 'null' | 'object' | 'array'): unknown {
  switch (kind) {
    case 'string': return r.pick(['', 'x', 'yes', '5', 'null', r.text(r.range(1, 12))]);
    case 'number': return r.pick([0, -1, 5, 1.5, -5, 1e300, -1e300, 4097, 65536]);
    case 'bool': return r.chance(0.5);
    case 'null': return null;
    case 'object': return r.pick([{}, { a: 1 }, { type: 'x' }]);
    case 'array': return r.pick([[], [1], ['a', 'b'], [{}]]);
  }
}

const ALL_KINDS = ['string', 'number', 'bool', 'null', 'object', 'array'] as const;
type Kind = (typeof ALL_KINDS)[number];

/** A wrong value: of a kind the field does not take, or one of the listed bad values of the right kind. */
function wrong(r: Rng, accepts: readonly Kind[], bad: readonly unknown[] = []): unknown {
  if (bad.length > 0 && r.chance(0.5)) return r.pick(bad);
  const others = ALL_KINDS.filter((k) => !accepts.includes(k));
  return valueOfKind(r, r.pick(others));
}

// ------------------------------------------------------------------ valid events

function validTurnDetection(r: Rng): Json | null {
  return r.weighted<Json | null>([
    [1, null],
    [3, {
      type: 'server_vad',
      ...(r.chance(0.6) ? { threshold: Math.round(r.float() * 100) / 100 } : {}),
      ...(r.chance(0.5) ? { prefix_padding_ms: r.range(0, 1000) } : {}),
      ...(r.chance(0.5) ? { silence_duration_ms: r.range(0, 2000) } : {}),
      ...(r.chance(0.3) ? { idle_timeout_ms: r.chance(0.3) ? null : r.range(5000, 30000) } : {}),
      ...(r.chance(0.5) ? { create_response: r.chance(0.5) } : {}),
      ...(r.chance(0.5) ? { interrupt_response: r.chance(0.5) } : {}),
    }],
    [1, { type: 'semantic_vad', ...(r.chance(0.7) ? { eagerness: r.pick(['low', 'medium', 'high', 'auto']) } : {}) }],
  ]);
}

function validTool(r: Rng, name = `tool_${r.ident(6)}`): Json {
  return {
    type: 'function',
    name,
    ...(r.chance(0.7) ? { description: r.text(r.range(0, 60)) } : {}),
    ...(r.chance(0.8) ? { parameters: { type: 'object', properties: { [r.ident(5)]: { type: r.pick(['string', 'number', 'boolean']) } }, required: [] } } : {}),
  };
}

/** A valid `session` for session.update: `type` plus a random subset of the GA fields. */
export function validSession(r: Rng): Json {
  const s: Json = { type: 'realtime' };
  if (r.chance(0.5)) s['instructions'] = r.text(r.range(0, 200));
  if (r.chance(0.2)) s['output_modalities'] = [r.pick(['audio', 'text'])];
  if (r.chance(0.6)) {
    const input: Json = {};
    if (r.chance(0.3)) input['format'] = r.pick(FORMATS);
    if (r.chance(0.3)) input['noise_reduction'] = r.chance(0.3) ? null : { type: r.pick(['near_field', 'far_field']) };
    if (r.chance(0.3)) input['transcription'] = r.chance(0.3) ? null : { model: r.pick(['gpt-4o-mini-transcribe', 'whisper-1']), ...(r.chance(0.5) ? { language: 'en' } : {}), ...(r.chance(0.3) ? { prompt: r.text(20) } : {}) };
    if (r.chance(0.5)) input['turn_detection'] = validTurnDetection(r);
    const output: Json = {};
    if (r.chance(0.3)) output['format'] = r.pick(FORMATS);
    if (r.chance(0.4)) output['voice'] = r.pick(VOICES);
    if (r.chance(0.3)) output['speed'] = 0.25 + Math.round(r.float() * 125) / 100;
    const audio: Json = {};
    if (Object.keys(input).length > 0 || r.chance(0.2)) audio['input'] = input;
    if (Object.keys(output).length > 0 || r.chance(0.2)) audio['output'] = output;
    s['audio'] = audio;
  }
  if (r.chance(0.1)) s['include'] = ['item.input_audio_transcription.logprobs'];
  if (r.chance(0.15)) s['tracing'] = r.pick<unknown>([null, 'auto', { workflow_name: r.ident(8) }]);
  if (r.chance(0.3)) s['tools'] = Array.from({ length: r.range(0, 3) }, () => validTool(r));
  if (r.chance(0.2)) s['tool_choice'] = r.pick(['auto', 'none', 'required']);
  if (r.chance(0.2)) s['max_output_tokens'] = r.chance(0.3) ? 'inf' : r.range(1, 4096);
  if (r.chance(0.15)) s['truncation'] = r.pick<unknown>(['auto', 'disabled', { type: 'retention_ratio', retention_ratio: Math.round(r.float() * 100) / 100 }]);
  if (r.chance(0.1)) s['prompt'] = r.chance(0.3) ? null : { id: `pmpt_${r.ident(12)}`, ...(r.chance(0.5) ? { version: '1' } : {}), ...(r.chance(0.5) ? { variables: { city: 'Paris' } } : {}) };
  return s;
}

function validItem(r: Rng): Json {
  return r.weighted<Json>([
    [4, { type: 'message', role: 'user', content: [{ type: 'input_text', text: r.text(r.range(0, 80)) }] }],
    [1, { type: 'message', role: 'system', content: [{ type: 'input_text', text: r.text(r.range(0, 40)) }] }],
    [1, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: r.text(r.range(0, 40)) }] }],
    [1, { type: 'function_call_output', call_id: `call_${r.ident(8)}`, output: r.text(r.range(0, 40)) }],
    [1, { type: 'function_call', call_id: `call_${r.ident(8)}`, name: `fn_${r.ident(4)}`, arguments: '{}' }],
  ]);
}

/** base64 of `bytes` random pcm16 bytes (even, so a whole number of samples). */
function audioB64(r: Rng, bytes: number): string {
  const n = bytes & ~1;
  const at = r.int(NOISE.length - n + 1) & ~1;
  return NOISE.subarray(at, at + n).toString('base64');
}

/** 64 KiB of fixed pseudo-random bytes that audio is cut from (drawing each byte would dominate the run). */
const NOISE = Buffer.from(Array.from({ length: 65536 }, (_v, i) => (Math.imul(i, 2654435761) >>> 13) & 0xff));

/** A valid event of any type (its event_id is set by the caller). */
function validEvent(r: Rng): Json {
  const type = r.weighted<string>([
    [4, 'session.update'], [2, 'input_audio_buffer.append'], [1, 'input_audio_buffer.commit'], [1, 'input_audio_buffer.clear'], [1, 'output_audio_buffer.clear'],
    [3, 'conversation.item.create'], [1, 'conversation.item.retrieve'], [1, 'conversation.item.truncate'], [1, 'conversation.item.delete'], [3, 'response.create'], [1, 'response.cancel'],
  ]);
  switch (type) {
    case 'session.update': return { type, session: validSession(r) };
    case 'input_audio_buffer.append': return { type, audio: audioB64(r, r.pick([0, 2, 480, 960, 4800])) };
    case 'conversation.item.create': return { type, item: validItem(r) };
    case 'conversation.item.retrieve':
    case 'conversation.item.delete': return { type, item_id: `item_${r.ident(10)}` };
    case 'conversation.item.truncate': return { type, item_id: `item_${r.ident(10)}`, content_index: r.range(0, 3), audio_end_ms: r.range(0, 100000) };
    case 'response.create': return { type, ...(r.chance(0.5) ? { response: validResponse(r) } : {}) };
    case 'response.cancel': return { type, ...(r.chance(0.5) ? { response_id: `resp_${r.ident(10)}` } : {}) };
    default: return { type };
  }
}

function validResponse(r: Rng): Json {
  const o: Json = {};
  if (r.chance(0.3)) o['instructions'] = r.text(r.range(0, 80));
  if (r.chance(0.2)) o['conversation'] = r.pick(['auto', 'none']);
  if (r.chance(0.2)) o['max_output_tokens'] = r.chance(0.3) ? 'inf' : r.range(1, 4096);
  if (r.chance(0.2)) o['metadata'] = { k: r.ident(6) };
  if (r.chance(0.2)) o['output_modalities'] = [r.pick(['audio', 'text'])];
  if (r.chance(0.1)) o['input'] = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }];
  if (r.chance(0.1)) o['tool_choice'] = r.pick(['auto', 'none']);
  if (r.chance(0.1)) o['audio'] = { output: { voice: r.pick(VOICES) } };
  return o;
}

// ------------------------------------------------------------------ mutations (must be refused)

/** A field of an event the mutation breaks: where it is, what it takes, some bad values of the right kind. */
interface FieldSpec {
  path: readonly string[];
  accepts: readonly Kind[];
  bad?: readonly unknown[];
}

const SESSION_FIELDS: FieldSpec[] = [
  { path: ['session'], accepts: ['object'], bad: [{}, { type: 'transcriptionx' }] },
  { path: ['session', 'type'], accepts: ['string'], bad: ['', 'beta', 'realtimes'] },
  { path: ['session', 'instructions'], accepts: ['string'] },
  { path: ['session', 'model'], accepts: ['string'], bad: [''] },
  { path: ['session', 'output_modalities'], accepts: ['array'], bad: [['video'], [5], ['audio', 'audio', 'text']] },
  { path: ['session', 'audio'], accepts: ['object'], bad: [{ inputs: {} }] },
  { path: ['session', 'audio', 'input'], accepts: ['object'], bad: [{ formats: {} }] },
  { path: ['session', 'audio', 'input', 'format'], accepts: ['object'], bad: [{}, { type: 'audio/opus' }, { type: 'audio/pcm', rate: 16000 }, { type: 'pcm16' }, { type: 5 }] },
  { path: ['session', 'audio', 'input', 'noise_reduction'], accepts: ['object', 'null'], bad: [{ type: 'loud' }, { type: 5 }] },
  { path: ['session', 'audio', 'input', 'transcription'], accepts: ['object', 'null'], bad: [{ model: 5 }, { language: 5 }, { prompt: [] }, { delay: 'slow' }] },
  { path: ['session', 'audio', 'input', 'turn_detection'], accepts: ['object', 'null'], bad: [{ type: 'vad' }, { type: 5 }, { threshold: 0.5 }] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'threshold'], accepts: ['number'], bad: [-0.1, 1.5, 2, 1e300] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'prefix_padding_ms'], accepts: ['number'], bad: [-5, 1.5, 1e12] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'silence_duration_ms'], accepts: ['number'], bad: [-1, 0.5, 1e12] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'idle_timeout_ms'], accepts: ['number', 'null'], bad: [1, 4999, 30001, 1e300] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'create_response'], accepts: ['bool'] },
  { path: ['session', 'audio', 'input', 'turn_detection', 'interrupt_response'], accepts: ['bool'] },
  { path: ['session', 'audio', 'output'], accepts: ['object'], bad: [{ voices: 'x' }] },
  { path: ['session', 'audio', 'output', 'format'], accepts: ['object'], bad: [{}, { type: 'audio/mp3' }, { type: 'audio/pcm', rate: 8000 }] },
  { path: ['session', 'audio', 'output', 'voice'], accepts: ['string', 'object'], bad: [{}, { id: 5 }, { name: 'x' }, ''] },
  { path: ['session', 'audio', 'output', 'speed'], accepts: ['number'], bad: [0, 0.1, 1.6, 5, -1, 1e300] },
  { path: ['session', 'include'], accepts: ['array'], bad: [['nope'], [5]] },
  { path: ['session', 'tracing'], accepts: ['string', 'object', 'null'], bad: ['manual', { workflow_name: 5 }, { group_id: [] }] },
  { path: ['session', 'tools'], accepts: ['array'], bad: [[5], [{}], [{ type: 'function' }], [{ type: 'function', name: 5 }], [{ type: 'nope', name: 'x' }], [{ type: 'function', name: 'a', parameters: 'x' }]] },
  { path: ['session', 'tool_choice'], accepts: ['string', 'object'], bad: ['sometimes', { type: 'function' }, { type: 'function', name: 5 }, { type: 'x' }] },
  { path: ['session', 'max_output_tokens'], accepts: ['number', 'string'], bad: [-5, 0, 1.5, 4097, 1e300, 'lots', 'infinite'] },
  { path: ['session', 'truncation'], accepts: ['string', 'object'], bad: ['sometimes', { type: 'retention_ratio' }, { type: 'retention_ratio', retention_ratio: 2 }, { type: 'x' }] },
  { path: ['session', 'prompt'], accepts: ['object', 'null'], bad: [{}, { id: 5 }, { id: 'p', variables: 5 }] },
];

const EVENT_FIELDS: Record<string, FieldSpec[]> = {
  'session.update': SESSION_FIELDS,
  'input_audio_buffer.append': [
    { path: ['audio'], accepts: ['string'], bad: ['not base64!!', 'abc', '====', 'ab=c', 'a b c d', 'éééé', 'AAAA\n', '-_-_', 'AAA='.repeat(3) + 'A'] },
  ],
  'conversation.item.create': [
    { path: ['item'], accepts: ['object'], bad: [{}, { type: 'message' }, { type: 'message', role: 'robot', content: [] }, { type: 'message', role: 'user', content: 'hi' }, { type: 'message', role: 'user', content: [{ type: 'output_text', text: 'x' }] }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 5 }] }, { type: 'function_call_output', call_id: 'c' }, { type: 'function_call_output', call_id: 'c', output: 5 }, { type: 'function_call', name: 'x' }, { type: 'nope' }] },
    { path: ['previous_item_id'], accepts: ['string', 'null'] },
  ],
  'conversation.item.retrieve': [{ path: ['item_id'], accepts: ['string'], bad: [''] }],
  'conversation.item.delete': [{ path: ['item_id'], accepts: ['string'], bad: [''] }],
  'conversation.item.truncate': [
    { path: ['item_id'], accepts: ['string'], bad: [''] },
    { path: ['content_index'], accepts: ['number'], bad: [-1, 1.5, 1e300] },
    { path: ['audio_end_ms'], accepts: ['number'], bad: [-1, 0.5, 1e300] },
  ],
  'response.create': [
    { path: ['response'], accepts: ['object'] },
    { path: ['response', 'conversation'], accepts: ['string'], bad: ['mine', ''] },
    { path: ['response', 'max_output_tokens'], accepts: ['number', 'string'], bad: [-5, 0, 1e300, 'lots', 4097] },
    { path: ['response', 'input'], accepts: ['array'], bad: [[5], [{ type: 'nope' }], [{ type: 'item_reference' }]] },
    { path: ['response', 'metadata'], accepts: ['object', 'null'], bad: [{ a: 5 }, Object.fromEntries(Array.from({ length: 20 }, (_v, i) => [`k${i}`, 'v']))] },
    { path: ['response', 'output_modalities'], accepts: ['array'], bad: [['x'], []] },
    { path: ['response', 'instructions'], accepts: ['string'] },
    { path: ['response', 'tool_choice'], accepts: ['string', 'object'], bad: ['maybe', { type: 'function' }] },
    { path: ['response', 'tools'], accepts: ['array'], bad: [[5], [{ type: 'function' }]] },
    { path: ['response', 'audio'], accepts: ['object'], bad: [{ output: { voice: 5 } }, { output: 5 }] },
  ],
  'response.cancel': [{ path: ['response_id'], accepts: ['string'] }],
};

function setPath(o: Json, path: readonly string[], v: unknown): void {
  let cur: Json = o;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Json;
  }
  cur[path[path.length - 1]!] = v;
}

/** The object paths of a value (where an unknown field can be put). */
function objectPaths(v: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (typeof v !== 'object' || v === null) return out;
  if (Array.isArray(v)) {
    v.forEach((x, i) => objectPaths(x, [...path, String(i)], out));
    return out;
  }
  out.push(path);
  for (const [k, x] of Object.entries(v)) objectPaths(x, [...path, k], out);
  return out;
}

function getPath(o: unknown, path: readonly string[]): unknown {
  let cur = o;
  for (const k of path) cur = (cur as Json)[k];
  return cur;
}

/** `{"a":…}` or `[…]` nested `levels` deep, as text (JSON.stringify would recurse). */
export function nestedText(levels: number, arrays: boolean): string {
  return arrays ? '['.repeat(levels) + '1' + ']'.repeat(levels) : '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
}

const DEEP = '"__deep__"';

// ------------------------------------------------------------------ the generator

export class FuzzGen {
  readonly #r: Rng;
  readonly #prefix: string;
  #n = 0;

  readonly #legacy: boolean;

  /** `legacyTranscription: false` leaves out transcription_session.update (see the known defect in ws-fuzz.test.ts). */
  constructor(r: Rng, prefix: string, opts: { legacyTranscription?: boolean } = {}) {
    this.#r = r;
    this.#prefix = prefix;
    this.#legacy = opts.legacyTranscription ?? true;
  }

  #id(): string {
    return `${this.#prefix}${(++this.#n).toString(36)}`;
  }

  #text(label: string, expect: Expect, data: string, id?: string): FuzzCase {
    return { label, expect, frames: [{ kind: 'text', data }], bytes: Buffer.byteLength(data), ...(id !== undefined ? { id } : {}) };
  }

  /** One case, drawn by weight; `huge` allows the megabyte-sized ones. */
  next(huge: boolean): FuzzCase {
    const r = this.#r;
    const kind = r.weighted<string>([
      [22, 'wrong-field'],
      [8, 'unknown-field'],
      [3, 'deep-unknown'],
      [2, 'deep-json'],
      [3, 'unknown-type'],
      [2, 'bad-type-field'],
      [5, 'bad-json'],
      [3, 'non-object'],
      [2, 'binary'],
      [2, 'bad-event-id'],
      [1, 'big-array'],
      [2, 'long-id'],
      [huge ? 0.25 : 0, 'huge-string'],
      [12, 'valid-session'],
      [18, 'hostile'],
      [4, 'fragmented-valid'],
      [2, 'proto'],
    ]);
    switch (kind) {
      case 'wrong-field': {
        const type = r.pick(Object.keys(EVENT_FIELDS));
        const spec = r.pick(EVENT_FIELDS[type]!);
        const id = this.#id();
        const base = clone(type === 'session.update' ? { type, event_id: id, session: validSession(r) } : { ...validEvent(r), type, event_id: id });
        if (type === 'conversation.item.truncate' || type === 'conversation.item.retrieve' || type === 'conversation.item.delete') {
          Object.assign(base, { item_id: 'item_x', content_index: 0, audio_end_ms: 0 });
          if (type !== 'conversation.item.truncate') { delete (base as Json)['content_index']; delete (base as Json)['audio_end_ms']; }
        }
        if (type === 'conversation.item.create' && !('item' in base)) (base as Json)['item'] = validItem(r);
        if (type === 'input_audio_buffer.append' && !('audio' in base)) (base as Json)['audio'] = '';
        const v = wrong(r, spec.accepts, spec.bad ?? []);
        setPath(base, spec.path, v);
        return this.#text(`wrong ${type} ${spec.path.join('.')}`, 'error', JSON.stringify(base), id);
      }
      case 'unknown-field': {
        const ev = clone({ ...validEvent(r), event_id: this.#id() });
        const paths = objectPaths(ev).filter((p) => !p.includes('parameters') && !p.includes('variables') && !p.includes('metadata'));
        const p = r.pick(paths);
        const key = r.pick(['x_unknown', 'modalities', 'temperature', 'input_audio_format', `z${r.ident(6)}`, 'extra', 'Type', 'typ']);
        const target = getPath(ev, p) as Json;
        if (Object.hasOwn(target, key)) return this.next(huge);
        target[key] = r.json(2);
        return this.#text(`unknown field ${[...p, key].join('.')}`, 'error', JSON.stringify(ev), ev.event_id);
      }
      case 'deep-unknown': {
        // issue 10 §2/§3: an unknown field thousands of levels deep (the validator must not recurse into it)
        const id = this.#id();
        const levels = r.pick([65, 100, 1000, 5000, 20000]);
        const where = r.pick(['session', 'response', 'top']);
        const inner = nestedText(levels, r.chance(0.5));
        const data = where === 'session'
          ? `{"type":"session.update","event_id":"${id}","session":{"type":"realtime","x_deep":${inner}}}`
          : where === 'response'
            ? `{"type":"response.create","event_id":"${id}","response":{"metadata":{"k":"v"},"x_deep":${inner}}}`
            : `{"type":"response.create","event_id":"${id}","x_deep":${inner}}`;
        return this.#text(`deep unknown field (${levels}) in ${where}`, 'error', data, id);
      }
      case 'deep-json': {
        // free-form JSON (a tool's parameters schema, tracing metadata) nested beyond any sane depth
        const id = this.#id();
        const levels = r.pick([100, 1000, 10000]);
        const inner = nestedText(levels, r.chance(0.5));
        const where = r.pick(['tool', 'tracing', 'response-tool']);
        const tool = `{"type":"function","name":"deep","parameters":{"type":"object","properties":${inner}}}`;
        const data = where === 'tool'
          ? `{"type":"session.update","event_id":"${id}","session":{"type":"realtime","tools":[${tool}]}}`
          : where === 'tracing'
            ? `{"type":"session.update","event_id":"${id}","session":{"type":"realtime","tracing":{"workflow_name":"w","metadata":${inner}}}}`
            : `{"type":"response.create","event_id":"${id}","response":{"tools":[${tool}]}}`;
        return this.#text(`deep JSON (${levels}) in ${where}`, 'error', data, id);
      }
      case 'unknown-type': {
        const id = this.#id();
        const type = r.pick(['response.audio.delta', 'conversation.item.created', 'session.created', 'input_audio_buffer.append2', '', ' ', 'SESSION.UPDATE', 'session.update ', 'x'.repeat(r.range(1, 2000)), r.text(10), 'response.output_audio.delta', '__proto__', 'constructor', 'toString', 'hasOwnProperty']);
        return this.#text(`unknown type`, 'error', JSON.stringify({ type, event_id: id, ...(r.chance(0.5) ? { session: {} } : {}) }), id);
      }
      case 'bad-type-field': {
        const id = this.#id();
        const ev: Json = { event_id: id };
        if (r.chance(0.8)) ev['type'] = r.pick<unknown>([5, null, true, {}, [], ['session.update'], { type: 'session.update' }]);
        return this.#text('type missing or not a string', 'error', JSON.stringify(ev), id);
      }
      case 'bad-json': {
        const valid = JSON.stringify({ ...validEvent(r), event_id: this.#id() });
        const data = r.weighted<string>([
          [4, valid.slice(0, r.range(0, valid.length - 1))],
          [1, valid + r.pick(['x', '}', ',', ' {}', '\u0000'])],
          [1, valid.replace(/"/g, "'")],
          [1, `\ufeff${valid}`],
          [1, r.text(r.range(0, 40))],
          [1, '{"type":"response.create",}'],
          [1, '{"type":"response.create","x":NaN}'],
          [1, '{"type":"response.create" /* c */}'],
          [1, ''],
          [1, '{"type":"response.create","event_id":"\\ud800\\uZZZZ"}'],
        ]);
        if (isJson(data)) return this.next(huge);
        return this.#text('invalid JSON', 'error-noid', data);
      }
      case 'non-object':
        return this.#text('not an object', 'error-noid', r.pick(['5', '"response.create"', 'null', 'true', '[]', '[{"type":"response.create"}]', '-0', '1e999', '""']));
      case 'binary': {
        const text = JSON.stringify({ ...validEvent(r), event_id: this.#id() });
        const data = r.chance(0.5) ? Buffer.from(text) : Buffer.from(Array.from({ length: r.range(0, 300) }, () => r.int(256)));
        return { label: 'binary frame', expect: 'error-noid', frames: [{ kind: 'binary', data }], bytes: data.length };
      }
      case 'bad-event-id': {
        const ev: Json = { ...validEvent(r) };
        ev['event_id'] = r.pick<unknown>([5, null, {}, [], true, 'e'.repeat(513), 'e'.repeat(r.range(513, 100000))]);
        return this.#text('event_id of the wrong type or length', 'error-noid', JSON.stringify(ev));
      }
      case 'big-array': {
        const id = this.#id();
        const n = r.pick([1500, 3000, 10000]);
        const what = r.pick(['tools', 'input', 'content', 'include', 'keywords']);
        const ev: Json =
          what === 'tools' ? { type: 'session.update', session: { type: 'realtime', tools: Array.from({ length: n }, (_v, i) => ({ type: 'function', name: `t${i}` })) } }
          : what === 'input' ? { type: 'response.create', response: { input: Array.from({ length: n }, () => ({ type: 'item_reference', id: 'item_1' })) } }
          : what === 'content' ? { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: Array.from({ length: n }, () => ({ type: 'input_text', text: 'a' })) } }
          : what === 'include' ? { type: 'session.update', session: { type: 'realtime', include: Array.from({ length: n }, () => 'item.input_audio_transcription.logprobs') } }
          : { type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1', keywords: Array.from({ length: n }, () => 'k') } } } } };
        ev['event_id'] = id;
        return this.#text(`array of ${n} in ${what}`, 'error', JSON.stringify(ev), id);
      }
      case 'long-id': {
        const id = this.#id();
        const long = 'i'.repeat(r.range(513, 70000));
        const ev = r.pick<Json>([
          { type: 'conversation.item.delete', item_id: long },
          { type: 'conversation.item.truncate', item_id: long, content_index: 0, audio_end_ms: 0 },
          { type: 'conversation.item.create', item: { id: long, type: 'message', role: 'user', content: [] } },
          { type: 'response.cancel', response_id: long },
          { type: 'session.update', session: { type: 'realtime', tools: [{ type: 'function', name: long }] } },
        ]);
        ev['event_id'] = id;
        return this.#text('an id longer than any id', 'error', JSON.stringify(ev), id);
      }
      case 'huge-string': {
        // within the message limit (16 MiB), beyond any one string's bound (1 MiB of text)
        const id = this.#id();
        const big = 'x'.repeat(HUGE_TEXT_CHARS + r.int(2 * 1024 * 1024));
        const ev = r.pick<Json>([
          { type: 'session.update', session: { type: 'realtime', instructions: big } },
          { type: 'response.create', response: { instructions: big } },
          { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: big }] } },
        ]);
        ev['event_id'] = id;
        return this.#text('huge string', 'error', JSON.stringify(ev), id);
      }
      case 'valid-session': {
        const id = this.#id();
        return this.#text('valid session.update', 'ok', JSON.stringify({ type: 'session.update', event_id: id, session: validSession(r) }), id);
      }
      case 'fragmented-valid': {
        // a valid event split over continuation frames (RFC 6455 §5.4)
        const id = this.#id();
        const data = JSON.stringify({ type: 'session.update', event_id: id, session: validSession(r) });
        const parts: string[] = [];
        let at = 0;
        while (at < data.length) {
          const n = Math.max(1, r.int(Math.ceil(data.length / 2) + 1));
          parts.push(data.slice(at, at + n));
          at += n;
        }
        return { label: 'valid session.update in fragments', expect: 'ok', id, frames: [{ kind: 'fragments', parts }], bytes: Buffer.byteLength(data) };
      }
      case 'proto': {
        const id = this.#id();
        const data = r.pick([
          `{"type":"session.update","event_id":"${id}","session":{"type":"realtime","__proto__":{"polluted":"yes"}}}`,
          `{"type":"session.update","event_id":"${id}","session":{"type":"realtime","audio":{"input":{"__proto__":{"polluted":"yes"}}}}}`,
          `{"type":"response.create","event_id":"${id}","response":{"constructor":{"prototype":{"polluted":"yes"}}}}`,
          `{"type":"conversation.item.create","event_id":"${id}","item":{"type":"message","role":"user","content":[],"__proto__":{"polluted":"yes"}}}`,
        ]);
        return this.#text('prototype keys', 'error', data, id);
      }
      default:
        return this.#hostile();
    }
  }

  /** Valid events in hostile orders: anything may be answered with an error, nothing with server_error. */
  #hostile(): FuzzCase {
    const r = this.#r;
    const ev = (o: Json): string => JSON.stringify({ ...o, event_id: this.#id() });
    const what = r.weighted<string>([
      [3, 'truncate-unknown'], [2, 'delete-unknown'], [1, 'retrieve-unknown'], [3, 'cancel-nothing'], [3, 'commit-empty'], [1, 'clear'],
      [1, 'output-clear'], [2, 'response-flood'], [2, 'oob-flood'], [2, 'prev-unknown'], [1, 'tool-output-unknown'], [4, 'random-valid'],
      [1, 'item-ref-unknown'], [1, 'model-not-allowed'], [1, 'voice-not-allowed'], [1, 'append-commit'], [this.#legacy ? 1 : 0, 'legacy-transcription'], [1, 'cancel-create'],
    ]);
    const datas: string[] = [];
    switch (what) {
      case 'truncate-unknown': datas.push(ev({ type: 'conversation.item.truncate', item_id: r.pick(['item_nope', `item_${r.ident(8)}`, 'root']), content_index: r.range(0, 63), audio_end_ms: r.range(0, 3_600_000) })); break;
      case 'delete-unknown': datas.push(ev({ type: 'conversation.item.delete', item_id: `item_${r.ident(8)}` })); break;
      case 'retrieve-unknown': datas.push(ev({ type: 'conversation.item.retrieve', item_id: `item_${r.ident(8)}` })); break;
      case 'cancel-nothing': datas.push(ev({ type: 'response.cancel', ...(r.chance(0.5) ? { response_id: `resp_${r.ident(8)}` } : {}) })); break;
      case 'commit-empty': datas.push(ev({ type: 'input_audio_buffer.commit' })); break;
      case 'clear': datas.push(ev({ type: 'input_audio_buffer.clear' })); break;
      case 'output-clear': datas.push(ev({ type: 'output_audio_buffer.clear' })); break;
      case 'response-flood': for (let i = r.range(5, 40); i > 0; i--) datas.push(ev({ type: 'response.create' })); break;
      case 'oob-flood': for (let i = r.range(5, 20); i > 0; i--) datas.push(ev({ type: 'response.create', response: { conversation: 'none', metadata: { n: String(i) } } })); break;
      case 'prev-unknown': datas.push(ev({ type: 'conversation.item.create', previous_item_id: `item_${r.ident(8)}`, item: validItem(r) })); break;
      case 'tool-output-unknown': datas.push(ev({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: `call_${r.ident(8)}`, output: '{"ok":true}' } })); break;
      case 'item-ref-unknown': datas.push(ev({ type: 'response.create', response: { conversation: 'none', input: [{ type: 'item_reference', id: `item_${r.ident(8)}` }] } })); break;
      case 'model-not-allowed': datas.push(ev({ type: 'session.update', session: { type: 'realtime', model: `gpt-${r.ident(6)}` } })); break;
      case 'voice-not-allowed': datas.push(ev({ type: 'session.update', session: { type: 'realtime', audio: { output: { voice: r.chance(0.5) ? `voice_${r.ident(5)}` : { id: `voice_${r.ident(8)}` } } } } })); break;
      case 'append-commit':
        for (let i = r.range(1, 10); i > 0; i--) datas.push(ev({ type: 'input_audio_buffer.append', audio: audioB64(r, 4800) }));
        datas.push(ev({ type: 'input_audio_buffer.commit' }));
        break;
      case 'legacy-transcription': datas.push(ev({ type: 'transcription_session.update', session: { input_audio_format: 'pcm16', turn_detection: { type: 'server_vad', threshold: 0.4 } } })); break;
      case 'cancel-create':
        datas.push(ev({ type: 'response.create' }));
        datas.push(ev({ type: 'response.cancel' }));
        datas.push(ev({ type: 'response.cancel' }));
        break;
      default: datas.push(ev(validEvent(r)));
    }
    return { label: `hostile ${what}`, expect: 'any', frames: datas.map((data) => ({ kind: 'text' as const, data })), bytes: datas.reduce((n, d) => n + Buffer.byteLength(d), 0) };
  }
}

/** A deep copy (the generators share constant objects such as FORMATS; a mutation must not touch them). */
function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export { CLIENT_TYPES, DEEP };
