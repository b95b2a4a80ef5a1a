/**
 * Agent profiles, routes and the incoming-call hook: the `profiles`, `routes` and `incomingCall` keys of the
 * PARLEY_CONFIG file (docs/notes/profiles.md has the whole shape and an example).
 *
 *   "profiles": { "sales": { "instructions": "…", "voice": "marin", "tools": ["get_current_time", "end_call"],
 *                            "firstMessage": "Hello, Acme sales!", "maxCallS": 600, "recording": "stereo" } },
 *   "routes": [ { "dialled": { "prefix": "+1800" }, "profile": "sales" }, { "door": "ws", "profile": "web" } ],
 *   "incomingCall": { "url": "https://backend.example/parley/incoming", "timeoutMs": 1500, "headers": ["x-customer-id"] }
 *
 * Everything that can be checked from the file alone is checked here (ConfigError naming the setting, e.g.
 * `profiles.sales.voice`); tool and engine names are checked once the app has built its registries
 * (server/profiles/profiles.ts, called by buildApp). The same field parser checks an incoming-call answer's
 * overrides at run time.
 */
import { ConfigError, ParleyError } from '../errors.ts';
import { validateClientEvent, type SessionPatch, type TranscriptionConfig, type TurnDetection } from '../protocol/index.ts';
import type { Leg, RecordingMode } from '../session/types.ts';
import type { EngineName } from '../engines/types.ts';
// sip/access.ts is a leaf (CIDR parsing): imported directly so that reading the config does not load the SIP stack
import { SourceFilter } from '../../sip/access.ts';
import type { ConfigReader } from './reader.ts';

/** One agent: what a call answered with this profile starts with. Unset fields fall back to the server's defaults. */
export interface ProfileConfig {
  name: string;
  instructions?: string;
  voice?: string;
  model?: string;
  /** openai | cascade | local | a registered engine (checked at start). */
  engine?: EngineName;
  /** GA `audio.input.turn_detection` (null: no turn detection). */
  turnDetection?: TurnDetection | null;
  /** GA `audio.input.transcription` (null: none). */
  transcription?: TranscriptionConfig | null;
  /** The tools this profile's sessions offer, by name; unset: every tool the door has. */
  tools?: string[];
  /** What the agent says when the call is answered. */
  firstMessage?: string;
  /** The session ends (end reason max_duration) this long after it was answered. */
  maxCallS?: number;
  recording?: RecordingMode;
  metadata: Record<string, string>;
}

/** How a route compares one call fact. */
export type Matcher =
  | { kind: 'exact'; value: string }
  | { kind: 'prefix'; value: string }
  | { kind: 'regex'; re: RegExp }
  /** trunk only: the source address within one of these CIDRs (sip/access.ts). */
  | { kind: 'cidr'; filter: SourceFilter };

export interface RouteConfig {
  /** Only calls through this door (null: any). */
  door: Leg | null;
  /** The dialled number (SIP Request-URI user). */
  dialled: Matcher | null;
  /** The caller (user part of the SIP From URI). */
  caller: Matcher | null;
  /** The source the call came from (its IP address). */
  trunk: Matcher | null;
  profile: string;
}

export interface IncomingCallConfig {
  /** The backend's URL (null: only an in-process hook, AppDeps.onIncomingCall, if any). */
  url: string | null;
  /** How long the backend may take to answer (default 1500 ms). */
  timeoutMs: number;
  /** SIP headers (lower-case names) passed to the backend. */
  headers: string[];
  /** PARLEY_WEBHOOK_SECRET: the requests carry `Parley-Signature` (server/signing.ts). */
  secret: string | null;
}

export interface ProfilesSettings {
  profiles: Record<string, ProfileConfig>;
  routes: RouteConfig[];
  incomingCall: IncomingCallConfig;
}

/** The profile used when no route matches. */
export const DEFAULT_PROFILE = 'default';
export const DEFAULT_INCOMING_CALL_TIMEOUT_MS = 1500;
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const HEADER_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const MAX_TEXT_CHARS = 32_768;
const MAX_METADATA_ENTRIES = 64;
const MAX_METADATA_KEY_CHARS = 64;
const MAX_METADATA_VALUE_CHARS = 2048;
const PROFILE_FIELDS = new Set(['instructions', 'voice', 'model', 'engine', 'turn_detection', 'transcription', 'tools', 'firstMessage', 'maxCallS', 'recording', 'metadata']);

/** What the field parser checks a value against. */
export interface ProfileCheck {
  allowedVoices: readonly string[];
  /** OPENAI_API_KEY is set (engine 'openai' needs it). */
  openaiKey: boolean;
  /** The engine `auto` stands for. */
  autoEngine: EngineName;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A setting's name as ConfigReader names file settings. */
const fileSetting = (path: string): string => `${path} (PARLEY_CONFIG)`;

function text(v: unknown, setting: string, max = MAX_TEXT_CHARS): string {
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(setting, `must be a non-empty string (got ${JSON.stringify(v)})`);
  if (v.length > max) throw new ConfigError(setting, `must be at most ${max} characters`);
  return v;
}

/** A string map (numbers and booleans are written as strings), bounded. */
export function parseMetadata(v: unknown, setting: string): Record<string, string> {
  if (!isObject(v)) throw new ConfigError(setting, 'must be an object of strings');
  const out: Record<string, string> = {};
  const entries = Object.entries(v);
  if (entries.length > MAX_METADATA_ENTRIES) throw new ConfigError(setting, `must have at most ${MAX_METADATA_ENTRIES} entries`);
  for (const [k, val] of entries) {
    if (k === '' || k.length > MAX_METADATA_KEY_CHARS) throw new ConfigError(`${setting}.${k.slice(0, 64)}`, `keys must be 1-${MAX_METADATA_KEY_CHARS} characters`);
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') throw new ConfigError(`${setting}.${k}`, `must be a string (got ${JSON.stringify(val)})`);
    const s = String(val);
    if (s.length > MAX_METADATA_VALUE_CHARS) throw new ConfigError(`${setting}.${k}`, `must be at most ${MAX_METADATA_VALUE_CHARS} characters`);
    Object.defineProperty(out, k, { value: s, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Checks a piece of GA session config with the protocol's own validator; errors name `setting`. */
function checkSessionPart(patch: SessionPatch, setting: string): void {
  try {
    validateClientEvent({ type: 'session.update', session: patch });
  } catch (err) {
    throw new ConfigError(setting, ParleyError.is(err) ? err.message : 'is not a valid GA session value');
  }
}

/**
 * Parses a profile's fields (the config file's profile, or an incoming-call answer's `overrides`).
 * `prefix` names the object in errors (`profiles.sales`). Throws ConfigError naming the field.
 */
export function parseProfileFields(raw: unknown, prefix: string, check: ProfileCheck, named: (path: string) => string = fileSetting): Omit<ProfileConfig, 'name' | 'metadata'> & { metadata?: Record<string, string> } {
  if (!isObject(raw)) throw new ConfigError(named(prefix), 'must be an object');
  const out: Omit<ProfileConfig, 'name' | 'metadata'> & { metadata?: Record<string, string> } = {};
  for (const key of Object.keys(raw)) {
    if (!PROFILE_FIELDS.has(key)) throw new ConfigError(named(`${prefix}.${key}`), `unknown field (known: ${[...PROFILE_FIELDS].join(', ')})`);
  }
  const at = (k: string): string => named(`${prefix}.${k}`);
  const v = (k: string): unknown => raw[k];
  if (v('instructions') !== undefined) out.instructions = text(v('instructions'), at('instructions'));
  if (v('voice') !== undefined) {
    const voice = text(v('voice'), at('voice'), 64);
    if (!check.allowedVoices.includes(voice)) throw new ConfigError(at('voice'), `must be one of the allowed voices (${check.allowedVoices.join(', ')}; PARLEY_ALLOWED_VOICES)`);
    out.voice = voice;
  }
  if (v('model') !== undefined) out.model = text(v('model'), at('model'), 128);
  if (v('engine') !== undefined) {
    const e = text(v('engine'), at('engine'), 64);
    const engine = e === 'auto' ? check.autoEngine : e;
    if (engine === 'openai' && !check.openaiKey) throw new ConfigError(at('engine'), "is 'openai' but OPENAI_API_KEY is not set");
    out.engine = engine;
  }
  if (v('turn_detection') !== undefined) {
    const td = v('turn_detection');
    checkSessionPart({ type: 'realtime', audio: { input: { turn_detection: td as TurnDetection | null } } }, at('turn_detection'));
    out.turnDetection = td as TurnDetection | null;
  }
  if (v('transcription') !== undefined) {
    const tr = v('transcription');
    checkSessionPart({ type: 'realtime', audio: { input: { transcription: tr as TranscriptionConfig | null } } }, at('transcription'));
    out.transcription = tr as TranscriptionConfig | null;
  }
  if (v('tools') !== undefined) {
    const tools = v('tools');
    if (!Array.isArray(tools)) throw new ConfigError(at('tools'), 'must be a list of tool names');
    out.tools = tools.map((t, i) => {
      if (typeof t !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t)) throw new ConfigError(named(`${prefix}.tools[${i}]`), `must be a tool name (got ${JSON.stringify(t)})`);
      return t;
    });
  }
  if (v('firstMessage') !== undefined) out.firstMessage = text(v('firstMessage'), at('firstMessage'), 4096);
  if (v('maxCallS') !== undefined) {
    const n = v('maxCallS');
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 7 * 86400) throw new ConfigError(at('maxCallS'), `must be an integer between 1 and ${7 * 86400} (got ${JSON.stringify(n)})`);
    out.maxCallS = n;
  }
  if (v('recording') !== undefined) {
    const rec = v('recording');
    if (rec !== 'off' && rec !== 'mono' && rec !== 'stereo') throw new ConfigError(at('recording'), `must be one of off, mono, stereo (got ${JSON.stringify(rec)})`);
    out.recording = rec;
  }
  if (v('metadata') !== undefined) out.metadata = parseMetadata(v('metadata'), at('metadata'));
  return out;
}

function parseMatcher(raw: unknown, path: string, allowCidr: boolean): Matcher {
  if (typeof raw === 'string') return { kind: 'exact', value: raw };
  const kinds = allowCidr ? ['exact', 'prefix', 'regex', 'cidr'] : ['exact', 'prefix', 'regex'];
  if (!isObject(raw)) throw new ConfigError(fileSetting(path), `must be a string (exact match) or an object with one of ${kinds.join(', ')}`);
  const keys = Object.keys(raw);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined || !kinds.includes(key)) throw new ConfigError(fileSetting(path), `must have exactly one of ${kinds.join(', ')} (got ${JSON.stringify(keys)})`);
  const value = raw[key];
  const setting = fileSetting(`${path}.${key}`);
  if (key === 'cidr') {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0 || !list.every((c) => typeof c === 'string')) throw new ConfigError(setting, 'must be a CIDR (10.0.0.0/8) or a list of them');
    try {
      return { kind: 'cidr', filter: new SourceFilter(list as string[]) };
    } catch (err) {
      throw new ConfigError(setting, ParleyError.is(err) ? err.message : 'bad CIDR');
    }
  }
  if (typeof value !== 'string' || (key !== 'regex' && value === '')) throw new ConfigError(setting, `must be a non-empty string (got ${JSON.stringify(value)})`);
  if (key === 'regex') {
    try {
      return { kind: 'regex', re: new RegExp(value) };
    } catch (err) {
      throw new ConfigError(setting, `does not compile: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return key === 'exact' ? { kind: 'exact', value } : { kind: 'prefix', value };
}

const ROUTE_FIELDS = new Set(['door', 'dialled', 'caller', 'trunk', 'profile']);

function parseRoute(raw: unknown, i: number, profiles: Record<string, ProfileConfig>): RouteConfig {
  const path = `routes[${i}]`;
  if (!isObject(raw)) throw new ConfigError(fileSetting(path), 'must be an object like {"dialled": {"prefix": "+1800"}, "profile": "sales"}');
  for (const k of Object.keys(raw)) if (!ROUTE_FIELDS.has(k)) throw new ConfigError(fileSetting(`${path}.${k}`), `unknown field (known: ${[...ROUTE_FIELDS].join(', ')})`);
  const profile = raw['profile'];
  if (typeof profile !== 'string') throw new ConfigError(fileSetting(`${path}.profile`), 'must name a profile');
  if (!Object.hasOwn(profiles, profile)) throw new ConfigError(fileSetting(`${path}.profile`), `names an unknown profile ${JSON.stringify(profile)} (profiles: ${Object.keys(profiles).join(', ') || 'none'})`);
  const door = raw['door'];
  if (door !== undefined && door !== 'sip' && door !== 'ws' && door !== 'media-stream') throw new ConfigError(fileSetting(`${path}.door`), `must be sip, ws or media-stream (got ${JSON.stringify(door)})`);
  return {
    door: door ?? null,
    dialled: raw['dialled'] === undefined ? null : parseMatcher(raw['dialled'], `${path}.dialled`, false),
    caller: raw['caller'] === undefined ? null : parseMatcher(raw['caller'], `${path}.caller`, false),
    trunk: raw['trunk'] === undefined ? null : parseMatcher(raw['trunk'], `${path}.trunk`, true),
    profile,
  };
}

function parseIncomingCall(r: ConfigReader): IncomingCallConfig {
  const raw = r.raw(null, 'incomingCall');
  const secret = r.optStr('PARLEY_WEBHOOK_SECRET', 'webhooks.secret');
  if (raw === undefined) return { url: null, timeoutMs: DEFAULT_INCOMING_CALL_TIMEOUT_MS, headers: [], secret };
  if (!isObject(raw.value)) throw new ConfigError(raw.setting, 'must be an object like {"url": "https://…", "timeoutMs": 1500, "headers": ["x-customer-id"]}');
  for (const k of Object.keys(raw.value)) {
    if (k !== 'url' && k !== 'timeoutMs' && k !== 'headers') throw new ConfigError(fileSetting(`incomingCall.${k}`), 'unknown field (known: url, timeoutMs, headers)');
  }
  const url = r.url(null, 'incomingCall.url', null, ['http:', 'https:']);
  if (url !== null && secret === null) {
    throw new ConfigError('PARLEY_WEBHOOK_SECRET', 'must be set when incomingCall.url is: Parley signs the incoming-call requests (Parley-Signature)');
  }
  const headers = r.list(null, 'incomingCall.headers', []).map((h, i) => {
    if (!HEADER_RE.test(h)) throw new ConfigError(fileSetting(`incomingCall.headers[${i}]`), `must be a SIP header name (got ${JSON.stringify(h)})`);
    return h.toLowerCase();
  });
  return { url, timeoutMs: r.int(null, 'incomingCall.timeoutMs', DEFAULT_INCOMING_CALL_TIMEOUT_MS, { min: 50, max: 30_000 }), headers, secret };
}

/** Reads `profiles`, `routes` and `incomingCall`. `allowedModels` gains the profiles' models (as it has the default model). */
export function readProfilesConfig(r: ConfigReader, check: ProfileCheck, allowedModels: string[]): ProfilesSettings {
  const profiles: Record<string, ProfileConfig> = {};
  const rawProfiles = r.raw(null, 'profiles');
  if (rawProfiles !== undefined) {
    if (!isObject(rawProfiles.value)) throw new ConfigError(rawProfiles.setting, 'must be an object of named profiles: {"sales": {…}}');
    for (const [name, raw] of Object.entries(rawProfiles.value)) {
      if (!NAME_RE.test(name)) throw new ConfigError(fileSetting(`profiles.${name.slice(0, 64)}`), 'profile names are 1-64 letters, digits, _ . -');
      const fields = parseProfileFields(raw, `profiles.${name}`, check);
      profiles[name] = { ...fields, name, metadata: fields.metadata ?? {} };
      if (fields.model !== undefined && !allowedModels.includes(fields.model)) allowedModels.push(fields.model);
    }
  }
  const routes: RouteConfig[] = [];
  const rawRoutes = r.raw(null, 'routes');
  if (rawRoutes !== undefined) {
    if (!Array.isArray(rawRoutes.value)) throw new ConfigError(rawRoutes.setting, 'must be a list of routes');
    rawRoutes.value.forEach((raw, i) => routes.push(parseRoute(raw, i, profiles)));
  }
  return { profiles, routes, incomingCall: parseIncomingCall(r) };
}
