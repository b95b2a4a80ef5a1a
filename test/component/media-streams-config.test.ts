/**
 * Media-stream door settings (server/config/media-streams.ts): each door is off without its secret (404);
 * behind a proxy, PARLEY_PUBLIC_URL is the URL signatures are checked against and the stream URL handed out;
 * bad settings stop the start with a ConfigError naming the setting.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { ConfigError } from '../../server/errors.ts';
import { loadConfig } from '../../server/config.ts';
import { startParley, type Parley } from './helpers.ts';
import { CarrierClient } from '../fakes/twilio-client.ts';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
let parley: Parley | undefined;
afterEach(async () => {
  await parley?.close();
  parley = undefined;
});

describe('media-stream door settings', () => {
  it('unset secrets: /twilio/voice and both WS paths answer 404', async () => {
    parley = await startParley();
    expect(parley.app.parley.config.mediaStreams).toMatchObject({ publicUrl: null, twilio: { authToken: null }, telnyx: { streamToken: null, publicKey: null } });
    expect((await fetch(`${parley.httpUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CA1' })).status).toBe(404);
    expect((await fetch(`${parley.httpUrl}/telnyx/voice`, { method: 'POST', body: '{}' })).status).toBe(404);
    for (const path of ['/twilio/media', '/telnyx/media']) {
      const c = new CarrierClient(parley.httpUrl.replace(/^http/, 'ws') + path, 'twilio');
      await expect(c.opened).rejects.toMatchObject({ status: 404 });
    }
  });

  it('PARLEY_PUBLIC_URL: the signature covers the public URL (not the local one), the TwiML hands out the public wss URL', async () => {
    parley = await startParley({ env: { TWILIO_AUTH_TOKEN: AUTH_TOKEN, PARLEY_PUBLIC_URL: 'https://voice.example.com/parley' } });
    const form = { CallSid: 'CA1', From: '+1', To: '+2' };
    const post = (url: string): Promise<Response> =>
      fetch(`${parley!.httpUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, form) }, body: new URLSearchParams(form).toString() });
    expect((await post(`${parley.httpUrl}/twilio/voice`)).status).toBe(403);
    const ok = await post('https://voice.example.com/parley/twilio/voice');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<Stream url="wss://voice.example.com/parley/twilio/media">');
    // the handshake, signed by Twilio over the public stream URL, reaches the local server
    const c = new CarrierClient(parley.httpUrl.replace(/^http/, 'ws') + '/twilio/media', 'twilio', { headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, 'wss://voice.example.com/parley/twilio/media', {}) } });
    await c.opened;
    c.close();
  });

  it('bad settings name themselves', () => {
    const bad = (env: Record<string, string>): string => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).setting;
      }
      throw new Error('loaded');
    };
    expect(bad({ TWILIO_AUTH_TOKEN: 'short' })).toBe('TWILIO_AUTH_TOKEN');
    expect(bad({ TELNYX_STREAM_TOKEN: 'has spaces in it, sixteen+' })).toBe('TELNYX_STREAM_TOKEN');
    expect(bad({ TELNYX_STREAM_TOKEN: 'telnyx-stream-secret-0123456789', TELNYX_PUBLIC_KEY: 'bm90IGEga2V5' })).toBe('TELNYX_PUBLIC_KEY');
    const pub = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
    expect(bad({ TELNYX_PUBLIC_KEY: pub })).toBe('TELNYX_STREAM_TOKEN');
    expect(bad({ PARLEY_PUBLIC_URL: 'https://voice.example.com/?x=1' })).toBe('PARLEY_PUBLIC_URL');
    expect(bad({ PARLEY_PUBLIC_URL: 'ftp://voice.example.com' })).toBe('PARLEY_PUBLIC_URL');
    expect(loadConfig({ TELNYX_STREAM_TOKEN: 'telnyx-stream-secret-0123456789', TELNYX_PUBLIC_KEY: pub }).mediaStreams.telnyx.publicKey?.asymmetricKeyType).toBe('ed25519');
  });
});
