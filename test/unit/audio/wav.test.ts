import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alawDecode, alawEncode, AudioError, mulawDecode, mulawEncode, readWav, readWavFile, writeWav, writeWavFile } from '../../../audio/index.ts';
import { fitSine, noise } from './signal.ts';

const AUDIO = join(import.meta.dirname, '../../../fixtures/audio');
const SPEECH = join(import.meta.dirname, '../../../fixtures/speech');

describe('WAV', () => {
  it('writes and reads back pcm16 bit-exactly, with a standard 44-byte header', () => {
    const x = noise(8000, 0.9);
    const bytes = writeWav(x, 8000);
    expect(bytes.length).toBe(44 + x.length * 2);
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('RIFF');
    expect(Buffer.from(bytes.subarray(8, 12)).toString('latin1')).toBe('WAVE');
    const back = readWav(bytes);
    expect(back.sampleRateHz).toBe(8000);
    expect(back.samples).toEqual(x);
  });

  it('reads a sox-made 16-bit file bit-exactly', () => {
    const bytes = readFileSync(join(AUDIO, 'sweep-8k-s16.wav'));
    const raw = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    const { sampleRateHz, samples } = readWav(bytes);
    expect(sampleRateHz).toBe(8000);
    expect(samples).toEqual(raw);
  });

  it.each([
    ['sine1k-44k1-stereo-s24.wav', 44100],
    ['sine1k-48k-f32.wav', 48000],
    ['sine1k-22k05-u8.wav', 22050],
  ])('%s: any depth/channels in → mono pcm16 at the file rate or a chosen rate, time-aligned', (file, rate) => {
    const native = readWavFile(join(AUDIO, file));
    expect(native.sampleRateHz).toBe(rate);
    expect(native.samples.length).toBe(Math.floor(rate * 0.25));
    const fitNative = fitSine(native.samples, rate, 1000, 100, native.samples.length - 100);
    expect(fitNative.amplitude / 16384).toBeGreaterThan(0.98); // sox "vol 0.5"
    expect(fitNative.amplitude / 16384).toBeLessThan(1.02);
    for (const outHz of [8000, 16000, 24000]) {
      const r = readWavFile(join(AUDIO, file), { sampleRateHz: outHz });
      expect(r.sampleRateHz).toBe(outHz);
      expect(r.samples.length).toBe(Math.round((native.samples.length * outHz) / rate));
      const fit = fitSine(r.samples, outHz, 1000, Math.round(outHz * 0.02), r.samples.length - Math.round(outHz * 0.02));
      expect(fit.snrDb).toBeGreaterThan(file.includes('u8') ? 35 : 85); // 8-bit (dithered by sox) ≈ 39 dB
      expect(Math.abs(fit.amplitude - fitNative.amplitude) / fitNative.amplitude).toBeLessThan(0.002);
      // the resampler's delay is removed: same phase as the file at its own rate
      expect(Math.abs(Math.sin(fit.phase - fitNative.phase))).toBeLessThan(0.01);
    }
  });

  it('decodes μ-law and A-law WAVs exactly like our G.711 decoder', () => {
    for (const [file, decode] of [['sweep-8k-ulaw.wav', mulawDecode], ['sweep-8k-alaw.wav', alawDecode]] as const) {
      const bytes = readFileSync(join(AUDIO, file));
      const codes = bytes.subarray(bytes.length - 4000);
      const { sampleRateHz, samples } = readWav(bytes);
      expect(sampleRateHz).toBe(8000);
      expect(samples).toEqual(decode(codes));
    }
  });

  it("encodes G.711 at least as accurately as sox's encoder, agreeing with it except near decision values", () => {
    const src = readWavFile(join(AUDIO, 'sweep-8k-s16.wav')).samples;
    for (const [file, encode, decode] of [['sweep-8k-ulaw.wav', mulawEncode, mulawDecode], ['sweep-8k-alaw.wav', alawEncode, alawDecode]] as const) {
      const bytes = readFileSync(join(AUDIO, file));
      const sox = bytes.subarray(bytes.length - src.length);
      const ours = encode(src);
      const oursDec = decode(ours);
      const soxDec = decode(sox);
      let differ = 0;
      for (let i = 0; i < src.length; i++) {
        if (ours[i] === sox[i]) continue;
        differ++;
        const s = src[i] as number;
        expect(Math.abs((oursDec[i] as number) - s), `sample ${i} = ${s}`).toBeLessThanOrEqual(Math.abs((soxDec[i] as number) - s));
      }
      expect(differ).toBeLessThan(src.length * 0.02);
    }
  });

  it('reads the speech fixtures (16 kHz mono) and converts them to 8 kHz', () => {
    const a = readWavFile(join(SPEECH, 'hello.wav'));
    expect(a.sampleRateHz).toBe(16000);
    expect(a.samples.length).toBeGreaterThan(16000);
    const b = readWavFile(join(SPEECH, 'hello.wav'), { sampleRateHz: 8000 });
    expect(b.samples.length).toBe(a.samples.length / 2);
  });

  it('writes files and rejects garbage with AUDIO_ERR_BAD_WAV', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-wav-'));
    try {
      const p = join(dir, 'x.wav');
      const x = noise(1600);
      writeWavFile(p, x, 16000);
      expect(readWavFile(p).samples).toEqual(x);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const junk of [new Uint8Array(0), Buffer.from('RIFF....WAVEjunkjunkjunk'), Buffer.from('hello world, not a wav file at all')]) {
      try {
        readWav(junk);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(AudioError);
        expect((e as AudioError).code).toBe('AUDIO_ERR_BAD_WAV');
      }
    }
  });
});
