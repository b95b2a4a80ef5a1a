/**
 * Cost of client-event validation (issue 10): `parseClientEvent` on the events a client sends,
 * against a baseline run interleaved in the same process (round by round, alternating order):
 * by default plain `JSON.parse` (what any JSON door pays), or another `parseClientEvent` given as
 * a module path (e.g. an older validate.ts extracted with `git show`).
 *
 *   npx tsx bench/validation.ts                       (ROUNDS=15 OPS=2000)
 *   BASELINE=/tmp/old-validate.ts npx tsx bench/validation.ts
 *
 * Prints µs per event (median of the rounds, with the interquartile spread) and the ratio.
 * The hot event is the 20 ms `input_audio_buffer.append` in the shape clients write (fast path).
 */
import { performance } from 'node:perf_hooks';
import { parseClientEvent } from '../server/protocol/index.ts';
import { buildSessionUpdate, DEFAULT_CONTROLS } from '../client-demo/src/lib/session-config.ts';
import { banner, row } from './lib/index.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 15);
const OPS = Number(process.env['OPS'] ?? 2000);

const audio = Buffer.alloc(960);
for (let i = 0; i < 480; i++) audio.writeInt16LE(Math.round(3000 * Math.sin(i / 7)), i * 2);
const b64 = audio.toString('base64');

const toolSchema = {
  type: 'object',
  properties: {
    city: { type: 'string', description: 'City name' },
    when: { type: 'object', properties: { date: { type: 'string' }, time: { type: 'string' } }, required: ['date'] },
    units: { type: 'string', enum: ['metric', 'imperial'] },
    stops: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, minutes: { type: 'integer' } } } },
  },
  required: ['city'],
};

const MESSAGES: Array<[string, string]> = [
  ['append 20 ms (fast path)', JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'evt_0000000001', audio: b64 })],
  ['append 20 ms (other key order)', JSON.stringify({ audio: b64, type: 'input_audio_buffer.append' })],
  ['session.update (browser demo)', JSON.stringify(buildSessionUpdate({ ...DEFAULT_CONTROLS, instructions: 'Be brief.' }))],
  ['session.update (5 tools)', JSON.stringify({ type: 'session.update', event_id: 'e', session: { type: 'realtime', instructions: 'You are a travel agent.', tools: Array.from({ length: 5 }, (_, i) => ({ type: 'function', name: `tool_${i}`, description: 'Plans part of a trip.', parameters: toolSchema })) } })],
  ['conversation.item.create (text)', JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is the weather in Paris tomorrow?' }] } })],
  ['response.create (overrides)', JSON.stringify({ type: 'response.create', response: { conversation: 'none', output_modalities: ['text'], instructions: 'One line.', max_output_tokens: 200, metadata: { topic: 'weather' } } })],
];

type Parse = (raw: string) => unknown;

async function baseline(): Promise<{ name: string; parse: Parse }> {
  const path = process.env['BASELINE'];
  if (!path) return { name: 'JSON.parse', parse: (raw) => JSON.parse(raw) as unknown };
  const mod = (await import(path)) as { parseClientEvent: Parse };
  return { name: `parseClientEvent from ${path}`, parse: (raw) => mod.parseClientEvent(raw) };
}

let sink = 0;
function round(parse: Parse, raw: string): number {
  const t0 = performance.now();
  for (let i = 0; i < OPS; i++) sink += (parse(raw) as { type?: string }).type?.length ?? 0;
  return ((performance.now() - t0) * 1000) / OPS;
}

const quartiles = (xs: number[]): [number, number, number] => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return [at(0.25), at(0.5), at(0.75)];
};

async function main(): Promise<void> {
  const base = await baseline();
  banner(`client-event validation: parseClientEvent vs ${base.name}, ${ROUNDS} interleaved rounds × ${OPS} events`);
  const widths = [34, 12, 18, 12, 18, 8];
  console.log(row(['event', 'base µs', '(IQR)', 'new µs', '(IQR)', 'ratio'], widths));
  for (const [name, raw] of MESSAGES) {
    for (let i = 0; i < 500; i++) {
      base.parse(raw);
      parseClientEvent(raw);
    }
    const b: number[] = [];
    const n: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) {
        b.push(round(base.parse, raw));
        n.push(round(parseClientEvent, raw));
      } else {
        n.push(round(parseClientEvent, raw));
        b.push(round(base.parse, raw));
      }
    }
    const [b25, b50, b75] = quartiles(b);
    const [n25, n50, n75] = quartiles(n);
    console.log(row([name, b50.toFixed(2), `${b25.toFixed(2)}–${b75.toFixed(2)}`, n50.toFixed(2), `${n25.toFixed(2)}–${n75.toFixed(2)}`, `${(n50 / b50).toFixed(2)}×`], widths));
  }
  if (sink === 42) console.log('');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
