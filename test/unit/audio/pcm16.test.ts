import { describe, expect, it } from 'vitest';
import {
  AudioError, base64ToPcm16, base64ToPcm16Into, bytesToInt16, float32ToInt16, int16ToBytes, int16ToFloat32, isValidBase64, peakDbfs, pcm16ToBase64, rmsDbfs,
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

  it('base64ToPcm16Into decodes into a reused buffer and returns the sample count', () => {
    const x = sine(24000, 440, 0.02, 0.8);
    const b64 = pcm16ToBase64(x);
    const backing = new Int16Array(1002);
    const dst = backing.subarray(1); // a non-zero, even byte offset
    expect(base64ToPcm16Into(b64, dst)).toBe(480);
    expect(dst.subarray(0, 480)).toEqual(x);
    expect(backing[0]).toBe(0);
    expect(backing[481]).toBe(0); // nothing written past the decoded samples
    const y = sine(24000, 1000, 0.01, 0.3);
    expect(base64ToPcm16Into(pcm16ToBase64(y), dst)).toBe(240);
    expect(dst.subarray(0, 240)).toEqual(y);
    // a second destination on another ArrayBuffer, then the first again
    const other = new Int16Array(480);
    expect(base64ToPcm16Into(b64, other)).toBe(480);
    expect(other).toEqual(x);
    expect(base64ToPcm16Into(pcm16ToBase64(y), dst)).toBe(240);
    expect(dst.subarray(0, 240)).toEqual(y);
    expect(base64ToPcm16Into('', dst)).toBe(0);
    for (const bad of ['ab$d', 'AA==', 'AAAAA', 'AA-A', 'AA_A']) {
      try {
        base64ToPcm16Into(bad, dst);
        expect.unreachable();
      } catch (e) {
        expect((e as AudioError).code).toBe('AUDIO_ERR_BAD_INPUT');
      }
    }
    expect(() => base64ToPcm16Into(b64, new Int16Array(10))).toThrow(AudioError);
  });

  it('accepts exactly the strings isValidBase64 accepts (with an even byte count), on random strings', () => {
    // the decoder's character check is Node's own decoder (it skips what is not base64): compare it
    // with the strict validator on strings built from valid characters and a few bad ones
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const bad = ['=', ' ', '\n', '-', '_', '$', '.', '\u0141', '\u00c1', '\ud83d', '\u0000', 'é'];
    let seed = 99;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    const dst = new Int16Array(64);
    let accepted = 0;
    for (let t = 0; t < 20000; t++) {
      const len = rand(24);
      let s = '';
      for (let i = 0; i < len; i++) s += rand(12) === 0 ? (bad[rand(bad.length)] as string) : alphabet[rand(64)];
      if (rand(3) === 0) s += rand(2) === 0 ? '=' : '==';
      const n = s.replace(/=+$/, '').length;
      const expectOk = isValidBase64(s) && ((Math.floor((n * 3) / 4)) & 1) === 0;
      let decoded: Int16Array | undefined;
      let code: string | undefined;
      try {
        decoded = base64ToPcm16(s);
      } catch (e) {
        code = (e as AudioError).code;
      }
      const ok = decoded !== undefined;
      if (decoded) {
        const bytes = Uint8Array.from(Buffer.from(s, 'base64'));
        expect(decoded).toEqual(new Int16Array(bytes.buffer));
      } else {
        expect(code).toBe('AUDIO_ERR_BAD_INPUT');
      }
      let viaInto = true;
      try {
        base64ToPcm16Into(s, dst);
      } catch {
        viaInto = false;
      }
      expect(ok, JSON.stringify(s)).toBe(expectOk);
      expect(viaInto, JSON.stringify(s)).toBe(expectOk);
      if (ok) accepted++;
    }
    expect(accepted).toBeGreaterThan(1000);
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
