/**
 * Browser demo benchmark: the cost of the page's audio paths (the pure logic the AudioWorklets run),
 * measured in Node, as ratios against real time and against baselines run in the same process:
 * - mic path (device rate → 24 kHz pcm16 20 ms frames) per 128-sample render quantum, against the
 *   render-quantum budget and against the server's own int16 Resampler (audio/) on the same audio;
 * - playback path (24 kHz chunks → jitter buffer → device-rate render quanta);
 * - base64 of a 20 ms frame against Node's Buffer (baseline) and the usual browser idiom
 *   btoa(String.fromCharCode(...)).
 * Not a test. Run: `npx tsx bench/demo-worklets.ts`.
 */
import { Resampler } from '../audio/index.ts';
import { CapturePipeline } from '../client-demo/src/lib/capture.ts';
import { PlaybackBuffer } from '../client-demo/src/lib/playback-buffer.ts';
import { Base64Encoder } from '../client-demo/src/lib/pcm.ts';
import { StreamingResampler } from '../client-demo/src/lib/resampler.ts';
import { banner, formatNumber, row, timeOps } from './lib/index.ts';

const W = [58, 12, 14, 18];
const QUANTUM = 128;

function speechLike(rateHz: number, seconds: number): Float32Array {
  const x = new Float32Array(Math.round(rateHz * seconds));
  let seed = 7;
  for (let i = 0; i < x.length; i++) {
    const t = i / rateHz;
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    x[i] = (0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t)) * (0.3 * Math.sin(2 * Math.PI * 180 * t) + 0.1 * Math.sin(2 * Math.PI * 2300 * t)) + ((seed >>> 16) / 65536 - 0.5) * 0.01;
  }
  return x;
}

banner('Browser demo audio paths (client-demo/src/lib), Node ' + process.version);
console.log(row(['path', 'µs/op', 'x real time', 'vs baseline'], W));

// ---- mic path: one render quantum at the device rate
for (const rate of [48_000, 44_100]) {
  const input = speechLike(rate, 10);
  const quanta = Math.floor(input.length / QUANTUM);
  const capture = new CapturePipeline({ inputRateHz: rate, frameMs: 20 });
  const mic = timeOps(
    (i) => {
      const q = i % quanta;
      capture.push(input.subarray(q * QUANTUM, q * QUANTUM + QUANTUM), (f) => capture.pool.give(f.pcm));
    },
    { ops: quanta * 3 },
  );
  // baseline: the server's int16 streaming resampler (audio/) on the same quanta
  const int16 = new Int16Array(input.length);
  for (let i = 0; i < input.length; i++) int16[i] = Math.round((input[i] ?? 0) * 32767);
  const server = new Resampler({ inputRateHz: rate, outputRateHz: 24_000 });
  const base = timeOps(
    (i) => {
      const q = i % quanta;
      server.process(int16.subarray(q * QUANTUM, q * QUANTUM + QUANTUM));
    },
    { ops: quanta * 3 },
  );
  const budgetUs = (QUANTUM / rate) * 1e6;
  console.log(
    row(
      [`mic quantum ${rate / 1000} kHz → 24 kHz frames (vs audio/ Resampler)`, formatNumber(mic.usPerOp), `${formatNumber(budgetUs / mic.usPerOp)}x`, `${formatNumber(mic.usPerOp / base.usPerOp)}x`],
      W,
    ),
  );
}

// ---- resampler alone, per second of audio, both directions
for (const [inRate, outRate] of [
  [48_000, 24_000],
  [44_100, 24_000],
  [24_000, 48_000],
] as const) {
  const input = speechLike(inRate, 1);
  const r = new StreamingResampler({ inputRateHz: inRate, outputRateHz: outRate });
  const out = new Float32Array(r.maxOutputSamples(QUANTUM * 4));
  const blocks = Math.floor(input.length / (QUANTUM * 4));
  const t = timeOps(
    (i) => {
      const b = i % blocks;
      r.process(input.subarray(b * QUANTUM * 4, (b + 1) * QUANTUM * 4), out);
    },
    { ops: blocks * 20 },
  );
  const usPerSecond = t.usPerOp * blocks;
  console.log(row([`resampler ${inRate / 1000} → ${outRate / 1000} kHz, per second of audio`, formatNumber(usPerSecond), `${formatNumber(1e6 / usPerSecond)}x`, '—'], W));
}

// ---- playback path: 20 ms chunks in, render quanta out at 48 kHz
{
  const chunk = new Int16Array(480);
  for (let i = 0; i < chunk.length; i++) chunk[i] = Math.round(8000 * Math.sin(i / 7));
  const playback = new PlaybackBuffer({ outputRateHz: 48_000, startThresholdMs: 60 });
  const out = new Float32Array(QUANTUM);
  let pushed = 0;
  // one op = one 20 ms chunk pushed and 7.5 quanta rendered (20 ms at 48 kHz)
  const t = timeOps(
    (i) => {
      playback.push('item', chunk);
      pushed++;
      const quanta = i % 2 === 0 ? 7 : 8;
      for (let q = 0; q < quanta; q++) playback.render(out);
    },
    { ops: 20_000 },
  );
  const budgetUs = 20_000;
  console.log(row(['playback: 20 ms chunk in + 20 ms of quanta out (48 kHz)', formatNumber(t.usPerOp), `${formatNumber(budgetUs / t.usPerOp)}x`, '—'], W));
  if (pushed < 0) console.log(pushed);
}

// ---- base64 of one 20 ms frame (960 bytes)
{
  const frame = new Uint8Array(960);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 37) & 255;
  const enc = new Base64Encoder();
  let sink = 0;
  const ours = timeOps(() => (sink += enc.encode(frame).length), { ops: 200_000 });
  const node = timeOps(() => (sink += Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64').length), { ops: 200_000 });
  const idiom = timeOps(() => (sink += btoa(String.fromCharCode(...frame)).length), { ops: 50_000 });
  console.log(row(['base64 20 ms frame: Base64Encoder (vs Node Buffer)', formatNumber(ours.usPerOp), '—', `${formatNumber(ours.usPerOp / node.usPerOp)}x`], W));
  console.log(row(['base64 20 ms frame: btoa(String.fromCharCode(...)) (vs Buffer)', formatNumber(idiom.usPerOp), '—', `${formatNumber(idiom.usPerOp / node.usPerOp)}x`], W));
  if (sink < 0) console.log(sink);
}
