/**
 * The session hub's own cost per audio frame pair: a door's `input_audio_buffer.append` (a reused
 * AudioChunk over 20 ms of μ-law, as the SIP door sends it) goes through the session to an in-process
 * engine, which answers with a `response.output_audio.delta` that goes back through the session to the
 * door — against a baseline where the same door and engine are wired to each other directly (no
 * session: no enforcement, tracking, observers or metrics). Both run interleaved in this process,
 * 9 rounds; figures are medians [min–max].
 *
 *   npx tsx bench/hub.ts
 */
import pino from 'pino';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { EngineCallbacks } from '../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEvent } from '../server/protocol/index.ts';
import { summarize } from './lib/index.ts';

const ROUNDS = 9;
const FRAMES = 200_000;
const PCMU = { type: 'audio/pcmu' } as const;

async function main(): Promise<void> {
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent' });
  const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
  let bytesOut = 0;
  /** The echo engine: each append comes back as a delta over the same chunk. */
  const echoEngine = (cb: Pick<EngineCallbacks, 'onEvent'>): ((ev: ClientEvent) => void) => {
    const delta = { type: 'response.output_audio.delta' as const, event_id: 'evt_x', response_id: 'resp_1', item_id: 'item_1', output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(0)) };
    return (ev) => {
      if (ev.type !== 'input_audio_buffer.append') return;
      delta.delta = ev.audio;
      cb.onEvent(delta);
    };
  };
  const door = { send: (ev: ServerEvent): void => void (ev.type === 'response.output_audio.delta' && (bytesOut += ev.delta.bytes().length)), close: (): void => undefined };
  app.parley.engines.register('cascade', () => ({
    name: 'cascade',
    open: async (opts) => {
      queueMicrotask(() => opts.callbacks.onEvent({ type: 'session.created', event_id: 'evt_1', session: opts.session }));
      return { send: echoEngine(opts.callbacks), close: () => undefined };
    },
  }));
  const session = await app.parley.sessions.open({ leg: 'sip', engine: 'cascade', client: door, session: { type: 'realtime', audio: { input: { format: PCMU }, output: { format: PCMU } } } });
  await new Promise((r) => setTimeout(r, 20));

  const payload = new Uint8Array(160).fill(0x55);
  const chunk = AudioChunk.fromBytes(payload, PCMU);
  const append = { type: 'input_audio_buffer.append' as const, audio: chunk };
  const direct = echoEngine({ onEvent: (ev) => door.send(ev) });
  const viaHub = (): void => {
    chunk.setBytes(payload);
    session.handleClientEvent(append);
  };
  const bare = (): void => {
    chunk.setBytes(payload);
    direct(append);
  };
  const time = (f: () => void): number => {
    const t0 = performance.now();
    for (let i = 0; i < FRAMES; i++) f();
    return ((performance.now() - t0) * 1000) / FRAMES;
  };
  for (let i = 0; i < 50_000; i++) {
    viaHub();
    bare();
  }
  const hub: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      base.push(time(bare));
      hub.push(time(viaHub));
    } else {
      hub.push(time(viaHub));
      base.push(time(bare));
    }
  }
  const h = summarize(hub);
  const b = summarize(base);
  const added = hub.map((x, i) => x - (base[i] ?? 0)).sort((x, y) => x - y);
  process.stdout.write(
    `# session hub, one 20 ms μ-law frame pair (append in → delta out), ${ROUNDS} interleaved rounds of ${FRAMES}; node ${process.version}\n` +
      `  door ↔ engine wired directly : ${b.p50.toFixed(3)} µs [${b.min.toFixed(3)}–${b.max.toFixed(3)}]\n` +
      `  through the session hub      : ${h.p50.toFixed(3)} µs [${h.min.toFixed(3)}–${h.max.toFixed(3)}]\n` +
      `  the hub adds                 : ${(added[ROUNDS >> 1] ?? 0).toFixed(3)} µs per frame pair (median) [${(added[0] ?? 0).toFixed(3)}–${(added[ROUNDS - 1] ?? 0).toFixed(3)}]\n`,
  );
  if (bytesOut === 0) throw new Error('no audio came back');
  session.close('bench done');
  await app.close();
}

void main();
