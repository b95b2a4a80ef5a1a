/**
 * `POST /telnyx/voice`: the TeXML answer for a Telnyx TeXML application (on when TELNYX_PUBLIC_KEY is set besides
 * TELNYX_STREAM_TOKEN). The request must carry Telnyx's Ed25519 signature (`telnyx-signature-ed25519` over
 * "<telnyx-timestamp>|<raw body>", the timestamp within 5 minutes), else 403. The answer connects the call to
 * `wss://…/telnyx/media` (bidirectional RTP) with the call's facts and a per-call token as `<Parameter>`s.
 * Call Control users start the stream themselves (`stream_url`, `stream_auth_token` = TELNYX_STREAM_TOKEN,
 * `stream_bidirectional_mode: "rtp"`) and need no webhook here. docs/notes/media-streams.md.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_WEBHOOK_BYTES, parseForm, TELNYX_MEDIA_PATH, TELNYX_PARAMS, TELNYX_SIGNATURE_HEADER, TELNYX_TIMESTAMP_HEADER, TELNYX_VOICE_PATH, streamUrlFor, texml, verifyTelnyxSignature, type TelnyxDialect } from '../media-streams/index.ts';

export async function registerTelnyxRoutes(app: FastifyInstance, dialect: TelnyxDialect): Promise<void> {
  const key = app.parley.config.mediaStreams.telnyx.publicKey;
  if (key === null) return;
  await app.register(async (scope) => {
    // the signature covers the raw body: take it as bytes, whatever its type
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BYTES }, (_req, body, done) => done(null, body));
    scope.post(TELNYX_VOICE_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const sig = req.headers[TELNYX_SIGNATURE_HEADER];
      const ts = req.headers[TELNYX_TIMESTAMP_HEADER];
      const verdict = verifyTelnyxSignature(key, typeof sig === 'string' ? sig : undefined, typeof ts === 'string' ? ts : undefined, raw);
      if (verdict !== 'ok') {
        app.parley.metrics.authFailures.inc(`telnyx_signature_${verdict}`);
        req.log.warn({ verdict }, 'Telnyx voice webhook refused: bad, stale or missing signature');
        return reply.code(403).type('text/plain').send('Invalid Telnyx signature.');
      }
      // TeXML posts Twilio-style form parameters; JSON bodies are read too
      let fields: Record<string, unknown> = {};
      const type = String(req.headers['content-type'] ?? '');
      try {
        fields = type.includes('json') ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : parseForm(raw.toString('utf8'));
      } catch {
        return reply.code(400).type('text/plain').send('The body could not be read.');
      }
      const one = (...names: string[]): string => {
        for (const n of names) {
          const v = fields[n];
          if (typeof v === 'string') return v.slice(0, 256);
        }
        return '';
      };
      const callId = one('CallSid', 'call_control_id');
      if (!callId) return reply.code(400).type('text/plain').send('CallSid is missing.');
      const from = one('From', 'from');
      const to = one('To', 'to');
      const token = dialect.tokens.mint({ callId, from, to });
      const params = { [TELNYX_PARAMS.from]: from, [TELNYX_PARAMS.to]: to, [TELNYX_PARAMS.callId]: callId, [TELNYX_PARAMS.token]: token };
      req.log.info({ callId }, 'Telnyx call: answering with a media stream');
      return reply.type('text/xml').send(texml(streamUrlFor(app.parley.config, req.raw, TELNYX_MEDIA_PATH), params));
    });
  });
}
