/**
 * Upstream retries (issue 10): a short, bounded retry before the session falls back. A 5xx or a
 * network error at connect is retried once after 100–300 ms; a wait the upstream asks for
 * (Retry-After, x-ratelimit-reset-*, a rate limit's reset) is honoured when short and makes the
 * session fall back at once when long; auth errors are never retried; a mid-call drop reconnects
 * once with the conversation replayed. Counted in parley_upstream_retries_total.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { OpenAIEngine, exhaustedResetMs, parseDurationMs, upstreamWaitMs } from '../../server/engines/openai/index.ts';
import type { Engine } from '../../server/engines/index.ts';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { startParley, TestClient, until, sleep, type Ev, type Parley } from './helpers.ts';

/** A second real GA upstream standing in for the cascade engine (same seam, other name). */
function asCascade(inner: Engine): Engine {
  return { name: 'cascade', open: (o) => inner.open(o) };
}

const say = (c: TestClient, text: string): void => {
  c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
  c.send({ type: 'response.create' });
};
const status = (e: Ev): unknown => (e['response'] as Record<string, unknown>)['status'];

describe('upstream retries', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  /** Parley on the fake, with a second fake serving as the `cascade` fallback engine. */
  async function setup(env: Record<string, string> = {}): Promise<{ fake: FakeOpenAI; second: FakeOpenAI; parley: Parley }> {
    const fake = await new FakeOpenAI().start();
    cleanups.push(() => fake.stop());
    const second = await new FakeOpenAI().start();
    cleanups.push(() => second.stop());
    const parley = await startParley({
      fake,
      env: { PARLEY_FALLBACK_ENGINE: 'cascade', ...env },
      deps: { engines: { cascade: () => asCascade(new OpenAIEngine({ apiKey: second.apiKey, baseUrl: second.baseUrl, connectTimeoutMs: 2000, highWaterBytes: 1 << 20, retries: 0 })) } },
    });
    cleanups.push(() => parley.close());
    return { fake, second, parley };
  }
  function client(parley: Parley): TestClient {
    const c = new TestClient(parley.wsUrl);
    cleanups.push(() => c.close());
    return c;
  }
  const retries = (p: Parley, reason: string, outcome: string): number => p.app.parley.metrics.upstreamRetries.get({ engine: 'openai', reason, outcome });

  /** The client is on openai (initial), converses there, and never saw a fallback. */
  async function conversesOnOpenAI(c: TestClient, second: FakeOpenAI): Promise<void> {
    const eng = await c.waitFor('parley.engine', 5000);
    expect(eng).toMatchObject({ engine: 'openai', reason: 'initial' });
    const from = c.events.length;
    say(c, 'hello there');
    const done = await c.waitFor('response.done', 5000, from);
    expect(status(done)).toBe('completed');
    expect(c.of('parley.engine').filter((e) => e['reason'] === 'fallback')).toEqual([]);
    expect(c.of('error')).toEqual([]);
    expect(second.upgrades).toBe(0);
  }

  it('a 503 then success: one jittered retry, the session stays on openai and converses; /metrics counts it', async () => {
    const { fake, second, parley } = await setup();
    fake.refuseWith(503, { times: 1 });
    const c = client(parley);
    await conversesOnOpenAI(c, second);
    expect(fake.upgrades).toBe(2);
    const gapMs = fake.upgradeTimes[1]! - fake.upgradeTimes[0]!;
    expect(gapMs).toBeGreaterThanOrEqual(90); // 100–300 ms (timer granularity)
    expect(gapMs).toBeLessThan(600);
    expect(retries(parley, 'server_error', 'ok')).toBe(1);
    const text = await (await fetch(`${parley.httpUrl}/metrics`)).text();
    expect(text).toContain('parley_upstream_retries_total{engine="openai",reason="server_error",outcome="ok"} 1');
    expect(fake.violations).toEqual([]);
  });

  it('a network error at connect (socket reset before any answer): retried once, the session stays on openai', async () => {
    const { fake, second, parley } = await setup();
    fake.resetUpgrades(1);
    const c = client(parley);
    await conversesOnOpenAI(c, second);
    expect(fake.upgrades).toBe(2);
    expect(retries(parley, 'network', 'ok')).toBe(1);
  });

  it('a 429 with Retry-After: 0.2 is retried after at least 200 ms, and the session stays on openai', async () => {
    const { fake, second, parley } = await setup();
    fake.refuseWith(429, { times: 1, headers: { 'Retry-After': '0.2' } });
    const c = client(parley);
    await conversesOnOpenAI(c, second);
    expect(fake.upgrades).toBe(2);
    const gapMs = fake.upgradeTimes[1]! - fake.upgradeTimes[0]!;
    expect(gapMs).toBeGreaterThanOrEqual(199);
    expect(gapMs).toBeLessThan(600);
    expect(retries(parley, 'rate_limit', 'ok')).toBe(1);
  });

  it('x-ratelimit-reset-requests (remaining 0) is honoured like Retry-After', async () => {
    const { fake, second, parley } = await setup();
    fake.refuseWith(429, { times: 1, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '250ms', 'x-ratelimit-remaining-tokens': '5000', 'x-ratelimit-reset-tokens': '6m0s' } });
    const c = client(parley);
    await conversesOnOpenAI(c, second);
    expect(fake.upgradeTimes[1]! - fake.upgradeTimes[0]!).toBeGreaterThanOrEqual(249);
    expect(retries(parley, 'rate_limit', 'ok')).toBe(1);
  });

  it('a 429 with Retry-After: 30 falls back at once, and the next session does not knock again before then', async () => {
    const { fake, second, parley } = await setup();
    fake.refuseWith(429, { headers: { 'Retry-After': '30' } });
    const c = client(parley);
    const eng = await c.waitFor('parley.engine', 5000);
    expect(eng).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(fake.upgrades).toBe(1);
    // the fallback engine was asked at once after the refusal
    expect(second.upgradeTimes[0]! - fake.upgradeTimes[0]!).toBeLessThan(100);
    // another caller within the 30 s goes straight to the fallback: the upstream is not asked again
    const t0 = performance.now();
    const c2 = client(parley);
    expect(await c2.waitFor('parley.engine', 5000)).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(fake.upgrades).toBe(1);
    const from = c2.events.length;
    say(c2, 'still served');
    expect(status(await c2.waitFor('response.done', 5000, from))).toBe('completed');
    expect(retries(parley, 'rate_limit', 'too_long')).toBe(2);
  });

  it('a 401 is never retried (a 503 in the same setup is)', async () => {
    const { fake, parley } = await setup();
    fake.refuseWith(503, { times: 1 });
    const ok = client(parley);
    expect(await ok.waitFor('parley.engine', 5000)).toMatchObject({ engine: 'openai', reason: 'initial' });
    expect(fake.upgrades).toBe(2);
    fake.refuseWith(401, { headers: { 'Retry-After': '0' } });
    const c = client(parley);
    const err = await c.waitFor('error', 5000);
    expect((err['error'] as Record<string, unknown>)['code']).toBe('invalid_api_key');
    await c.closed;
    await sleep(400); // longer than any retry would wait
    expect(fake.upgrades).toBe(3);
    expect(retries(parley, 'server_error', 'ok')).toBe(1);
    expect(retries(parley, 'server_error', 'failed') + retries(parley, 'rate_limit', 'failed') + retries(parley, 'network', 'failed')).toBe(0);
  });

  it('two 503s with PARLEY_OPENAI_RETRIES=1: one retry, then the fallback engine', async () => {
    const { fake, second, parley } = await setup({ PARLEY_OPENAI_RETRIES: '1' });
    fake.refuseWith(503, { times: 2 });
    const c = client(parley);
    const eng = await c.waitFor('parley.engine', 5000);
    expect(eng).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(fake.upgrades).toBe(2);
    expect(second.upgrades).toBe(1);
    // bounded: the retry cost at most ~300 ms before the fallback
    expect(second.upgradeTimes[0]! - fake.upgradeTimes[0]!).toBeLessThan(600);
    expect(retries(parley, 'server_error', 'failed')).toBe(1);
    expect(c.of('session.created')).toHaveLength(1);
    expect(c.of('error')).toEqual([]);
  });

  it('PARLEY_OPENAI_RETRIES=0: a 503 falls back at once', async () => {
    const { fake, parley } = await setup({ PARLEY_OPENAI_RETRIES: '0' });
    fake.refuseWith(503, { times: 1 });
    const c = client(parley);
    expect(await c.waitFor('parley.engine', 5000)).toMatchObject({ engine: 'cascade', reason: 'fallback' });
    expect(fake.upgrades).toBe(1);
  });

  it('a drop mid-response reconnects once: the conversation is replayed, the client keeps talking on openai', async () => {
    const { fake, second, parley } = await setup();
    const c = client(parley);
    await c.waitFor('parley.engine', 5000);
    say(c, 'my name is Ada');
    expect(status(await c.waitFor('response.done', 5000))).toBe('completed');
    fake.dropMidResponse(2);
    let from = c.events.length;
    say(c, 'tell me a story');
    // the response cut by the drop ends (failed), then the session is back on openai
    const cut = await c.waitFor('response.done', 5000, from);
    expect(status(cut)).toBe('failed');
    const eng = await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] !== 'initial', 5000, from);
    expect(eng['engine']).toBe('openai');
    expect(fake.connections).toHaveLength(2);
    const conn = fake.connections[1]!;
    await until(() => conn.received.some((e) => e['type'] === 'conversation.item.create'), 3000, 'history replay');
    const replay = conn.received.filter((e) => e['type'] === 'conversation.item.create').map((e) => JSON.stringify(e['item']));
    expect(replay.join('\n')).toContain('my name is Ada');
    expect(replay.join('\n')).toContain('You said: my name is ada');
    // the client keeps talking, on openai
    from = c.events.length;
    say(c, 'are you still there');
    const done = await c.waitFor('response.done', 5000, from);
    expect(status(done)).toBe('completed');
    expect(JSON.stringify(done)).toContain('You said: are you still there');
    expect(second.upgrades).toBe(0);
    expect(c.of('parley.engine').filter((e) => e['reason'] === 'fallback')).toEqual([]);
    expect(c.of('error')).toEqual([]);
    expect(c.of('session.created')).toHaveLength(1);
    expect(retries(parley, 'drop', 'ok')).toBe(1);
    expect(parley.app.parley.sessions.active).toBe(1);
    expect(fake.violations).toEqual([]);
  });

  it('a second drop soon after the reconnect falls back (one reconnect, not a loop)', async () => {
    const { fake, second, parley } = await setup();
    const c = client(parley);
    await c.waitFor('parley.engine', 5000);
    fake.dropAll();
    await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] !== 'initial', 5000);
    await until(() => fake.open === 1, 3000, 'the reconnected upstream');
    fake.dropAll();
    expect(await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'fallback', 5000)).toMatchObject({ engine: 'cascade' });
    expect(fake.upgrades).toBe(2);
    expect(second.upgrades).toBe(1);
    expect(retries(parley, 'drop', 'ok')).toBe(1);
  });

  it('a drop while the upstream says its rate limit is spent for 30 s falls back at once, without knocking', async () => {
    const { fake, second, parley } = await setup();
    const c = client(parley);
    await c.waitFor('parley.engine', 5000);
    fake.broadcast({ type: 'rate_limits.updated', rate_limits: [{ name: 'requests', limit: 100, remaining: 0, reset_seconds: 30 }, { name: 'tokens', limit: 1000, remaining: 900, reset_seconds: 1 }] });
    await c.waitFor('rate_limits.updated', 3000);
    fake.dropAll();
    expect(await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'fallback', 5000)).toMatchObject({ engine: 'cascade' });
    expect(fake.upgrades).toBe(1);
    expect(second.upgrades).toBe(1);
    expect(retries(parley, 'rate_limit', 'too_long')).toBe(1);
    expect(retries(parley, 'drop', 'failed')).toBe(1);
  });

  it('the client leaving during a retry wait ends the attempt and leaks nothing', async () => {
    const { fake, parley } = await setup();
    fake.refuseWith(429, { headers: { 'Retry-After': '0.8' } });
    const c = client(parley);
    await c.opened;
    await until(() => fake.upgrades === 1, 3000, 'the first upgrade');
    c.ws.terminate();
    await until(() => parley.app.parley.sessions.active === 0, 3000, 'the session to end');
    await sleep(1000);
    expect(fake.upgrades).toBe(1);
  });

  it('leaks no sockets or timers across sessions that go through every retry path', async () => {
    const { fake, second, parley } = await setup();
    const count = (kind: string): number => process.getActiveResourcesInfo().filter((r) => r === kind).length;
    const once = async (): Promise<void> => {
      fake.refuseWith(503, { times: 1 }); // retried, then served
      const a = client(parley);
      await a.waitFor('parley.engine', 5000);
      a.close();
      fake.refuseWith(503, { times: 2 }); // retried, then the fallback
      const b = client(parley);
      await b.waitFor('parley.engine', 5000);
      b.ws.terminate();
      const d = client(parley); // dropped, reconnected, then the client leaves
      await d.waitFor('parley.engine', 5000);
      fake.dropAll();
      await d.waitFor((e) => e.type === 'parley.engine' && e['reason'] !== 'initial', 5000);
      d.close();
      fake.refuseWith(429, { times: 1, headers: { 'Retry-After': '0.3' } }); // the client leaves during the wait
      const e = client(parley);
      await e.opened;
      await until(() => fake.refusing === false, 3000, 'the refusal');
      e.ws.terminate();
      await until(() => parley.app.parley.sessions.active === 0 && fake.open === 0 && second.open === 0, 5000, 'sessions to end');
      await sleep(400); // past the hold the 429 left
    };
    await once();
    const sockets = count('TCPSocketWrap');
    const timers = count('Timeout');
    for (let i = 0; i < 3; i++) await once();
    expect(count('TCPSocketWrap')).toBe(sockets);
    expect(count('Timeout')).toBeLessThanOrEqual(timers);
  });
});

describe('upstream retry settings and hints', () => {
  it('PARLEY_OPENAI_RETRIES and PARLEY_OPENAI_RETRY_MAX_WAIT_MS: defaults, and errors that name the setting', () => {
    const base = { OPENAI_API_KEY: 'sk-x' };
    const cfg = loadConfig(base);
    expect(cfg.openai.retries).toBe(1);
    expect(cfg.openai.retryMaxWaitMs).toBe(1000);
    expect(loadConfig({ ...base, PARLEY_OPENAI_RETRIES: '0', PARLEY_OPENAI_RETRY_MAX_WAIT_MS: '5000' }).openai).toMatchObject({ retries: 0, retryMaxWaitMs: 5000 });
    for (const [k, v] of [['PARLEY_OPENAI_RETRIES', '9'], ['PARLEY_OPENAI_RETRIES', 'x'], ['PARLEY_OPENAI_RETRY_MAX_WAIT_MS', '-1'], ['PARLEY_OPENAI_RETRY_MAX_WAIT_MS', '600000']] as const) {
      let err: unknown;
      try {
        loadConfig({ ...base, [k]: v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toBe(k);
    }
  });

  it('reads the wait from retry-after-ms, Retry-After (seconds, date), x-ratelimit-reset-*, rate_limits', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(upstreamWaitMs({ 'retry-after-ms': '150', 'retry-after': '9' }, null, now)).toBe(150);
    expect(upstreamWaitMs({ 'retry-after': '0.2' }, null, now)).toBe(200);
    expect(upstreamWaitMs({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }, null, now)).toBe(3000);
    expect(upstreamWaitMs({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1.5s', 'x-ratelimit-remaining-tokens': '10', 'x-ratelimit-reset-tokens': '6m0s' }, null, now)).toBe(1500);
    expect(upstreamWaitMs({ 'x-ratelimit-reset-tokens': '1m2s' }, null, now)).toBe(62_000);
    expect(upstreamWaitMs({}, { error: { code: 'rate_limit_exceeded' }, rate_limits: [{ name: 'requests', remaining: 0, reset_seconds: 0.4 }] }, now)).toBe(400);
    expect(upstreamWaitMs({}, { error: { code: 'server_error' } }, now)).toBeNull();
    expect(parseDurationMs('20ms')).toBe(20);
    expect(parseDurationMs('1h2m3.5s')).toBe(3_723_500);
    expect(parseDurationMs('soon')).toBeNull();
    expect(exhaustedResetMs([{ name: 'tokens', remaining: 5, reset_seconds: 9 }])).toBeNull();
  });
});
