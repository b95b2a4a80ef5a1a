import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../server/index.ts';

const WAV = new URL('../../../fixtures/speech/hello.wav', import.meta.url).pathname;

describe('warm transfer settings (server/config/transfer.ts)', () => {
  it('PARLEY_HOLD_WAV (silence when unset) and PARLEY_WARM_TRANSFER_RING_TIMEOUT_S (default 20), from env or the file key `transfer`', () => {
    expect(loadConfig({}).transfer).toEqual({ holdWav: null, ringTimeoutS: 20 });
    expect(loadConfig({ PARLEY_HOLD_WAV: WAV, PARLEY_WARM_TRANSFER_RING_TIMEOUT_S: '8' }).transfer).toEqual({ holdWav: WAV, ringTimeoutS: 8 });
    expect(loadConfig({}, { transfer: { holdWav: WAV, ringTimeoutS: 45 } }).transfer).toEqual({ holdWav: WAV, ringTimeoutS: 45 });
  });
  it('a hold WAV that does not exist, or a ring timeout out of 1..120, is a start-up error naming the setting', () => {
    const setting = (env: Record<string, string>): string | undefined => {
      try {
        loadConfig(env);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).setting;
      }
      return undefined;
    };
    expect(setting({ PARLEY_HOLD_WAV: '/nonexistent/hold.wav' })).toBe('PARLEY_HOLD_WAV');
    expect(setting({ PARLEY_WARM_TRANSFER_RING_TIMEOUT_S: '0' })).toBe('PARLEY_WARM_TRANSFER_RING_TIMEOUT_S');
    expect(setting({ PARLEY_WARM_TRANSFER_RING_TIMEOUT_S: '121' })).toBe('PARLEY_WARM_TRANSFER_RING_TIMEOUT_S');
  });
});
