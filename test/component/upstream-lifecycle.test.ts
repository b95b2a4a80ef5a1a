/**
 * Upstream failures and session ends: a drop mid-session, a refused connection, a client
 * disconnect, the 60-minute close (rotation with history), and fallback to another engine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { OpenAIEngine } from '../../server/engines/openai/index.ts';
import type { Engine } from '../../server/engines/index.ts';
import { startParley, TestClient, speak, until, sleep, type Parley } from './helpers.ts';

/** A second real GA upstream standing in for the cascade engine (same seam, other name). */
function asCascade(inner: Engine): Engine {
  return { name: 'cascade', open: (o) => inner.open(o) };
}

describe('upstream lifecycle', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  async function setup(env: Record<string, string> = {}, extra?: FakeOpenAI): Promise<{ fake: FakeOpenAI; parley: Parley }> {
    const fake = await new FakeOpenAI().start();
    cleanups.push(() => fake.stop());
    const parley = await startParley({
      fake,
      env,
      ...(extra
        ? { deps: { engines: { cascade: () => asCascade(new OpenAIEngine({ apiKey: extra.apiKey, baseUrl: extra.baseUrl, connectTimeoutMs: 2000, highWaterBytes: 1 << 20 })) } } }
        : {}),
    });
    cleanups.push(() => parley.close());
    return { fake, parley };
  }
  async function connect(parley: Parley): Promise<TestClient> {
    const c = new TestClient(parley.wsUrl);
    cleanups.push(() => c.close());
    await c.opened;
    await c.waitFor('session.created');
    return c;
  }

  // retries off: the reconnect after a drop and the connect retries are in upstream-retry.test.ts
  it('upstream dropped mid-session: the client gets an error and a clean close; nothing leaks', async () => {
    const { fake, parley } = await setup({ PARLEY_OPENAI_RETRIES: '0' });
    const c = await connect(parley);
    fake.dropAll();
    const err = await c.waitFor('error', 5000);
    expect((err['error'] as Record<string, unknown>)['type']).toBe('server_error');
    expect((err['error'] as Record<string, unknown>)['code']).toBe('engine_dropped');
    const closed = await c.closed;
    expect(closed.code).toBe(1011);
    expect(parley.app.parley.sessions.active).toBe(0);
    expect(parley.app.parley.metrics.upstreamErrors.get({ engine: 'openai', code: 'ENGINE_DROPPED' })).toBe(1);
  });

  it('upstream closes normally: the client is closed too, with the reason', async () => {
    const { fake, parley } = await setup();
    const c = await connect(parley);
    fake.closeAll(1000, 'upstream says goodbye');
    const closed = await c.closed;
    expect(closed).toEqual({ code: 1000, reason: 'upstream says goodbye' });
    expect(c.of('error')).toEqual([]);
    await until(() => parley.app.parley.sessions.active === 0, 3000, 'session ended');
  });

  it('upstream refuses the connection (HTTP 429): the client gets the upstream code and a close', async () => {
    const { fake, parley } = await setup();
    fake.refuseWith(429);
    const c = new TestClient(parley.wsUrl);
    cleanups.push(() => c.close());
    await c.opened;
    const err = await c.waitFor('error', 5000);
    expect((err['error'] as Record<string, unknown>)['code']).toBe('rate_limit_exceeded');
    expect((await c.closed).code).toBe(1013); // try again later
    expect(parley.app.parley.sessions.active).toBe(0);
  });

  it('a client disconnect closes the upstream', async () => {
    const { fake, parley } = await setup();
    const c = await connect(parley);
    expect(fake.open).toBe(1);
    c.ws.terminate();
    await until(() => fake.open === 0, 5000, 'upstream closed');
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'session ended');
  });

  it('leaks no sockets or timers across sessions that end in every way', async () => {
    const { fake, parley } = await setup({ PARLEY_OPENAI_RETRIES: '0' });
    const count = (kind: string): number => process.getActiveResourcesInfo().filter((r) => r === kind).length;
    const settle = async (): Promise<void> => {
      await until(() => parley.app.parley.sessions.active === 0 && fake.open === 0, 5000, 'sessions to end');
      await sleep(150);
    };
    const once = async (): Promise<void> => {
      const a = await connect(parley); // the client leaves
      a.close();
      const b = await connect(parley); // the client vanishes
      b.ws.terminate();
      const d = await connect(parley); // the upstream drops
      fake.dropAll();
      await d.closed;
      fake.refuseWith(500); // the upstream refuses
      const e = new TestClient(parley.wsUrl);
      await e.closed;
      fake.refuseWith(null);
      await settle();
    };
    await once();
    const sockets = count('TCPSocketWrap');
    const timers = count('Timeout');
    for (let i = 0; i < 3; i++) await once();
    expect(count('TCPSocketWrap')).toBe(sockets);
    expect(count('Timeout')).toBeLessThanOrEqual(timers);
  });

  it('the 60-minute close (1001 session_expired) rotates to a new upstream session with the history as text', async () => {
    const { fake, parley } = await setup();
    fake.closeAfterTurns = 1;
    const c = await connect(parley);
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'my name is Ada' }] } });
    c.send({ type: 'response.create' });
    const eng = await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'rotation', 5000);
    expect(eng['engine']).toBe('openai');
    expect(fake.connections).toHaveLength(2);
    await until(() => fake.connections[1]!.received.filter((e) => e['type'] === 'conversation.item.create').length >= 2, 3000, 'history replay');
    const replay = fake.connections[1]!.received.filter((e) => e['type'] === 'conversation.item.create').map((e) => e['item'] as Record<string, unknown>);
    expect(replay[0]).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'my name is Ada' }] });
    expect(replay[1]).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'You said: my name is ada' }] });
    // the client saw no second session.created and no error; the call goes on
    expect(c.of('session.created')).toHaveLength(1);
    expect(c.of('error')).toEqual([]);
    fake.closeAfterTurns = null;
    const from = c.events.length;
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'still there?' }] } });
    c.send({ type: 'response.create' });
    await c.waitFor('response.done', 5000, from);
    expect(fake.violations).toEqual([]);
  });

  it('rotates to a fresh upstream session at a turn boundary before the cap (PARLEY_OPENAI_ROTATE_AFTER_MS)', async () => {
    const { fake, parley } = await setup({ PARLEY_OPENAI_ROTATE_AFTER_MS: '200' });
    const c = await connect(parley);
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'remember the number 42' }] } });
    c.send({ type: 'response.create' });
    await c.waitFor('response.done', 5000);
    expect(fake.connections).toHaveLength(1); // too young to rotate
    await sleep(250);
    const from = c.events.length;
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'and now?' }] } });
    c.send({ type: 'response.create' });
    const eng = await c.waitFor((e) => e.type === 'parley.engine', 5000, from);
    expect(eng).toMatchObject({ engine: 'openai', reason: 'rotation' });
    // at the turn boundary: the response was complete before the switch
    const doneIdx = c.events.findIndex((e, i) => i >= from && e.type === 'response.done');
    expect(doneIdx).toBeGreaterThan(-1);
    expect(doneIdx).toBeLessThan(c.events.indexOf(eng));
    expect((c.events[doneIdx]!['response'] as Record<string, unknown>)['status']).toBe('completed');
    expect(fake.connections).toHaveLength(2);
    await until(() => fake.open === 1, 3000, 'the old upstream to close');
    const replay = fake.connections[1]!.received.filter((e) => e['type'] === 'conversation.item.create').map((e) => JSON.stringify(e['item']));
    expect(replay.join('\n')).toContain('remember the number 42');
    expect(replay.join('\n')).toContain('and now?');
    expect(c.of('error')).toEqual([]);
    expect(c.of('session.created')).toHaveLength(1);
  });

  it('falls back to another engine when the upstream refuses at connect, and mid-call when it drops', async () => {
    const second = await new FakeOpenAI().start();
    cleanups.push(() => second.stop());
    const { fake, parley } = await setup({ PARLEY_FALLBACK_ENGINE: 'cascade', PARLEY_OPENAI_RETRIES: '0' }, second);
    // at connect
    fake.refuseWith(503);
    const c1 = new TestClient(parley.wsUrl);
    cleanups.push(() => c1.close());
    await c1.opened;
    const e1 = await c1.waitFor('parley.engine', 5000);
    expect(e1).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(c1.of('session.created')).toHaveLength(1);
    c1.close();
    // mid-call, with history
    fake.refuseWith(null);
    const c2 = await connect(parley);
    await c2.waitFor((e) => e.type === 'parley.engine' && e['engine'] === 'openai');
    speak((ev) => c2.send(ev), pcmChunkB64, 300, 300);
    await c2.waitFor('response.done', 5000);
    await c2.waitFor((e) => e.type === 'response.done' && ((e['response'] as Record<string, unknown>)['output'] as unknown[]).length > 0 && c2.of('response.done').length >= 2, 5000);
    const before = second.connections.length;
    fake.dropAll();
    const e2 = await c2.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'fallback', 5000);
    expect(e2['engine']).toBe('cascade');
    expect(second.connections.length).toBe(before + 1);
    const conn = second.connections.at(-1)!;
    await until(() => conn.received.some((e) => e['type'] === 'conversation.item.create'), 3000, 'history on the fallback engine');
    const texts = conn.received.filter((e) => e['type'] === 'conversation.item.create').map((e) => JSON.stringify(e['item']));
    expect(texts.join('\n')).toContain('what time is it');
    expect(c2.of('error')).toEqual([]);
    expect(parley.app.parley.metrics.engineSwitches.get({ from: 'openai', to: 'cascade', reason: 'fallback' })).toBe(2);
    expect(second.violations).toEqual([]);
  });
});
