/** Warm transfer settings (the SIP bridge's `warm_transfer` tool, docs/notes/transfer.md). */
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { ConfigReader } from './reader.ts';

export interface TransferConfig {
  /** PARLEY_HOLD_WAV (file key `transfer.holdWav`): a WAV file (any rate, mono) the caller hears, looped, while on hold; null = silence. */
  holdWav: string | null;
  /** PARLEY_WARM_TRANSFER_RING_TIMEOUT_S (default 20, 1..120): the target has this long to answer, then the caller is taken off hold. */
  ringTimeoutS: number;
}

export const DEFAULT_TRANSFER_CONFIG: TransferConfig = { holdWav: null, ringTimeoutS: 20 };

export function readTransferConfig(r: ConfigReader): TransferConfig {
  const holdWav = r.optStr('PARLEY_HOLD_WAV', 'transfer.holdWav');
  if (holdWav !== null && !existsSync(holdWav)) throw new ConfigError('PARLEY_HOLD_WAV', `no such file: ${JSON.stringify(holdWav)}`);
  return { holdWav, ringTimeoutS: r.int('PARLEY_WARM_TRANSFER_RING_TIMEOUT_S', 'transfer.ringTimeoutS', DEFAULT_TRANSFER_CONFIG.ringTimeoutS, { min: 1, max: 120 }) };
}
