/**
 * Logs: one child logger per session (sessionId on every session line), never audio, never keys.
 * main.ts: prints a generated key once when PARLEY_API_KEYS is unset, stops on a bad setting
 * with a message naming it, and on SIGTERM lets a live session finish within the grace period.
 */
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { spawnMain } from '../support/parley-process.ts';
import { startParley, TestClient, TEST_KEY, speak, until } from './helpers.ts';

describe('logging', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('logs per session with sessionId, and never audio or keys', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
        cb();
      },
    });
    const fake = await new FakeOpenAI().start();
    stops.push(() => fake.stop());
    const parley = await startParley({ fake, deps: { logger: pino({ level: 'trace' }, sink) } });
    stops.push(() => parley.close());
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    speak((ev) => c.send(ev), pcmChunkB64, 300, 300);
    await until(() => c.of('response.done').length >= 2, 5000, 'tool turn');
    const { value: ek } = (await (await fetch(`${parley.httpUrl}/v1/realtime/client_secrets`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: '{}' })).json()) as { value: string };
    c.close();
    await until(() => parley.app.parley.sessions.active === 0, 5000, 'session end');
    const all = lines.join('\n');
    const sessionId = (c.of('session.created')[0]!['session'] as Record<string, unknown>)['id'];
    expect(typeof sessionId).toBe('string');
    const sessionLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['sessionId'] !== undefined);
    expect(sessionLines.length).toBeGreaterThanOrEqual(3); // opening, tool ran, closed
    expect(sessionLines.every((l) => l['leg'] === 'ws')).toBe(true);
    expect(sessionLines.some((l) => l['msg'] === 'server tool ran' && l['tool'] === 'get_current_time')).toBe(true);
    // per call, not per frame: a few lines for hundreds of events
    expect(sessionLines.length).toBeLessThan(20);
    expect(all).not.toContain(TEST_KEY);
    expect(all).not.toContain(fake.apiKey);
    expect(all).not.toContain(ek);
    expect(all).not.toContain(pcmChunkB64(20, true).slice(0, 64));
    expect(all).not.toContain((c.of('response.output_audio.delta')[0]!['delta'] as string).slice(0, 64));
  });
});

describe('server/main.ts', () => {
  it('stops on a bad setting with a message naming it', async () => {
    const { out, exited } = spawnMain({ PORT: 'abc', PARLEY_SIP: 'off' });
    expect((await exited).code).toBe(2);
    expect(out()).toMatch(/bad configuration: PORT: must be an integer/);
  }, 30_000);

  it('prints a generated key once, serves, and on SIGTERM drains live sessions within the grace period', async () => {
    const fake = await new FakeOpenAI().start();
    try {
      const { child, out, exited } = spawnMain({
        HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off',
        OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_SHUTDOWN_GRACE_MS: '1500', PARLEY_FALLBACK_ENGINE: 'none',
        // no drain: SIGTERM takes the shutdown grace at once (test/cluster/drain.test.ts has the drain)
        PARLEY_DRAIN_LIMIT_S: '0',
      });
      try {
        await until(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(out()), 20_000, 'listening');
        const key = /this run's API key is:\s+(pk_\w+)/.exec(out())?.[1];
        expect(key).toMatch(/^pk_[A-Za-z0-9]{40}$/);
        expect(out().split(key!).length - 1).toBe(1); // printed exactly once
        const port = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out())![1];
        const c = new TestClient(`ws://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`, { key: key! });
        await c.opened;
        await c.waitFor('session.created');
        const t0 = Date.now();
        child.kill('SIGTERM');
        // the live session is not cut at once: it ends at the grace period with 1001
        const closed = await c.closed;
        const heldMs = Date.now() - t0;
        expect(closed.code).toBe(1001);
        expect(heldMs).toBeGreaterThanOrEqual(1200);
        expect((await exited).code).toBe(0);
        expect(out()).toMatch(/shutting down/);
        expect(fake.open).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      await fake.stop();
    }
  }, 40_000);
});
