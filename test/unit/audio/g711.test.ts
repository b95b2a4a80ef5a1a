import { describe, expect, it } from 'vitest';
import { alawDecode, alawEncode, AudioError, mulawDecode, mulawEncode } from '../../../audio/index.ts';

// Golden decoder outputs (16-bit linear) as published in the classic CCITT/ITU G.711 conversion
// tables (Sun Microsystems g711.c `_u2l` / `_a2l`, identical to ITU-T G.191 STL g711.c
// ulaw_expand/alaw_expand). Index = code byte.
const MULAW_FIRST_32 = [
  -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
  -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412, -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
];
const MULAW_CODES_0x78_TO_0x7F = [-56, -48, -40, -32, -24, -16, -8, 0];
const ALAW_FIRST_48 = [
  -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736, -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784,
  -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368, -3776, -3648, -4032, -3904, -3264, -3136, -3520, -3392,
  -22016, -20992, -24064, -23040, -17920, -16896, -19968, -18944, -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
];

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('G.711 μ-law', () => {
  it('decodes to the ITU reference values', () => {
    const d = mulawDecode(ALL_CODES);
    expect(Array.from(d.subarray(0, 32))).toEqual(MULAW_FIRST_32);
    expect(Array.from(d.subarray(0x78, 0x80))).toEqual(MULAW_CODES_0x78_TO_0x7F);
    // the upper half mirrors the lower half with the sign bit set
    for (let c = 0; c < 128; c++) expect((d[c + 128] as number) + (d[c] as number)).toBe(0);
    expect(d[0x80]).toBe(32124);
    expect(d[0xff]).toBe(0);
  });

  it('has the G.711 segment structure: 8 segments of 16 steps, step doubling, 14-bit endpoints', () => {
    const d = mulawDecode(ALL_CODES);
    // positive codes 0xFF (0) down to 0x80 (max): magnitudes rise monotonically
    for (let seg = 0; seg < 8; seg++) {
      for (let q = 1; q < 16; q++) {
        const a = d[0xff - (seg * 16 + q - 1)] as number;
        const b = d[0xff - (seg * 16 + q)] as number;
        expect(b - a).toBe(8 << seg); // step in 16-bit units = 2^(seg+1) in 14-bit units
      }
    }
  });

  it('encodes at the G.711 Table 2a decision values', () => {
    // 14-bit decision values x_n between consecutive output values; input x (14-bit) is 4x in 16-bit.
    // segment boundaries: 31, 95, 223, 479, 991, 2015, 4063; overload at 8159.
    const enc = (x14: number) => mulawEncode(Int16Array.of(x14 * 4))[0] as number;
    const dec = (c: number) => (mulawDecode(Uint8Array.of(c))[0] as number) / 4;
    expect(enc(0)).toBe(0xff);
    expect(dec(enc(0))).toBe(0);
    expect(dec(enc(1))).toBe(2); // x = 1 is the first decision value
    expect(dec(enc(30))).toBe(30);
    expect(dec(enc(31))).toBe(33); // segment boundary 31: output jumps to 33 (step 4)
    let lo = 31;
    let step = 4;
    for (const hi of [95, 223, 479, 991, 2015, 4063, 8159]) {
      // first and last decision interval of the segment [lo, hi)
      expect(dec(enc(lo))).toBe(lo + step / 2);
      expect(dec(enc(hi - 1))).toBe(hi - step / 2);
      lo = hi;
      step *= 2;
    }
    expect(enc(8159)).toBe(0x80); // overload
    expect(mulawEncode(Int16Array.of(32767))[0]).toBe(0x80);
    expect(mulawEncode(Int16Array.of(-32768))[0]).toBe(0x00);
    expect(mulawEncode(Int16Array.of(-1))[0]).toBe(0x7f); // negative zero
  });

  it('round-trips every code (except −0) and re-encodes decoded values exactly', () => {
    const back = mulawEncode(mulawDecode(ALL_CODES));
    for (let c = 0; c < 256; c++) expect(back[c], `code ${c}`).toBe(c === 0x7f ? 0xff : c);
  });

  it('quantises a −10 dBFS 1 kHz tone at the expected ≈ 38 dB SNR', () => {
    const n = 8000;
    const x = new Int16Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.round(32767 * 0.316 * Math.sin((2 * Math.PI * 1000 * i) / 8000 + 0.1));
    const y = mulawDecode(mulawEncode(x));
    let ps = 0, pe = 0;
    for (let i = 0; i < n; i++) {
      ps += (x[i] as number) ** 2;
      pe += ((x[i] as number) - (y[i] as number)) ** 2;
    }
    const snr = 10 * Math.log10(ps / pe);
    expect(snr).toBeGreaterThan(35);
    expect(snr).toBeLessThan(41);
  });
});

describe('G.711 A-law', () => {
  it('decodes to the ITU reference values', () => {
    const d = alawDecode(ALL_CODES);
    expect(Array.from(d.subarray(0, 48))).toEqual(ALAW_FIRST_48);
    for (let c = 0; c < 128; c++) expect((d[c + 128] as number) + (d[c] as number)).toBe(0);
    expect(d[0xd5]).toBe(8); // even-bit inversion: 0x55 ^ 0x80
    expect(d[0x55]).toBe(-8);
    expect(d[0xaa]).toBe(32256);
  });

  it('encodes at the G.711 Table 1a decision values (13-bit: segments end at 32, 64, … 4096)', () => {
    const enc = (x13: number) => alawEncode(Int16Array.of(x13 * 8))[0] as number;
    const dec = (c: number) => (alawDecode(Uint8Array.of(c))[0] as number) / 8;
    expect(enc(0)).toBe(0xd5);
    expect(dec(enc(0))).toBe(1);
    expect(dec(enc(2))).toBe(3);
    let lo = 32;
    let step = 2;
    expect(dec(enc(31))).toBe(31);
    for (const hi of [64, 128, 256, 512, 1024, 2048, 4096]) {
      expect(dec(enc(lo))).toBe(lo + step / 2);
      expect(dec(enc(hi - 1))).toBe(hi - step / 2);
      lo = hi;
      step *= 2;
    }
    expect(alawEncode(Int16Array.of(32767))[0]).toBe(0xaa);
    expect(alawEncode(Int16Array.of(-32768))[0]).toBe(0x2a);
  });

  it('round-trips every code', () => {
    expect(alawEncode(alawDecode(ALL_CODES))).toEqual(ALL_CODES);
  });
});

describe('G.711 buffers', () => {
  it('writes into a caller buffer without allocating and rejects a short one', () => {
    const dst = new Int16Array(160);
    const src = new Uint8Array(160).fill(0x80);
    const out = mulawDecode(src, dst);
    expect(out).toBe(dst);
    expect(out[0]).toBe(32124);
    const u8 = new Uint8Array(320);
    expect(alawEncode(new Int16Array(160), u8).length).toBe(160);
    expect(() => mulawDecode(new Uint8Array(10), new Int16Array(5))).toThrow(AudioError);
  });
});
