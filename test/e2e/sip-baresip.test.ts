/**
 * A real softphone (baresip) calls Parley over UDP and over TCP, on the offline local engine, μ-law
 * passed straight through: baresip's microphone is a WAV of flite speech ("I would like to book a table
 * for two people tomorrow evening.", a pause, "Okay, bye bye."). The call is answered, the local engine
 * hears the turn and answers ("You said: …"), baresip records what it hears, PocketSphinx finds the
 * reply's words in that recording; "bye bye" makes the agent say goodbye and call end_call: Parley sends
 * BYE once the goodbye has played, baresip answers 200. (Exact timing of end_call/transfer_call/barge-in:
 * sip-bridge.test.ts.)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile, writeWavFile } from '../../audio/index.ts';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startSipBridge } from '../../server/sip-bridge.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import type { CallEndInfo, SipCall } from '../../sip/index.ts';
import { startParley } from '../component/helpers.ts';
import type { Parley } from '../component/helpers.ts';
import { killAll, rtpRange, startBaresip, waitFor } from '../fakes/sip-harness.ts';

const SPEECH = new URL('../../fixtures/speech/', import.meta.url).pathname;

/** 8 kHz mono WAV: 0.5 s silence, book-table, 7 s silence (the reply plays meanwhile), "Okay, bye bye.", 12 s silence. */
function makeCallerWav(dir: string): string {
  const a = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 8000 }).samples;
  const b = readWavFile(new URL('../../fixtures/sip/okay-bye-bye.wav', import.meta.url).pathname, { sampleRateHz: 8000 }).samples;
  const sil = (s: number): number => Math.round(s * 8000);
  // room for the agent's first reply to finish before "okay, bye bye" even on a loaded 2-core machine (a
  // slower reply must not be barged in by the caller's next line, nor the call end with the WAV)
  const out = new Int16Array(sil(0.5) + a.length + sil(11) + b.length + sil(14));
  out.set(a, sil(0.5));
  out.set(b, sil(0.5) + a.length + sil(11));
  const path = join(dir, 'caller.wav');
  writeWavFile(path, out, 8000);
  return path;
}

const words = (s: string): string[] => s.toLowerCase().replace(/[^a-z' ]/g, ' ').split(/\s+/).filter(Boolean);

describe('baresip calls Parley (local engine)', () => {
  let parley: Parley;
  let bridge: SipBridge;
  const stt = new PocketSphinxStt();
  const calls: SipCall[] = [];
  const ends = new Map<string, CallEndInfo>();
  let wav: string;
  const replies = new Map<string, string[]>(); // call id → the agent's reply transcripts

  beforeAll(async () => {
    parley = await startParley({ env: { PARLEY_ENGINE: 'local', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
    bridge = await startSipBridge(parley.app, {
      sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() },
      observe: (call, ev) => {
        if (ev.type === 'response.output_audio_transcript.done') replies.set(call.id, [...(replies.get(call.id) ?? []), String(ev['transcript'])]);
      },
    });
    wav = makeCallerWav(mkdtempSync(join(tmpdir(), 'parley-sip-e2e-')));
    await stt.warm();
  }, 60_000);
  afterAll(async () => {
    await bridge?.close();
    await parley?.close();
    await stt.close();
    killAll();
  });

  it.each(['udp', 'tcp'] as const)(
    'over %s: answered, the reply is heard and recognised, the caller hangs up with BYE/200',
    async (transport) => {
      const uri = `sip:1000@127.0.0.1:${bridge.server.port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
      const before = bridge.server.metrics().callsTotal;
      const bs = await startBaresip({ inputWav: wav, uri, codecs: 'pcmu' });
      try {
        await bs.waitEvent('CALL_ESTABLISHED', 10_000);
        await waitFor(() => bridge.server.calls().length > 0 || bridge.server.metrics().callsTotal > before, 5000, 'call on the server');
        const call = bridge.server.calls()[0];
        if (call) {
          calls.push(call);
          call.once('ended', (e) => ends.set(call.id, e));
          expect(call.transport).toBe(transport);
          expect(call.codec.name).toBe('PCMU');
        }
        // "Okay, bye bye." → the agent says goodbye and calls end_call → Parley sends BYE after the
        // goodbye has played, baresip answers 200 and reports the call closed (well before its WAV ends)
        const closed = await bs.waitEvent('CALL_CLOSED', 40_000);
        expect(closed.type).toBe('CALL_CLOSED');
        expect(call).toBeDefined();
        await waitFor(() => ends.has(call!.id), 3000, 'server-side end');
        expect(ends.get(call!.id)).toMatchObject({ reason: 'local-hangup', by: 'local' });
        expect(ends.get(call!.id)?.detail).toMatch(/end_call/);
        const st = call!.stats();
        expect(st.rtp.packetsIn).toBeGreaterThan(400);
        expect(st.playedMs).toBeGreaterThan(1000); // the agent's reply was played out
      } finally {
        await bs.quit();
      }
      const dec = bs.decodedWav();
      expect(dec, 'baresip recorded what it heard').toBeTruthy();
      // 8 kHz phone audio → 16 kHz for PocketSphinx by zero insertion (it hears that far better than a
      // clean resample, docs/notes/cascade.md)
      const heard8k = readWavFile(dec as string, { sampleRateHz: 8000 }).samples;
      const heard = new Int16Array(heard8k.length * 2);
      for (let i = 0; i < heard8k.length; i++) heard[2 * i] = heard8k[i]!;
      const s = stt.open();
      s.push(heard);
      const text = (await s.finish()).text;
      // what the agent said ("You said: …" + what its STT heard) must be found in what the caller heard
      const said = (replies.get(calls[calls.length - 1]!.id) ?? []).join(' ');
      expect(said).toMatch(/^You said: /);
      // …and the caller's speech reached the engine intact enough to be understood (μ-law passed through)
      expect(words(said).filter((w) => ['table', 'two', 'people', 'tomorrow', 'evening'].includes(w)).length).toBeGreaterThanOrEqual(3);
      expect(said).toMatch(/Goodbye!$/);
      const expected = new Set(words(said));
      const found = new Set(words(text).filter((w) => expected.has(w)));
      expect(found.size, `agent said "${said}", caller heard "${text}"`).toBeGreaterThanOrEqual(Math.min(3, expected.size));
    },
    90_000,
  );
});
