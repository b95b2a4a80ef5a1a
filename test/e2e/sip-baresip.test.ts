/**
 * A real softphone (baresip) calls Parley over UDP and over TCP, on the offline local engine, μ-law
 * passed straight through: baresip's microphone is a WAV of flite speech ("I would like to book a table
 * for two people tomorrow evening.", a pause, "Okay, bye bye."). The call is answered, the local engine
 * hears the turn and answers ("You said: …"), baresip records what it hears, PocketSphinx finds the
 * reply's words in that recording; "bye bye" makes the agent say goodbye and call end_call: Parley sends
 * BYE once the goodbye has played, baresip answers 200. (Exact timing of end_call/transfer_call/barge-in:
 * sip-bridge.test.ts.) The calls are recorded (PARLEY_RECORDING=stereo): PocketSphinx hears the caller's
 * words in the recording's left channel and the agent's in its right (issue 11 §4).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import { readWavFile, writeWavFile } from '../../audio/index.ts';
import { recordingPath } from '../../server/recording/index.ts';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import type { CallEndInfo, SipCall } from '../../sip/index.ts';
import { until } from '../component/helpers.ts';
import type { Parley } from '../component/helpers.ts';
import { startBaresip, waitFor } from '../fakes/sip-harness.ts';
import { hear, phoneWav, words } from '../support/hear.ts';
import { startLocalSip, type LocalSip } from '../support/local-sip.ts';

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

/** Stretches of sound (ms), by 20 ms windows, joined across pauses shorter than 1 s. */
function speechSpans(x: Int16Array, rateHz: number): Array<[number, number]> {
  const win = rateHz / 50;
  const spans: Array<[number, number]> = [];
  for (let w = 0; w * win < x.length; w++) {
    let e = 0;
    for (let i = w * win; i < Math.min(x.length, (w + 1) * win); i++) e += x[i]! * x[i]!;
    if (Math.sqrt(e / win) < 300) continue;
    const last = spans[spans.length - 1];
    if (last && w * 20 - last[1] < 1000) last[1] = (w + 1) * 20;
    else spans.push([w * 20, (w + 1) * 20]);
  }
  return spans;
}

describe('baresip calls Parley (local engine)', () => {
  let rig: LocalSip;
  let parley: Parley;
  let bridge: SipBridge;
  const stt = new PocketSphinxStt();
  const calls: SipCall[] = [];
  const ends = new Map<string, CallEndInfo>();
  let wav: string;
  const replies = new Map<string, string[]>(); // call id → the agent's reply transcripts
  const sessionIds = new Map<string, string>(); // call id → session id (= the recording's name)
  const firstAudioMs = new Map<string, number>(); // session id → when the agent's first audio reached the server (ms on the session clock)
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-sip-e2e-data-'));

  beforeAll(async () => {
    rig = await startLocalSip({
      env: { PARLEY_ENGINE: 'local', PARLEY_RECORDING: 'stereo', PARLEY_DATA_DIR: dataDir },
      stt,
      observe: (call, ev) => {
        if (ev.type === 'response.output_audio_transcript.done') replies.set(call.id, [...(replies.get(call.id) ?? []), String(ev['transcript'])]);
      },
    });
    ({ parley, bridge } = rig);
    parley.app.parley.sessions.observe((s) => {
      if (s.callId !== undefined) sessionIds.set(s.callId, s.id);
      return {
        turn: (m) => {
          if (m.kind === 'first_audio' && !firstAudioMs.has(s.id)) firstAudioMs.set(s.id, m.atMs - s.startedAt);
        },
      };
    });
    wav = makeCallerWav(mkdtempSync(join(tmpdir(), 'parley-sip-e2e-')));
  }, 60_000);
  afterAll(() => rig?.close());

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
      const text = await hear(stt, phoneWav(dec as string));
      // what the agent said ("You said: …" + what its STT heard) must be found in what the caller heard
      const said = (replies.get(calls[calls.length - 1]!.id) ?? []).join(' ');
      expect(said).toMatch(/^You said: /);
      // …and the caller's speech reached the engine intact enough to be understood (μ-law passed through)
      expect(words(said).filter((w) => ['table', 'two', 'people', 'tomorrow', 'evening'].includes(w)).length).toBeGreaterThanOrEqual(3);
      expect(said).toMatch(/Goodbye!$/);
      const expected = new Set(words(said));
      const found = new Set(words(text).filter((w) => expected.has(w)));
      expect(found.size, `agent said "${said}", caller heard "${text}"`).toBeGreaterThanOrEqual(Math.min(3, expected.size));

      // the call's stereo recording (UDP call only: one is enough): the caller's question on the left, the agent's answer on the right
      if (transport !== 'udp') return;
      const sessionId = sessionIds.get(calls[calls.length - 1]!.id);
      expect(sessionId).toBeDefined();
      await until(() => parley.app.parley.recordings.get(sessionId!) === null, 5000, 'the recording finished');
      await parley.app.parley.recordings.idle();
      const rec = new wavefile.WaveFile(readFileSync(recordingPath(dataDir, sessionId!)));
      expect((rec.fmt as { numChannels: number; sampleRate: number }).numChannels).toBe(2);
      expect((rec.fmt as { numChannels: number; sampleRate: number }).sampleRate).toBe(8000);
      const [left, right] = rec.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
      // aligned on the session clock: the agent's first reply sits on the right where its first audio reached the
      // server (the SIP door plays it at once), after the caller's question on the left
      const question = speechSpans(left, 8000)[0];
      const reply = speechSpans(right, 8000)[0];
      expect(question, 'the caller is heard on the left').toBeDefined();
      expect(reply, 'the agent is heard on the right').toBeDefined();
      const arrived = firstAudioMs.get(sessionId!)!;
      expect(reply![0], `question ${question!.join('-')} ms, reply ${reply!.join('-')} ms, first audio at ${arrived} ms`).toBeGreaterThan(question![1]);
      expect(reply![0] - arrived).toBeGreaterThanOrEqual(-60);
      expect(reply![0] - arrived).toBeLessThan(500); // flite's leading silence, the pacer's first tick
      // and each side's words (PocketSphinx on the question's and the reply's stretch only: quicker)
      const cut = (x: Int16Array, span: [number, number]): Int16Array => x.subarray(Math.max(0, (span[0] - 300) * 8), Math.min(x.length, (span[1] + 300) * 8));
      const leftText = await hear(stt, cut(left, question!));
      const rightText = await hear(stt, cut(right, reply!));
      const asked = ['book', 'table', 'two', 'people', 'tomorrow', 'evening'];
      const leftWords = new Set(words(leftText));
      expect(asked.filter((w) => leftWords.has(w)).length, `left channel heard as "${leftText}"`).toBeGreaterThanOrEqual(3);
      const rightWords = new Set(words(rightText));
      expect([...expected].filter((w) => rightWords.has(w)).length, `agent said "${said}", right channel heard as "${rightText}"`).toBeGreaterThanOrEqual(Math.min(3, expected.size));
    },
    90_000,
  );
});
