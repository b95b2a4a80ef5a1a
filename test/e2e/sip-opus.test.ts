/**
 * Opus over RTP with a real peer: baresip offers only opus/48000/2; Parley answers Opus, decodes the
 * caller to 24 kHz pcm16 and the test's onCall echoes it back (encoded to Opus again). What baresip heard
 * must be the speech it sent (median normalised cross-correlation of 0.5 s speech windows > 0.7).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWavFile, writeWav } from '../../audio/index.ts';
import { writeFileSync } from 'node:fs';
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { SipCall } from '../../sip/index.ts';
import { killAll, rtpRange, startBaresip, testLog, waitFor } from '../fakes/sip-harness.ts';

const SPEECH = new URL('../../fixtures/speech/', import.meta.url).pathname;

/** Best normalised cross-correlation of b against a over lags 0..maxLag samples (b delayed). */
function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { corr: number; lag: number } {
  let best = { corr: 0, lag: 0 };
  for (let lag = 0; lag <= maxLag; lag += 2) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    const n = Math.min(a.length, b.length - lag);
    for (let i = 0; i < n; i++) {
      const x = a[i]!;
      const y = b[i + lag]!;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const c = aa && bb ? ab / Math.sqrt(aa * bb) : 0;
    if (c > best.corr) best = { corr: c, lag };
  }
  return best;
}

describe('Opus call with baresip', () => {
  afterAll(() => killAll());

  it('answers opus/48000/2 and carries speech both ways (echo), recognisably', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-opus-'));
    const speech = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 48000 }).samples;
    const stereo = new Int16Array((speech.length + 48000) * 2); // aufile needs 48 kHz stereo for opus/48000/2
    for (let i = 0; i < speech.length; i++) stereo[2 * (i + 12000)] = stereo[2 * (i + 12000) + 1] = speech[i]!;
    // writeWav is mono; write a stereo header by hand
    const mono = writeWav(new Int16Array(0), 48000);
    const hdr = Buffer.from(mono.subarray(0, 44));
    hdr.writeUInt16LE(2, 22);
    hdr.writeUInt32LE(48000 * 4, 28);
    hdr.writeUInt16LE(4, 32);
    hdr.writeUInt32LE(stereo.byteLength, 40);
    hdr.writeUInt32LE(36 + stereo.byteLength, 4);
    const input = join(dir, 'in48.wav');
    writeFileSync(input, Buffer.concat([hdr, Buffer.from(stereo.buffer)]));

    const calls: SipCall[] = [];
    const server = await startSipServer(
      { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange() },
      {
        log: testLog,
        onCall: (call) => {
          calls.push(call);
          call.setAudioFormat({ encoding: 'pcm16', sampleRateHz: 24000 });
          call.onAudio((chunk) => call.play(chunk));
        },
      },
    );
    const bs = await startBaresip({ inputWav: input, uri: `sip:echo@127.0.0.1:${server.port}`, codecs: 'opus/48000/2' });
    try {
      await bs.waitEvent('CALL_ESTABLISHED', 10_000);
      await waitFor(() => calls.length === 1, 3000, 'call');
      expect(calls[0]?.codec).toMatchObject({ name: 'opus', clockRateHz: 48000 });
      await bs.waitEvent('CALL_CLOSED', 20_000); // baresip hangs up at the end of its WAV
    } finally {
      await bs.quit();
      await server.stop();
    }
    const dec = bs.decodedWav();
    expect(dec).toBeTruthy();
    const heard = readWavFile(dec as string, { sampleRateHz: 8000 }).samples;
    const sent = readWavFile(input, { sampleRateHz: 8000 }).samples;
    // windows of 0.5 s where the caller spoke, each aligned on its own (a loaded machine may slip the
    // delay mid-call): what came back must be that speech
    const win = 4000;
    const scores: number[] = [];
    for (let off = 0; off + win <= sent.length; off += win) {
      const a = sent.subarray(off, off + win);
      let energy = 0;
      for (const v of a) energy += v * v;
      if (Math.sqrt(energy / win) < 500) continue; // silence
      scores.push(bestCorrelation(a, heard.subarray(off, Math.min(heard.length, off + win + 8000)), 8000 * 0.8).corr);
    }
    scores.sort((x, y) => x - y);
    expect(scores.length).toBeGreaterThanOrEqual(5);
    const median = scores[Math.floor(scores.length / 2)]!;
    expect(median, `window correlations ${scores.map((x) => x.toFixed(2)).join(' ')}`).toBeGreaterThan(0.7);
  }, 60_000);
});
