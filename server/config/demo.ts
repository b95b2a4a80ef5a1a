/** Browser demo settings. Owned by the demo work: add fields here. */
import { ConfigError } from '../errors.ts';
import type { ConfigReader } from './reader.ts';

export interface DemoConfig {
  /** PARLEY_DEMO=on|off (default on): serve the browser demo at `/`. */
  enabled: boolean;
  /** PARLEY_DEMO_PASSWORD: when set, the demo asks for it before minting a key. */
  password: string | null;
  /**
   * PARLEY_DEMO_ORIGINS: comma-separated page origins allowed to get demo keys
   * (e.g. `https://parley.example.com`). Empty (default): only pages opened at a loopback
   * address (127.0.0.1, localhost, [::1]) of this very server; and when HOST is beyond loopback
   * with no password either, the demo mints no key at all (docs in README.md, "Talk to it from the browser").
   */
  origins: string[];
  /** PARLEY_DEMO_KEY_TTL_S: lifetime of a demo key, long enough to connect (default 120, 10–600). */
  keyTtlS: number;
  /** PARLEY_DEMO_MAX_SESSIONS_PER_KEY: sessions one demo key may hold at once (default 1). */
  maxSessionsPerKey: number;
}

/** `https://host[:port]` exactly (no path, query or credentials), normalised as browsers send it. */
function readOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('PARLEY_DEMO_ORIGINS', `${JSON.stringify(value)} is not an origin like https://parley.example.com`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError('PARLEY_DEMO_ORIGINS', `${JSON.stringify(value)} is not an origin like https://parley.example.com (scheme, host and port only)`);
  }
  return url.origin;
}

export function readDemoConfig(r: ConfigReader): DemoConfig {
  return {
    enabled: r.bool('PARLEY_DEMO', 'demo.enabled', true),
    password: r.optStr('PARLEY_DEMO_PASSWORD', 'demo.password'),
    origins: r.list('PARLEY_DEMO_ORIGINS', 'demo.origins', []).map(readOrigin),
    keyTtlS: r.int('PARLEY_DEMO_KEY_TTL_S', 'demo.keyTtlS', 120, { min: 10, max: 600 }),
    maxSessionsPerKey: r.int('PARLEY_DEMO_MAX_SESSIONS_PER_KEY', 'demo.maxSessionsPerKey', 1, { min: 1, max: 100 }),
  };
}
