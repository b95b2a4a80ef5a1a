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

/** GA merge: top-level fields replace; `audio.input` / `audio.output` merge one level deep. */
export function mergeSession(base: RealtimeSession, patch: SessionPatch): RealtimeSession {
  const out: RealtimeSession = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (k === 'audio' && isPlainObject(v)) {
      const a = v as { input?: Record<string, unknown>; output?: Record<string, unknown> };
      const baseAudio = base.audio ?? {};
      out.audio = {
        ...baseAudio,
        ...(a.input !== undefined ? { input: { ...(baseAudio.input ?? {}), ...(a.input ?? {}) } } : {}),
        ...(a.output !== undefined ? { output: { ...(baseAudio.output ?? {}), ...(a.output ?? {}) } } : {}),
      };
      continue;
    }
    (out as Record<string, unknown>)[k] = v;
  }
  out.type = 'realtime';
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
