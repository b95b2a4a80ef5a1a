/**
 * server/main.ts installs its SIGTERM/SIGINT handlers before it builds the app and listens, so a
 * signal during start-up (config read, key printed, app being built, HTTP listening while SIP is
 * still starting) drains and exits 0 instead of killing the process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { until } from './helpers.ts';

function startMain(env: Record<string, string>): { child: ChildProcessWithoutNullStreams; out: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out };
}

const exited = (child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve({ code: child.exitCode, signal: child.signalCode })
      : child.once('exit', (code, signal) => resolve({ code, signal })),
  );

describe('server/main.ts signal handlers during start-up', () => {
  it('SIGTERM right after the first line printed (the generated key, before listen) drains and exits 0', async () => {
    const fake = await new FakeOpenAI().start();
    const { child, out } = startMain({
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off',
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_FALLBACK_ENGINE: 'none',
    });
    try {
      // the first thing main prints is the generated key, before the app is built
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill('SIGTERM');
      const { code, signal } = await exited(child);
      expect({ code, signal }, out()).toEqual({ code: 0, signal: null });
      expect(out()).toMatch(/"msg":"shutting down"/);
      expect(out()).toMatch(/"msg":"stopped"/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await fake.stop();
    }
  }, 30_000);

  it('SIGTERM while HTTP already answers but the SIP door is still starting drains and exits 0', async () => {
    const fake = await new FakeOpenAI().start();
    const { child, out } = startMain({
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'on', PARLEY_SIP_PORT: '0', PARLEY_DEMO: 'off',
      PARLEY_API_KEYS: 'pk_signal_test_key_0123456789',
      OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_FALLBACK_ENGINE: 'none',
    });
    try {
      await until(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(out()), 20_000, 'listening');
      child.kill('SIGTERM');
      const { code, signal } = await exited(child);
      expect({ code, signal }, out()).toEqual({ code: 0, signal: null });
      expect(out()).toMatch(/"msg":"shutting down"/);
      expect(out()).toMatch(/"msg":"stopped"/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await fake.stop();
    }
  }, 30_000);
});
