/**
 * A tiny declarative schema language for GA client events, and its checker.
 *
 * A schema is data (one table per event or object, see client-event-schema.ts); `checkValue`
 * walks a parsed JSON value against it and throws a ProtocolError shaped like OpenAI's own
 * `invalid_request_error`: a `code` (`invalid_type`, `invalid_value`, `unknown_parameter`,
 * `missing_required_parameter`, `integer_above_max_value`, `string_above_max_length`, …), a
 * `param` as a dotted path (`session.audio.input.turn_detection.threshold`, `session.tools[2].name`)
 * and the client's `event_id`.
 *
 * Objects are closed: a field the table does not name is refused (`unknown_parameter`), so a
 * client cannot park anything in the session config. Every string and array has a bound, and the
 * only free-form JSON (a tool's JSON-schema `parameters`, tracing metadata, an MCP tool's
 * `input_schema`) is walked with bounded depth, string size, array size and key count. The walk
 * is recursive but its depth is bounded by MAX_JSON_DEPTH, so it cannot overflow the stack.
 */
import { ProtocolError } from '../errors.ts';

/**
 * Deepest nesting accepted anywhere in a client event (the event object itself is level 1).
 * Real tool schemas nest: OpenAI's structured outputs allow 10 levels of object nesting, and each
 * level can cost up to 5 JSON levels (`properties` → name → `items` → `anyOf` → [i]), under 5
 * levels of envelope (event → session → tools → [i] → parameters): 55. 64 leaves room and is far
 * below anything that strains a recursive walk or `structuredClone`.
 */
export const MAX_JSON_DEPTH = 64;
/** Identifiers and names: `event_id` (GA: maxLength 512), item/call/response ids, model and tool names. */
export const MAX_ID_CHARS = 512;
/** Free text: instructions, message text, tool descriptions, function arguments and outputs. */
export const MAX_TEXT_CHARS = 1024 * 1024;
/** Base64 audio in one string: OpenAI caps one append at 15 MiB of audio (base64: 20 MiB). */
export const MAX_AUDIO_BASE64_CHARS = Math.ceil((15 * 1024 * 1024) / 3) * 4;
/** Any one array in free-form JSON (e.g. a long `enum` in a tool schema). */
export const MAX_JSON_ARRAY_ITEMS = 1024;
/** Keys of any one object in free-form JSON (e.g. a tool schema's `properties`). */
export const MAX_JSON_OBJECT_KEYS = 1024;
/** Length of any one key in free-form JSON. */
export const MAX_KEY_CHARS = 1024;

// ---------------------------------------------------------------------------------------------
// The schema language

export interface StringSchema {
  readonly kind: 'string';
  readonly maxLength: number;
  readonly minLength?: number;
  readonly values?: readonly string[];
  readonly pattern?: RegExp;
  readonly base64?: boolean;
}
export interface NumberSchema {
  /** `integer` rejects fractions; `number` is any finite decimal. */
  readonly kind: 'integer' | 'number';
  readonly min: number;
  readonly max: number;
  readonly values?: readonly number[];
}
export interface BooleanSchema {
  readonly kind: 'boolean';
}
export interface Field {
  readonly name: string;
  readonly schema: Schema;
  readonly required: boolean;
}
/** A closed object: only the named fields, each with its schema. */
export interface ObjectSchema {
  readonly kind: 'object';
  readonly fields: readonly Field[];
  readonly byName: ReadonlyMap<string, Field>;
}
/** An object used as a map (`metadata`, MCP `headers`): any keys, bounded, each value of one schema. */
export interface MapSchema {
  readonly kind: 'map';
  readonly values: Schema;
  readonly maxKeys: number;
  readonly maxKeyLength: number;
}
export interface ArraySchema {
  readonly kind: 'array';
  readonly items: Schema;
  readonly maxItems: number;
  readonly minItems: number;
}
export interface NullableSchema {
  readonly kind: 'nullable';
  readonly schema: Schema;
}
/** One of several schemas, chosen by the value's JSON type (a string mode or an object, …). */
export interface EitherSchema {
  readonly kind: 'either';
  readonly options: readonly Schema[];
}
/** Objects told apart by a tag field (`type`, `role`): each variant lists its other fields. */
export interface TaggedSchema {
  readonly kind: 'tagged';
  readonly tag: string;
  readonly variants: ReadonlyMap<string, ObjectSchema | TaggedSchema>;
}
/** Free-form JSON (a JSON schema, metadata): any value, walked with the global bounds. */
export interface JsonSchema {
  readonly kind: 'json';
  /** The value must be an object (a tool's `parameters`). */
  readonly objectOnly: boolean;
}
export type Schema = StringSchema | NumberSchema | BooleanSchema | ObjectSchema | MapSchema | ArraySchema | NullableSchema | EitherSchema | TaggedSchema | JsonSchema;

/** Marks a field as required inside `object({...})`. */
export interface Required {
  readonly required: Schema;
}
type FieldSpec = Schema | Required;

// Builders: the tables read like the GA reference.
export const str = (maxLength: number, opts: { minLength?: number; pattern?: RegExp; base64?: boolean } = {}): StringSchema => ({ kind: 'string', maxLength, ...opts });
export const oneOf = (...values: readonly string[]): StringSchema => ({ kind: 'string', maxLength: Math.max(...values.map((v) => v.length)), values });
export const int = (min: number, max: number): NumberSchema => ({ kind: 'integer', min, max });
export const intOneOf = (...values: readonly number[]): NumberSchema => ({ kind: 'integer', min: Math.min(...values), max: Math.max(...values), values });
export const num = (min: number, max: number): NumberSchema => ({ kind: 'number', min, max });
export const bool: BooleanSchema = { kind: 'boolean' };
export const json: JsonSchema = { kind: 'json', objectOnly: false };
export const jsonObject: JsonSchema = { kind: 'json', objectOnly: true };
export const required = (schema: Schema): Required => ({ required: schema });
export const nullable = (schema: Schema): NullableSchema => ({ kind: 'nullable', schema });
export const either = (...options: readonly Schema[]): EitherSchema => ({ kind: 'either', options });
export const array = (items: Schema, maxItems: number, minItems = 0): ArraySchema => ({ kind: 'array', items, maxItems, minItems });
export const map = (values: Schema, maxKeys: number, maxKeyLength: number): MapSchema => ({ kind: 'map', values, maxKeys, maxKeyLength });

export function object(spec: Readonly<Record<string, FieldSpec>>): ObjectSchema {
  const fields: Field[] = Object.entries(spec).map(([name, s]) =>
    'required' in s && !('kind' in s) ? { name, schema: s.required, required: true } : { name, schema: s as Schema, required: false },
  );
  return { kind: 'object', fields, byName: new Map(fields.map((f) => [f.name, f])) };
}

export function tagged(tag: string, variants: Readonly<Record<string, ObjectSchema | TaggedSchema>>): TaggedSchema {
  return { kind: 'tagged', tag, variants: new Map(Object.entries(variants)) };
}

/** Adds fields to an object schema (shared fields of several variants). */
export function extend(base: ObjectSchema, spec: Readonly<Record<string, FieldSpec>>): ObjectSchema {
  const more = object(spec);
  const fields = [...base.fields.filter((f) => !more.byName.has(f.name)), ...more.fields];
  return { kind: 'object', fields, byName: new Map(fields.map((f) => [f.name, f])) };
}

// ---------------------------------------------------------------------------------------------
// The checker

/** The path to the value being checked: keys and array indexes, as segments (joined on error only). */
type Path = Array<string | number>;

const SHOWN_KEY_CHARS = 64;

/** `session.audio.input.turn_detection.threshold`, `session.tools[2].name`; long keys cut. */
export function formatParam(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = seg.length > SHOWN_KEY_CHARS ? `${seg.slice(0, SHOWN_KEY_CHARS)}…` : seg;
      out += out === '' ? key : `.${key}`;
    }
  }
  return out;
}

/** A client's string, cut for an error message. */
function show(s: string): string {
  return s.length > SHOWN_KEY_CHARS ? `${s.slice(0, SHOWN_KEY_CHARS)}…` : s;
}

function listValues(values: readonly (string | number)[]): string {
  const q = values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
  return q.length <= 1 ? (q[0] ?? '') : `${q.slice(0, -1).join(', ')} and ${q.at(-1)!}`;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function expected(s: Schema): string {
  switch (s.kind) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a decimal';
    case 'boolean':
      return 'a boolean';
    case 'array':
      return 'an array';
    case 'object':
    case 'map':
    case 'tagged':
      return 'an object';
    case 'json':
      return s.objectOnly ? 'an object' : 'a JSON value';
    case 'nullable':
      return `${expected(s.schema)} or null`;
    case 'either':
      return s.options.map(expected).join(' or ');
  }
}

/** Whether a schema can take a value of this JSON type (how `either` picks its option). */
function admits(s: Schema, v: unknown): boolean {
  switch (s.kind) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
    case 'map':
    case 'tagged':
      return isObject(v);
    case 'json':
      return !s.objectOnly || isObject(v);
    case 'nullable':
      return v === null || admits(s.schema, v);
    case 'either':
      return s.options.some((o) => admits(o, v));
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Base64 alphabet lookup (RFC 4648 §4), 1 = allowed before padding.
const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;

/** Canonical base64 check over s[start, end): length multiple of 4, alphabet, ≤ 2 trailing '='. */
export function isBase64Range(s: string, start: number, end: number): boolean {
  const len = end - start;
  if (len % 4 !== 0) return false;
  let stop = end;
  if (len > 0 && s.charCodeAt(end - 1) === 61) {
    stop--;
    if (s.charCodeAt(end - 2) === 61) stop--;
  }
  for (let i = start; i < stop; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || B64[c] === 0) return false;
  }
  return true;
}

/** Checks values against schemas for one event; `eventId` goes into every error it raises. */
export class SchemaChecker {
  readonly #eventId: string | null;

  constructor(eventId: string | null) {
    this.#eventId = eventId;
  }

  fail(code: string, message: string, path: readonly (string | number)[]): never {
    throw new ProtocolError('PROTOCOL_INVALID_EVENT', code, message, { param: path.length > 0 ? formatParam(path) : null, eventId: this.#eventId });
  }

  #typeError(s: Schema, v: unknown, path: Path): never {
    const p = formatParam(path);
    this.fail('invalid_type', `Invalid type for '${p}': expected ${expected(s)}, but got ${jsonType(v)} instead.`, path);
  }

  /** Checks `v` (present, not undefined) against `s`. `path` is mutated and restored. */
  check(s: Schema, v: unknown, path: Path): void {
    switch (s.kind) {
      case 'string':
        if (typeof v !== 'string') this.#typeError(s, v, path);
        this.#string(s, v, path);
        return;
      case 'integer':
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) this.#typeError(s, v, path);
        if (s.kind === 'integer' && !Number.isInteger(v)) this.#typeError(s, v, path);
        this.#number(s, v, path);
        return;
      case 'boolean':
        if (typeof v !== 'boolean') this.#typeError(s, v, path);
        return;
      case 'object':
        if (!isObject(v)) this.#typeError(s, v, path);
        this.#depth(path);
        this.checkObject(s, v, path, null);
        return;
      case 'tagged':
        if (!isObject(v)) this.#typeError(s, v, path);
        this.#depth(path);
        this.#tagged(s, v, path, new Set());
        return;
      case 'map':
        if (!isObject(v)) this.#typeError(s, v, path);
        this.#depth(path);
        this.#map(s, v, path);
        return;
      case 'array':
        if (!Array.isArray(v)) this.#typeError(s, v, path);
        this.#depth(path);
        this.#array(s, v, path);
        return;
      case 'nullable':
        if (v !== null) this.check(s.schema, v, path);
        return;
      case 'either': {
        const option = s.options.find((o) => admits(o, v));
        if (option === undefined) this.#typeError(s, v, path);
        this.check(option, v, path);
        return;
      }
      case 'json':
        if (s.objectOnly && !isObject(v)) this.#typeError(s, v, path);
        this.#json(v, path);
        return;
    }
  }

  /** A closed object: unknown keys refused, required present, each field checked. `skip`: tags already checked. */
  checkObject(s: ObjectSchema, v: Record<string, unknown>, path: Path, skip: ReadonlySet<string> | null): void {
    for (const f of s.fields) {
      const fv = Object.hasOwn(v, f.name) ? v[f.name] : undefined;
      path.push(f.name);
      if (fv === undefined) {
        if (f.required) this.fail('missing_required_parameter', `Missing required parameter: '${formatParam(path)}'.`, path);
      } else {
        this.check(f.schema, fv, path);
      }
      path.pop();
    }
    // unknown keys last: the declared fields (a content part's `type`) give the more useful answer
    for (const key of Object.keys(v)) {
      if (s.byName.has(key) || (skip !== null && skip.has(key))) continue;
      path.push(key);
      this.fail('unknown_parameter', `Unknown parameter: '${formatParam(path)}'.`, path);
    }
  }

  #tagged(s: TaggedSchema, v: Record<string, unknown>, path: Path, tags: Set<string>): void {
    const tag = Object.hasOwn(v, s.tag) ? v[s.tag] : undefined;
    path.push(s.tag);
    if (tag === undefined) this.fail('missing_required_parameter', `Missing required parameter: '${formatParam(path)}'.`, path);
    if (typeof tag !== 'string') this.fail('invalid_type', `Invalid type for '${formatParam(path)}': expected a string, but got ${jsonType(tag)} instead.`, path);
    const variant = s.variants.get(tag);
    if (variant === undefined) {
      this.fail('invalid_value', `Invalid value: '${show(tag)}'. Supported values are: ${listValues([...s.variants.keys()])}.`, path);
    }
    path.pop();
    tags.add(s.tag);
    if (variant.kind === 'tagged') this.#tagged(variant, v, path, tags);
    else this.checkObject(variant, v, path, tags);
  }

  #map(s: MapSchema, v: Record<string, unknown>, path: Path): void {
    const keys = Object.keys(v);
    if (keys.length > s.maxKeys) {
      this.fail('object_above_max_properties', `Invalid '${formatParam(path)}': too many properties. Expected an object with at most ${s.maxKeys} properties, but got ${keys.length} instead.`, path);
    }
    for (const key of keys) {
      path.push(key);
      if (key.length > s.maxKeyLength) {
        this.fail('string_above_max_length', `Invalid '${formatParam(path)}': key too long. Expected keys of at most ${s.maxKeyLength} characters, but got ${key.length} instead.`, path);
      }
      this.check(s.values, v[key], path);
      path.pop();
    }
  }

  #array(s: ArraySchema, v: unknown[], path: Path): void {
    if (v.length > s.maxItems) {
      this.fail('array_above_max_length', `Invalid '${formatParam(path)}': array too long. Expected an array with maximum length ${s.maxItems}, but got an array with length ${v.length} instead.`, path);
    }
    if (v.length < s.minItems) {
      this.fail('array_below_min_length', `Invalid '${formatParam(path)}': array too short. Expected an array with minimum length ${s.minItems}, but got an array with length ${v.length} instead.`, path);
    }
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      this.check(s.items, v[i], path);
      path.pop();
    }
  }

  #string(s: StringSchema, v: string, path: Path): void {
    if (s.values !== undefined) {
      if (!s.values.includes(v)) this.fail('invalid_value', `Invalid value: '${show(v)}'. Supported values are: ${listValues(s.values)}.`, path);
      return;
    }
    if (v.length > s.maxLength) {
      this.fail('string_above_max_length', `Invalid '${formatParam(path)}': string too long. Expected a string with maximum length ${s.maxLength}, but got a string with length ${v.length} instead.`, path);
    }
    if (s.minLength !== undefined && v.length < s.minLength) {
      this.fail('empty_string', `Invalid '${formatParam(path)}': empty string. Expected a string with minimum length ${s.minLength}, but got a string with length ${v.length} instead.`, path);
    }
    if (s.pattern !== undefined && !s.pattern.test(v)) {
      this.fail('invalid_value', `Invalid '${formatParam(path)}': string does not match pattern. Expected a string that matches the pattern '${s.pattern.source}'.`, path);
    }
    if (s.base64 === true && !isBase64Range(v, 0, v.length)) {
      this.fail('invalid_value', `Invalid value for '${formatParam(path)}': not valid base64.`, path);
    }
  }

  #number(s: NumberSchema, v: number, path: Path): void {
    if (s.values !== undefined) {
      if (!s.values.includes(v)) this.fail('invalid_value', `Invalid value: ${v}. Supported values are: ${listValues(s.values)}.`, path);
      return;
    }
    const what = s.kind === 'integer' ? 'integer' : 'decimal';
    if (v < s.min) {
      this.fail(`${what}_below_min_value`, `Invalid '${formatParam(path)}': ${what} below minimum value. Expected a value >= ${s.min}, but got ${v} instead.`, path);
    }
    if (v > s.max) {
      this.fail(`${what}_above_max_value`, `Invalid '${formatParam(path)}': ${what} above maximum value. Expected a value <= ${s.max}, but got ${v} instead.`, path);
    }
  }

  /** Entering an object or array at `path`: its level is path.length + 1 (the event is level 1). */
  #depth(path: Path): void {
    if (path.length + 1 > MAX_JSON_DEPTH) {
      this.fail('object_above_max_depth', `Invalid '${formatParam(path)}': nested too deeply. Expected at most ${MAX_JSON_DEPTH} levels of nesting in an event.`, path);
    }
  }

  /** Free-form JSON: any shape, within the global bounds. */
  #json(v: unknown, path: Path): void {
    if (typeof v === 'string') {
      if (v.length > MAX_TEXT_CHARS) this.#string({ kind: 'string', maxLength: MAX_TEXT_CHARS }, v, path);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    this.#depth(path);
    if (Array.isArray(v)) {
      if (v.length > MAX_JSON_ARRAY_ITEMS) this.#array({ kind: 'array', items: json, maxItems: MAX_JSON_ARRAY_ITEMS, minItems: 0 }, v, path);
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        this.#json(v[i], path);
        path.pop();
      }
      return;
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > MAX_JSON_OBJECT_KEYS) this.#map({ kind: 'map', values: json, maxKeys: MAX_JSON_OBJECT_KEYS, maxKeyLength: MAX_KEY_CHARS }, o, path);
    for (const key of keys) {
      path.push(key);
      if (key.length > MAX_KEY_CHARS) {
        this.fail('string_above_max_length', `Invalid '${formatParam(path)}': key too long. Expected keys of at most ${MAX_KEY_CHARS} characters, but got ${key.length} instead.`, path);
      }
      this.#json(o[key], path);
      path.pop();
    }
  }
}
