/**
 * Telnyx media streaming (bidirectional RTP mode: `stream_bidirectional_mode: "rtp"`), docs/notes/media-streams.md.
 * Twilio's frames with Telnyx's field names:
 *   {"event":"connected","version":"1.0.0"}
 *   {"event":"start","sequence_number":"1","stream_id":"…","start":{"user_id","call_control_id","call_session_id","from","to",
 *      "client_state","custom_parameters"?,"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}
 *   {"event":"media","sequence_number","stream_id","media":{"track":"inbound","chunk","timestamp","payload":"<base64 RTP payload>"}}
 *   {"event":"dtmf","stream_id","occurred_at","sequence_number","dtmf":{"digit":"1"}}
 *   {"event":"mark","stream_id","sequence_number","mark":{"name":"…"}}   (echoed when the audio before it has played)
 *   {"event":"error","stream_id","payload":{"code":100003,"title":"malformed_frame","detail":"…"}}
 *   {"event":"stop","sequence_number","stream_id","stop":{"user_id","call_control_id"}}
 * Parley → Telnyx: {"event":"media","media":{"payload"}}, {"event":"mark","mark":{"name"}}, {"event":"clear"}.
 * Telnyx says media frames may arrive out of order; they are passed on in arrival order (a reordering buffer
 * would add latency to every frame for a rare case).
 *
 * Authentication. Telnyx sends the Call Control `stream_auth_token` "as part of the WebSocket connection": the
 * door takes TELNYX_STREAM_TOKEN as an `Authorization: Bearer` header of the handshake, a `token` query parameter
 * of the stream URL, or a `token` custom parameter; or a per-call token (token.ts) minted by `POST /telnyx/voice`,
 * the TeXML answer to a request Telnyx signed with Ed25519 (`telnyx-signature-ed25519` = base64 signature of
 * "<telnyx-timestamp>|<raw body>", checked with the account's public key, timestamp within 5 minutes).
 */
import { verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { obj, params, sharedEvent, startEvent, str, xmlAttr, type AuthResult, type Inbound, type MediaStreamDialect, type StreamStart, type UpgradeCredentials } from './dialect.ts';
import { StreamTokens, secretEquals } from './token.ts';

export const TELNYX_VOICE_PATH = '/telnyx/voice';
export const TELNYX_MEDIA_PATH = '/telnyx/media';
export const TELNYX_SIGNATURE_HEADER = 'telnyx-signature-ed25519';
export const TELNYX_TIMESTAMP_HEADER = 'telnyx-timestamp';
/** Signed requests older (or newer) than this are refused: a replay window, as Telnyx advises. */
export const TELNYX_MAX_SKEW_S = 300;
/** The custom parameters Parley puts in its TeXML. */
export const TELNYX_PARAMS = { from: 'from', to: 'to', callId: 'call_control_id', token: 'parley_token', staticToken: 'token' } as const;

/** Verifies a Telnyx-signed request: 'ok' or why not. */
export function verifyTelnyxSignature(key: KeyObject, signature: string | undefined, timestamp: string | undefined, rawBody: Buffer | string, nowMs = Date.now()): 'ok' | 'missing' | 'stale' | 'invalid' {
  if (!signature || !timestamp) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'invalid';
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > TELNYX_MAX_SKEW_S) return 'stale';
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64) return 'invalid';
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const signed = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]);
  try {
    return verify(null, signed, key, sig) ? 'ok' : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** The TeXML answer: a bidirectional RTP stream in the call's codec, with the call's facts and the stream token. */
export function texml(streamUrl: string, parameters: Record<string, string>): string {
  const ps = Object.entries(parameters).map(([n, v]) => `<Parameter name="${xmlAttr(n)}" value="${xmlAttr(v)}"/>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xmlAttr(streamUrl)}" bidirectionalMode="rtp">${ps}</Stream></Connect><Hangup/></Response>`;
}

export class TelnyxDialect implements MediaStreamDialect {
  readonly name = 'telnyx';
  readonly path = TELNYX_MEDIA_PATH;
  readonly tokens: StreamTokens;
  readonly #streamToken: string;

  constructor(streamToken: string) {
    this.#streamToken = streamToken;
    this.tokens = new StreamTokens('telnyx', streamToken);
  }

  /** A token shown on the handshake (Bearer, `?token=`) must be the right one: refused before the upgrade. None: checked at start. */
  checkUpgrade(req: IncomingMessage, _streamUrl: string): { status: number; reason: string } | null {
    const auth = req.headers.authorization;
    const bearer = typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : null;
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    const given = bearer ?? query;
    if (given !== null && !secretEquals(given, this.#streamToken)) return { status: 403, reason: 'invalid_token' };
    return null;
  }

  authorize(start: StreamStart, upgrade: UpgradeCredentials): AuthResult {
    const p = start.params;
    const perCall = p[TELNYX_PARAMS.token];
    if (perCall !== undefined) {
      if (p[TELNYX_PARAMS.callId] !== start.callId) return { ok: false, reason: 'call_mismatch' };
      const r = this.tokens.take(perCall, { callId: start.callId, from: p[TELNYX_PARAMS.from] ?? '', to: p[TELNYX_PARAMS.to] ?? '' });
      return r === 'ok' ? { ok: true } : { ok: false, reason: `token_${r}` };
    }
    const given = upgrade.bearer ?? upgrade.queryToken ?? p[TELNYX_PARAMS.staticToken];
    if (given === undefined) return { ok: false, reason: 'missing_token' };
    return secretEquals(given, this.#streamToken) ? { ok: true } : { ok: false, reason: 'invalid_token' };
  }

  parse(m: Record<string, unknown>): Inbound {
    const event = str(m['event'], 64);
    switch (event) {
      case 'connected':
        return { kind: 'connected' };
      case 'start': {
        const s = obj(m['start']);
        if (!s) return { kind: 'bad', reason: 'start_without_body' };
        const streamId = str(m['stream_id']) ?? str(s['stream_id']);
        const callId = str(s['call_control_id']);
        if (streamId === undefined || callId === undefined) return { kind: 'bad', reason: 'start_without_ids' };
        const mf = obj(s['media_format']) ?? {};
        const encoding = str(mf['encoding'], 64) ?? 'PCMU';
        const ps = params(s['custom_parameters'] ?? s['customParameters']);
        const from = str(s['from']) ?? ps[TELNYX_PARAMS.from];
        const to = str(s['to']) ?? ps[TELNYX_PARAMS.to];
        return startEvent({ streamId, callId, params: ps, encoding, sampleRateHz: mf['sample_rate'], from, to });
      }
      case 'media':
      case 'dtmf':
      case 'mark':
        return sharedEvent(event, m);
      case 'error': {
        const p = obj(m['payload']) ?? {};
        return { kind: 'error', detail: `${String(p['code'] ?? '?')} ${str(p['title'], 128) ?? ''}: ${str(p['detail'], 512) ?? ''}` };
      }
      case 'stop':
        return { kind: 'stop' };
      case undefined:
        return { kind: 'bad', reason: 'no_event' };
      default:
        return { kind: 'unknown', event };
    }
  }

  media(_quotedStreamId: string, base64: string): string {
    return `{"event":"media","media":{"payload":"${base64}"}}`;
  }

  mark(_quotedStreamId: string, name: string): string {
    return `{"event":"mark","mark":{"name":${JSON.stringify(name)}}}`;
  }

  clear(_quotedStreamId: string): string {
    return '{"event":"clear"}';
  }
}
