/**
 * Audio core benchmark: µs per 20 ms frame and samples per second for each processor, as ratios
 * against real time and against baselines run in the same process: speexdsp's WASM SIMD build
 * (@echogarden/speex-resampler-wasm) for the resampler, our own JavaScript kernels (the code before
 * the SIMD kernels), the encode for the base64 decode, and the regex-checked decode it replaced.
 * Baselines and ours alternate in rotating rounds; figures are medians with their interquartile
 * range, ratios taken round by round. Not a test. Run: `npx tsx bench/audio.ts` (add `--quick` for
 * fewer rounds and no 60 s pacer drift run, `--core` for the resampler, pcm16 and chain tables only).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  alawDecode, alawEncode, base64ToPcm16, base64ToPcm16Into, createVad, EnergyVad, FramePacer, JitterBuffer, mulawDecode, mulawEncode, OpusCodec,
  PcmFramer, pcm16ToBase64, readWavFile, Resampler, int16ToFloat32, float32ToInt16,
} from '../audio/index.ts';
import { banner, formatSpread, row, roundRatios, spread, timeOps, timeRounds } from './lib/index.ts';

const QUICK = process.argv.includes('--quick');
/** --core: only the resampler, G.711/pcm16 and the per-frame chains (the figures of docs/notes/audio.md's first tables). */
const CORE = process.argv.includes('--core');
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

/** base64 → pcm16 as it was before (a regex over the whole string, then Node's decoder): the baseline row. */
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
function regexBase64ToPcm16(b64: string, dst: Int16Array): Int16Array {
  const n = b64.length;
  if (n % 4 === 1 || !BASE64_RE.test(b64) || (b64.charCodeAt(n - 1) === 61 && n % 4 !== 0)) throw new Error('bad base64');
  let m = n;
  if (m > 0 && b64.charCodeAt(m - 1) === 61) m--;
  if (m > 0 && b64.charCodeAt(m - 1) === 61) m--;
  const bytes = Math.floor((m * 3) / 4);
  if ((bytes & 1) !== 0) throw new Error('odd byte count');
  Buffer.from(dst.buffer, dst.byteOffset, bytes).write(b64, 'base64');
  return dst.length === bytes >> 1 ? dst : dst.subarray(0, bytes >> 1);
}

/** SINAD (dB) of a 1 kHz sine sent hi → lo → hi in 20 ms chunks (float path). */
function roundTripDb(make: (inHz: number, outHz: number) => FloatProc, hi: number, lo: number): number {
  const down = make(hi, lo);
  const up = make(lo, hi);
  const y = chunked((c) => up(down(c)), sineF(hi, 1000, 2, 0.9), hi / 50);
  return sinad(y, hi, 1000);
}

async function main(): Promise<void> {
  banner('audio core benchmark');
  const speexSimdInit = (await import('@echogarden/speex-resampler-wasm/simd')).default as unknown as () => Promise<SpeexModule>;
  const speexSimd = await speexSimdInit();

  // ---------------- quality: ours vs speex at each quality
  console.log('\n## Resampler quality (float path, 20 ms chunks; SINAD of a 1 kHz sine; alias = level of a tone above 4 kHz after 24k→8k)');
  console.log(row(['resampler', 'rt 24→8→24', '8k→24k', 'alias 5k', 'alias 4.2k'], W));
  const oursMake = (kernel: 'wasm' | 'js') => (i: number, o: number): FloatProc => {
    const r = new Resampler({ inputRateHz: i, outputRateHz: o, kernel });
    return (x) => r.processFloat32(x);
  };
  for (const kernel of ['wasm', 'js'] as const) {
    const ours = quality(oursMake(kernel));
    console.log(row([`parley Resampler (${kernel})`, `${ours.roundTripDb.toFixed(1)} dB`, `${ours.up8to24Db.toFixed(1)} dB`, `${ours.alias5kDb.toFixed(1)} dB`, `${ours.alias4k2Db.toFixed(1)} dB`], W));
  }
  const speexQ: Record<number, Quality> = {};
  for (const q of [2, 3, 4, 5, 6]) {
    speexQ[q] = quality((i, o) => {
      const s = new Speex(speexSimd, i, o, q, 4096);
      return (x) => s.processFloat(x);
    });
    const s = speexQ[q] as Quality;
    console.log(row([`speex WASM SIMD q${q}`, `${s.roundTripDb.toFixed(1)} dB`, `${s.up8to24Db.toFixed(1)} dB`, `${s.alias5kDb.toFixed(1)} dB`, `${s.alias4k2Db.toFixed(1)} dB`], W));
  }
  // the baseline: speex at the lowest quality that reaches the target SNR (≥ 100 dB, 24k→8k→24k)
  let q = 6;
  for (const cand of [6, 5, 4, 3, 2]) if ((speexQ[cand] as Quality).roundTripDb >= 100) q = cand;
  console.log(`→ throughput compared against speex q${q}, the lowest quality with ≥ 100 dB round trip (${(speexQ[q] as Quality).roundTripDb.toFixed(1)} dB)`);

  // ---------------- resampler throughput
  // short rounds (10 frames, well under a scheduler time slice), many of them: a round that another
  // process preempts is an outlier the median ignores, and each ratio compares adjacent rounds
  const ROUNDS = QUICK ? 61 : 201;
  console.log(`\n## Resampler, int16, 20 ms frames: ours (WebAssembly SIMD, the default), ours with the JavaScript kernels (the code before), speexdsp WASM SIMD q${q}`);
  console.log(`${ROUNDS} interleaved rounds of 10 frames, order rotating; µs per frame as median [interquartile range]; ratio = speex µs / ours µs`);
  console.log('in the same round (> 1: ours is faster), median [IQR]; SNR = 1 kHz round trip through the pair (higher rate → lower → higher, float).');
  const RW = [10, 20, 20, 20, 20, 20, 9, 9];
  console.log(row(['pair', 'ours SIMD µs', 'ours JS µs', `speex SIMD q${q} µs`, 'SIMD vs speex', 'JS vs speex', 'SNR ours', 'SNR spx'], RW));
  const pairs: Array<[number, number]> = [[8000, 24000], [24000, 8000], [16000, 24000], [24000, 16000], [8000, 16000], [48000, 24000], [16000, 8000], [24000, 48000], [48000, 16000], [44100, 16000], [44100, 48000]];
  const targets = new Set(['8000→24000', '24000→8000', '16000→24000', '24000→16000', '8000→16000', '48000→24000']);
  const verdict: string[] = [];
  for (const [i, o] of pairs) {
    const x = signal(i, SECONDS);
    const fr = framesOf(x, Math.round(i / 50));
    const r = new Resampler({ inputRateHz: i, outputRateHz: o });
    const rj = new Resampler({ inputRateHz: i, outputRateHz: o, kernel: 'js' });
    const spSimd = new Speex(speexSimd, i, o, q, 4096);
    const n = fr.length;
    const [tOurs, tJs, tSimd] = timeRounds(
      [(k) => r.process(fr[k % n] as Int16Array), (k) => rj.process(fr[k % n] as Int16Array), (k) => spSimd.processInt(fr[k % n] as Int16Array)],
      { ops: 10, rounds: ROUNDS, warmupOps: 300 },
    ) as [number[], number[], number[]];
    const ratio = spread(roundRatios(tSimd, tOurs));
    const ratioJs = spread(roundRatios(tSimd, tJs));
    const hi = Math.max(i, o);
    const lo = Math.min(i, o);
    const snrOurs = roundTripDb(oursMake('wasm'), hi, lo);
    const snrSpeex = roundTripDb((a, b) => {
      const s = new Speex(speexSimd, a, b, q, 4096);
      return (y) => s.processFloat(y);
    }, hi, lo);
    const name = `${i / 1000}k→${o / 1000}k`;
    console.log(row([name, formatSpread(spread(tOurs)), formatSpread(spread(tJs)), formatSpread(spread(tSimd)), `${formatSpread(ratio, 2)}×`, `${formatSpread(ratioJs, 2)}×`, `${snrOurs.toFixed(1)}`, `${snrSpeex.toFixed(1)}`], RW));
    verdict.push(`${name} ${ratio.median >= 1 ? 'ours (WASM SIMD)' : 'speex would win'}${targets.has(`${i}→${o}`) ? (ratio.median >= 1 ? ' ✓ target' : ' ✗ target') : ''}`);
    spSimd.destroy();
  }
  console.log(`→ faster per pair (median ratio): ${verdict.join('; ')}`);

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
    // encode and the decodes interleaved in the same rounds, ratios round by round (target ≤ 2×)
    const t = timeRounds(
      [
        (k) => pcm16ToBase64(f24[k % n24] as Int16Array),
        (k) => base64ToPcm16(b64[k % n24] as string),
        (k) => base64ToPcm16Into(b64[k % n24] as string, idst),
        (k) => base64ToPcm16(b64[k % n24] as string, idst),
        (k) => regexBase64ToPcm16(b64[k % n24] as string, idst),
      ],
      { ops: 20, rounds: QUICK ? 101 : 401, warmupOps: 1000 },
    ) as [number[], number[], number[], number[], number[]];
    const enc = t[0];
    const names = ['pcm16 → base64 (encode)', 'base64 → pcm16, new array', 'base64 → pcm16, base64ToPcm16Into(dst)', 'base64 → pcm16, base64ToPcm16(b64, dst)', '  before: regex check + decode into dst'];
    console.log('  480 samples (20 ms at 24 kHz); the five rows interleaved, order rotating; µs median; ratio = decode / encode in the same round, median [IQR]');
    t.forEach((us, k) => {
      const sp = spread(us);
      console.log(row([names[k] as string, sp.median, 480 / sp.median, 20000 / sp.median, k === 0 ? `${formatSpread(sp)} µs` : `${formatSpread(spread(roundRatios(us, enc)), 2)}× enc`], W));
    });
  }
  measure('int16 → float32, 480', n24, 480, 20, (k) => int16ToFloat32(f24[k % n24] as Int16Array, fdst));
  measure('float32 → int16, 480', n24, 480, 20, (_k) => float32ToInt16(fdst, idst));

  // ---------------- the per-frame chains
  header('Per-frame chains (target ≤ 20 µs), ours vs the same chain with speex, interleaved rounds, µs median [IQR]');
  const chainR = new Resampler({ inputRateHz: 8000, outputRateHz: 24000 });
  const pcm8 = new Int16Array(160);
  const spChain = new Speex(speexSimd, 8000, 24000, q, 4096);
  const backR = new Resampler({ inputRateHz: 24000, outputRateHz: 8000 });
  const spBack = new Speex(speexSimd, 24000, 8000, q, 4096);
  const [chainUs, spChainUs, backUs, spBackUs] = timeRounds(
    [
      (k) => pcm16ToBase64(chainR.process(mulawDecode(uf[k % n8] as Uint8Array, pcm8))),
      (k) => pcm16ToBase64(spChain.processInt(mulawDecode(uf[k % n8] as Uint8Array, pcm8))),
      (k) => {
        const n = base64ToPcm16Into(b64[k % n24] as string, idst);
        mulawEncode(backR.process(n === idst.length ? idst : idst.subarray(0, n)), dst8);
      },
      (k) => {
        const n = base64ToPcm16Into(b64[k % n24] as string, idst);
        mulawEncode(spBack.processInt(n === idst.length ? idst : idst.subarray(0, n)), dst8);
      },
    ],
    { ops: 10, rounds: QUICK ? 61 : 201, warmupOps: 300 },
  ) as [number[], number[], number[], number[]];
  const chainRow = (name: string, ours: number[], base: number[]): void => {
    const sp = spread(ours);
    console.log(row([name, sp.median, '', 20000 / sp.median, `${formatSpread(spread(roundRatios(base, ours)), 2)}× speex`], W));
  };
  chainRow('PCMU 20 ms → 8k→24k → base64 (SIP → OpenAI)', chainUs, spChainUs);
  chainRow('base64 24k → 24k→8k → μ-law (the way back)', backUs, spBackUs);
  console.log(`  (the same chains with speex q${q} SIMD: ${formatSpread(spread(spChainUs))} and ${formatSpread(spread(spBackUs))} µs)`);

  if (CORE) return;

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
