/**
 * `conversation_already_has_active_response` is retried, not fatal: the model starts a response
 * on its own (VAD) and the client's response.create reaches the upstream before Parley has seen
 * that response begin. Parley absorbs the collision and sends the response.create again after
 * the model's response is done.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { startParley, TestClient, speak, until, type Parley } from './helpers.ts';

describe('response.create collision', () => {
  let fake: FakeOpenAI;
  let parley: Parley;

  beforeAll(async () => {
    fake = await new FakeOpenAI({ autoResponseDelayMs: 300, transcribe: () => 'hello' }).start();
    parley = await startParley({ fake });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  it('absorbs the collision and retries after response.done; the client sees two responses, no error', async () => {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    speak((ev) => c.send(ev), pcmChunkB64, 200, 200);
    await c.waitFor('input_audio_buffer.committed', 5000);
    c.send({ type: 'response.create', event_id: 'mine' });
    await until(() => c.of('response.done').length >= 2, 10_000, 'two responses');
    // the upstream really did refuse the first attempt, and got the same event again later
    const mine = fake.received('response.create').filter((e) => e['event_id'] === 'mine');
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.length).toBeLessThanOrEqual(5);
    expect(c.of('error')).toEqual([]);
    expect(c.of('response.done').map((e) => (e['response'] as Record<string, unknown>)['status'])).toEqual(['completed', 'completed']);
    c.close();
  });
});
