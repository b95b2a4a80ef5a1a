/**
 * A response whose way out throws (issue 10, defect 3): it ends with response.done (failed), it is
 * no longer active, and the next response.create runs. Scripted chat/TTS stages, real engine.
 */
import { describe, expect, it } from 'vitest';
import { CascadeEngine } from '../../../server/engines/cascade/index.ts';
import type { CascadeStages } from '../../../server/engines/cascade/index.ts';
import type { EngineConnection } from '../../../server/engines/index.ts';
import type { RealtimeSession, ServerEvent } from '../../../server/protocol/index.ts';
import { silentLog } from './cascade-harness.ts';

function stages(reply: string): CascadeStages {
  return {
    stt: { name: 'none', open: () => ({ push: () => undefined, abort: () => undefined, finish: async () => ({ text: '', audioMs: 0, finaliseMs: 0 }) }) },
    chat: {
      name: 'scripted',
      async *stream() {
        // a model that writes while the first sentence is already being spoken
        for (const word of reply.split(' ')) {
          yield { type: 'text' as const, delta: `${word} ` };
          await new Promise((r) => setTimeout(r, 10));
        }
        yield { type: 'done' as const, finishReason: 'stop' as const };
      },
    },
    tts: { name: 'tone', async *synthesize() { yield { pcm: new Int16Array(3_200).fill(1_000), sampleRateHz: 16_000 }; } },
  };
}

/** Opens an engine whose receiver throws on the first event `throwOn` picks. */
async function open(session: Partial<RealtimeSession>, throwOn: (e: ServerEvent) => boolean): Promise<{ conn: EngineConnection; events: ServerEvent[] }> {
  const engine = new CascadeEngine({ name: 'cascade', stages: stages('Hello there. How are you today?'), vad: 'energy' });
  const events: ServerEvent[] = [];
  let armed = true;
  const conn = await engine.open({
    session: { type: 'realtime', ...session },
    log: silentLog,
    callbacks: {
      onEvent: (e) => {
        events.push(e);
        if (armed && throwOn(e)) {
          armed = false;
          throw new RangeError('Maximum call stack size exceeded');
        }
      },
      onClose: () => undefined,
    },
  });
  return { conn, events };
}

async function until<T>(find: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const doneOf = (events: ServerEvent[], id: string): ServerEvent | undefined =>
  events.find((e) => e.type === 'response.done' && e.response.id === id);

describe('cascade: an exception on a response\'s way out', () => {
  const cases: Array<[string, Partial<RealtimeSession>, (e: ServerEvent) => boolean]> = [
    ['while emitting response.created', { output_modalities: ['text'] }, (e) => e.type === 'response.created'],
    ['while emitting a text delta', { output_modalities: ['text'] }, (e) => e.type === 'response.output_text.delta'],
    ['while emitting an audio delta (TTS loop)', {}, (e) => e.type === 'response.output_audio.delta'],
  ];
  for (const [label, session, throwOn] of cases) {
    it(`${label}: response.done (failed) follows, and the next response.create runs`, async () => {
      const { conn, events } = await open(session, throwOn);
      conn.send({ type: 'response.create', event_id: 'evt_1' });
      const created = await until(() => events.find((e) => e.type === 'response.created'));
      const firstId = created.type === 'response.created' ? created.response.id : '';
      const done = await until(() => doneOf(events, firstId));
      expect(done).toMatchObject({ response: { status: 'failed', status_details: { type: 'failed', error: { type: 'server_error' } } } });
      // nothing of the failed response after its response.done
      await new Promise((r) => setTimeout(r, 50));
      const after = events.slice(events.indexOf(done) + 1);
      expect(after.filter((e) => 'response_id' in e && e.response_id === firstId)).toEqual([]);

      const mark = events.length;
      conn.send({ type: 'response.create', event_id: 'evt_2' });
      const second = await until(() => events.slice(mark).find((e) => e.type === 'response.done'));
      expect(second).toMatchObject({ response: { status: 'completed' } });
      expect(events.slice(mark).filter((e) => e.type === 'error')).toEqual([]);
      conn.close();
    });
  }
});
