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
import { readWavFile } from '../../audio/index.ts';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import type { ClientEvent, ServerEvent } from '../../server/protocol/index.ts';
import type { EndReason } from '../../server/session/index.ts';
import { CHUNK_MS, twilioSignature } from '../../server/media-streams/index.ts';
import { startParley, type Parley } from '../component/helpers.ts';
import { overlap, speech16k } from '../unit/engines/cascade-harness.ts';
import { waitFor } from '../fakes/sip-harness.ts';
import { CarrierClient } from '../fakes/twilio-client.ts';

const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';
const TELNYX_TOKEN = 'telnyx-stream-secret-0123456789';
const GREETING = 'Thank you for calling the flower shop. We have roses, tulips, lilies and orchids today, and we deliver every afternoon.';

interface Seen {
  server: Array<{ atMs: number; ev: ServerEvent }>;
  client: Array<{ atMs: number; ev: ClientEvent }>;
  dtmf: string[];
  /** The agent audio each item's deltas carried (bytes, as generated). */
  audio: Map<string, Buffer>;
  closed: EndReason | null;
  call: Record<string, unknown>;
  leg: string;
}

describe('media-stream doors on the local engine', () => {
  let parley: Parley;
  let telnyxKey: { privateKey: KeyObject; publicB64: string };
  const sessions = new Map<string, Seen>();
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
      const seen: Seen = { server: [], client: [], dtmf: [], audio: new Map(), closed: null, call: { ...info.call }, leg: info.leg };
      sessions.set(info.id, seen);
      return {
        serverEvent: (ev) => {
          if (ev.type === 'response.output_audio.delta') {
            seen.audio.set(ev.item_id, Buffer.concat([seen.audio.get(ev.item_id) ?? Buffer.alloc(0), ev.delta.bytes()]));
            return;
          }
          seen.server.push({ atMs: Date.now(), ev });
        },
        clientEvent: (ev) => seen.client.push({ atMs: Date.now(), ev: ev.type === 'input_audio_buffer.append' ? ({ type: ev.type } as ClientEvent) : ev }),
        dtmf: (d) => seen.dtmf.push(d.digit),
        closed: (_s, end) => {
          seen.closed = end.endReason;
        },
      };
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await parley?.close();
  });

  const base = (): string => parley.httpUrl;
  const streamUrl = (path: string): string => parley.httpUrl.replace(/^http/, 'ws') + path;
  const transcripts = (s: Seen): string[] => s.server.filter((e) => e.ev.type === 'response.output_audio_transcript.done').map((e) => String((e.ev as { transcript?: unknown }).transcript));
  /** The item id of the first reply whose transcript starts with `prefix`. */
  const itemOf = (s: Seen, prefix: string): string =>
    String((s.server.find((e) => e.ev.type === 'response.output_audio_transcript.done' && String((e.ev as { transcript?: unknown }).transcript).startsWith(prefix))!.ev as { item_id: string }).item_id);
  /** Waits for the agent's reply starting with `prefix`; a timeout says what was heard and said instead. */
  const replyTo = async (s: Seen, prefix: string, timeoutMs = 45_000): Promise<void> => {
    try {
      await waitFor(() => transcripts(s).some((t) => t.startsWith(prefix)), timeoutMs, prefix);
    } catch {
      const user = s.server.filter((e) => e.ev.type === 'conversation.item.input_audio_transcription.completed').map((e) => (e.ev as { transcript?: unknown }).transcript);
      const errors = s.server.filter((e) => e.ev.type === 'error').map((e) => JSON.stringify((e.ev as { error?: unknown }).error));
      throw new Error(`no reply "${prefix}…" in ${timeoutMs} ms; heard ${JSON.stringify(user)}, said ${JSON.stringify(transcripts(s))}, errors ${JSON.stringify(errors)}, last events ${s.server.slice(-10).map((e) => e.ev.type).join(' ')}`);
    }
  };
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

  it('a Twilio call: first message, barge-in (clear, truncate at the echoed mark), a spoken turn, DTMF, end_call after the goodbye', async () => {
    const { client, callSid } = await twilioCall({ CallSid: 'CAcall0001', From: '+15551230000', To: '+15550100', AccountSid: 'AC99' });
    await waitFor(() => seenFor(callSid) !== undefined, 10_000, 'the session');
    const seen = seenFor(callSid)!;
    expect(seen.leg).toBe('media-stream');
    expect(seen.call).toEqual({ sipCallId: callSid, trunk: 'twilio', from: '+15551230000', to: '+15550100', dialled: '+15550100' });

    // the first message plays (at real time, marks echoed as it goes)
    await waitFor(() => client.heard.length >= 1500 * 8, 20_000, '1.5 s of the greeting heard');
    expect(CarrierClient.level(Uint8Array.from(client.heard))).toBeGreaterThan(200);
    expect(client.echoed.length).toBeGreaterThan(5);

    // the caller talks over it: clear at once, the truncate at the last echoed mark
    await client.speak(speech16k('book-table'), { silenceMs: 1200 });
    const started = seen.server.find((e) => e.ev.type === 'input_audio_buffer.speech_started');
    expect(started, 'speech_started').toBeDefined();
    expect(client.clears.length).toBeGreaterThanOrEqual(1);
    const clearAt = client.clears[0]!;
    // the door sends it in the same turn as it gets speech_started; the bound is loose for a loaded 2-core machine
    expect(clearAt - started!.atMs, 'clear after speech_started (ms)').toBeLessThan(1000);
    const truncate = seen.client.find((e) => e.ev.type === 'conversation.item.truncate')?.ev as { audio_end_ms: number } | undefined;
    expect(truncate, 'truncate').toBeDefined();
    const played = client.echoed.filter((m) => !m.byClear && m.atMs <= clearAt).map((m) => Number(m.name.replace('parley:', '')));
    expect(played).toContain(truncate!.audio_end_ms);
    // marks echoed while the clear was on its way were not seen by then: the gap is a chunk plus that latency
    // (≈ 0 on an idle machine, a few hundred ms when the test shares 2 cores with others)
    const lastPlayed = Math.max(...played);
    expect(lastPlayed - truncate!.audio_end_ms).toBeLessThanOrEqual(CHUNK_MS + 1000);
    // what the caller had heard when the clear came is at least that much
    expect(client.heardAtClearMs[0]!).toBeGreaterThanOrEqual(truncate!.audio_end_ms);
    expect(client.heardAtClearMs[0]! - truncate!.audio_end_ms).toBeLessThan(CHUNK_MS + 1000);
    expect(transcripts(seen)[0]).toBe(GREETING); // generated in full, faster than real time…
    expect(client.droppedAtClearMs[0]!, 'the clear dropped the rest of the greeting at the carrier').toBeGreaterThan(1000);
    expect(truncate!.audio_end_ms).toBeLessThan(client.receivedAudio().length / 8 - 1000);

    // the agent answers what was said: its transcript has the words, its μ-law audio is that speech
    await replyTo(seen, 'You said:');
    const reply = transcripts(seen).find((t) => t.startsWith('You said:'))!;
    const expected = ['like', 'table', 'two', 'people', 'tomorrow', 'evening'];
    expect(overlap(reply, expected), reply).toBeGreaterThanOrEqual(3);
    const afterClear = client.received.findIndex((r) => r.atMs >= clearAt);
    // the reply reaches the carrier (the observer saw it first) and plays out
    const replyItem = itemOf(seen, 'You said:');
    await waitFor(() => client.receivedAudio(afterClear).length >= seen.audio.get(replyItem)!.length && client.queuedMs === 0, 30_000, 'the reply played');
    const replyAudio = client.receivedAudio(afterClear);
    expect(CarrierClient.level(replyAudio)).toBeGreaterThan(200);
    // μ-law straight through: what the carrier got is, byte for byte, what the engine generated for the reply
    expect(replyAudio.equals(seen.audio.get(replyItem)!)).toBe(true);

    // DTMF reaches the conversation (text mode, as on SIP) and the agent answers it
    for (const d of ['4', '2', '#']) client.dtmf(d);
    await replyTo(seen, 'You said: [The caller pressed the phone keys');
    expect(seen.dtmf).toEqual(['4', '2', '#']);
    const item = seen.client.find((e) => e.ev.type === 'conversation.item.create')?.ev as { item: { content: Array<{ text: string }> } };
    expect(item.item.content[0]!.text).toBe('[The caller pressed the phone keys: 4 2 #]') // as on SIP: the '#' ends the input and is part of it;

    // "goodbye": the agent says goodbye and ends the call; the stream closes once the goodbye has played
    await client.speak(readWavFile(new URL('../../fixtures/sip/okay-bye-bye.wav', import.meta.url).pathname, { sampleRateHz: 16_000 }).samples, { silenceMs: 1200 });
    const closed = await Promise.race([client.closed, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    expect(closed, `the stream closed; transcripts: ${JSON.stringify(transcripts(seen))}; user: ${JSON.stringify(seen.server.filter((e) => e.ev.type === 'conversation.item.input_audio_transcription.completed').map((e) => (e.ev as { transcript?: unknown }).transcript))}; tail: ${seen.server.slice(-12).map((e) => e.ev.type).join(' ')}`).not.toBeNull();
    expect(closed!.code).toBe(1000);
    expect(transcripts(seen)).toContain('Goodbye!');
    const lastMark = client.of('mark').at(-1)!;
    expect(client.echoed.some((m) => m.name === (lastMark.msg['mark'] as { name: string }).name && !m.byClear && m.atMs <= closed!.atMs), 'the goodbye played to its last mark before the close').toBe(true);
    await waitFor(() => seen.closed !== null, 5_000, 'session closed');
    expect(seen.closed).toBe('agent_ended');
    expect(client.protocolErrors).toEqual([]);
  }, 150_000);

  it('Telnyx through the same door: the signed TeXML webhook (403 when not), a turn in Telnyx frames, stop → caller_hangup', async () => {
    const url = `${base()}/telnyx/voice`;
    const body = new URLSearchParams({ CallSid: 'v3:telnyx-call-1', From: '+13122010094', To: '+13122123456', AccountSid: 'acc' }).toString();
    const post = (headers: Record<string, string>, b = body): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: b });
    const signed = (b: string, ts = String(Math.floor(Date.now() / 1000))): Record<string, string> => ({ 'telnyx-timestamp': ts, 'telnyx-signature-ed25519': sign(null, Buffer.from(`${ts}|${b}`), telnyxKey.privateKey).toString('base64') });
    expect((await post({})).status).toBe(403);
    expect((await post(signed(body), body.replace('telnyx-call-1', 'telnyx-call-2'))).status).toBe(403); // body changed after signing
    expect((await post(signed(body, String(Math.floor(Date.now() / 1000) - 600)))).status).toBe(403); // stale
    const other = generateKeyPairSync('ed25519').privateKey;
    const ts = String(Math.floor(Date.now() / 1000));
    expect((await post({ 'telnyx-timestamp': ts, 'telnyx-signature-ed25519': sign(null, Buffer.from(`${ts}|${body}`), other).toString('base64') })).status).toBe(403);
    const ok = await post(signed(body));
    expect(ok.status).toBe(200);
    const xml = await ok.text();
    expect(xml).toMatch(/<Connect><Stream url="ws:\/\/127\.0\.0\.1:\d+\/telnyx\/media" bidirectionalMode="rtp">/);
    const { url: wsUrl, params } = parseStream(xml);
    expect(params).toMatchObject({ from: '+13122010094', to: '+13122123456', call_control_id: 'v3:telnyx-call-1' });

    // the per-call token of the TeXML answer, as a custom parameter: a turn, Telnyx-shaped both ways
    const client = new CarrierClient(wsUrl, 'telnyx', { playSpeed: 4 });
    clients.push(client);
    await client.opened;
    client.connected();
    client.start({ callId: 'v3:telnyx-call-1', params });
    await waitFor(() => seenFor('v3:telnyx-call-1') !== undefined, 10_000, 'the session');
    const seen = seenFor('v3:telnyx-call-1')!;
    expect(seen.call).toEqual({ sipCallId: 'v3:telnyx-call-1', trunk: 'telnyx', from: '+13122010094', to: '+13122123456', dialled: '+13122123456' });
    await client.speak(speech16k('book-table'), { silenceMs: 1200, speed: 2 });
    await replyTo(seen, 'You said:');
    const reply = itemOf(seen, 'You said:');
    await waitFor(() => client.receivedAudio().length >= seen.audio.get(reply)!.length && client.queuedMs === 0, 30_000, 'the reply played');
    expect(client.receivedAudio().equals(seen.audio.get(reply)!)).toBe(true);
    expect(CarrierClient.level(client.receivedAudio())).toBeGreaterThan(200);
    expect(client.of('mark').length).toBeGreaterThan(3);
    expect(client.echoed.length).toBe(client.of('mark').length);
    expect(client.protocolErrors).toEqual([]);
    client.stop();
    await waitFor(() => seen.closed !== null, 5_000, 'session closed');
    expect(seen.closed).toBe('caller_hangup');

    // Call Control: TELNYX_STREAM_TOKEN as the stream_auth_token (Authorization: Bearer); a wrong one is refused
    const streamPath = streamUrl('/telnyx/media');
    const bad = new CarrierClient(streamPath, 'telnyx', { headers: { Authorization: 'Bearer not-the-token-at-all' } });
    await expect(bad.opened).rejects.toMatchObject({ status: 403 }); // refused at the handshake
    const none = new CarrierClient(streamPath, 'telnyx'); // no token anywhere: refused at start
    await none.opened;
    none.start({ callId: 'v3:telnyx-bad' });
    expect((await none.closed).code).toBe(1008);
    const cc = new CarrierClient(streamPath, 'telnyx', { headers: { Authorization: `Bearer ${TELNYX_TOKEN}` } });
    clients.push(cc);
    await cc.opened;
    cc.start({ callId: 'v3:telnyx-cc' });
    await waitFor(() => seenFor('v3:telnyx-cc') !== undefined, 10_000, 'the session');
    cc.close(); // the socket goes without a stop: the caller hung up
    await waitFor(() => seenFor('v3:telnyx-cc')?.closed === 'caller_hangup', 5_000, 'closed');
    expect(seenFor('v3:telnyx-bad')).toBeUndefined();
  }, 150_000);

  it('bad frames are dropped and counted, never fatal; an oversize message closes only its stream; unknown WS paths still get 404', async () => {
    const { client, callSid } = await twilioCall({ CallSid: 'CArobust01', From: '+1', To: '+2' });
    await waitFor(() => seenFor(callSid) !== undefined, 10_000, 'the session');
    const seen = seenFor(callSid)!;
    const appends = (): number => seen.client.filter((e) => e.ev.type === 'input_audio_buffer.append').length;
    await client.silence(100);
    await waitFor(() => appends() >= 5, 3_000, 'appends');
    client.sendRaw('not json');
    client.sendRaw('[1,2,3]');
    client.sendRaw(Buffer.from([1, 2, 3]), true);
    client.sendRaw('{"event":"media","streamSid":"x","media":{"payload":"@@@="}}');
    client.sendRaw('{"event":"media","media":{"track":"inbound","payload":"AAA"}}');
    client.sendRaw('{"event":"dtmf","dtmf":{"digit":"x"}}');
    client.sendRaw('{"event":"surprise"}');
    client.sendRaw('{"event":"start","start":{"streamSid":"MZ2","callSid":"CA2"}}');
    client.sendRaw('{"event":"mark","mark":{"name":"parley:oops"}}');
    const before = appends();
    await client.silence(200);
    await waitFor(() => appends() >= before + 10, 3_000, 'audio still flows after the bad frames');
    expect(seen.closed).toBeNull();
    const metrics = await parley.app.parley.metrics.render();
    for (const reason of ['invalid_json', 'not_an_object', 'binary_frame', 'bad_base64', 'bad_dtmf', 'unknown_event', 'second_start', 'bad_mark']) {
      expect(metrics, reason).toMatch(new RegExp(`parley_media_stream_bad_frames_total\\{carrier="twilio",reason="${reason}"\\} [1-9]`));
    }
    // a message over the bound: the WebSocket layer closes this stream (1009), the session ends, the server goes on
    client.sendRaw(JSON.stringify({ event: 'media', media: { payload: 'A'.repeat(70_000) } }));
    expect((await client.closed).code).toBe(1009);
    await waitFor(() => seen.closed !== null, 5_000, 'session closed');
    expect(seen.closed).toBe('caller_hangup');
    const nowhere = new CarrierClient(streamUrl('/nowhere'), 'twilio');
    await expect(nowhere.opened).rejects.toMatchObject({ status: 404 });
    expect((await fetch(`${base()}/healthz`)).status).toBe(200);
  });
});
