import { describe, expect, it } from 'vitest';
import {
  AudioError, base64ToPcm16, bytesToInt16, float32ToInt16, int16ToBytes, int16ToFloat32, isValidBase64, peakDbfs, pcm16ToBase64, rmsDbfs,
} from '../../../audio/index.ts';
import { sine } from './signal.ts';

describe('pcm16', () => {
  it('converts Int16 ↔ Float32 exactly, clipping out-of-range floats', () => {
    const x = Int16Array.of(-32768, -1, 0, 1, 16384, 32767);
    const f = int16ToFloat32(x);
    expect(Array.from(f)).toEqual([-1, -1 / 32768, 0, 1 / 32768, 0.5, 32767 / 32768]);
    expect(float32ToInt16(f)).toEqual(x);
    expect(Array.from(float32ToInt16(Float32Array.of(1.5, -2, 1)))).toEqual([32767, -32768, 32767]);
    const dst = new Float32Array(16);
    expect(int16ToFloat32(x, dst).length).toBe(6);
  });

  it('views little-endian bytes as Int16 without copying when aligned, copies when not', () => {
    const bytes = Uint8Array.of(0x01, 0x00, 0xff, 0xff, 0x00, 0x80, 0xff, 0x7f);
    const v = bytesToInt16(bytes);
    expect(Array.from(v)).toEqual([1, -1, -32768, 32767]);
    expect(v.buffer).toBe(bytes.buffer);
    const odd = new Uint8Array(9);
    odd.set(bytes, 1);
    const c = bytesToInt16(odd.subarray(1));
    expect(Array.from(c)).toEqual([1, -1, -32768, 32767]);
    expect(c.buffer).not.toBe(odd.buffer);
    expect(() => bytesToInt16(new Uint8Array(3))).toThrow(AudioError);
  });

  it('int16ToBytes is a view over the same memory', () => {
    const x = Int16Array.of(1, -2);
    const b = int16ToBytes(x);
    expect(Array.from(b)).toEqual([1, 0, 0xfe, 0xff]);
    x[0] = 0x0102;
    expect(b[0]).toBe(2);
  });

  it('round-trips base64 and matches Buffer', () => {
    const x = sine(24000, 440, 0.02, 0.8);
    const b64 = pcm16ToBase64(x);
    expect(b64).toBe(Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64'));
    expect(base64ToPcm16(b64)).toEqual(x);
    expect(base64ToPcm16('')).toEqual(new Int16Array(0));
    const dst = new Int16Array(1000);
    const v = base64ToPcm16(b64, dst);
    expect(v.buffer).toBe(dst.buffer);
    expect(v).toEqual(x);
    expect(() => base64ToPcm16(b64, new Int16Array(10))).toThrow(AudioError);
  });

  it('rejects bad base64 and odd byte counts with a coded error', () => {
    for (const bad of ['ab$d', 'a===', 'ab=c', 'A', 'AAAAA', 'AA AA']) {
      expect(isValidBase64(bad), bad).toBe(false);
      try {
        base64ToPcm16(bad);
        expect.unreachable();
      } catch (e) {
        expect((e as AudioError).code).toBe('AUDIO_ERR_BAD_INPUT');
      }
    }
    expect(isValidBase64('AAAA')).toBe(true);
    expect(isValidBase64('AA==')).toBe(true);
    expect(isValidBase64('AAA')).toBe(true); // unpadded is accepted
    expect(base64ToPcm16('AAA=').length).toBe(1); // 2 bytes
    expect(() => base64ToPcm16('AA==')).toThrow(AudioError); // 1 byte: not pcm16
  });

  it('measures RMS and peak in dBFS', () => {
    const full = sine(16000, 1000, 1, 1);
    expect(rmsDbfs(full)).toBeCloseTo(-3.01, 1);
    expect(peakDbfs(full)).toBeCloseTo(0, 2);
    const quiet = sine(16000, 1000, 1, 0.1);
    expect(rmsDbfs(quiet)).toBeCloseTo(-23.01, 1);
    expect(peakDbfs(quiet)).toBeCloseTo(-20, 1);
    expect(rmsDbfs(new Int16Array(160))).toBe(Number.NEGATIVE_INFINITY);
    expect(peakDbfs(new Int16Array(0))).toBe(Number.NEGATIVE_INFINITY);
  });
});
