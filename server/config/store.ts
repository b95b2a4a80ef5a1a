/**
 * Call records and their database (server/store/, server/calls/). Owned by the store work.
 * Top-level keys of the config: `dataDir`, `databaseUrl`, `retentionDays`, `pricing`.
 */
import { ConfigError } from '../errors.ts';
import { mergePricing, PRICE_FIELDS, type ModelPrice, type Pricing } from '../calls/pricing.ts';
import type { ConfigReader } from './reader.ts';

export interface StoreConfig {
  /** PARLEY_DATA_DIR (default ./data, relative to the working directory): the SQLite file, recordings (`<dataDir>/recordings/`). */
  dataDir: string;
  /**
   * PARLEY_DATABASE_URL: `postgres://…` (or `postgresql://…`) for PostgreSQL; `sqlite:<path>` for an SQLite
   * file elsewhere; unset: SQLite at `<dataDir>/parley.db`.
   */
  databaseUrl: string | null;
  /** PARLEY_RETENTION_DAYS: calls (and their recordings) older than this are deleted; unset or 0 = kept forever. */
  retentionDays: number | null;
  /** `pricing` (PARLEY_CONFIG file only): USD prices per model, merged over the defaults (server/calls/pricing.ts). */
  pricing: Pricing;
}

function readPricing(r: ConfigReader): Pricing {
  const raw = r.raw(null, 'pricing');
  if (raw === undefined) return mergePricing({});
  const v = raw.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(raw.setting, 'must be an object of model name → prices');
  const out: Pricing = {};
  for (const [model, p] of Object.entries(v as Record<string, unknown>)) {
    const setting = `pricing.${model} (PARLEY_CONFIG)`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new ConfigError(setting, `must be an object with any of ${PRICE_FIELDS.join(', ')}`);
    const price: ModelPrice = {};
    for (const [field, n] of Object.entries(p as Record<string, unknown>)) {
      if (!(PRICE_FIELDS as readonly string[]).includes(field)) throw new ConfigError(`pricing.${model}.${field} (PARLEY_CONFIG)`, `is not a price field (${PRICE_FIELDS.join(', ')})`);
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(`pricing.${model}.${field} (PARLEY_CONFIG)`, `must be a number ≥ 0 (USD; got ${JSON.stringify(n)})`);
      price[field as keyof ModelPrice] = n;
    }
    out[model] = price;
  }
  return mergePricing(out);
}

export function readStoreConfig(r: ConfigReader): StoreConfig {
  const dataDir = r.str('PARLEY_DATA_DIR', 'dataDir', './data');
  if (dataDir.trim() === '') throw new ConfigError('PARLEY_DATA_DIR', 'must be a folder path');
  const url = r.optStr('PARLEY_DATABASE_URL', 'databaseUrl');
  if (url !== null) {
    const setting = r.raw('PARLEY_DATABASE_URL', 'databaseUrl')!.setting;
    if (/^postgres(ql)?:\/\//i.test(url)) {
      try {
        new URL(url);
      } catch {
        throw new ConfigError(setting, 'is not a valid postgres:// URL');
      }
    } else if (!/^sqlite:.+/i.test(url)) {
      throw new ConfigError(setting, "must be a postgres://… URL (PostgreSQL) or sqlite:<path> (unset: SQLite at <dataDir>/parley.db)");
    }
  }
  const days = r.int('PARLEY_RETENTION_DAYS', 'retentionDays', 0, { min: 0, max: 36_500 });
  return { dataDir, databaseUrl: url, retentionDays: days === 0 ? null : days, pricing: readPricing(r) };
}
