/**
 * Audio core benchmark: µs per 20 ms frame and samples per second for each processor, as ratios
 * against real time and against speexdsp compiled to WASM (@echogarden/speex-resampler-wasm), run
 * in the same process. Not a test. Run: `npx tsx bench/audio.ts` (add `--quick` to skip the 60 s
 * pacer drift run).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  alawDecode, alawEncode, base64ToPcm16, base64ToPcm16Into, createVad, EnergyVad, FramePacer, JitterBuffer, mulawDecode, mulawEncode, OpusCodec,
  PcmFramer, pcm16ToBase64, readWavFile, Resampler, int16ToFloat32, float32ToInt16,
} from '../audio/index.ts';
import { banner, formatNumber, row, timeInterleaved, timeOps } from './lib/index.ts';

const QUICK = process.argv.includes('--quick');
const SECONDS = 10;
const W = [52, 10, 11, 11, 16];

function signal(rateHz: number, seconds: number): Int16Array {
  const n = Math.round(rateHz * seconds);
  const s = new Int16Array(n);
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    const t = i / rateHz;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    let v = env * (0.4 * Math.sin(2 * Math.PI * 180 * t) + 0.2 * Math.sin(2 * Math.PI * 720 * t) + 0.1 * Math.sin(2 * Math.PI * 2300 * t));
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    v += (((seed >>> 16) - 32768) / 32768) * 0.02;
    s[i] = Math.round(v * 20000);
  }
  return s;
}

function framesOf<T extends Int16Array | Uint8Array | Float32Array>(x: T, n: number): T[] {
  const out: T[] = [];
  for (let o = 0; o + n <= x.length; o += n) out.push(x.subarray(o, o + n) as T);
  return out;
}

function header(title: string): void {
  console.log(`\n## ${title}`);
  console.log(row(['processor', 'µs/frame', 'Msamples/s', '× realtime', 'ratio'], W));
}

/** Time a per-frame function over `frames`; frameMs is the audio duration of one frame. */
function measure(name: string, frames: number, samplesPerFrame: number, frameMs: number, fn: (i: number) => void, ratioText = ''): number {
  const r = timeOps(fn, { ops: frames, warmupOps: Math.min(frames, 500), rounds: 3 });
  const msps = samplesPerFrame / r.usPerOp;
  console.log(row([name, r.usPerOp, msps, (frameMs * 1000) / r.usPerOp, ratioText], W));
  return r.usPerOp;
}

// ---------------------------------------------------------------- speex WASM baseline
interface SpeexModule {
  _malloc(n: number): number;
  _free(p: number): void;
  _speex_resampler_init(ch: number, inRate: number, outRate: number, q: number, errPtr: number): number;
  _speex_resampler_destroy(st: number): void;
  _speex_resampler_skip_zeros(st: number): void;
  _speex_resampler_process_int(st: number, ch: number, inPtr: number, inLenPtr: number, outPtr: number, outLenPtr: number): number;
  _speex_resampler_process_float(st: number, ch: number, inPtr: number, inLenPtr: number, outPtr: number, outLenPtr: number): number;
  HEAP16: Int16Array;
  HEAPF32: Float32Array;
  HEAPU32: Uint32Array;
}

class Speex {
  private readonly st: number;
  private readonly inPtr: number;
  private readonly outPtr: number;
  private readonly inLen: number;
  private readonly outLen: number;
  private readonly maxOut: number;
  constructor(private readonly m: SpeexModule, inRate: number, outRate: number, q: number, maxIn: number) {
    const err = m._malloc(4);
    this.st = m._speex_resampler_init(1, inRate, outRate, q, err);
    this.maxOut = Math.ceil((maxIn * outRate) / inRate) + 64;
    this.inPtr = m._malloc(maxIn * 4);
    this.outPtr = m._malloc(this.maxOut * 4);
    this.inLen = m._malloc(4);
    this.outLen = m._malloc(4);
  }
  processInt(x: Int16Array): Int16Array {
    const m = this.m;
    m.HEAP16.set(x, this.inPtr >> 1);
    m.HEAPU32[this.inLen >> 2] = x.length;
    m.HEAPU32[this.outLen >> 2] = this.maxOut;
    m._speex_resampler_process_int(this.st, 0, this.inPtr, this.inLen, this.outPtr, this.outLen);
    return m.HEAP16.subarray(this.outPtr >> 1, (this.outPtr >> 1) + (m.HEAPU32[this.outLen >> 2] as number));
  }
  processFloat(x: Float32Array): Float32Array {
    const m = this.m;
    m.HEAPF32.set(x, this.inPtr >> 2);
    m.HEAPU32[this.inLen >> 2] = x.length;
    m.HEAPU32[this.outLen >> 2] = this.maxOut;
    m._speex_resampler_process_float(this.st, 0, this.inPtr, this.inLen, this.outPtr, this.outLen);
    return m.HEAPF32.subarray(this.outPtr >> 2, (this.outPtr >> 2) + (m.HEAPU32[this.outLen >> 2] as number));
  }
  destroy(): void {
    this.m._speex_resampler_destroy(this.st);
  }
}

// ---------------------------------------------------------------- quality measurement (float, no int16 quantisation)
function sineF(rateHz: number, hz: number, seconds: number, amp: number): Float32Array {
  const n = Math.round(rateHz * seconds);
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) s[i] = amp * Math.sin((2 * Math.PI * hz * i) / rateHz);
  return s;
}

/** SINAD (dB) of a sine of known frequency over the middle 80 %: LS fit of sin, cos, dc. */
function sinad(y: Float32Array, rateHz: number, hz: number): number {
  const a = Math.floor(y.length * 0.1);
  const b = Math.floor(y.length * 0.9);
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0, mean = 0;
  for (let i = a; i < b; i++) mean += y[i] as number;
  mean /= b - a;
  for (let i = a; i < b; i++) {
    const w = (2 * Math.PI * hz * i) / rateHz;
    const s = Math.sin(w), c = Math.cos(w), v = (y[i] as number) - mean;
    ss += s * s; cc += c * c; sc += s * c; ys += v * s; yc += v * c;
  }
  const det = ss * cc - sc * sc;
  const A = (ys * cc - yc * sc) / det, B = (yc * ss - ys * sc) / det;
  let ps = 0, pe = 0;
  for (let i = a; i < b; i++) {
    const w = (2 * Math.PI * hz * i) / rateHz;
    const f = A * Math.sin(w) + B * Math.cos(w);
    ps += f * f;
    pe += ((y[i] as number) - mean - f) ** 2;
  }
  return 10 * Math.log10(ps / pe);
}

function rmsF(y: Float32Array): number {
  let p = 0;
  const a = Math.floor(y.length * 0.1), b = Math.floor(y.length * 0.9);
  for (let i = a; i < b; i++) p += (y[i] as number) ** 2;
  return Math.sqrt(p / (b - a));
}

type FloatProc = (x: Float32Array) => Float32Array;
function chunked(proc: FloatProc, x: Float32Array, n: number): Float32Array {
  const parts: Float32Array[] = [];
  let total = 0;
  for (let o = 0; o < x.length; o += n) {
    const y = proc(x.subarray(o, Math.min(x.length, o + n))).slice();
    parts.push(y);
    total += y.length;
  }
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Quality {
  roundTripDb: number;
  up8to24Db: number;
  alias5kDb: number;
  alias4k2Db: number;
}

function quality(make: (inHz: number, outHz: number) => FloatProc): Quality {
  const x = sineF(24000, 1000, 2, 0.9);
  const down = make(24000, 8000);
  const up = make(8000, 24000);
  const rt = chunked((c) => up(down(c)), x, 480);
  const up2 = make(8000, 24000);
  const y8 = chunked(up2, sineF(8000, 1000, 2, 0.9), 160);
  const leak = (hz: number) => {
    const d = make(24000, 8000);
    const y = chunked(d, sineF(24000, hz, 1, 0.9), 480);
    return 20 * Math.log10(rmsF(y) / (0.9 / Math.SQRT2));
  };
  return { roundTripDb: sinad(rt, 24000, 1000), up8to24Db: sinad(y8, 24000, 1000), alias5kDb: leak(5000), alias4k2Db: leak(4200) };
}

async function main(): Promise<void> {
  banner('audio core benchmark');
  const speexInit = (await import('@echogarden/speex-resampler-wasm')).default as unknown as () => Promise<SpeexModule>;
  const speexSimdInit = (await import('@echogarden/speex-resampler-wasm/simd')).default as unknown as () => Promise<SpeexModule>;
  const speex = await speexInit();
  const speexSimd = await speexSimdInit();

  // ---------------- quality: ours vs speex at each quality
  console.log('\n## Resampler quality (float path, 20 ms chunks; SINAD of a 1 kHz sine; alias = level of a tone above 4 kHz after 24k→8k)');
  console.log(row(['resampler', 'rt 24→8→24', '8k→24k', 'alias 5k', 'alias 4.2k'], W));
  const ours = quality((i, o) => {
    const r = new Resampler({ inputRateHz: i, outputRateHz: o });
    return (x) => r.processFloat32(x);
  });
  console.log(row(['parley Resampler', `${ours.roundTripDb.toFixed(1)} dB`, `${ours.up8to24Db.toFixed(1)} dB`, `${ours.alias5kDb.toFixed(1)} dB`, `${ours.alias4k2Db.toFixed(1)} dB`], W));
  const speexQ: Record<number, Quality> = {};
  for (const q of [2, 3, 4, 5, 6]) {
    speexQ[q] = quality((i, o) => {
      const s = new Speex(speex, i, o, q, 4096);
      return (x) => s.processFloat(x);
    });
    const s = speexQ[q] as Quality;
    console.log(row([`speex WASM q${q}`, `${s.roundTripDb.toFixed(1)} dB`, `${s.up8to24Db.toFixed(1)} dB`, `${s.alias5kDb.toFixed(1)} dB`, `${s.alias4k2Db.toFixed(1)} dB`], W));
  }
  // the best speex quality whose round-trip SNR does not exceed ours: "equal or better quality"
  let q = 2;
  for (const cand of [3, 4, 5, 6]) if ((speexQ[cand] as Quality).roundTripDb <= ours.roundTripDb) q = cand;
  console.log(`→ throughput compared against speex q${q} (its SNR ${(speexQ[q] as Quality).roundTripDb.toFixed(1)} dB ≤ ours ${ours.roundTripDb.toFixed(1)} dB)`);

  // ---------------- resampler throughput
  header(`Resampler, int16, 20 ms frames (ratio = our throughput / speex q${q} WASM, nonsimd | simd)`);
  const pairs: Array<[number, number]> = [[8000, 16000], [8000, 24000], [16000, 24000], [24000, 8000], [24000, 16000], [16000, 8000], [48000, 24000], [24000, 48000], [48000, 16000], [44100, 16000], [44100, 48000]];
  const ratios: number[] = [];
  for (const [i, o] of pairs) {
    const x = signal(i, SECONDS);
    const fr = framesOf(x, Math.round(i / 50));
    const r = new Resampler({ inputRateHz: i, outputRateHz: o });
    const sp = new Speex(speex, i, o, q, 4096);
    const spSimd = new Speex(speexSimd, i, o, q, 4096);
    const n = fr.length;
    const [tOurs, tSp, tSimd] = timeInterleaved(
      [(k) => r.process(fr[k % n] as Int16Array), (k) => sp.processInt(fr[k % n] as Int16Array), (k) => spSimd.processInt(fr[k % n] as Int16Array)],
      { ops: Math.min(n, 100), rounds: 25 },
    ) as [number, number, number];
    ratios.push(tSp / tOurs);
    const perFrame = (fr[0] as Int16Array).length;
    console.log(row([`${i}→${o} (speex ${formatNumber(tSp)} | simd ${formatNumber(tSimd)} µs)`, tOurs, perFrame / tOurs, 20000 / tOurs, `${(tSp / tOurs).toFixed(2)}× | ${(tSimd / tOurs).toFixed(2)}×`], W));
    sp.destroy();
    spSimd.destroy();
  }
  console.log(`→ geometric mean throughput ratio vs speex q${q} (nonsimd): ${Math.exp(ratios.reduce((a, b) => a + Math.log(b), 0) / ratios.length).toFixed(2)}× (target ≥ 0.5×)`);

  // ---------------- G.711, pcm16
  header('G.711 and pcm16 (per 20 ms frame)');
  const s8 = signal(8000, SECONDS);
  const f8 = framesOf(s8, 160);
  const u8 = mulawEncode(s8);
  const a8 = alawEncode(s8);
  const uf = framesOf(u8, 160);
  const af = framesOf(a8, 160);
  const dst16 = new Int16Array(160);
  const dst8 = new Uint8Array(160);
  const n8 = f8.length;
  measure('μ-law encode 160', n8, 160, 20, (k) => mulawEncode(f8[k % n8] as Int16Array, dst8));
  measure('μ-law decode 160', n8, 160, 20, (k) => mulawDecode(uf[k % n8] as Uint8Array, dst16));
  measure('A-law encode 160', n8, 160, 20, (k) => alawEncode(f8[k % n8] as Int16Array, dst8));
  measure('A-law decode 160', n8, 160, 20, (k) => alawDecode(af[k % n8] as Uint8Array, dst16));
  const s24 = signal(24000, SECONDS);
  const f24 = framesOf(s24, 480);
  const n24 = f24.length;
  const b64 = f24.map((f) => pcm16ToBase64(f));
  const fdst = new Float32Array(480);
  const idst = new Int16Array(480);
  {
    // encode and the decodes interleaved in the same rounds: the ratio is the figure (target ≤ 2×)
    const [enc, decNew, decInto] = timeInterleaved(
      [
        (k) => pcm16ToBase64(f24[k % n24] as Int16Array),
        (k) => base64ToPcm16(b64[k % n24] as string),
        (k) => base64ToPcm16Into(b64[k % n24] as string, idst),
      ],
      { ops: n24, rounds: 15 },
    ) as [number, number, number];
    console.log(row(['pcm16 → base64, 480 samples', enc, 480 / enc, 20000 / enc, '1.00×'], W));
    console.log(row(['base64 → pcm16, 480 samples (new array)', decNew, 480 / decNew, 20000 / decNew, `${(decNew / enc).toFixed(2)}× enc`], W));
    console.log(row(['base64 → pcm16, 480 samples (into dst)', decInto, 480 / decInto, 20000 / decInto, `${(decInto / enc).toFixed(2)}× enc`], W));
  }
  measure('int16 → float32, 480', n24, 480, 20, (k) => int16ToFloat32(f24[k % n24] as Int16Array, fdst));
  measure('float32 → int16, 480', n24, 480, 20, (_k) => float32ToInt16(fdst, idst));

  // ---------------- the per-frame chain
  header('Per-frame chain: μ-law decode → 8k→24k → base64 (target ≤ 20 µs)');
  const chainR = new Resampler({ inputRateHz: 8000, outputRateHz: 24000 });
  const pcm8 = new Int16Array(160);
  const spChain = new Speex(speex, 8000, 24000, q, 4096);
  const [chainUs, spChainUs] = timeInterleaved(
    [
      (k) => pcm16ToBase64(chainR.process(mulawDecode(uf[k % n8] as Uint8Array, pcm8))),
      (k) => pcm16ToBase64(spChain.processInt(mulawDecode(uf[k % n8] as Uint8Array, pcm8))),
    ],
    { ops: 100, rounds: 25 },
  ) as [number, number];
  console.log(row(['PCMU 20 ms → base64 pcm16 24 kHz', chainUs, 160 / chainUs, 20000 / chainUs, ''], W));
  console.log(row([`  same chain with speex q${q} WASM`, spChainUs, '', '', `${(spChainUs / chainUs).toFixed(2)}×`], W));
  const backR = new Resampler({ inputRateHz: 24000, outputRateHz: 8000 });
  const b64_24 = b64;
  measure('base64 24k → 8k → μ-law (the way back)', n24, 480, 20, (k) => {
    mulawEncode(backR.process(base64ToPcm16(b64_24[k % n24] as string, idst)), dst8);
  });

  // ---------------- framing, jitter buffer
  header('Framing and jitter buffer (per 20 ms frame)');
  const framer = new PcmFramer(480);
  const odd = framesOf(s24, 333);
  let sink = 0;
  const onFrame = (f: Int16Array): void => {
    sink += f[0] as number;
  };
  measure('PcmFramer, 333-sample chunks → 480', odd.length, 333, (333 / 24000) * 1000, (k) => framer.push(odd[k % odd.length] as Int16Array, onFrame));
  const jb = new JitterBuffer<Uint8Array>({ frameTimestampStep: 160, depthFrames: 3 });
  let seq = 0;
  for (let i = 0; i < 3; i++) jb.push(seq++ & 0xffff, 0, uf[0] as Uint8Array);
  measure('JitterBuffer push + pop', n8, 160, 20, (k) => {
    jb.push(seq++ & 0xffff, k * 160, uf[k % n8] as Uint8Array);
    jb.pop();
  });

  // ---------------- Opus
  header('Opus via @discordjs/opus (encode) and libopus/koffi (decode), complexity 5, 24 kb/s');
  for (const rateHz of [16000, 48000] as const) {
    const c = new OpusCodec({ sampleRateHz: rateHz, bitrateBps: 24000 });
    const x = signal(rateHz, SECONDS);
    const fr = framesOf(x, rateHz / 50);
    const pk = fr.map((f) => Buffer.from(c.encode(f)));
    const d = new OpusCodec({ sampleRateHz: rateHz });
    const out = new Int16Array(rateHz / 50);
    const n = fr.length;
    measure(`Opus ${rateHz / 1000}k encode`, n, rateHz / 50, 20, (k) => c.encode(fr[k % n] as Int16Array));
    measure(`Opus ${rateHz / 1000}k decode (into dst)`, n, rateHz / 50, 20, (k) => {
      if (k % n === 0) d.conceal(out);
      d.decode(pk[k % n] as Buffer, out);
    });
    measure(`Opus ${rateHz / 1000}k conceal`, 200, rateHz / 50, 20, () => d.conceal(out));
    c.close();
    d.close();
  }

  // ---------------- VAD
  header('VAD (per 32 ms frame; target Silero ≤ 1 ms = 1000 µs)');
  const speech16 = readWavFile(join(import.meta.dirname, '../fixtures/speech/book-table.wav'), { sampleRateHz: 16000 }).samples;
  for (const rateHz of [16000, 8000] as const) {
    const sp = rateHz === 16000 ? speech16 : readWavFile(join(import.meta.dirname, '../fixtures/speech/book-table.wav'), { sampleRateHz: 8000 }).samples;
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    const fr = framesOf(sp, vad.frameSamples);
    const n = fr.length;
    measure(`Silero v5 ${rateHz / 1000}k (onnxruntime-node)`, n * 5, vad.frameSamples, 32, (k) => vad.process(fr[k % n] as Int16Array));
    const ev = new EnergyVad(rateHz);
    measure(`energy VAD ${rateHz / 1000}k`, n * 20, vad.frameSamples, 32, (k) => ev.process(fr[k % n] as Int16Array));
  }

  // ---------------- pacer drift
  if (!QUICK) {
    console.log('\n## FramePacer: 60 s, 20 ms frames, 50 streams on one timer');
    const pacer = new FramePacer({ frameMs: 20 });
    const lateness: number[] = [];
    const t0 = performance.now();
    const removers: Array<() => void> = [];
    removers.push(pacer.add((i) => lateness.push(performance.now() - (t0 + (i + 1) * 20))));
    for (let s = 0; s < 49; s++) removers.push(pacer.add(() => { sink++; }));
    await new Promise((r) => setTimeout(r, 60_000 + 10));
    for (const r of removers) r();
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const first = med(lateness.slice(0, 250));
    const last = med(lateness.slice(-250));
    const sorted = [...lateness].sort((a, b) => a - b);
    console.log(`ticks ${lateness.length} (expected ${Math.floor(60_000 / 20)}); lateness median first 5 s ${first.toFixed(3)} ms, last 5 s ${last.toFixed(3)} ms → drift ${(last - first).toFixed(3)} ms over 60 s (target ≤ 1 ms)`);
    console.log(`lateness p50 ${sorted[Math.floor(sorted.length * 0.5)]?.toFixed(2)} p99 ${sorted[Math.floor(sorted.length * 0.99)]?.toFixed(2)} max ${sorted.at(-1)?.toFixed(2)} ms; stats ${JSON.stringify(pacer.stats())}`);
  }
  if (sink === 0.5) console.log(sink);
}

await main();
