/**
 * Webhook retry delays (exponential backoff, full jitter) stay within their bounds, and bad webhook
 * settings are start-up ConfigErrors naming the setting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../server/config.ts';
import { backoffCeilingMs, backoffMs } from '../../../../server/webhooks/index.ts';
import { spawnMain } from '../../../support/parley-process.ts';
import { settingOf } from '../../../support/config.ts';

const SECRET = 'whsec_test_0123456789abcdef';

describe('webhook backoff', () => {
  const o = { baseMs: 1000, maxMs: 600_000 };

  it('doubles its ceiling per attempt from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 10, 11, 12, 50, 1000].map((n) => backoffCeilingMs(n, o))).toEqual([1000, 2000, 4000, 8000, 16_000, 512_000, 600_000, 600_000, 600_000, 600_000]);
    expect(backoffCeilingMs(0, o)).toBe(1000);
  });

  it('full jitter: every wait is in [1 ms, ceiling), the extremes of random() map to the bounds, and draws spread over the range', () => {
    for (const attempt of [1, 2, 5, 9, 10, 11, 30, 200]) {
      const ceiling = backoffCeilingMs(attempt, o);
      expect(backoffMs(attempt, o, () => 0)).toBe(1);
      expect(backoffMs(attempt, o, () => 0.999_999_999)).toBe(ceiling - 1);
      const draws = Array.from({ length: 2000 }, () => backoffMs(attempt, o));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...draws)).toBeLessThan(ceiling);
      expect(draws.every((d) => Number.isInteger(d))).toBe(true);
      // uniform: each quarter of the range holds about a quarter of the draws
      for (let q = 0; q < 4; q++) {
        const n = draws.filter((d) => d >= (q * ceiling) / 4 && d < ((q + 1) * ceiling) / 4).length;
        expect(n).toBeGreaterThan(350);
        expect(n).toBeLessThan(650);
      }
    }
  });

  it('retries keep going for hours: the default schedule reaches 24 h only after ~150 capped waits', () => {
    // the expected total wait of n retries with full jitter is Σ ceiling/2
    let totalMs = 0;
    let n = 0;
    while (totalMs < 24 * 3_600_000) totalMs += backoffCeilingMs(++n, o) / 2;
    expect(n).toBeGreaterThan(140);
    expect(n).toBeLessThan(300);
  });
});

describe('webhook settings', () => {
  it('defaults: off without a URL; with one, every call.* event, no turn.completed, 10 s timeout, 24 h', () => {
    const off = loadConfig({}).webhooks;
    expect(off.url).toBeNull();
    const c = loadConfig({ PARLEY_WEBHOOK_URL: 'https://backend.example.com/hooks/', PARLEY_WEBHOOK_SECRET: SECRET }).webhooks;
    expect(c.url).toBe('https://backend.example.com/hooks/');
    expect(c.secret).toBe(SECRET);
    expect([...c.events].sort()).toEqual(['call.answered', 'call.dtmf', 'call.ended', 'call.failed', 'call.ringing', 'call.started', 'call.transferred']);
    expect(c.turnCompleted).toBe(false);
    expect(c.timeoutMs).toBe(10_000);
    expect(c.maxAgeH).toBe(24);
    expect({ base: c.backoffBaseMs, max: c.backoffMaxMs }).toEqual({ base: 1000, max: 600_000 });
  });

  it('the config file: url, secret, events, turnCompleted, timeoutMs, maxAgeH; env wins', () => {
    const file = { webhooks: { url: 'http://127.0.0.1:9/x', secret: SECRET, events: ['call.ended'], turnCompleted: true, timeoutMs: 2500, maxAgeH: 1.5 } };
    const c = loadConfig({}, file).webhooks;
    expect(c.url).toBe('http://127.0.0.1:9/x');
    expect([...c.events].sort()).toEqual(['call.ended', 'turn.completed']);
    expect(c.turnCompleted).toBe(true);
    expect(c.timeoutMs).toBe(2500);
    expect(c.maxAgeH).toBe(1.5);
    expect(loadConfig({ PARLEY_WEBHOOK_URL: 'https://other.example/h' }, file).webhooks.url).toBe('https://other.example/h');
  });

  it('a webhook URL that is not a URL (or not http/https, or with credentials) is a ConfigError naming the setting', () => {
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'not a url', PARLEY_WEBHOOK_SECRET: SECRET }))).toBe('PARLEY_WEBHOOK_URL');
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'backend.example.com/hooks', PARLEY_WEBHOOK_SECRET: SECRET }))).toBe('PARLEY_WEBHOOK_URL');
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'ftp://backend.example.com/', PARLEY_WEBHOOK_SECRET: SECRET }))).toBe('PARLEY_WEBHOOK_URL');
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://u:p@backend.example.com/', PARLEY_WEBHOOK_SECRET: SECRET }))).toBe('PARLEY_WEBHOOK_URL');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 'nope', secret: SECRET } }))).toBe('webhooks.url (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 42, secret: SECRET } }))).toBe('webhooks.url (PARLEY_CONFIG)');
  });

  it('other bad settings name theirs: a URL without a secret, a short secret, an unknown event, bad numbers', () => {
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://b.example/h' }))).toBe('PARLEY_WEBHOOK_SECRET');
    expect(settingOf(() => loadConfig({ PARLEY_WEBHOOK_URL: 'https://b.example/h', PARLEY_WEBHOOK_SECRET: 'short' }))).toBe('PARLEY_WEBHOOK_SECRET');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 'https://b.example/h', secret: SECRET, events: ['call.started', 'call.exploded'] } }))).toBe('webhooks.events (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 'https://b.example/h', secret: SECRET, timeoutMs: 5 } }))).toBe('webhooks.timeoutMs (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 'https://b.example/h', secret: SECRET, maxAgeH: 0 } }))).toBe('webhooks.maxAgeH (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { webhooks: { url: 'https://b.example/h', secret: SECRET, turnCompleted: 'maybe' } }))).toBe('webhooks.turnCompleted (PARLEY_CONFIG)');
  });

  it('server/main.ts refuses to start on a webhook URL that is not a URL: exit 2, the message names the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-wh-cfg-'));
    try {
      const run = async (env: Record<string, string>): Promise<{ code: number | null; out: string }> => {
        const main = spawnMain({ HOST: '127.0.0.1', PORT: '0', PARLEY_SIP: 'off', PARLEY_DATA_DIR: dir, ...env });
        const { code } = await main.exited;
        return { code, out: main.out() };
      };
      const a = await run({ PARLEY_WEBHOOK_URL: 'not a url', PARLEY_WEBHOOK_SECRET: SECRET });
      expect(a.code, a.out).toBe(2);
      expect(a.out).toMatch(/bad configuration: PARLEY_WEBHOOK_URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
