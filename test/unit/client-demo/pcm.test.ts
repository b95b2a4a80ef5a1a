import { describe, expect, it } from 'vitest';
import {
  Base64Encoder,
  Base64Error,
  base64DecodedMaxBytes,
  decodeBase64Into,
  floatToInt16,
  int16ToFloat,
  peakDbfs,
  rmsDbfs,
} from '../../../client-demo/src/lib/pcm.ts';

describe('pcm16 helpers for the page', () => {
  it('encodes base64 exactly like Node Buffer, for every tail length', () => {
    const enc = new Base64Encoder(4);
    for (let len = 0; len < 40; len++) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = (i * 37 + len * 11) & 255;
      expect(enc.encode(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    }
    // a 20 ms frame at 24 kHz (960 bytes) with every byte value
    const frame = new Uint8Array(960);
    for (let i = 0; i < frame.length; i++) frame[i] = i & 255;
    expect(enc.encode(frame)).toBe(Buffer.from(frame).toString('base64'));
  });

  it('decodes base64 into a caller buffer and round-trips pcm16', () => {
    const pcm = new Int16Array([0, 1, -1, 32767, -32768, 1234, -4321]);
    const b64 = Buffer.from(pcm.buffer).toString('base64');
    const dst = new Uint8Array(base64DecodedMaxBytes(b64.length));
    const n = decodeBase64Into(b64, dst);
    expect(n).toBe(14);
    expect(Array.from(new Int16Array(dst.buffer, 0, n / 2))).toEqual(Array.from(pcm));
    for (let len = 0; len < 12; len++) {
      const bytes = Uint8Array.from({ length: len }, (_, i) => 255 - i);
      const s = Buffer.from(bytes).toString('base64');
      const out = new Uint8Array(base64DecodedMaxBytes(s.length));
      expect(Array.from(out.subarray(0, decodeBase64Into(s, out)))).toEqual(Array.from(bytes));
    }
  });

  it('rejects malformed base64 with a coded error', () => {
    const dst = new Uint8Array(64);
    expect(() => decodeBase64Into('abc', dst)).toThrow(Base64Error);
    expect(() => decodeBase64Into('ab!d', dst)).toThrow(Base64Error);
    try {
      decodeBase64Into('a', dst);
    } catch (err) {
      expect((err as Base64Error).code).toBe('DEMO_ERR_BASE64');
    }
  });

  it('converts float to int16 with clamping, and back', () => {
    const f = new Float32Array([0, 0.5, -0.5, 1, -1, 2, -2]);
    const i16 = new Int16Array(f.length);
    floatToInt16(f, i16);
    expect(Array.from(i16)).toEqual([0, 16384, -16384, 32767, -32768, 32767, -32768]);
    const back = new Float32Array(i16.length);
    int16ToFloat(i16, back);
    expect(back[1]).toBeCloseTo(0.5, 4);
    expect(back[4]).toBe(-1);
  });

  it('measures levels in dBFS', () => {
    expect(rmsDbfs(new Int16Array(480))).toBe(-100);
    const full = new Int16Array(480).fill(32767);
    expect(rmsDbfs(full)).toBeCloseTo(0, 1);
    expect(peakDbfs(new Int16Array([0, -16384, 100]))).toBeCloseTo(-6.02, 1);
  });
});
