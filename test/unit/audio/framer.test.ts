import { describe, expect, it } from 'vitest';
import { AudioError, ByteFramer, PcmFramer, PcmRingBuffer } from '../../../audio/index.ts';

function ramp(n: number, start = 0): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => (start + i) % 30000);
}

describe('PcmFramer', () => {
  it('cuts arbitrary chunks into exact frames, in order, losing nothing', () => {
    const framer = new PcmFramer(160);
    const src = ramp(160 * 25 + 37);
    const got: number[] = [];
    let frames = 0;
    const sizes = [1, 159, 160, 161, 320, 7, 999, 3];
    let off = 0;
    let k = 0;
    while (off < src.length) {
      const n = Math.min(sizes[k++ % sizes.length] as number, src.length - off);
      framer.push(src.subarray(off, off + n), (f) => {
        expect(f.length).toBe(160);
        frames++;
        for (let i = 0; i < f.length; i++) got.push(f[i] as number);
      });
      off += n;
    }
    expect(frames).toBe(25);
    expect(framer.buffered).toBe(37);
    expect(got).toEqual(Array.from(src.subarray(0, 25 * 160)));
    let tail: number[] = [];
    framer.flush((f) => (tail = Array.from(f)));
    expect(tail.slice(0, 37)).toEqual(Array.from(src.subarray(25 * 160)));
    expect(tail.slice(37).every((v) => v === 0)).toBe(true);
    expect(framer.buffered).toBe(0);
  });

  it('hands frames straight out of aligned chunks (no copy) and reuses one buffer otherwise', () => {
    const framer = new PcmFramer(4);
    const chunk = ramp(8);
    const views: Int16Array[] = [];
    framer.push(chunk, (f) => views.push(f));
    expect(views.every((v) => v.buffer === chunk.buffer)).toBe(true);
    const bufs = new Set<ArrayBufferLike>();
    framer.push(ramp(3), () => undefined);
    for (let i = 0; i < 10; i++) framer.push(ramp(3), (f) => { if (f.buffer !== undefined) bufs.add(f.buffer); });
    // every frame that straddles chunks comes from the framer's own single buffer
    expect(bufs.size).toBeLessThanOrEqual(11);
    framer.reset();
    expect(framer.buffered).toBe(0);
  });

  it('rejects a bad frame size', () => {
    expect(() => new PcmFramer(0)).toThrow(AudioError);
    expect(() => new PcmFramer(160, 100)).toThrow(AudioError);
  });
});

describe('ByteFramer', () => {
  it('cuts bytes into 160-byte G.711 frames and pads the tail with the chosen byte', () => {
    const framer = new ByteFramer(160, undefined, { padByte: 0xff });
    const src = Uint8Array.from({ length: 500 }, (_, i) => i & 0xff);
    const out: number[] = [];
    framer.push(src.subarray(0, 100), (f) => out.push(...f));
    framer.push(src.subarray(100), (f) => out.push(...f));
    expect(out).toEqual(Array.from(src.subarray(0, 480)));
    expect(framer.buffered).toBe(20);
    let tail: Uint8Array | undefined;
    framer.flush((f) => (tail = f.slice()));
    expect(Array.from(tail!.subarray(0, 20))).toEqual(Array.from(src.subarray(480)));
    expect(tail!.subarray(20).every((b) => b === 0xff)).toBe(true);
  });
});

describe('PcmRingBuffer', () => {
  it('is a bounded FIFO across the wrap point', () => {
    const rb = new PcmRingBuffer(10);
    expect(rb.write(ramp(7))).toBe(7);
    const dst = new Int16Array(5);
    expect(rb.read(dst)).toBe(5);
    expect(Array.from(dst)).toEqual([0, 1, 2, 3, 4]);
    expect(rb.write(ramp(9, 100))).toBe(8); // only 8 free
    expect(rb.length).toBe(10);
    expect(rb.free).toBe(0);
    const all = new Int16Array(12);
    expect(rb.read(all)).toBe(10);
    expect(Array.from(all.subarray(0, 10))).toEqual([5, 6, 100, 101, 102, 103, 104, 105, 106, 107]);
    rb.write(ramp(4));
    expect(rb.skip(3)).toBe(3);
    expect(rb.length).toBe(1);
    rb.clear();
    expect(rb.length).toBe(0);
  });
});
