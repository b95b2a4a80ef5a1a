import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AudioError, OpusCodec, readWavFile } from '../../../audio/index.ts';
import type { OpusSampleRateHz } from '../../../audio/index.ts';
import { fitSine, sine } from './signal.ts';

const SPEECH = join(import.meta.dirname, '../../../fixtures/speech');

function frames(x: Int16Array, n: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let o = 0; o + n <= x.length; o += n) out.push(x.subarray(o, o + n));
  return out;
}

function energy(a: Int16Array, b?: Int16Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e += ((a[i] as number) - (b ? (b[i] as number) : 0)) ** 2;
  return e;
}

describe.each([8000, 12000, 16000, 24000, 48000] as const)('Opus at %i Hz', (rateHz: OpusSampleRateHz) => {
  it('encodes 20 ms frames at about the target bitrate and decodes them back to the same tone', () => {
    const codec = new OpusCodec({ sampleRateHz: rateHz, bitrateBps: 24000 });
    expect(codec.frameSamples).toBe(rateHz / 50);
    const x = sine(rateHz, 440, 1, 0.4);
    const out = new Int16Array(x.length);
    let bytes = 0;
    let o = 0;
    for (const f of frames(x, codec.frameSamples)) {
      const pkt = codec.encode(f);
      bytes += pkt.length;
      const y = codec.decode(pkt);
      expect(y.length).toBe(codec.frameSamples);
      out.set(y, o);
      o += y.length;
    }
    const kbps = (bytes * 8) / 1000;
    expect(kbps).toBeGreaterThan(8);
    expect(kbps).toBeLessThan(40);
    const fit = fitSine(out, rateHz, 440, Math.round(rateHz * 0.2), out.length);
    expect(fit.snrDb).toBeGreaterThan(15);
    expect(fit.amplitude / (0.4 * 32767)).toBeGreaterThan(0.8);
    expect(fit.amplitude / (0.4 * 32767)).toBeLessThan(1.2);
    codec.close();
  });
});

describe('Opus loss handling', () => {
  const speech = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 16000 }).samples;

  function encodeAll(fec: boolean): Buffer[] {
    const enc = new OpusCodec({ sampleRateHz: 16000, fec, expectedLossPct: 20 });
    const pkts = frames(speech, 320).map((f) => Buffer.from(enc.encode(f)));
    enc.close();
    return pkts;
  }

  it('recovers a lost frame from the next packet’s FEC far better than concealment does', () => {
    const pkts = encodeAll(true);
    const ref = new OpusCodec({ sampleRateHz: 16000 });
    const refOut = pkts.map((p) => ref.decode(p));
    let fecErr = 0;
    let plcErr = 0;
    let refEnergy = 0;
    // lose single packets in the middle of the speech
    for (const lost of [40, 55, 70, 85, 100]) {
      const a = new OpusCodec({ sampleRateHz: 16000 });
      const b = new OpusCodec({ sampleRateHz: 16000 });
      expect(a.fecDecodeAvailable).toBe(true);
      for (let i = 0; i < lost; i++) {
        a.decode(pkts[i]!);
        b.decode(pkts[i]!);
      }
      const recovered = a.decodeFec(pkts[lost + 1]!);
      const concealed = b.conceal();
      expect(recovered.length).toBe(320);
      expect(concealed.length).toBe(320);
      fecErr += energy(recovered, refOut[lost]);
      plcErr += energy(concealed, refOut[lost]);
      refEnergy += energy(refOut[lost]!);
      a.close();
      b.close();
    }
    const fecSnr = 10 * Math.log10(refEnergy / fecErr);
    const plcSnr = 10 * Math.log10(refEnergy / plcErr);
    expect(fecSnr).toBeGreaterThan(plcSnr + 3);
    expect(fecSnr).toBeGreaterThan(3);
  });

  it('without FEC in the stream decodeFec conceals, and conceal works before any packet', () => {
    const pkts = encodeAll(false);
    const a = new OpusCodec({ sampleRateHz: 16000 });
    expect(a.conceal().length).toBe(320);
    for (let i = 0; i < 50; i++) a.decode(pkts[i]!);
    expect(a.decodeFec(pkts[51]!).length).toBe(320);
    a.close();
  });

  it('the addon-only decoder decodes, and conceals one frame per call', () => {
    const pkts = encodeAll(true);
    const d = new OpusCodec({ sampleRateHz: 16000, decoder: 'addon' });
    expect(d.decoderKind).toBe('addon');
    expect(d.fecDecodeAvailable).toBe(false);
    const lib = new OpusCodec({ sampleRateHz: 16000, decoder: 'libopus' });
    let sig = 0;
    let diff = 0;
    for (let i = 0; i < 60; i++) {
      const y = d.decode(pkts[i]!);
      const z = lib.decode(pkts[i]!);
      expect(y.length).toBe(320);
      sig += energy(z);
      diff += energy(y, z);
    }
    // the addon bundles its own libopus; with the same version the samples are identical
    expect(diff === 0 || 10 * Math.log10(sig / diff) > 30).toBe(true);
    expect(d.conceal().length).toBe(320);
    expect(d.decodeFec(pkts[62]!).length).toBe(320);
    expect(d.decode(pkts[62]!).length).toBe(320);
    d.close();
    lib.close();
  });
});

describe('Opus errors and buffers', () => {
  it('decodes into a caller buffer, honouring the packet view’s offset', () => {
    const c = new OpusCodec({ sampleRateHz: 48000 });
    const pkt = c.encode(sine(48000, 440, 0.02, 0.3));
    const padded = new Uint8Array(pkt.length + 7);
    padded.set(pkt, 7);
    const ref = new OpusCodec({ sampleRateHz: 48000 });
    const want = ref.decode(pkt);
    const dst = new Int16Array(960);
    const got = c.decode(padded.subarray(7), dst);
    expect(got).toBe(dst);
    expect(got).toEqual(want);
    c.close();
    ref.close();
  });

  it('rejects bad frames, bad packets, bad rates, use after close, with coded errors', () => {
    const c = new OpusCodec({ sampleRateHz: 16000 });
    expect(() => c.encode(new Int16Array(100))).toThrow(AudioError);
    try {
      c.decode(Uint8Array.of(0x03, 0x00)); // code 3 packet with zero frames: invalid (RFC 6716 §3.2.5)
      expect.unreachable();
    } catch (e) {
      expect((e as AudioError).code).toBe('AUDIO_ERR_OPUS');
    }
    expect(() => c.decode(new Uint8Array(0))).toThrow(AudioError);
    c.close();
    c.close();
    expect(() => c.conceal()).toThrow(expect.objectContaining({ code: 'AUDIO_ERR_CLOSED' }));
    expect(() => new OpusCodec({ sampleRateHz: 44100 as 48000 })).toThrow(expect.objectContaining({ code: 'AUDIO_ERR_UNSUPPORTED_RATE' }));
  });

  it('says clearly when the native addon is missing', () => {
    try {
      new OpusCodec({ sampleRateHz: 16000, addonModule: '@parley/no-such-opus-addon' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AudioError);
      expect((e as AudioError).code).toBe('AUDIO_ERR_OPUS_UNAVAILABLE');
      expect((e as AudioError).message).toMatch(/did not load/);
    }
  });
});
