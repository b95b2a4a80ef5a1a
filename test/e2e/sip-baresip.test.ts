/**
 * A real softphone (baresip) calls Parley over UDP and over TCP, on the offline local engine:
 * baresip's microphone is a WAV of flite speech ("I would like to book a table …", a pause, then
 * "Thank you, goodbye."). The call is answered, baresip records what it hears, PocketSphinx finds the
 * agent's reply in that recording, and the goodbye makes the agent call end_call: Parley sends BYE
 * after the goodbye has played, baresip answers 200 and reports the call closed.
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

/** 8 kHz mono WAV: 0.5 s silence, book-table, 6 s silence, goodbye, 10 s silence. */
function makeCallerWav(dir: string): string {
  const a = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 8000 }).samples;
  const b = readWavFile(join(SPEECH, 'goodbye.wav'), { sampleRateHz: 8000 }).samples;
  const sil = (s: number): number => Math.round(s * 8000);
  const out = new Int16Array(sil(0.5) + a.length + sil(6) + b.length + sil(10));
  out.set(a, sil(0.5));
  out.set(b, sil(0.5) + a.length + sil(6));
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

  beforeAll(async () => {
    parley = await startParley({ env: { PARLEY_ENGINE: 'local', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, pcmuPassthrough: false });
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
    'over %s: answered, the reply is heard and recognised, goodbye ends the call with BYE/200',
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
        // the agent ends the call after "Thank you, goodbye." (end_call → BYE), well before the WAV runs out
        const closed = await bs.waitEvent('CALL_CLOSED', 40_000);
        expect(closed.type).toBe('CALL_CLOSED');
        if (call) {
          await waitFor(() => ends.has(call.id), 3000, 'server-side end');
          expect(ends.get(call.id)).toMatchObject({ reason: 'local-hangup', by: 'local' });
          expect(ends.get(call.id)?.detail).toMatch(/end_call/);
        }
      } finally {
        await bs.quit();
      }
      const dec = bs.decodedWav();
      expect(dec, 'baresip recorded what it heard').toBeTruthy();
      const heard = readWavFile(dec as string, { sampleRateHz: 16000 }).samples;
      const s = stt.open();
      s.push(heard);
      const text = (await s.finish()).text;
      const expected = ['like', 'book', 'table', 'two', 'people', 'tomorrow', 'evening', 'said'];
      const found = words(text).filter((w) => expected.includes(w));
      expect(found.length, `recognised: "${text}"`).toBeGreaterThanOrEqual(2);
    },
    90_000,
  );
});
