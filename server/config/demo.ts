/** Browser demo settings. Owned by the demo work: add fields here. */
import type { ConfigReader } from './reader.ts';

export interface DemoConfig {
  /** PARLEY_DEMO=on|off (default on): serve the browser demo at `/`. */
  enabled: boolean;
  /** PARLEY_DEMO_PASSWORD: when set, the demo asks for it before minting a key. */
  password: string | null;
}

export function readDemoConfig(r: ConfigReader): DemoConfig {
  return {
    enabled: r.bool('PARLEY_DEMO', 'demo.enabled', true),
    password: r.optStr('PARLEY_DEMO_PASSWORD', 'demo.password'),
  };
}
