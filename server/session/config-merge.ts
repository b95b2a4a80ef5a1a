/**
 * Session config: server defaults ⊕ client patches (GA `session.update`: only present fields
 * change), then the server's enforced fields (its tools, allowed models and voices, max output
 * tokens) applied last so a client cannot override them.
 */
import type { FunctionTool, RealtimeSession, RealtimeTool, SessionPatch } from '../protocol/index.ts';

export interface SessionPolicy {
  defaults: RealtimeSession;
  allowedModels: readonly string[];
  allowedVoices: readonly string[];
  maxOutputTokens: number | 'inf';
  /** The server's tools (GA entries), always present, never overridable. */
  serverTools: readonly FunctionTool[];
}

export interface Violation {
  param: string;
  message: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A deep copy of a JSON value (plain objects, arrays, primitives). Iterative, so no nesting can
 * overflow the stack; client values reach it validated (bounded depth, server/protocol/schema.ts).
 */
function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  const root: unknown = Array.isArray(value) ? new Array<unknown>(value.length) : {};
  const stack: Array<[unknown, Record<string | number, unknown>]> = [[value, root as Record<string | number, unknown>]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [from, to] = top;
    if (Array.isArray(from)) {
      for (let i = 0; i < from.length; i++) to[i] = child(from[i], stack);
    } else {
      for (const [k, v] of Object.entries(from as Record<string, unknown>)) {
        if (v !== undefined) setOwn(to, k, child(v, stack));
      }
    }
  }
  return root as T;
}

/** `o[k] = v` as an own property, also for the key `__proto__` (JSON.parse makes it an own key). */
function setOwn(o: Record<string | number, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function child(v: unknown, stack: Array<[unknown, Record<string | number, unknown>]>): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const to: unknown = Array.isArray(v) ? new Array<unknown>(v.length) : {};
  stack.push([v, to as Record<string | number, unknown>]);
  return to;
}

/** `audio.input` / `audio.output`: the patch's fields replace the base's, one level deep. `own`: our copy. */
function mergeAudio(own: RealtimeSession['audio'], patch: unknown): NonNullable<RealtimeSession['audio']> {
  const out: NonNullable<RealtimeSession['audio']> = own ?? {};
  if (!isPlainObject(patch)) return out;
  for (const dir of ['input', 'output'] as const) {
    const p = patch[dir];
    if (p === undefined) continue;
    const merged: Record<string, unknown> = { ...(out[dir] ?? {}) };
    if (isPlainObject(p)) {
      for (const [k, v] of Object.entries(p)) if (v !== undefined) setOwn(merged, k, copyJson(v));
    }
    out[dir] = merged;
  }
  return out;
}

/**
 * GA merge: top-level fields replace; `audio.input` / `audio.output` merge one level deep.
 * Pure: returns a new session that shares nothing with `base` or `patch` (a deep copy), and
 * mutates neither, so a caller can compute the next config, check it, and keep `base` if the
 * update is refused.
 */
export function mergeSession(base: Readonly<RealtimeSession>, patch: Readonly<SessionPatch>): RealtimeSession {
  const out: RealtimeSession = { ...copyJson(base as RealtimeSession), type: 'realtime' };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || k === 'type') continue;
    if (k === 'audio') {
      out.audio = mergeAudio(out.audio, v);
      continue;
    }
    setOwn(out as Record<string, unknown>, k, copyJson(v));
  }
  return out;
}

/** Tools a client declared: function tools not named like a server tool, plus non-function tools. */
export function clientTools(tools: readonly RealtimeTool[] | undefined, serverTools: readonly FunctionTool[]): RealtimeTool[] {
  if (!tools) return [];
  const serverNames = new Set(serverTools.map((t) => t.name));
  return tools.filter((t) => !(t.type === 'function' && serverNames.has((t as FunctionTool).name)));
}

function capTokens(requested: unknown, cap: number | 'inf'): number | 'inf' {
  if (cap === 'inf') return requested === undefined ? 'inf' : (requested as number | 'inf');
  if (typeof requested === 'number') return Math.min(requested, cap);
  return cap;
}

/** Applies the enforced fields; reports what it had to change (sent to the client as errors). */
export function enforceSession(s: RealtimeSession, policy: SessionPolicy): { session: RealtimeSession; violations: Violation[] } {
  const violations: Violation[] = [];
  const out: RealtimeSession = { ...s, type: 'realtime' };
  const defModel = policy.defaults.model;
  if (out.model !== undefined && !policy.allowedModels.includes(out.model)) {
    violations.push({ param: 'session.model', message: `Model '${out.model}' is not allowed on this server; using '${defModel}'. Allowed: ${policy.allowedModels.join(', ')}.` });
    if (defModel !== undefined) out.model = defModel;
  }
  const voice = out.audio?.output?.voice;
  if (voice !== undefined && (typeof voice !== 'string' || !policy.allowedVoices.includes(voice))) {
    const defVoice = policy.defaults.audio?.output?.voice;
    violations.push({ param: 'session.audio.output.voice', message: `Voice ${JSON.stringify(voice)} is not allowed on this server. Allowed: ${policy.allowedVoices.join(', ')}.` });
    out.audio = { ...out.audio, output: { ...out.audio?.output } };
    if (defVoice !== undefined) out.audio.output!.voice = defVoice;
    else delete out.audio.output!.voice;
  }
  const mot = capTokens(out.max_output_tokens, policy.maxOutputTokens);
  if (policy.maxOutputTokens !== 'inf' && (out.max_output_tokens === 'inf' || (typeof out.max_output_tokens === 'number' && out.max_output_tokens > policy.maxOutputTokens))) {
    violations.push({ param: 'session.max_output_tokens', message: `max_output_tokens is capped at ${policy.maxOutputTokens} on this server.` });
  }
  out.max_output_tokens = mot;
  out.tools = [...policy.serverTools, ...clientTools(out.tools, policy.serverTools)];
  return { session: out, violations };
}

/** Per-response overrides in `response.create`: same caps, server tools kept. */
export function enforceResponse<R extends Record<string, unknown>>(resp: R, policy: SessionPolicy): R {
  const out: Record<string, unknown> = { ...resp };
  if (policy.maxOutputTokens !== 'inf' || out['max_output_tokens'] !== undefined) {
    out['max_output_tokens'] = capTokens(out['max_output_tokens'], policy.maxOutputTokens);
  }
  if (Array.isArray(out['tools'])) {
    out['tools'] = [...policy.serverTools, ...clientTools(out['tools'] as RealtimeTool[], policy.serverTools)];
  }
  const audio = out['audio'];
  if (isPlainObject(audio) && isPlainObject(audio['output'])) {
    const v = audio['output']['voice'];
    if (v !== undefined && (typeof v !== 'string' || !policy.allowedVoices.includes(v))) {
      const o = { ...audio['output'] };
      delete o['voice'];
      out['audio'] = { ...audio, output: o };
    }
  }
  return out as R;
}
