/**
 * A carrier's media-stream protocol ("dialect"): how its WebSocket messages look, how a stream proves it
 * is the carrier's, and how the door's three outgoing messages (audio, mark, clear) are written. The door
 * (door.ts) does the rest — the session, barge-in from echoed marks, DTMF, end_call — the same for every
 * carrier, so a new carrier (Plivo, Vonage, Genesys AudioHook) is one file implementing this interface.
 *
 * Twilio and Telnyx share the shape: JSON text frames `{"event": "connected" | "start" | "media" | "dtmf" |
 * "mark" | "stop", …}` in, `media` / `mark` / `clear` out (docs/notes/media-streams.md has both formats).
 */
import type { IncomingMessage } from 'node:http';
import type { AudioFormat } from '../protocol/index.ts';

/** What the carrier's `start` message says of the stream and the call. */
export interface StreamStart {
  /** The carrier's stream id (Twilio streamSid, Telnyx stream_id): written into outgoing messages. */
  streamId: string;
  /** The carrier's call id (Twilio CallSid, Telnyx call_control_id). */
  callId: string;
  from?: string;
  to?: string;
  /** Custom parameters (Twilio `<Parameter>`s / Telnyx custom_parameters), names as sent. */
  params: Record<string, string>;
  /** The session audio format the stream's encoding maps to, or null when Parley cannot pass it through. */
  format: AudioFormat | null;
  /** The encoding as the carrier named it (for the log / refusal). */
  encoding: string;
}

/** One incoming message, read by the dialect (the door's fast path reads `media` itself). */
export type Inbound =
  | { kind: 'connected' }
  | { kind: 'start'; start: StreamStart }
  | { kind: 'media'; payload: string; track: string | null }
  | { kind: 'dtmf'; digit: string }
  | { kind: 'mark'; name: string }
  | { kind: 'stop' }
  | { kind: 'error'; detail: string }
  | { kind: 'unknown'; event: string }
  | { kind: 'bad'; reason: string };

/** What the upgrade request showed, kept for the check at `start`. */
export interface UpgradeCredentials {
  /** `Authorization: Bearer …` on the upgrade (Telnyx stream_auth_token), if any. */
  bearer: string | null;
  /** The `token` query parameter of the stream URL, if any. */
  queryToken: string | null;
}

export type AuthResult = { ok: true } | { ok: false; reason: string };

export interface MediaStreamDialect {
  /** 'twilio' | 'telnyx' | …: metrics label, the session's `carrier` metadata and its call facts' trunk. */
  readonly name: string;
  /** The WebSocket path (`/twilio/media`). */
  readonly path: string;
  /**
   * Checked before the upgrade (null: accept). Twilio: X-Twilio-Signature over the stream URL. A refusal is
   * answered with this HTTP status.
   */
  checkUpgrade(req: IncomingMessage, streamUrl: string): { status: number; reason: string } | null;
  /** Checked at `start`, before any session opens: does this stream belong to a call we answered? */
  authorize(start: StreamStart, upgrade: UpgradeCredentials): AuthResult;
  /** Reads one parsed JSON message. Never throws. */
  parse(msg: Record<string, unknown>): Inbound;
  /** Outgoing messages. `quotedStreamId` is JSON.stringify(streamId), made once per stream. */
  media(quotedStreamId: string, base64: string): string;
  mark(quotedStreamId: string, name: string): string;
  clear(quotedStreamId: string): string;
}

// ------------------------------------------------------------------ shared readers (bounded)

export const MAX_ID_CHARS = 256;
export const MAX_PARAMS = 32;
export const MAX_PARAM_CHARS = 1024;

export function str(v: unknown, max = MAX_ID_CHARS): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
}

export function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Custom parameters as an object of strings, or an array of {name, value} (either shape, bounded). */
export function params(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  const put = (k: unknown, val: unknown): void => {
    if (n >= MAX_PARAMS || typeof k !== 'string' || k.length === 0 || k.length > 128 || k === '__proto__') return;
    const s = typeof val === 'string' ? val : typeof val === 'number' || typeof val === 'boolean' ? String(val) : undefined;
    if (s === undefined || s.length > MAX_PARAM_CHARS) return;
    out[k] = s;
    n++;
  };
  if (Array.isArray(v)) {
    for (const e of v) {
      const o = obj(e);
      if (o) put(o['name'], o['value']);
    }
  } else {
    const o = obj(v);
    if (o) for (const k of Object.keys(o)) put(k, o[k]);
  }
  return out;
}

/** μ-law / A-law at 8 kHz pass straight through; anything else is refused. */
export function g711Format(encoding: string, sampleRateHz: unknown): AudioFormat | null {
  const e = encoding.toLowerCase();
  if (sampleRateHz !== undefined && sampleRateHz !== 8000 && sampleRateHz !== '8000') return null;
  if (e === 'audio/x-mulaw' || e === 'pcmu' || e === 'audio/pcmu' || e === 'mulaw' || e === 'ulaw') return { type: 'audio/pcmu' };
  if (e === 'audio/x-alaw' || e === 'pcma' || e === 'audio/pcma' || e === 'alaw') return { type: 'audio/pcma' };
  return null;
}

/** A `start` message once the dialect has read its fields (from/to only when the carrier gave them). */
export function startEvent(f: { streamId: string; callId: string; params: Record<string, string>; encoding: string; sampleRateHz: unknown; from: string | undefined; to: string | undefined }): Inbound {
  const { from, to } = f;
  return {
    kind: 'start',
    start: { streamId: f.streamId, callId: f.callId, params: f.params, encoding: f.encoding, format: g711Format(f.encoding, f.sampleRateHz), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) },
  };
}

/** The messages Twilio and Telnyx spell alike: `media` (payload, track), `dtmf` (digit), `mark` (name). */
export function sharedEvent(event: 'media' | 'dtmf' | 'mark', m: Record<string, unknown>): Inbound {
  if (event === 'media') {
    const media = obj(m['media']);
    const payload = media ? media['payload'] : undefined;
    if (typeof payload !== 'string') return { kind: 'bad', reason: 'media_without_payload' };
    return { kind: 'media', payload, track: str(media?.['track'], 64) ?? null };
  }
  if (event === 'dtmf') {
    const digit = str(obj(m['dtmf'])?.['digit'], 1);
    return digit === undefined ? { kind: 'bad', reason: 'dtmf_without_digit' } : { kind: 'dtmf', digit };
  }
  const name = str(obj(m['mark'])?.['name']);
  return name === undefined ? { kind: 'bad', reason: 'mark_without_name' } : { kind: 'mark', name };
}

/** XML attribute value escaping (TwiML / TeXML answers). */
export function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');
}

/** Largest carrier webhook body taken (a voice webhook is a few hundred bytes of form parameters). */
export const MAX_WEBHOOK_BYTES = 64 * 1024;

/** application/x-www-form-urlencoded → name → value (a repeated name → its values). */
export function parseForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (k === '__proto__') continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
