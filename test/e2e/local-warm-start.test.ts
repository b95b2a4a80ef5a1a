/**
 * server/main.ts builds the default engine when it starts listening: the offline engine loads its
 * models (PocketSphinx decoder pool, flite voices) at start, before any caller, not on the first call.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { until } from '../component/helpers.ts';

describe('server/main.ts with the local engine', () => {
  it('loads the local engine\'s models at start, with no session open', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: process.cwd(),
      env: {
        PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp',
        HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', PARLEY_SIP: 'off', PARLEY_DEMO: 'off', PARLEY_API_KEYS: 'pk_test_component_key_0123456789',
        PARLEY_LOCAL_STT_WORKERS: '1', PARLEY_LOCAL_STT_DECODERS: '2', PARLEY_LOCAL_TTS_WORKERS: '1',
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(() => out.includes('local engine: models loaded'), 60_000, 'the local engine to load its models');
      const line = JSON.parse(out.split('\n').find((l) => l.includes('local engine: models loaded'))!) as Record<string, unknown>;
      expect(line).toMatchObject({ engine: 'local', sttDecoders: 2, sttWorkers: 1 });
      expect(out).not.toMatch(/session opening/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
