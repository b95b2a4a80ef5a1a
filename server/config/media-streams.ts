/**
 * Carrier media-stream doors (server/media-streams/, docs/notes/media-streams.md). Owned by the
 * media-stream work: add fields here.
 *
 * Env (file keys in parentheses):
 * - TWILIO_AUTH_TOKEN (`twilio.authToken`): the Twilio account's auth token. It signs Twilio's webhooks
 *   (X-Twilio-Signature) and keys Parley's stream tokens. Unset: the Twilio door is off (`POST /twilio/voice`
 *   and `/twilio/media` answer 404).
 * - TELNYX_STREAM_TOKEN (`telnyx.streamToken`): a secret of your choosing (≥ 16 characters) that Telnyx sends
 *   with the stream (Call Control `stream_auth_token`, or `?token=` on the stream URL). Unset: the Telnyx door
 *   (`/telnyx/media`) is off.
 * - TELNYX_PUBLIC_KEY (`telnyx.publicKey`): the account's Ed25519 public key (base64, Mission Control → Keys &
 *   Credentials → Public Key). Set with TELNYX_STREAM_TOKEN: `POST /telnyx/voice` answers TeXML to signed
 *   requests (telnyx-signature-ed25519 over "<telnyx-timestamp>|<raw body>").
 * - PARLEY_PUBLIC_URL (`publicUrl`): the server's public base URL as the carrier reaches it
 *   (https://voice.example.com, optionally with a path prefix). Signatures cover the URL the carrier used, so
 *   behind a proxy or TLS terminator set it; unset, the URL is rebuilt from the request's Host header and
 *   Parley's own TLS setting.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { ConfigReader } from './reader.ts';

export interface MediaStreamsConfig {
  /** PARLEY_PUBLIC_URL without a trailing slash (null: rebuilt from each request). */
  publicUrl: string | null;
  twilio: {
    /** TWILIO_AUTH_TOKEN (null: the Twilio door is off). */
    authToken: string | null;
  };
  telnyx: {
    /** TELNYX_STREAM_TOKEN (null: the Telnyx door is off). */
    streamToken: string | null;
    /** TELNYX_PUBLIC_KEY as a key object (null: `POST /telnyx/voice` is off). */
    publicKey: KeyObject | null;
  };
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): followed by the 32 raw key bytes. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function secret(r: ConfigReader, env: string, file: string): string | null {
  const v = r.optStr(env, file);
  if (v === null) return null;
  if (v.length < 16 || /\s/.test(v)) throw new ConfigError(r.raw(env, file)?.setting ?? env, 'must be at least 16 characters, without spaces');
  return v;
}

function publicKey(r: ConfigReader): KeyObject | null {
  const v = r.optStr('TELNYX_PUBLIC_KEY', 'telnyx.publicKey');
  if (v === null) return null;
  const setting = r.raw('TELNYX_PUBLIC_KEY', 'telnyx.publicKey')?.setting ?? 'TELNYX_PUBLIC_KEY';
  const raw = Buffer.from(v.trim(), 'base64');
  if (raw.length !== 32 || raw.toString('base64').replace(/=+$/, '') !== v.trim().replace(/=+$/, '')) {
    throw new ConfigError(setting, 'must be the base64 Ed25519 public key (32 bytes) from the Telnyx portal');
  }
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function readMediaStreamsConfig(r: ConfigReader): MediaStreamsConfig {
  const raw = r.url('PARLEY_PUBLIC_URL', 'publicUrl', null, ['http:', 'https:']);
  if (raw !== null) {
    const u = new URL(raw);
    const setting = r.raw('PARLEY_PUBLIC_URL', 'publicUrl')?.setting ?? 'PARLEY_PUBLIC_URL';
    if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
      throw new ConfigError(setting, 'must be a base URL like https://voice.example.com (no credentials, query or fragment)');
    }
  }
  const streamToken = secret(r, 'TELNYX_STREAM_TOKEN', 'telnyx.streamToken');
  const key = publicKey(r);
  if (key !== null && streamToken === null) throw new ConfigError('TELNYX_STREAM_TOKEN', 'must be set with TELNYX_PUBLIC_KEY (it keys the stream tokens of the TeXML answers)');
  return {
    publicUrl: raw,
    twilio: { authToken: secret(r, 'TWILIO_AUTH_TOKEN', 'twilio.authToken') },
    telnyx: { streamToken, publicKey: key },
  };
}
