/**
 * server/main.ts installs its SIGTERM/SIGINT handlers before it builds the app and listens, so a
 * signal during start-up (config read, key printed, app being built, HTTP listening while SIP is
 * still starting) drains and exits 0 instead of killing the process.
 */
import { describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { spawnMain, type MainProcess } from '../support/parley-process.ts';
import { until } from './helpers.ts';

/** SIGTERM now: the process drains and exits 0, saying "shutting down" then "stopped". */
async function stopsCleanlyOnSigterm({ child, out, exited }: MainProcess): Promise<void> {
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  expect({ code, signal }, out()).toEqual({ code: 0, signal: null });
  expect(out()).toMatch(/"msg":"shutting down"/);
  expect(out()).toMatch(/"msg":"stopped"/);
}

describe('server/main.ts signal handlers during start-up', () => {
  it('SIGTERM right after the first line printed (the generated key, before listen) drains and exits 0', async () => {
    const fake = await new FakeOpenAI().start();
    const main = spawnMain({
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off',
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_FALLBACK_ENGINE: 'none',
    });
    try {
      // the first thing main prints is the generated key, before the app is built
      await new Promise<void>((resolve) => main.child.stdout.once('data', () => resolve()));
      await stopsCleanlyOnSigterm(main);
    } finally {
      if (main.child.exitCode === null && main.child.signalCode === null) main.child.kill('SIGKILL');
      await fake.stop();
    }
  }, 30_000);

  it('SIGTERM while HTTP already answers but the SIP door is still starting drains and exits 0', async () => {
    const fake = await new FakeOpenAI().start();
    const main = spawnMain({
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'on', PARLEY_SIP_PORT: '0', PARLEY_DEMO: 'off',
      PARLEY_API_KEYS: 'pk_signal_test_key_0123456789',
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_FALLBACK_ENGINE: 'none',
    });
    try {
      await until(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(main.out()), 20_000, 'listening');
      await stopsCleanlyOnSigterm(main);
    } finally {
      if (main.child.exitCode === null && main.child.signalCode === null) main.child.kill('SIGKILL');
      await fake.stop();
    }
  }, 30_000);
});
