/**
 * Cost of one per-event counter increment (`metrics.eventsIn.inc(type)`, run on every client and server
 * event, so on every audio frame): Parley's Counter (counted in a Map, handed to prom-client at scrape
 * time) against prom-client's own `inc({ type })` and a cached `labels(type)` child. Interleaved rounds,
 * medians with min–max; ratios against Parley's Counter measured in the same process.
 *   npx tsx bench/metrics.ts
 */
import { Counter as PromCounter, Registry } from 'prom-client';
import { Metrics } from '../server/metrics.ts';

const TYPES = ['input_audio_buffer.append', 'response.output_audio.delta', 'response.output_audio_transcript.delta', 'response.done'];
const N = 1_000_000;
const ROUNDS = 9;

const metrics = new Metrics();
const registry = new Registry();
const prom = new PromCounter({ name: 'bench_events_total', help: 'bench', labelNames: ['type'], registers: [registry] });
const children = new Map<string, { inc(n?: number): void }>();

const cases: Record<string, (t: string) => void> = {
  'parley Counter.inc(type)': (t) => metrics.eventsIn.inc(t),
  'prom-client inc({ type })': (t) => prom.inc({ type: t }),
  'prom-client cached labels(type).inc()': (t) => {
    let c = children.get(t);
    if (!c) children.set(t, (c = prom.labels(t)));
    c.inc();
  },
};

const samples: Record<string, number[]> = {};
for (const name of Object.keys(cases)) samples[name] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f(TYPES[i & 3]!);
    samples[name]!.push(Number(process.hrtime.bigint() - t0) / N);
  }
}
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const base = med(samples['parley Counter.inc(type)']!);
console.log(`ns per increment, ${ROUNDS} interleaved rounds of ${N}, median (min–max), ratio to Parley's Counter`);
for (const [name, s] of Object.entries(samples)) {
  console.log(`${name.padEnd(40)} ${med(s).toFixed(0).padStart(5)} ns (${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)})  ${(med(s) / base).toFixed(1)}×`);
}
// the scrape renders the same counts either way
const text = await metrics.render();
if (!text.includes(`parley_client_events_total{type="response.done"} ${(N / 4) * ROUNDS}`)) throw new Error('unexpected /metrics text');
