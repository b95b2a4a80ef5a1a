/** For the configuration tests (server/config.ts, loadConfig): which setting a refused configuration names. */
import { expect } from 'vitest';
import { ConfigError } from '../../server/errors.ts';

/** The setting the ConfigError thrown by `fn` names (its message starts with it), or null when `fn` does not throw; anything else thrown fails the test. */
export function settingOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message.startsWith((err as ConfigError).setting)).toBe(true);
    return (err as ConfigError).setting;
  }
}
