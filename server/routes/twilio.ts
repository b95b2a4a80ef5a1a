/**
 * The carrier media-stream doors' HTTP side (server/media-streams/, docs/notes/media-streams.md):
 *
 * - `POST /twilio/voice`: Twilio's voice webhook. The X-Twilio-Signature must sign the request (the URL as
 *   Twilio called it, PARLEY_PUBLIC_URL behind a proxy, and every form parameter) with TWILIO_AUTH_TOKEN, else
 *   403. The answer is TwiML connecting the call to `wss://…/twilio/media`, with the call's facts (from, to,
 *   call_sid) and a short-lived per-call token as `<Parameter>`s, and `<Hangup/>` after the stream.
 * - WebSocket `/twilio/media`: the Twilio dialect of the door (its handshake signed, its `start` carrying the token).
 * - `/telnyx/media` and `POST /telnyx/voice`: the Telnyx dialect (server/routes/telnyx.ts).
 *
 * A door whose secret is not configured is off: its paths answer 404.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_WEBHOOK_BYTES, MediaStreamDoors, parseForm, TwilioDialect, TelnyxDialect, TWILIO_MEDIA_PATH, TWILIO_PARAMS, TWILIO_SIGNATURE_HEADER, TWILIO_VOICE_PATH, publicBaseUrl, streamUrlFor, twiml, validateTwilioSignature, type MediaStreamDialect, type MediaStreamDoorOptions } from '../media-streams/index.ts';
import { registerTelnyxRoutes } from './telnyx.ts';

/** The full URL the carrier requested (PARLEY_PUBLIC_URL + the path and query as received). */
export function requestUrl(app: FastifyInstance, req: FastifyRequest): string {
  return publicBaseUrl(app.parley.config, req.raw) + (req.raw.url ?? req.url);
}

/**
 * Registers every configured media-stream door (Twilio when TWILIO_AUTH_TOKEN is set, Telnyx when
 * TELNYX_STREAM_TOKEN is); null when none is. `otherWsPaths`: paths of other WebSocket doors (the realtime one).
 */
export async function registerMediaStreamRoutes(app: FastifyInstance, otherWsPaths: readonly string[], opts: MediaStreamDoorOptions = {}): Promise<MediaStreamDoors | null> {
  const cfg = app.parley.config.mediaStreams;
  const dialects: MediaStreamDialect[] = [];
  const twilio = cfg.twilio.authToken !== null ? new TwilioDialect(cfg.twilio.authToken) : null;
  const telnyx = cfg.telnyx.streamToken !== null ? new TelnyxDialect(cfg.telnyx.streamToken) : null;
  if (twilio) dialects.push(twilio);
  if (telnyx) dialects.push(telnyx);
  if (dialects.length === 0) return null;
  const doors = new MediaStreamDoors(app, dialects, otherWsPaths, opts);
  if (twilio && cfg.twilio.authToken !== null) await registerTwilioVoice(app, twilio, cfg.twilio.authToken);
  if (telnyx) await registerTelnyxRoutes(app, telnyx);
  app.addHook('preClose', async () => doors.close());
  app.parley.log.info({ carriers: dialects.map((d) => d.name) }, 'media-stream doors on');
  return doors;
}

async function registerTwilioVoice(app: FastifyInstance, dialect: TwilioDialect, authToken: string): Promise<void> {
  await app.register(async (scope) => {
    // Twilio posts form parameters; the signature covers each of them as received
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_WEBHOOK_BYTES }, (_req, body, done) => done(null, parseForm(String(body))));
    scope.post(TWILIO_VOICE_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
      const form = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, string | string[]>;
      const sig = req.headers[TWILIO_SIGNATURE_HEADER];
      if (!validateTwilioSignature(authToken, typeof sig === 'string' ? sig : undefined, requestUrl(app, req), form)) {
        app.parley.metrics.authFailures.inc(sig === undefined ? 'twilio_missing_signature' : 'twilio_invalid_signature');
        req.log.warn({ signed: sig !== undefined }, 'Twilio voice webhook refused: bad or missing X-Twilio-Signature');
        return reply.code(403).type('text/plain').send('Invalid X-Twilio-Signature.');
      }
      const one = (name: string): string => {
        const v = form[name];
        return typeof v === 'string' ? v : '';
      };
      const callSid = one('CallSid');
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(callSid)) return reply.code(400).type('text/plain').send('CallSid is missing.');
      const from = one('From').slice(0, 128);
      const to = one('To').slice(0, 128);
      const token = dialect.tokens.mint({ callId: callSid, from, to });
      const params = { [TWILIO_PARAMS.from]: from, [TWILIO_PARAMS.to]: to, [TWILIO_PARAMS.callSid]: callSid, [TWILIO_PARAMS.token]: token };
      req.log.info({ callSid }, 'Twilio call: answering with a media stream');
      return reply.type('text/xml').send(twiml(streamUrlFor(app.parley.config, req.raw, TWILIO_MEDIA_PATH), params));
    });
  });
}
