/**
 * The incoming-call hook: before a call is answered (SIP: inside the SIP server's onCall window, before the
 * 200 OK; WS: before the upgrade), Parley tells the backend who is calling and the backend may pick the
 * profile, override some of its fields and add metadata. docs/notes/profiles.md has the wire format:
 *
 *   POST <incomingCall.url>   Content-Type: application/json   Parley-Signature: t=…,v1=…   (server/signing.ts)
 *   {"id": "evt_…", "type": "call.incoming", "created_at": "<ISO-8601>", "data": IncomingCallFacts}
 *   → 200 {"profile"?: "vip", "overrides"?: {"instructions"?, "voice"?, "firstMessage"?, …}, "metadata"?: {…}}
 *     (204 or an empty body: no opinion)
 *
 * An embedder may give the same contract in process (AppDeps.onIncomingCall); it then replaces the URL.
 * Both are bounded by incomingCall.timeoutMs (default 1500 ms). A timeout, a non-2xx answer, an answer
 * that is not a JSON object, or a thrown error is an outcome here, never an exception: the caller (the
 * planner) keeps the route's profile and says why in the session's metadata.
 */
import { randomId } from '../protocol/index.ts';
import { PARLEY_SIGNATURE_HEADER, signPayload } from '../signing.ts';
import type { IncomingCallConfig } from '../config/profiles.ts';
import type { Leg } from '../session/index.ts';

/** What the backend is told about a call (JSON field names as sent). */
export interface IncomingCallFacts {
  door: Leg;
  /** SIP From URI. */
  from: string | null;
  /** SIP To URI. */
  to: string | null;
  /** The dialled number (Request-URI user). */
  dialled: string | null;
  /** The caller's number (From user part). */
  caller: string | null;
  /** The source address the call came from. */
  trunk: string | null;
  sip_call_id: string | null;
  /** The SIP headers named in incomingCall.headers (lower-case names) that the INVITE had. */
  headers: Record<string, string>;
  /** The profile the routes chose (null: the server's defaults). */
  profile: string | null;
  /** That profile's metadata. */
  metadata: Record<string, string>;
}

/** A profile's fields, as the config file spells them; any subset. */
export interface IncomingCallOverrides {
  instructions?: string;
  voice?: string;
  model?: string;
  engine?: string;
  turn_detection?: unknown;
  transcription?: unknown;
  tools?: string[];
  firstMessage?: string;
  maxCallS?: number;
  recording?: 'off' | 'mono' | 'stereo';
  metadata?: Record<string, string>;
}

export interface IncomingCallAnswer {
  /** Use this profile instead of the route's. */
  profile?: string;
  /** Fields that replace the profile's for this call. */
  overrides?: IncomingCallOverrides;
  /** Added to the session's metadata. */
  metadata?: Record<string, string>;
}

/** The in-process hook (AppDeps.onIncomingCall): null = no opinion. */
export type IncomingCallHook = (facts: IncomingCallFacts) => Promise<IncomingCallAnswer | null> | IncomingCallAnswer | null;

export type IncomingCallOutcome =
  | { status: 'ok'; answer: IncomingCallAnswer | null }
  | { status: 'timeout' }
  | { status: 'error'; detail: string };

/** The largest answer body read (bytes); a longer one is an error. */
export const MAX_ANSWER_BYTES = 64 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the answer's outer shape (the fields inside `overrides` are checked by the planner). */
export function checkAnswerShape(v: unknown): IncomingCallOutcome {
  if (v === null || v === undefined) return { status: 'ok', answer: null };
  if (!isObject(v)) return { status: 'error', detail: 'the answer is not a JSON object' };
  if (v['profile'] !== undefined && v['profile'] !== null && typeof v['profile'] !== 'string') return { status: 'error', detail: "'profile' must be a string" };
  if (v['overrides'] !== undefined && v['overrides'] !== null && !isObject(v['overrides'])) return { status: 'error', detail: "'overrides' must be an object" };
  if (v['metadata'] !== undefined && v['metadata'] !== null && !isObject(v['metadata'])) return { status: 'error', detail: "'metadata' must be an object" };
  const answer: IncomingCallAnswer = {};
  if (typeof v['profile'] === 'string') answer.profile = v['profile'];
  if (isObject(v['overrides'])) answer.overrides = v['overrides'] as IncomingCallOverrides;
  if (isObject(v['metadata'])) answer.metadata = v['metadata'] as Record<string, string>;
  return { status: 'ok', answer };
}

/** The request body: the webhook envelope around the facts. */
export function incomingCallBody(facts: IncomingCallFacts, now = new Date()): string {
  return JSON.stringify({ id: `evt_${randomId(24)}`, type: 'call.incoming', created_at: now.toISOString(), data: facts });
}

async function readCapped(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function postToBackend(url: string, secret: string, facts: IncomingCallFacts, signal: AbortSignal): Promise<IncomingCallOutcome> {
  const body = incomingCallBody(facts);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'parley', [PARLEY_SIGNATURE_HEADER]: signPayload(body, secret) },
    body,
    redirect: 'error',
    signal,
  });
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel().catch(() => undefined);
    return { status: 'error', detail: `the backend answered HTTP ${res.status}` };
  }
  const text = await readCapped(res, MAX_ANSWER_BYTES);
  if (text === null) return { status: 'error', detail: `the answer is over ${MAX_ANSWER_BYTES} bytes` };
  if (text.trim() === '') return { status: 'ok', answer: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: 'error', detail: 'the answer is not JSON' };
  }
  return checkAnswerShape(parsed);
}

/**
 * Asks the in-process hook, else the backend at `cfg.url`, within `cfg.timeoutMs`. Never throws.
 * Resolves null when there is nothing to ask.
 */
export async function askIncomingCall(cfg: IncomingCallConfig, facts: IncomingCallFacts, hook: IncomingCallHook | null): Promise<IncomingCallOutcome | null> {
  if (hook === null && (cfg.url === null || cfg.secret === null)) return null;
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<IncomingCallOutcome>((resolve) => {
    timer = setTimeout(() => {
      ac.abort();
      resolve({ status: 'timeout' });
    }, cfg.timeoutMs);
  });
  const ask = (async (): Promise<IncomingCallOutcome> => {
    try {
      if (hook !== null) return checkAnswerShape(await hook(facts));
      return await postToBackend(cfg.url!, cfg.secret!, facts, ac.signal);
    } catch (err) {
      if (ac.signal.aborted) return { status: 'timeout' };
      const e = err as { message?: unknown; cause?: { code?: unknown } };
      const why = typeof e.cause?.code === 'string' ? e.cause.code : typeof e.message === 'string' ? e.message : String(err);
      return { status: 'error', detail: hook !== null ? `the hook threw: ${why}` : `the backend could not be reached (${why})` };
    }
  })();
  try {
    return await Promise.race([ask, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
