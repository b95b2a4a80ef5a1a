/**
 * Backpressure: a client that stops reading makes Parley stop reading the upstream (instead of
 * buffering without bound); when it reads again, every audio delta arrives, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TestClient, until, sleep, type Parley } from './helpers.ts';

describe('relay backpressure', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  const DELTAS = 600;

  beforeAll(async () => {
    // 600 deltas of 1 s of audio (64 KiB of base64 each): ~38 MiB, more than socket buffers hold
    fake = await new FakeOpenAI({ replyAudioMs: DELTAS * 1000, deltaMs: 1000, deltaIntervalMs: 0 }).start();
    parley = await startParley({ fake, env: { PARLEY_SEND_HIGH_WATER_BYTES: '65536' } });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  it('pauses the upstream while the client does not read, and loses nothing', async () => {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'read me a long story' }] } });
    await c.waitFor('conversation.item.done');
    c.ws.pause(); // stop reading: the kernel buffers fill, then Parley's outbound buffer
    c.send({ type: 'response.create' });
    const m = parley.app.parley.metrics;
    await until(() => m.backpressurePauses.get({ slow: 'client' }) >= 1, 15_000, 'Parley to notice the slow client');
    // while paused, the fake cannot push everything: its own send buffer backs up (without the
    // pause Parley would read on and buffer for the client, and this would never happen)
    const upstream = fake.connections[0]!.ws;
    await until(() => upstream.bufferedAmount > 0, 15_000, "the upstream's send buffer to back up");
    await sleep(100);
    c.ws.resume();
    await c.waitFor('response.done', 30_000);
    const deltas = c.of('response.output_audio.delta');
    expect(deltas).toHaveLength(DELTAS);
    expect(new Set(deltas.map((d) => d['item_id'])).size).toBe(1);
    expect(Buffer.from(deltas[DELTAS - 1]!['delta'] as string, 'base64').length).toBe(48_000);
    c.close();
  }, 60_000);
});
