import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../../server/index.ts';

describe('recording settings', () => {
  it('PARLEY_RECORDING: off by default, mono | stereo, from env or the file key `recording`', () => {
    expect(loadConfig({}).recording).toBe('off');
    expect(loadConfig({ PARLEY_RECORDING: 'stereo' }).recording).toBe('stereo');
    expect(loadConfig({}, { recording: 'mono' }).recording).toBe('mono');
    expect(loadConfig({}).dataDir).toBe('./data');
    expect(loadConfig({ PARLEY_DATA_DIR: '/srv/parley' }).dataDir).toBe('/srv/parley');
  });
  it('a bad mode is a start-up error naming the setting', () => {
    let err: unknown;
    try {
      loadConfig({ PARLEY_RECORDING: 'both' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe('PARLEY_RECORDING');
    expect(() => loadConfig({}, { recording: true })).toThrow(/recording \(PARLEY_CONFIG\)/);
  });
});
