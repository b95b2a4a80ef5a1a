/**
 * The media-stream doors' pure parts (server/media-streams/): Twilio's request signature against the official
 * `twilio` package, the stream tokens, Telnyx's Ed25519 check, and the two dialects reading the carriers'
 * documented example messages.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { StreamTokens, TelnyxDialect, TwilioDialect, parseForm, twilioSignature, validateTwilioSignature, verifyTelnyxSignature } from '../../../server/media-streams/index.ts';

const TOKEN = '0123456789abcdef0123456789abcdef';

describe('Twilio request signatures', () => {
  it('match twilio.getExpectedTwilioSignature and pass twilio.validateRequest, on tricky parameters', () => {
    const cases: Array<[string, Record<string, string | string[]>]> = [
      ['https://example.com/twilio/voice', { CallSid: 'CA1', From: '+15551230000', To: '+15550100' }],
      ['https://example.com/twilio/voice?x=1&y=%27a%27', { Body: 'Zoë & Co = 100% ✓', b: '', a: 'é' }],
      ['https://example.com:8443/p', { Tag: ['b', 'a', 'b'], Z: 'z', A: 'a' }],
      ['wss://voice.example.com/twilio/media', {}],
    ];
    for (const [url, params] of cases) {
      const ours = twilioSignature(TOKEN, url, params);
      expect(ours, url).toBe(twilio.getExpectedTwilioSignature(TOKEN, url, params));
      expect(twilio.validateRequest(TOKEN, ours, url, params)).toBe(true);
      expect(validateTwilioSignature(TOKEN, twilio.getExpectedTwilioSignature(TOKEN, url, params), url, params)).toBe(true);
    }
  });

  it('accept the URL signed with or without its port, refuse anything else', () => {
    const params = { CallSid: 'CA1' };
    const sigNoPort = twilio.getExpectedTwilioSignature(TOKEN, 'https://example.com/twilio/voice', params);
    const sigPort = twilio.getExpectedTwilioSignature(TOKEN, 'https://example.com:443/twilio/voice', params);
    expect(validateTwilioSignature(TOKEN, sigNoPort, 'https://example.com:443/twilio/voice', params)).toBe(true);
    expect(validateTwilioSignature(TOKEN, sigPort, 'https://example.com/twilio/voice', params)).toBe(true);
    expect(validateTwilioSignature(TOKEN, sigNoPort, 'https://example.com/twilio/voice', { CallSid: 'CA2' })).toBe(false);
    expect(validateTwilioSignature(TOKEN, sigNoPort, 'http://example.com/twilio/voice', params)).toBe(false);
    expect(validateTwilioSignature(TOKEN, undefined, 'https://example.com/twilio/voice', params)).toBe(false);
    expect(validateTwilioSignature(TOKEN, '', 'https://example.com/twilio/voice', params)).toBe(false);
    expect(validateTwilioSignature('f'.repeat(32), sigNoPort, 'https://example.com/twilio/voice', params)).toBe(false);
  });

  it('parse form bodies as Twilio posts them (repeated names kept)', () => {
    expect(parseForm('CallSid=CA1&From=%2B1555&Tag=a&Tag=b&Empty=')).toEqual({ CallSid: 'CA1', From: '+1555', Tag: ['a', 'b'], Empty: '' });
    expect(parseForm('__proto__=x&a=1')).toEqual({ a: '1' });
  });
});

describe('stream tokens', () => {
  const facts = { callId: 'CA1', from: '+1', to: '+2' };
  it('open one stream of the call they were minted for, once, before they expire', () => {
    const t = new StreamTokens('twilio', TOKEN);
    const now = 1_700_000_000_000;
    const token = t.mint(facts, now);
    expect(t.take(token, { ...facts, callId: 'CA2' }, now)).toBe('mismatch');
    expect(t.take(token, { ...facts, to: '+3' }, now)).toBe('mismatch');
    expect(new StreamTokens('telnyx', TOKEN).take(token, facts, now)).toBe('mismatch');
    expect(new StreamTokens('twilio', 'another-secret-of-16+').take(token, facts, now)).toBe('mismatch');
    expect(t.take(token, facts, now + 121_000)).toBe('expired');
    expect(t.take(token, facts, now + 1000)).toBe('ok');
    expect(t.take(token, facts, now + 2000)).toBe('replayed');
    expect(t.take('garbage', facts, now)).toBe('malformed');
    expect(t.take(`${token.split('.')[0]! + '9'}.${token.split('.')[1]!}`, facts, now)).toBe('mismatch'); // a stretched expiry
  });
});

describe('Telnyx signatures (Ed25519 over "<timestamp>|<body>")', () => {
  const kp = generateKeyPairSync('ed25519');
  const body = '{"data":{"event_type":"call.initiated"}}';
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const sig = sign(null, Buffer.from(`${ts}|${body}`), kp.privateKey).toString('base64');
  it('verify the signed body, refuse a changed one, a stale timestamp, another key, a missing header', () => {
    expect(verifyTelnyxSignature(kp.publicKey, sig, ts, body, now)).toBe('ok');
    expect(verifyTelnyxSignature(kp.publicKey, sig, ts, Buffer.from(body), now + 299_000)).toBe('ok');
    expect(verifyTelnyxSignature(kp.publicKey, sig, ts, body.replace('initiated', 'answered'), now)).toBe('invalid');
    expect(verifyTelnyxSignature(kp.publicKey, sig, ts, body, now + 301_000)).toBe('stale');
    expect(verifyTelnyxSignature(generateKeyPairSync('ed25519').publicKey, sig, ts, body, now)).toBe('invalid');
    expect(verifyTelnyxSignature(kp.publicKey, undefined, ts, body, now)).toBe('missing');
    expect(verifyTelnyxSignature(kp.publicKey, 'AAAA', ts, body, now)).toBe('invalid');
    expect(verifyTelnyxSignature(kp.publicKey, sig, 'soon', body, now)).toBe('invalid');
  });
});

describe('dialects read the carriers\' documented messages', () => {
  it('Twilio', () => {
    const d = new TwilioDialect(TOKEN);
    expect(d.parse({ event: 'connected', protocol: 'Call', version: '1.0.0' })).toEqual({ kind: 'connected' });
    const start = d.parse({
      event: 'start',
      sequenceNumber: '1',
      start: { accountSid: 'AC1', streamSid: 'MZ1', callSid: 'CA1', tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 }, customParameters: { from: '+1', to: '+2', n: 3 } },
      streamSid: 'MZ1',
    });
    expect(start).toEqual({ kind: 'start', start: { streamId: 'MZ1', callId: 'CA1', from: '+1', to: '+2', params: { from: '+1', to: '+2', n: '3' }, encoding: 'audio/x-mulaw', format: { type: 'audio/pcmu' } } });
    expect(d.parse({ event: 'media', sequenceNumber: '3', media: { track: 'inbound', chunk: '1', timestamp: '5', payload: 'no+JhoaJjpy=' }, streamSid: 'MZ1' })).toEqual({ kind: 'media', payload: 'no+JhoaJjpy=', track: 'inbound' });
    expect(d.parse({ event: 'dtmf', streamSid: 'MZ1', sequenceNumber: '5', dtmf: { track: 'inbound_track', digit: '1' } })).toEqual({ kind: 'dtmf', digit: '1' });
    expect(d.parse({ event: 'mark', sequenceNumber: '4', streamSid: 'MZ1', mark: { name: 'my label' } })).toEqual({ kind: 'mark', name: 'my label' });
    expect(d.parse({ event: 'stop', sequenceNumber: '5', streamSid: 'MZ1', stop: { accountSid: 'AC1', callSid: 'CA1' } })).toEqual({ kind: 'stop' });
    expect(d.parse({ event: 'start', start: { streamSid: 'MZ1' } })).toMatchObject({ kind: 'bad' });
    expect(d.parse({ event: 'start', start: { streamSid: 'MZ1', callSid: 'CA1', mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000 } } })).toMatchObject({ kind: 'start', start: { format: null } });
    expect(d.media('"MZ1"', 'AAAA')).toBe('{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA"}}');
    expect(JSON.parse(d.mark('"MZ1"', 'parley:100'))).toEqual({ event: 'mark', streamSid: 'MZ1', mark: { name: 'parley:100' } });
    expect(JSON.parse(d.clear('"MZ1"'))).toEqual({ event: 'clear', streamSid: 'MZ1' });
  });

  it('Telnyx', () => {
    const d = new TelnyxDialect('telnyx-stream-secret-0123456789');
    const start = d.parse({
      event: 'start',
      sequence_number: '1',
      start: {
        user_id: '3E6F995F-85F7-4705-9741-53B116D28237',
        call_control_id: 'v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ',
        call_session_id: 'ff55a038-6f5d-11ef-9692-02420aeffb1f',
        from: '+13122010094',
        to: '+13122123456',
        tags: ['TAG1', 'TAG2'],
        client_state: 'aGF2ZSBhIG5pY2UgZGF5ID1d',
        media_format: { encoding: 'PCMA', sample_rate: 8000, channels: 1 },
      },
      stream_id: '32DE0DEA-53CB-4B21-89A4-9E1819C043BC',
    });
    expect(start).toEqual({
      kind: 'start',
      start: { streamId: '32DE0DEA-53CB-4B21-89A4-9E1819C043BC', callId: 'v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ', from: '+13122010094', to: '+13122123456', params: {}, encoding: 'PCMA', format: { type: 'audio/pcma' } },
    });
    expect(d.parse({ event: 'dtmf', stream_id: 'x', occurred_at: '2025-06-05T08:54:19.698408Z', sequence_number: '5', dtmf: { digit: '1' } })).toEqual({ kind: 'dtmf', digit: '1' });
    expect(d.parse({ event: 'error', payload: { code: 100003, title: 'malformed_frame', detail: 'Received frame was not formed correctly' }, stream_id: 'x' })).toEqual({ kind: 'error', detail: '100003 malformed_frame: Received frame was not formed correctly' });
    expect(d.parse({ event: 'start', start: { call_control_id: 'c', custom_parameters: [{ name: 'token', value: 't' }] }, stream_id: 's' })).toMatchObject({ kind: 'start', start: { params: { token: 't' } } });
    expect(JSON.parse(d.media('"s"', 'AAAA'))).toEqual({ event: 'media', media: { payload: 'AAAA' } });
    expect(JSON.parse(d.mark('"s"', 'm'))).toEqual({ event: 'mark', mark: { name: 'm' } });
    expect(JSON.parse(d.clear('"s"'))).toEqual({ event: 'clear' });
    // credentials: the static token from the handshake or a custom parameter; a per-call token
    const s = (params: Record<string, string> = {}): Parameters<TelnyxDialect['authorize']>[0] => ({ streamId: 's', callId: 'c', params, encoding: 'PCMU', format: { type: 'audio/pcmu' } });
    expect(d.authorize(s(), { bearer: 'telnyx-stream-secret-0123456789', queryToken: null })).toEqual({ ok: true });
    expect(d.authorize(s(), { bearer: null, queryToken: 'telnyx-stream-secret-0123456789' })).toEqual({ ok: true });
    expect(d.authorize(s({ token: 'telnyx-stream-secret-0123456789' }), { bearer: null, queryToken: null })).toEqual({ ok: true });
    expect(d.authorize(s(), { bearer: 'nope', queryToken: null })).toEqual({ ok: false, reason: 'invalid_token' });
    expect(d.authorize(s(), { bearer: null, queryToken: null })).toEqual({ ok: false, reason: 'missing_token' });
    const perCall = d.tokens.mint({ callId: 'c', from: '+1', to: '+2' });
    expect(d.authorize(s({ parley_token: perCall, call_control_id: 'c', from: '+1', to: '+2' }), { bearer: null, queryToken: null })).toEqual({ ok: true });
  });
});
