/** server/media-streams: carrier media-stream doors (Twilio, Telnyx), docs/notes/media-streams.md. */
export { MediaStreamDoors, MediaStreamCall, publicBaseUrl, streamUrlFor, MAX_MESSAGE_BYTES, CHUNK_MS, START_TIMEOUT_MS, MEDIA_TIMEOUT_MS, type MediaStreamDoorOptions } from './door.ts';
export type { MediaStreamDialect, StreamStart, Inbound, UpgradeCredentials, AuthResult } from './dialect.ts';
export { parseForm, MAX_WEBHOOK_BYTES } from './dialect.ts';
export { TwilioDialect, twilioSignature, validateTwilioSignature, twiml, TWILIO_VOICE_PATH, TWILIO_MEDIA_PATH, TWILIO_SIGNATURE_HEADER, TWILIO_PARAMS } from './twilio.ts';
export { TelnyxDialect, verifyTelnyxSignature, texml, TELNYX_VOICE_PATH, TELNYX_MEDIA_PATH, TELNYX_SIGNATURE_HEADER, TELNYX_TIMESTAMP_HEADER, TELNYX_MAX_SKEW_S, TELNYX_PARAMS } from './telnyx.ts';
export { StreamTokens, STREAM_TOKEN_TTL_S } from './token.ts';
