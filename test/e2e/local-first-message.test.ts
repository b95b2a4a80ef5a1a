/**
 * A profile's first message on the offline `local` engine (PocketSphinx → demo agent → flite): the agent
 * speaks first, with the profile's exact words, over WS and on a SIP call. Over WS the spoken audio is
 * recognised back with PocketSphinx (the words are heard, not just sent as text); on the SIP call the caller
 * receives the greeting's audio (μ-law RTP) and the session's transcript says the exact words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import type { ServerEvent } from '../../server/protocol/index.ts';
import { startParley, TestClient, type Parley } from '../component/helpers.ts';
import { recognise, responseAudio, overlap } from '../unit/engines/cascade-harness.ts';
import { rtpRange, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

const GREETING = 'Thank you for calling the flower shop.';
const EXPECTED = ['thank', 'you', 'calling', 'flower', 'shop'];

describe('the first message on the local engine', () => {
  let parley: Parley;
  let bridge: SipBridge;
  const stt = new PocketSphinxStt({ secondPass: true });
  beforeAll(async () => {
    // no OPENAI_API_KEY: sessions run on the local engine
    parley = await startParley({ env: { PARLEY_LOCAL_STT_WORKERS: '1', PARLEY_LOCAL_STT_DECODERS: '2', PARLEY_LOCAL_TTS_WORKERS: '1' }, file: { profiles: { shop: { firstMessage: GREETING } }, routes: [{ profile: 'shop' }] } });
    expect(parley.app.parley.config.engine).toBe('local');
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() } });
    await stt.warm();
  }, 60_000);
  afterAll(async () => {
    await bridge?.close();
    await parley?.close();
    await stt.close();
  });

  it('over WS: the reply carries the exact words, as transcript and as audio the STT hears back', async () => {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    const done = await c.waitFor('response.done', 20_000);
    const r = done['response'] as { id: string; status: string; output: Array<{ role?: string; content?: Array<{ transcript?: string }> }> };
    expect(r.status).toBe('completed');
    expect(r.output[0]!.role).toBe('assistant');
    expect(r.output[0]!.content![0]!.transcript).toBe(GREETING);
    const heard = await recognise(stt, responseAudio(c.events, r.id));
    expect(overlap(heard, EXPECTED), heard).toBeGreaterThanOrEqual(3);
    c.close();
  }, 60_000);

  it('on a SIP call: the caller hears the greeting before saying anything', async () => {
    const transcripts: string[] = [];
    parley.app.parley.sessions.observe(() => ({ serverEvent: (ev: ServerEvent) => { if (ev.type === 'response.output_audio_transcript.done') transcripts.push(String(ev.transcript)); } }));
    const uac = new MiniUac(bridge.server.port);
    await uac.bind();
    try {
      await uac.call({ user: '1000' });
      await waitFor(() => transcripts.length > 0, 20_000, 'the greeting');
      expect(transcripts[0]).toBe(GREETING);
      // ~2 s of speech, played at real time, before the caller sent a single packet
      const spoken = (): number => uac.received.filter((p) => p.payload.some((b) => b !== 0xff && b !== 0x7f)).length;
      await waitFor(() => spoken() >= 50, 15_000, 'the greeting played');
      await uac.bye();
    } finally {
      uac.close();
    }
  }, 60_000);
});
