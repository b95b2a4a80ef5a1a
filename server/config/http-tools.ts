/**
 * `tools.http`: server tools that live in the backend's own services, declared in the PARLEY_CONFIG
 * file (server/tools/http-tool.ts runs them; README "HTTP tools" and docs/notes/http-tools.md show
 * the wire format). Secrets come from env through `${env:NAME}` references in header values and
 * `secret`, resolved here against the env object main.ts passed to loadConfig (never logged).
 *
 * Every bad entry is a start-up ConfigError naming the setting, e.g. `tools.http[2].url`.
 */
import { ConfigError } from '../errors.ts';
import { BUILTIN_TOOLS } from '../tools/builtin/index.ts';
import type { JSONSchema } from '../tools/types.ts';
import type { ConfigReader } from './reader.ts';

/** Default and largest response body an HTTP tool may answer (a tool output is for a model's context). */
export const HTTP_TOOL_MAX_RESPONSE_BYTES = 64 * 1024;
export const HTTP_TOOL_MAX_RESPONSE_BYTES_LIMIT = 1024 * 1024;
/** At most this many HTTP tools (a model does not choose well among hundreds anyway). */
export const HTTP_TOOL_MAX_COUNT = 128;

/**
 * Names a config tool may not take: the built-in tools, and the SIP door's call-control tools
 * (server/sip-bridge.ts adds them per call, where they would hide an HTTP tool of the same name).
 */
export const RESERVED_TOOL_NAMES: ReadonlySet<string> = new Set([...Object.keys(BUILTIN_TOOLS), 'end_call', 'transfer_call', 'warm_transfer', 'send_dtmf', 'collect_dtmf']);

export interface HttpToolConfig {
  name: string;
  description: string;
  /** JSON schema of the arguments (an object schema; default: no arguments). */
  parameters: JSONSchema;
  /** http(s) URL of the backend endpoint (no credentials, no fragment). */
  url: string;
  /** POST (default): JSON body `{call, tool, arguments}`; GET: the arguments in the query string. */
  method: 'POST' | 'GET';
  /** Extra request headers, `${env:NAME}` references resolved (secrets: never log these). */
  headers: Record<string, string>;
  /** Per-call timeout (null: tools.timeoutMs / PARLEY_TOOL_TIMEOUT_MS). */
  timeoutMs: number | null;
  /** The signing secret: the tool's own `secret`, else PARLEY_WEBHOOK_SECRET (never log it). */
  secret: string;
  /** Largest response body accepted (default HTTP_TOOL_MAX_RESPONSE_BYTES); a longer one is an error for the model. */
  maxResponseBytes: number;
}

const NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_REF_RE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Headers Parley sets itself (or that HTTP/1.1 framing owns). */
const RESERVED_HEADERS = new Set(['host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'parley-signature', 'parley-call-id', 'parley-tool']);
const KNOWN_KEYS = new Set(['name', 'description', 'parameters', 'url', 'method', 'headers', 'timeoutMs', 'secret', 'maxResponseBytes']);
const JSON_TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Replaces each `${env:NAME}` with env[NAME]; an unset or empty variable, or a malformed `${…}`, is a ConfigError. */
export function resolveEnvRefs(value: string, env: Record<string, string | undefined>, setting: string): string {
  const out = value.replace(ENV_REF_RE, (_m, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') throw new ConfigError(setting, `refers to the environment variable ${name}, which is not set`);
    return v;
  });
  // what is left of `${` after the valid references were replaced (checked on the input: a value may hold `${`)
  const rest = value.replace(ENV_REF_RE, '');
  if (rest.includes('${')) throw new ConfigError(setting, 'has a `${…}` that is not an env reference like ${env:NAME}');
  return out;
}

/**
 * Checks a JSON schema well enough to catch what breaks a model's tool list: the shapes of
 * `type`, `properties`, `items`, `required`, `enum` and the combinators, recursively.
 */
function checkSchema(s: unknown, setting: string, depth: number): void {
  if (depth > 32) throw new ConfigError(setting, 'is nested too deeply');
  if (typeof s === 'boolean') return;
  if (!isObject(s)) throw new ConfigError(setting, 'must be a JSON schema object');
  const type = s['type'];
  if (type !== undefined) {
    const types = Array.isArray(type) ? type : [type];
    if (types.length === 0 || !types.every((t) => typeof t === 'string' && JSON_TYPES.has(t))) {
      throw new ConfigError(`${setting}.type`, `must be one of ${[...JSON_TYPES].join(', ')} (got ${JSON.stringify(type)})`);
    }
  }
  const props = s['properties'];
  if (props !== undefined) {
    if (!isObject(props)) throw new ConfigError(`${setting}.properties`, 'must be an object of schemas');
    for (const [k, v] of Object.entries(props)) checkSchema(v, `${setting}.properties.${k}`, depth + 1);
  }
  const required = s['required'];
  if (required !== undefined) {
    if (!Array.isArray(required) || !required.every((x) => typeof x === 'string')) throw new ConfigError(`${setting}.required`, 'must be an array of property names');
    if (isObject(props)) {
      const missing = required.filter((x: string) => !(x in props));
      if (missing.length > 0) throw new ConfigError(`${setting}.required`, `names properties that are not in properties: ${missing.join(', ')}`);
    }
  }
  const items = s['items'];
  if (items !== undefined) checkSchema(items, `${setting}.items`, depth + 1);
  const ap = s['additionalProperties'];
  if (ap !== undefined && typeof ap !== 'boolean') checkSchema(ap, `${setting}.additionalProperties`, depth + 1);
  const en = s['enum'];
  if (en !== undefined && (!Array.isArray(en) || en.length === 0)) throw new ConfigError(`${setting}.enum`, 'must be a non-empty array');
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = s[k];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`${setting}.${k}`, 'must be a non-empty array of schemas');
    list.forEach((sub, i) => checkSchema(sub, `${setting}.${k}[${i}]`, depth + 1));
  }
  const desc = s['description'];
  if (desc !== undefined && typeof desc !== 'string') throw new ConfigError(`${setting}.description`, 'must be a string');
}

function readUrl(v: unknown, setting: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(setting, 'must be an http(s) URL string');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(setting, `must be an absolute http(s) URL (got ${JSON.stringify(v)})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(setting, `must use http: or https: (got ${u.protocol})`);
  if (u.username !== '' || u.password !== '') throw new ConfigError(setting, 'must not carry credentials: put them in headers, with ${env:NAME}');
  if (u.hash !== '') throw new ConfigError(setting, 'must not have a #fragment');
  return u.href;
}

function readOne(raw: unknown, i: number, env: Record<string, string | undefined>, defaultSecret: string | null): HttpToolConfig {
  const at = `tools.http[${i}]`;
  if (!isObject(raw)) throw new ConfigError(at, 'must be an object with name, description, parameters, url');
  for (const k of Object.keys(raw)) if (!KNOWN_KEYS.has(k)) throw new ConfigError(`${at}.${k}`, `is not a setting of an HTTP tool (known: ${[...KNOWN_KEYS].join(', ')})`);

  const name = raw['name'];
  if (typeof name !== 'string' || !NAME_RE.test(name)) throw new ConfigError(`${at}.name`, `must match ${NAME_RE} (got ${JSON.stringify(name)})`);
  const description = raw['description'];
  if (typeof description !== 'string' || description.trim() === '') throw new ConfigError(`${at}.description`, 'must be a non-empty string: the model reads it to decide when to call the tool');

  const parameters = raw['parameters'] ?? { type: 'object', properties: {} };
  if (!isObject(parameters)) throw new ConfigError(`${at}.parameters`, 'must be a JSON schema object');
  if (parameters['type'] !== 'object') throw new ConfigError(`${at}.parameters.type`, `must be "object" (a tool takes named arguments; got ${JSON.stringify(parameters['type'])})`);
  checkSchema(parameters, `${at}.parameters`, 0);

  const url = readUrl(raw['url'], `${at}.url`);
  const m = raw['method'] ?? 'POST';
  const method = typeof m === 'string' ? m.toUpperCase() : m;
  if (method !== 'POST' && method !== 'GET') throw new ConfigError(`${at}.method`, `must be POST or GET (got ${JSON.stringify(m)})`);

  const headers: Record<string, string> = {};
  const rawHeaders = raw['headers'] ?? {};
  if (!isObject(rawHeaders)) throw new ConfigError(`${at}.headers`, 'must be an object of header name → value');
  const seen = new Set<string>();
  for (const [h, v] of Object.entries(rawHeaders)) {
    const setting = `${at}.headers.${h}`;
    if (!HEADER_NAME_RE.test(h)) throw new ConfigError(setting, 'is not a valid header name');
    const lower = h.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new ConfigError(setting, 'is set by Parley itself');
    if (seen.has(lower)) throw new ConfigError(setting, 'is given twice (header names ignore case)');
    seen.add(lower);
    if (typeof v !== 'string') throw new ConfigError(setting, 'must be a string (a secret: "${env:NAME}")');
    const value = resolveEnvRefs(v, env, setting);
    // never echo the value: it may hold a secret
    if (/[\r\n\0]/.test(value)) throw new ConfigError(setting, 'must not contain line breaks');
    headers[h] = value;
  }

  const t = raw['timeoutMs'];
  let timeoutMs: number | null = null;
  if (t !== undefined) {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 10 || t > 600_000) throw new ConfigError(`${at}.timeoutMs`, `must be an integer between 10 and 600000 (got ${JSON.stringify(t)})`);
    timeoutMs = t;
  }

  const mr = raw['maxResponseBytes'];
  let maxResponseBytes = HTTP_TOOL_MAX_RESPONSE_BYTES;
  if (mr !== undefined) {
    if (typeof mr !== 'number' || !Number.isInteger(mr) || mr < 1 || mr > HTTP_TOOL_MAX_RESPONSE_BYTES_LIMIT) {
      throw new ConfigError(`${at}.maxResponseBytes`, `must be an integer between 1 and ${HTTP_TOOL_MAX_RESPONSE_BYTES_LIMIT} (got ${JSON.stringify(mr)})`);
    }
    maxResponseBytes = mr;
  }

  const s = raw['secret'];
  let secret: string | null = defaultSecret;
  if (s !== undefined) {
    if (typeof s !== 'string' || s === '') throw new ConfigError(`${at}.secret`, 'must be a non-empty string (e.g. "${env:BACKEND_TOOL_SECRET}")');
    secret = resolveEnvRefs(s, env, `${at}.secret`);
  }
  if (secret === null) throw new ConfigError(`${at}.secret`, 'is needed to sign the requests: set it (e.g. "${env:BACKEND_TOOL_SECRET}") or PARLEY_WEBHOOK_SECRET');

  return { name, description, parameters: parameters as JSONSchema, url, method, headers, timeoutMs, secret, maxResponseBytes };
}

/** Reads `tools.http` (file only). Names are unique, and not the name of a built-in or call-control tool. */
export function readHttpToolsConfig(r: ConfigReader): HttpToolConfig[] {
  const raw = r.raw(null, 'tools.http');
  if (raw === undefined) return [];
  if (!Array.isArray(raw.value)) throw new ConfigError('tools.http', 'must be a list of HTTP tools');
  if (raw.value.length > HTTP_TOOL_MAX_COUNT) throw new ConfigError('tools.http', `has more than ${HTTP_TOOL_MAX_COUNT} tools`);
  // the webhook secret, read as server/config/webhooks.ts reads (and checks) it: the default for every tool
  const defaultSecret = r.optStr('PARLEY_WEBHOOK_SECRET', 'webhooks.secret');
  const names = new Map<string, number>();
  return raw.value.map((entry: unknown, i: number) => {
    const tool = readOne(entry, i, r.env, defaultSecret);
    if (RESERVED_TOOL_NAMES.has(tool.name)) throw new ConfigError(`tools.http[${i}].name`, `'${tool.name}' is the name of a built-in tool`);
    const first = names.get(tool.name);
    if (first !== undefined) throw new ConfigError(`tools.http[${i}].name`, `'${tool.name}' is already the name of tools.http[${first}]`);
    names.set(tool.name, i);
    return tool;
  });
}
