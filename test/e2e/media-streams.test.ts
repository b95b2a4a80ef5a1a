/**
 * The carrier media-stream doors (server/media-streams/) end to end on the offline `local` engine (Silero VAD,
 * PocketSphinx, the demo agent, flite): a client written from Twilio's and Telnyx's published message formats
 * (test/fakes/twilio-client.ts) plays the carrier — it streams flite speech as 20 ms μ-law frames at real time,
 * plays the agent's audio at real time and echoes marks as the audio before them plays.
 *
 * One Twilio call walks the whole path: the signed webhook → TwiML → the signed handshake → `start` with the
 * token; the profile's first message; the caller talks over it (barge-in: `clear` at once, the truncate at the
 * last echoed mark); the agent answers what was said (its transcript says the words, its μ-law audio is speech
 * PocketSphinx recognises); DTMF reaches the conversation; "goodbye" → end_call → the stream closes after the
 * goodbye has played (agent_ended). A Telnyx call does a turn through the same door and hangs up with `stop`.
 * The signature code is checked against the official `twilio` package's validator.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import type { ClientEvent, ServerEvent } from '../../server/protocol/index.ts';
import type { EndReason } from '../../server/session/index.ts';
import { CHUNK_MS, twilioSignature } from '../../server/media-streams/index.ts';
import { startParley, type Parley } from '../component/helpers.ts';
import { overlap, recognise, speech16k, words } from '../unit/engines/cascade-harness.ts';
import { waitFor } from '../fakes/sip-harness.ts';
import { CarrierClient } from '../fakes/twilio-client.ts';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const TELNYX_TOKEN = 'telnyx-stream-secret-0123456789';
const GREETING = 'Thank you for calling the flower shop. We have roses, tulips, lilies and orchids today, and we deliver every afternoon.';

interface Seen {
  server: Array<{ atMs: number; ev: ServerEvent }>;
  client: Array<{ atMs: number; ev: ClientEvent }>;
  dtmf: string[];
  closed: EndReason | null;
  call: Record<string, unknown>;
  leg: string;
}

describe('media-stream doors on the local engine', () => {
  let parley: Parley;
  let telnyxKey: { privateKey: KeyObject; publicB64: string };
  const sessions = new Map<string, Seen>();
  const stt = new PocketSphinxStt({ secondPass: true });
  const clients: CarrierClient[] = [];

  beforeAll(async () => {
    const kp = generateKeyPairSync('ed25519');
    telnyxKey = { privateKey: kp.privateKey, publicB64: kp.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64') };
    parley = await startParley({
      env: {
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TELNYX_STREAM_TOKEN: TELNYX_TOKEN,
        TELNYX_PUBLIC_KEY: telnyxKey.publicB64,
        PARLEY_LOCAL_STT_WORKERS: '1',
        PARLEY_LOCAL_STT_DECODERS: '2',
        PARLEY_LOCAL_TTS_WORKERS: '1',
        LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent',
      },
      file: { profiles: { shop: { firstMessage: GREETING } }, routes: [{ dialled: { exact: '+15550100' }, profile: 'shop' }] },
    });
    expect(parley.app.parley.config.engine).toBe('local');
    parley.app.parley.sessions.observe((info) => {
      const seen: Seen = { server: [], client: [], dtmf: [], closed: null, call: { ...info.call }, leg: info.leg };
      sessions.set(info.id, seen);
      return {
        serverEvent: (ev) => seen.server.push({ atMs: Date.now(), ev: ev.type === 'response.output_audio.delta' ? ({ type: ev.type } as ServerEvent) : ev }),
        clientEvent: (ev) => seen.client.push({ atMs: Date.now(), ev: ev.type === 'input_audio_buffer.append' ? ({ type: ev.type } as ClientEvent) : ev }),
        dtmf: (d) => seen.dtmf.push(d.digit),
        closed: (_s, end) => {
          seen.closed = end.endReason;
        },
      };
    });
    await stt.warm();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await parley?.close();
    await stt.close();
  });

  const base = (): string => parley.httpUrl;
  const streamUrl = (path: string): string => parley.httpUrl.replace(/^http/, 'ws') + path;
  const transcripts = (s: Seen): string[] => s.server.filter((e) => e.ev.type === 'response.output_audio_transcript.done').map((e) => String((e.ev as { transcript?: unknown }).transcript));
  const seenFor = (callId: string): Seen | undefined => [...sessions.values()].find((s) => s.call['sipCallId'] === callId);

  async function twilioWebhook(form: Record<string, string>, signature?: string | null): Promise<Response> {
    const url = `${base()}/twilio/voice`;
    const sig = signature === undefined ? twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, form) : signature;
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(sig !== null ? { 'x-twilio-signature': sig } : {}) }, body: new URLSearchParams(form).toString() });
  }

  function parseStream(xml: string): { url: string; params: Record<string, string> } {
    const url = /<Stream url="([^"]+)"/.exec(xml)?.[1] ?? '';
    const params: Record<string, string> = {};
    for (const m of xml.matchAll(/<Parameter name="([^"]+)" value="([^"]*)"\/>/g)) params[m[1]!] = m[2]!.replace(/&amp;/g, '&');
    return { url: url.replace(/&amp;/g, '&'), params };
  }

  /** A Twilio call: webhook → TwiML → signed handshake → start with the TwiML's parameters. */
  async function twilioCall(form: Record<string, string>, playSpeed = 1): Promise<{ client: CarrierClient; callSid: string }> {
    const res = await twilioWebhook(form);
    expect(res.status).toBe(200);
    const { url, params } = parseStream(await res.text());
    const client = new CarrierClient(url, 'twilio', { headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, {}) }, playSpeed });
    clients.push(client);
    await client.opened;
    client.connected();
    client.start({ callId: form['CallSid']!, params });
    return { client, callSid: form['CallSid']! };
  }

  it('POST /twilio/voice: Parley signs as the twilio package does, takes its signatures, refuses bad or missing ones (403)', async () => {
    const url = `${base()}/twilio/voice`;
    const forms: Array<Record<string, string>> = [
      { CallSid: 'CA1234', From: '+15551230000', To: '+15550100', AccountSid: 'AC99', CallStatus: 'ringing' },
      { CallSid: 'CA1', From: 'sip:alice@example.com;tag=x y', To: 'client:Zoë & Co', Caller: '=?+/' },
    ];
    for (const form of forms) {
      // our signature passes the official validator, the official one equals ours
      expect(twilio.validateRequest(AUTH_TOKEN, twilioSignature(AUTH_TOKEN, url, form), url, form)).toBe(true);
      expect(twilioSignature(AUTH_TOKEN, url, form)).toBe(twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, form));
      const ok = await twilioWebhook(form);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/xml/);
      const xml = await ok.text();
      expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response><Connect><Stream url="ws:\/\/127\.0\.0\.1:\d+\/twilio\/media">.*<\/Stream><\/Connect><Hangup\/><\/Response>$/);
      const { params } = parseStream(xml);
      expect(params).toMatchObject({ from: form['From'], to: form['To'], call_sid: form['CallSid'] });
      expect(params['parley_token']).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    }
    // a signature made over the URL with its port (as twilio-node tries too) is taken
    const form = forms[0]!;
    const withPort = url; // 127.0.0.1:<port> already carries a port: signing it without is the other candidate
    const noPort = withPort.replace(/:(\d+)\//, '/');
    expect((await twilioWebhook(form, twilio.getExpectedTwilioSignature(AUTH_TOKEN, noPort, form))).status).toBe(200);
    // refused: missing, wrong token, a parameter changed after signing, another URL
    expect((await twilioWebhook(form, null)).status).toBe(403);
    expect((await twilioWebhook(form, twilio.getExpectedTwilioSignature('ffffffffffffffffffffffffffffffff', url, form))).status).toBe(403);
    const sig = twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, form);
    expect((await twilioWebhook({ ...form, From: '+15559999999' }, sig)).status).toBe(403);
    expect((await twilioWebhook(form, twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${base()}/twilio/other`, form))).status).toBe(403);
    expect(parley.app.parley.metrics.authFailures.get({ reason: 'twilio_invalid_signature' })).toBeGreaterThanOrEqual(3);
    expect(parley.app.parley.metrics.authFailures.get({ reason: 'twilio_missing_signature' })).toBe(1);
  });

  it('the WS door refuses an unsigned handshake (403), a start without the token or with a replayed one (1008, no session)', async () => {
    const url = streamUrl('/twilio/media');
    const unsigned = new CarrierClient(url, 'twilio');
    await expect(unsigned.opened).rejects.toMatchObject({ status: 403 });
    const badSig = new CarrierClient(url, 'twilio', { headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature('ffffffffffffffffffffffffffffffff', url, {}) } });
    await expect(badSig.opened).rejects.toMatchObject({ status: 403 });
    const before = sessions.size;
    const signed = { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, url, {}) };
    const noToken = new CarrierClient(url, 'twilio', { headers: signed });
    await noToken.opened;
    noToken.connected();
    noToken.start({ params: { from: '+1', to: '+2' } });
    expect((await noToken.closed).code).toBe(1008);
    // a real token, used twice: the second stream is refused
    const res = await twilioWebhook({ CallSid: 'CAreplay', From: '+1', To: '+2' });
    const { params } = parseStream(await res.text());
    const first = new CarrierClient(url, 'twilio', { headers: signed });
    await first.opened;
    first.start({ callId: 'CAreplay', params });
    await waitFor(() => seenFor('CAreplay') !== undefined, 10_000, 'the first stream opens a session');
    const again = new CarrierClient(url, 'twilio', { headers: signed });
    await again.opened;
    again.start({ callId: 'CAreplay', params });
    expect((await again.closed).code).toBe(1008);
    // a token minted for another call does not open this one
    const other = new CarrierClient(url, 'twilio', { headers: signed });
    await other.opened;
    other.start({ callId: 'CAother', params: { ...params, call_sid: 'CAother' } });
    expect((await other.closed).code).toBe(1008);
    first.stop();
    await first.closed;
    expect(sessions.size).toBe(before + 1);
    await waitFor(() => seenFor('CAreplay')?.closed === 'caller_hangup', 5_000, 'stop → caller_hangup');
    expect(parley.app.parley.metrics.authFailures.get({ reason: 'media_stream_token_replayed' })).toBe(1);
  });
});
