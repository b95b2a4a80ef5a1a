import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import { DEFAULT_PRICING, priceOf } from '../../../server/calls/pricing.ts';

function settingOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.setting;
    throw err;
  }
  throw new Error('no ConfigError');
}

describe('store settings', () => {
  it('defaults: SQLite under ./data, records kept forever, the default price list', () => {
    const c = loadConfig({});
    expect(c.dataDir).toBe('./data');
    expect(c.databaseUrl).toBeNull();
    expect(c.retentionDays).toBeNull();
    expect(c.pricing['gpt-realtime']).toEqual(DEFAULT_PRICING['gpt-realtime']);
  });

  it('reads PARLEY_DATA_DIR, PARLEY_DATABASE_URL, PARLEY_RETENTION_DAYS (env over the file)', () => {
    const c = loadConfig({ PARLEY_DATA_DIR: '/var/lib/parley', PARLEY_DATABASE_URL: 'postgres://u:p@db:5432/parley', PARLEY_RETENTION_DAYS: '30' }, { dataDir: '/elsewhere' });
    expect(c).toMatchObject({ dataDir: '/var/lib/parley', databaseUrl: 'postgres://u:p@db:5432/parley', retentionDays: 30 });
    expect(loadConfig({}, { databaseUrl: 'sqlite:/tmp/x.db', retentionDays: 0 })).toMatchObject({ databaseUrl: 'sqlite:/tmp/x.db', retentionDays: null });
  });

  it('bad settings are start-up errors naming the setting', () => {
    expect(settingOf(() => loadConfig({ PARLEY_DATABASE_URL: 'mysql://db/parley' }))).toBe('PARLEY_DATABASE_URL');
    expect(settingOf(() => loadConfig({}, { databaseUrl: 'https://db' }))).toBe('databaseUrl (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({ PARLEY_RETENTION_DAYS: '-1' }))).toBe('PARLEY_RETENTION_DAYS');
    expect(settingOf(() => loadConfig({ PARLEY_RETENTION_DAYS: 'a week' }))).toBe('PARLEY_RETENTION_DAYS');
    expect(settingOf(() => loadConfig({}, { pricing: [] }))).toBe('pricing (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { pricing: { 'gpt-realtime': { audioInput: -1 } } }))).toBe('pricing.gpt-realtime.audioInput (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, { pricing: { 'gpt-realtime': { audio_input: 1 } } }))).toBe('pricing.gpt-realtime.audio_input (PARLEY_CONFIG)');
  });

  it('pricing overrides merge field by field over the defaults, and new models can be priced', () => {
    const c = loadConfig({}, { pricing: { 'gpt-realtime': { audioInput: 1 }, 'my-llm': { textInput: 0.1, textOutput: 0.2 } } });
    expect(c.pricing['gpt-realtime']).toEqual({ ...DEFAULT_PRICING['gpt-realtime'], audioInput: 1 });
    expect(priceOf(c.pricing, 'my-llm-2025')?.key).toBe('my-llm');
    expect(priceOf(c.pricing, 'gpt-realtime-2025-08-28')?.key).toBe('gpt-realtime');
    expect(priceOf(c.pricing, 'gpt-realtime-mini-2025-10-06')?.key).toBe('gpt-realtime-mini');
    expect(priceOf(c.pricing, 'llama3')).toBeNull();
  });

  it('instanceId: PARLEY_INSTANCE_ID, else <hostname>-<pid>; a bad one names the setting', () => {
    expect(loadConfig({ PARLEY_INSTANCE_ID: 'parley-a' }).instanceId).toBe('parley-a');
    expect(loadConfig({}, { instanceId: 'pod-7' }).instanceId).toBe('pod-7');
    const def = loadConfig({}).instanceId;
    expect(def.endsWith(`-${process.pid}`)).toBe(true);
    expect(def).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(settingOf(() => loadConfig({ PARLEY_INSTANCE_ID: 'has space' }))).toBe('PARLEY_INSTANCE_ID');
    expect(settingOf(() => loadConfig({}, { instanceId: 'x'.repeat(129) }))).toBe('instanceId (PARLEY_CONFIG)');
  });
});
