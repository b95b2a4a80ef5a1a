/**
 * Twilio Media Streams (bidirectional, `<Connect><Stream>`), docs/notes/media-streams.md.
 *
 * Twilio → Parley (JSON text frames):
 *   {"event":"connected","protocol":"Call","version":"1.0.0"}
 *   {"event":"start","sequenceNumber":"1","streamSid":"MZ…","start":{"accountSid","streamSid","callSid","tracks":["inbound"],
 *      "customParameters":{…},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}
 *   {"event":"media","sequenceNumber","streamSid","media":{"track":"inbound","chunk","timestamp","payload":"<base64 μ-law>"}}
 *   {"event":"dtmf","streamSid","sequenceNumber","dtmf":{"track":"inbound_track","digit":"1"}}
 *   {"event":"mark","streamSid","sequenceNumber","mark":{"name":"…"}}   (echoed when the audio before it has played)
 *   {"event":"stop","streamSid","sequenceNumber","stop":{"accountSid","callSid"}}
 * Parley → Twilio: {"event":"media","streamSid","media":{"payload"}}, {"event":"mark","streamSid","mark":{"name"}},
 *   {"event":"clear","streamSid"} (drops the queued audio; the marks still queued come back).
 *
 * Authentication. The voice webhook (`POST /twilio/voice`) carries X-Twilio-Signature: base64 HMAC-SHA1, keyed by
 * the auth token, of the full URL Twilio requested followed by every POST parameter as name+value, sorted by name
 * (a repeated name's values sorted). The stream's WebSocket handshake is signed the same way over the stream URL
 * (no parameters). The handshake signature alone is the same for every call (it covers only the URL), so the
 * TwiML also hands the stream a short-lived per-call token (token.ts) that `start` must carry.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { obj, params, sharedEvent, startEvent, str, xmlAttr, type AuthResult, type Inbound, type MediaStreamDialect, type StreamStart, type UpgradeCredentials } from './dialect.ts';
import { StreamTokens } from './token.ts';

export const TWILIO_VOICE_PATH = '/twilio/voice';
export const TWILIO_MEDIA_PATH = '/twilio/media';
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
/** The custom parameters Parley puts in its TwiML. */
export const TWILIO_PARAMS = { from: 'from', to: 'to', callSid: 'call_sid', token: 'parley_token' } as const;

/** The signed string: the URL, then each parameter name+value, sorted by name (a name's values deduplicated and sorted). */
export function twilioSignature(authToken: string, url: string, formParams: Readonly<Record<string, string | readonly string[]>>): string {
  let data = url;
  for (const name of Object.keys(formParams).sort()) {
    const v = formParams[name]!;
    if (typeof v === 'string') data += name + v;
    else for (const one of [...new Set(v)].sort()) data += name + one;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** The URL as given, without its port, and with the scheme's default port (Twilio signs whichever it used). */
function urlCandidates(url: string): string[] {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (!m) return [url];
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const portAt = authority.indexOf(':', authority.lastIndexOf(']') + 1);
  const host = portAt === -1 ? authority : authority.slice(0, portAt);
  const secure = scheme.toLowerCase() === 'https://' || scheme.toLowerCase() === 'wss://';
  const withPort = portAt === -1 ? `${scheme}${host}:${secure ? 443 : 80}${rest}` : url;
  return [...new Set([url, `${scheme}${host}${rest}`, withPort])];
}

/** Does `signature` sign this request? Constant-time; tries the URL with and without its port. */
export function validateTwilioSignature(authToken: string, signature: string | undefined, url: string, formParams: Readonly<Record<string, string | readonly string[]>>): boolean {
  if (!signature) return false;
  const got = Buffer.from(signature);
  return urlCandidates(url).some((u) => {
    const want = Buffer.from(twilioSignature(authToken, u, formParams));
    return got.length === want.length && timingSafeEqual(got, want);
  });
}

/** The TwiML answer: connect the call to the stream, carrying the call's facts and the stream token; hang up when the stream ends. */
export function twiml(streamUrl: string, parameters: Record<string, string>): string {
  const ps = Object.entries(parameters).map(([n, v]) => `<Parameter name="${xmlAttr(n)}" value="${xmlAttr(v)}"/>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xmlAttr(streamUrl)}">${ps}</Stream></Connect><Hangup/></Response>`;
}

export class TwilioDialect implements MediaStreamDialect {
  readonly name = 'twilio';
  readonly path = TWILIO_MEDIA_PATH;
  readonly tokens: StreamTokens;
  readonly #authToken: string;

  constructor(authToken: string) {
    this.#authToken = authToken;
    this.tokens = new StreamTokens('twilio', authToken);
  }

  checkUpgrade(req: IncomingMessage, streamUrl: string): { status: number; reason: string } | null {
    const sig = req.headers[TWILIO_SIGNATURE_HEADER];
    const signature = typeof sig === 'string' ? sig : undefined;
    if (signature === undefined) return { status: 403, reason: 'missing_signature' };
    const q = (req.url ?? '').indexOf('?');
    const url = q >= 0 ? streamUrl + (req.url ?? '').slice(q) : streamUrl;
    if (validateTwilioSignature(this.#authToken, signature, url, {}) || validateTwilioSignature(this.#authToken, signature, url + '/', {})) return null;
    return { status: 403, reason: 'invalid_signature' };
  }

  authorize(start: StreamStart, _upgrade: UpgradeCredentials): AuthResult {
    const p = start.params;
    const token = p[TWILIO_PARAMS.token];
    if (token === undefined) return { ok: false, reason: 'missing_token' };
    // the token covers the facts as the parameters carry them, and the call must be the one the stream is of
    if (p[TWILIO_PARAMS.callSid] !== start.callId) return { ok: false, reason: 'call_mismatch' };
    const r = this.tokens.take(token, { callId: start.callId, from: p[TWILIO_PARAMS.from] ?? '', to: p[TWILIO_PARAMS.to] ?? '' });
    return r === 'ok' ? { ok: true } : { ok: false, reason: `token_${r}` };
  }

  parse(m: Record<string, unknown>): Inbound {
    const event = str(m['event'], 64);
    switch (event) {
      case 'connected':
        return { kind: 'connected' };
      case 'start': {
        const s = obj(m['start']);
        if (!s) return { kind: 'bad', reason: 'start_without_body' };
        const streamId = str(s['streamSid']) ?? str(m['streamSid']);
        const callId = str(s['callSid']);
        if (streamId === undefined || callId === undefined) return { kind: 'bad', reason: 'start_without_ids' };
        const mf = obj(s['mediaFormat']) ?? {};
        const encoding = str(mf['encoding'], 64) ?? 'audio/x-mulaw';
        const ps = params(s['customParameters']);
        const from = ps[TWILIO_PARAMS.from];
        const to = ps[TWILIO_PARAMS.to];
        return startEvent({ streamId, callId, params: ps, encoding, sampleRateHz: mf['sampleRate'], from, to });
      }
      case 'media':
      case 'dtmf':
      case 'mark':
        return sharedEvent(event, m);
      case 'stop':
        return { kind: 'stop' };
      case undefined:
        return { kind: 'bad', reason: 'no_event' };
      default:
        return { kind: 'unknown', event };
    }
  }

  media(quotedStreamId: string, base64: string): string {
    return `{"event":"media","streamSid":${quotedStreamId},"media":{"payload":"${base64}"}}`;
  }

  mark(quotedStreamId: string, name: string): string {
    return `{"event":"mark","streamSid":${quotedStreamId},"mark":{"name":${JSON.stringify(name)}}}`;
  }

  clear(quotedStreamId: string): string {
    return `{"event":"clear","streamSid":${quotedStreamId}}`;
  }
}
