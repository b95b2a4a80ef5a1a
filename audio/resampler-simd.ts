/**
 * The Resampler's WebAssembly SIMD kernels (docs/notes/audio.md, "Resampler kernels").
 *
 * A small module of hand-emitted WebAssembly (no toolchain, no dependency): the bytes are built
 * here at first use and compiled synchronously (`new WebAssembly.Module`), so the audio core stays
 * synchronous. One module instance and one linear memory per JavaScript realm (each worker has its
 * own), shared by every Resampler: it holds the filters' coefficient tables (one per rate pair,
 * kept for the life of the process) and one scratch area that each call borrows (a Resampler keeps
 * its own history in a Float32Array and copies it in and out, so nothing in the memory belongs to
 * one stream).
 *
 * Kernels (f32x4, four accumulators, each output a fixed sequence of operations whichever group
 * computes it, so chunked output stays bit-identical to one call):
 * - `runA` (few phases, L ≤ 8): each pass computes four outputs of the same polyphase branch,
 *   M input samples apart, sharing one coefficient load per four multiply-adds;
 * - `runB` (any L, e.g. 44.1 kHz): four consecutive outputs, each with its own branch;
 * - `cvt` (int16 → f32) and `scale` (× 32768 for float input).
 * Hosts without WebAssembly SIMD use the JavaScript kernels in audio/resampler.ts.
 */

// ---------------------------------------------------------------- a minimal WebAssembly emitter

type Bytes = number[];

function uleb(n: number): Bytes {
  const out: Bytes = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function section(id: number, body: Bytes): Bytes {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: Bytes[]): Bytes {
  return [...uleb(items.length), ...items.flat()];
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

/** Function body builder: one method per instruction used here. */
class Code {
  readonly b: Bytes = [];
  private simd(op: number): this {
    this.b.push(0xfd, ...uleb(op));
    return this;
  }
  get(i: number): this {
    this.b.push(0x20, ...uleb(i));
    return this;
  }
  set(i: number): this {
    this.b.push(0x21, ...uleb(i));
    return this;
  }
  tee(i: number): this {
    this.b.push(0x22, ...uleb(i));
    return this;
  }
  i32(n: number): this {
    this.b.push(0x41, ...sleb(n));
    return this;
  }
  add(): this {
    this.b.push(0x6a);
    return this;
  }
  sub(): this {
    this.b.push(0x6b);
    return this;
  }
  mul(): this {
    this.b.push(0x6c);
    return this;
  }
  ltS(): this {
    this.b.push(0x48);
    return this;
  }
  geS(): this {
    this.b.push(0x4e);
    return this;
  }
  eqz(): this {
    this.b.push(0x45);
    return this;
  }
  loop(): this {
    this.b.push(0x03, 0x40);
    return this;
  }
  block(): this {
    this.b.push(0x02, 0x40);
    return this;
  }
  if(): this {
    this.b.push(0x04, 0x40);
    return this;
  }
  else(): this {
    this.b.push(0x05);
    return this;
  }
  end(): this {
    this.b.push(0x0b);
    return this;
  }
  br(depth: number): this {
    this.b.push(0x0c, ...uleb(depth));
    return this;
  }
  brIf(depth: number): this {
    this.b.push(0x0d, ...uleb(depth));
    return this;
  }
  store16(offset = 0): this {
    this.b.push(0x3b, 1, ...uleb(offset));
    return this;
  }
  f32store(offset = 0): this {
    this.b.push(0x38, 2, ...uleb(offset));
    return this;
  }
  i64store(offset = 0): this {
    this.b.push(0x37, 3, ...uleb(offset));
    return this;
  }
  vload(offset = 0): this {
    this.simd(0x00);
    this.b.push(0, ...uleb(offset));
    return this;
  }
  vstore(offset = 0): this {
    this.simd(0x0b);
    this.b.push(0, ...uleb(offset));
    return this;
  }
  vzero(): this {
    this.simd(0x0c);
    for (let i = 0; i < 16; i++) this.b.push(0);
    return this;
  }
  /** i8x16.shuffle by 32-bit lanes: 0–3 from the first operand, 4–7 from the second. */
  shuffle32(l0: number, l1: number, l2: number, l3: number): this {
    this.simd(0x0d);
    for (const l of [l0, l1, l2, l3]) for (let k = 0; k < 4; k++) this.b.push(l * 4 + k);
    return this;
  }
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  f32x4ExtractLane(l: number): this {
    this.simd(0x1f);
    this.b.push(l);
    return this;
  }
  i32x4ExtractLane(l: number): this {
    this.simd(0x1b);
    this.b.push(l);
    return this;
  }
  i64x2ExtractLane(l: number): this {
    this.simd(0x1d);
    this.b.push(l);
    return this;
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  f32x4Nearest(): this {
    return this.simd(0x6a);
  }
  i32x4TruncSatF32x4S(): this {
    return this.simd(0xf8);
  }
  f32x4ConvertI32x4S(): this {
    return this.simd(0xfa);
  }
  i32x4ExtendLowI16x8S(): this {
    return this.simd(0xa7);
  }
  i32x4ExtendHighI16x8S(): this {
    return this.simd(0xa8);
  }
  i16x8NarrowI32x4S(): this {
    return this.simd(0x85);
  }
}

interface FuncDef {
  name: string;
  params: number[];
  results: number[];
  locals: number[];
  code: Code;
}

function moduleBytes(funcs: readonly FuncDef[]): Uint8Array<ArrayBuffer> {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const imports = vec([[...nameBytes('env'), ...nameBytes('mem'), 0x02, 0x00, ...uleb(1)]]);
  const funcSec = vec(funcs.map((_, i) => uleb(i)));
  const exportsSec = vec(funcs.map((f, i) => [...nameBytes(f.name), 0x00, ...uleb(i)]));
  const codeSec = vec(
    funcs.map((f) => {
      const locals = vec(f.locals.map((t) => [1, t]));
      const body = [...locals, ...f.code.b, 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcSec),
    ...section(7, exportsSec),
    ...section(10, codeSec),
  ]);
}

/** An ASCII name (no TextEncoder: AudioWorklet scopes may lack it). */
function nameBytes(s: string): Bytes {
  const b: Bytes = [];
  for (let i = 0; i < s.length; i++) b.push(s.charCodeAt(i));
  return [...uleb(b.length), ...b];
}

// ---------------------------------------------------------------- the kernels

/** acc0..acc3 (locals) → one vector of their four horizontal sums, ((l0 + l2) + (l1 + l3)) each. */
function reduce4(c: Code, a0: number, a1: number, a2: number, a3: number, u: number): void {
  c.get(a0).get(a1).shuffle32(0, 1, 4, 5).get(a0).get(a1).shuffle32(2, 3, 6, 7).f32x4Add().set(u);
  c.get(a2).get(a3).shuffle32(0, 1, 4, 5).get(a2).get(a3).shuffle32(2, 3, 6, 7).f32x4Add().set(a0);
  c.get(u).get(a0).shuffle32(0, 2, 4, 6).get(u).get(a0).shuffle32(1, 3, 5, 7).f32x4Add();
}

/** Round half to even, saturate to int16, as an i32x4 on the stack (input: f32x4 on the stack). */
function toInt16Lanes(c: Code): void {
  c.f32x4Nearest().i32x4TruncSatF32x4S();
  // clamp: i32x4.max_s / min_s
  c.i32(-32768).i32x4Splat();
  c.b.push(0xfd, ...uleb(0xb8)); // i32x4.max_s
  c.i32(32767).i32x4Splat();
  c.b.push(0xfd, ...uleb(0xb6)); // i32x4.min_s
}

/**
 * Inner product loop over kb bytes of taps for four windows, eight taps per pass: the first four
 * taps of each pass go to accs, the last four to accs2 (two dependency chains per window), summed
 * at the end. The pointers (cs, xs) walk forward and are left past the end. kb a multiple of 32.
 */
function macLoop(c: Code, kb: number, end: number, cs: readonly number[], xs: readonly number[], accs: readonly number[], accs2: readonly number[], cv?: number, cv2?: number): void {
  for (const a of [...accs, ...accs2]) c.vzero().set(a);
  c.get(cs[0] as number).get(kb).add().set(end);
  c.loop();
  if (cv !== undefined && cv2 !== undefined) {
    // one coefficient vector for the four windows (they share the branch)
    c.get(cs[0] as number).vload(0).set(cv);
    c.get(cs[0] as number).vload(16).set(cv2);
  }
  for (const [half, acc] of [[0, accs], [16, accs2]] as const) {
    for (let i = 0; i < 4; i++) {
      const a = acc[i] as number;
      c.get(a);
      if (cv !== undefined && cv2 !== undefined) c.get(half === 0 ? cv : cv2);
      else c.get(cs[i] as number).vload(half);
      c.get(xs[i] as number).vload(half).f32x4Mul().f32x4Add().set(a);
    }
  }
  const ptrs = cv !== undefined ? [cs[0] as number, ...xs] : [...cs, ...xs];
  for (const p of ptrs) c.get(p).i32(32).add().set(p);
  c.get(cs[0] as number).get(end).ltS().brIf(0);
  c.end();
  for (let i = 0; i < 4; i++) c.get(accs[i] as number).get(accs2[i] as number).f32x4Add().set(accs[i] as number);
}

/** ph += pStep; pos += nStep; if (ph >= L) { ph -= L; pos += 1 } */
function advance(c: Code, ph: number, pos: number, pStep: number, nStep: number, L: number): void {
  c.get(ph).get(pStep).add().set(ph);
  c.get(pos).get(nStep).add().set(pos);
  c.get(ph).get(L).geS().if();
  c.get(ph).get(L).sub().set(ph);
  c.get(pos).i32(1).add().set(pos);
  c.end();
}

/**
 * runA: four outputs of the same branch per pass (outputs t, t + L, t + 2L, t + 3L: windows M
 * samples apart), one coefficient load per four multiply-adds. A period is 4L outputs (L passes);
 * the caller asks for whole periods and keeps the outputs it needs.
 */
function buildRunA(): FuncDef {
  const params = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32];
  const coef = 0, kb = 1, x = 2, out = 3, periods = 4, ph0 = 5, pos0 = 6, L = 7, M = 8, nStep = 9, pStep = 10, mode = 11, scale = 12;
  const locals: number[] = [];
  const local = (t: number): number => {
    locals.push(t);
    return params.length + locals.length - 1;
  };
  const ph = local(I32), pos = local(I32), r = local(I32), cp = local(I32), end = local(I32), t = local(I32), mb = local(I32), ls = local(I32), addr = local(I32);
  const xs = Array.from({ length: 4 }, () => local(I32));
  const accs = Array.from({ length: 4 }, () => local(V128));
  const accs2 = Array.from({ length: 4 }, () => local(V128));
  const cv = local(V128), cv2 = local(V128), u = local(V128);
  const c = new Code();
  c.get(M).i32(4).mul().set(mb);
  c.i32(0).set(t); // index of the first output of the period
  c.block().loop();
  c.get(periods).eqz().brIf(1);
  c.get(ph0).set(ph).get(pos0).set(pos).i32(0).set(r);
  c.loop();
  // coefficient row and the four windows
  c.get(coef).get(ph).get(kb).mul().add().set(cp);
  c.get(x).get(pos).i32(4).mul().add().set(xs[0] as number);
  for (let l = 1; l < 4; l++) c.get(xs[l - 1] as number).get(mb).add().set(xs[l] as number);
  macLoop(c, kb, end, [cp, cp, cp, cp], xs, accs, accs2, cv, cv2);
  reduce4(c, accs[0] as number, accs[1] as number, accs[2] as number, accs[3] as number, u);
  c.get(scale).f32x4Splat().f32x4Mul().set(u);
  // lane l is output t + r + l·L
  c.get(mode).if();
  c.get(L).i32(2).mul().set(ls);
  c.get(out).get(t).get(r).add().i32(2).mul().add().set(addr);
  c.get(u);
  toInt16Lanes(c);
  c.set(u);
  for (let l = 0; l < 4; l++) c.get(addr).get(u).i32x4ExtractLane(l).store16().get(addr).get(ls).add().set(addr);
  c.else();
  c.get(L).i32(4).mul().set(ls);
  c.get(out).get(t).get(r).add().i32(4).mul().add().set(addr);
  for (let l = 0; l < 4; l++) c.get(addr).get(u).f32x4ExtractLane(l).f32store().get(addr).get(ls).add().set(addr);
  c.end();
  advance(c, ph, pos, pStep, nStep, L);
  c.get(r).i32(1).add().tee(r).get(L).ltS().brIf(0);
  c.end();
  c.get(t).get(L).i32(4).mul().add().set(t);
  c.get(pos0).get(M).i32(4).mul().add().set(pos0);
  c.get(periods).i32(1).sub().set(periods);
  c.br(0);
  c.end().end();
  return { name: 'runA', params, results: [], locals, code: c };
}

function buildRunB(): FuncDef {
  const coef = 0, kb = 1, x = 2, out = 3, groups = 4, ph = 5, pos = 6, L = 7, nStep = 8, pStep = 9, mode = 10, scale = 11;
  const c0 = 12, c1 = 13, c2 = 14, c3 = 15, x0 = 16, x1 = 17, x2 = 18, x3 = 19, k = 20;
  const a0 = 21, a1 = 22, a2 = 23, a3 = 24, u = 25, b0 = 26, b1 = 27, b2 = 28, b3 = 29;
  const c = new Code();
  c.block().loop();
  c.get(groups).eqz().brIf(1);
  for (const [ci, xi] of [[c0, x0], [c1, x1], [c2, x2], [c3, x3]] as const) {
    c.get(coef).get(ph).get(kb).mul().add().set(ci);
    c.get(x).get(pos).i32(4).mul().add().set(xi);
    advance(c, ph, pos, pStep, nStep, L);
  }
  macLoop(c, kb, k, [c0, c1, c2, c3], [x0, x1, x2, x3], [a0, a1, a2, a3], [b0, b1, b2, b3]);
  reduce4(c, a0, a1, a2, a3, u);
  c.get(scale).f32x4Splat().f32x4Mul().set(u);
  c.get(mode).if();
  c.get(out).get(u);
  toInt16Lanes(c);
  c.get(u); // narrow needs two operands; the upper half is ignored
  c.i16x8NarrowI32x4S().i64x2ExtractLane(0).i64store();
  c.get(out).i32(8).add().set(out);
  c.else();
  c.get(out).get(u).vstore();
  c.get(out).i32(16).add().set(out);
  c.end();
  c.get(groups).i32(1).sub().set(groups);
  c.br(0);
  c.end().end();
  return {
    name: 'runB',
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32],
    results: [],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128],
    code: c,
  };
}

/** int16 → f32, eight samples per pass (reads and writes up to 7 past n). */
function buildCvt(): FuncDef {
  const src = 0, dst = 1, n = 2, i = 3, v = 4;
  const c = new Code();
  c.i32(0).set(i);
  c.block().loop();
  c.get(i).get(n).geS().brIf(1);
  c.get(src).get(i).i32(2).mul().add().vload().set(v);
  c.get(dst).get(i).i32(4).mul().add().get(v).i32x4ExtendLowI16x8S().f32x4ConvertI32x4S().vstore();
  c.get(dst).get(i).i32(4).mul().add().get(v).i32x4ExtendHighI16x8S().f32x4ConvertI32x4S().vstore(16);
  c.get(i).i32(8).add().set(i);
  c.br(0);
  c.end().end();
  return { name: 'cvt', params: [I32, I32, I32], results: [], locals: [I32, V128], code: c };
}

/** In place × s, four samples per pass (up to 3 past n). */
function buildScale(): FuncDef {
  const p = 0, n = 1, s = 2, i = 3;
  const c = new Code();
  c.i32(0).set(i);
  c.block().loop();
  c.get(i).get(n).geS().brIf(1);
  c.get(p).get(i).i32(4).mul().add().get(p).get(i).i32(4).mul().add().vload().get(s).f32x4Splat().f32x4Mul().vstore();
  c.get(i).i32(4).add().set(i);
  c.br(0);
  c.end().end();
  return { name: 'scale', params: [I32, I32, F32], results: [], locals: [I32], code: c };
}

export function resamplerWasmBytes(): Uint8Array<ArrayBuffer> {
  return moduleBytes([buildRunA(), buildRunB(), buildCvt(), buildScale()]);
}

// ---------------------------------------------------------------- runtime (one per realm)

export interface SimdExports {
  runA(coef: number, kb: number, x: number, out: number, periods: number, ph: number, pos: number, L: number, M: number, nStep: number, pStep: number, mode: number, scale: number): void;
  runB(coef: number, kb: number, x: number, out: number, groups: number, ph: number, pos: number, L: number, nStep: number, pStep: number, mode: number, scale: number): void;
  cvt(src: number, dst: number, n: number): void;
  scale(p: number, n: number, s: number): void;
}

const PAGE = 65536;

/** The shared memory, its views and a bump allocator (coefficient tables are never freed). */
export class SimdRuntime {
  readonly exports: SimdExports;
  private readonly memory: WebAssembly.Memory;
  f32: Float32Array;
  i16: Int16Array;
  /** Bumped when the memory grows (every view over it is then replaced). */
  generation = 0;
  private top = 1024;
  /** Scratch: x (floats), in16 (int16 input), out (f32 or int16 outputs). Byte addresses. */
  scratchX = 0;
  scratchIn = 0;
  scratchOut = 0;
  private xCap = 0;
  private inCap = 0;
  private outCap = 0;
  private f32Views: Float32Array[] = [];
  private f32ViewsAt = -1;
  private i16OutViews: Int16Array[] = [];
  private f32OutViews: Float32Array[] = [];

  constructor(module: WebAssembly.Module) {
    this.memory = new WebAssembly.Memory({ initial: 4 });
    const inst = new WebAssembly.Instance(module, { env: { mem: this.memory } });
    this.exports = inst.exports as unknown as SimdExports;
    this.f32 = new Float32Array(this.memory.buffer);
    this.i16 = new Int16Array(this.memory.buffer);
  }

  /** 16-byte aligned block of `bytes` (plus a 64-byte guard), growing the memory when needed. */
  alloc(bytes: number): number {
    const at = (this.top + 15) & ~15;
    this.top = at + bytes + 64;
    const need = Math.ceil(this.top / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (need > have) {
      this.memory.grow(need - have);
      this.f32 = new Float32Array(this.memory.buffer);
      this.i16 = new Int16Array(this.memory.buffer);
      this.generation++;
      this.f32Views = [];
      this.i16OutViews = [];
      this.f32OutViews = [];
    }
    return at;
  }

  /** Makes the scratch areas hold at least these many samples (new blocks when they do not). */
  ensureScratch(xFloats: number, inSamples: number, outSamples: number): void {
    if (xFloats > this.xCap) {
      this.xCap = Math.max(xFloats, this.xCap * 2, 4096);
      this.scratchX = this.alloc(this.xCap * 4);
      this.f32Views = [];
    }
    if (inSamples > this.inCap) {
      this.inCap = Math.max(inSamples + 8, this.inCap * 2, 4096);
      this.scratchIn = this.alloc(this.inCap * 2);
    }
    if (outSamples > this.outCap) {
      this.outCap = Math.max(outSamples, this.outCap * 2, 8192);
      this.scratchOut = this.alloc(this.outCap * 4);
      this.i16OutViews = [];
      this.f32OutViews = [];
    }
  }

  /** View of the first n floats of the x scratch (cached: no allocation in steady state). */
  xView(n: number): Float32Array {
    if (this.f32ViewsAt !== this.scratchX) {
      this.f32Views = [];
      this.f32ViewsAt = this.scratchX;
    }
    return (this.f32Views[n] ??= this.f32.subarray(this.scratchX >> 2, (this.scratchX >> 2) + n));
  }

  /** View of the first n int16 outputs (cached for n ≤ 16384). */
  outView16(n: number): Int16Array {
    const base = this.scratchOut >> 1;
    if (n > 16384) return this.i16.subarray(base, base + n);
    return (this.i16OutViews[n] ??= this.i16.subarray(base, base + n));
  }

  /** View of the first n f32 outputs (cached for n ≤ 16384). */
  outViewF32(n: number): Float32Array {
    const base = this.scratchOut >> 2;
    if (n > 16384) return this.f32.subarray(base, base + n);
    return (this.f32OutViews[n] ??= this.f32.subarray(base, base + n));
  }
}

let runtime: SimdRuntime | null | undefined;

/** The realm's SIMD runtime, or null where WebAssembly SIMD is unavailable (built once). */
export function simdRuntime(): SimdRuntime | null {
  if (runtime !== undefined) return runtime;
  try {
    if (typeof WebAssembly !== 'object') {
      runtime = null;
    } else {
      const bytes = resamplerWasmBytes();
      runtime = WebAssembly.validate(bytes) ? new SimdRuntime(new WebAssembly.Module(bytes)) : null;
    }
  } catch {
    runtime = null;
  }
  return runtime;
}
