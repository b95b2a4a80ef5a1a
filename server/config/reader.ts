/**
 * A small typed reader over env + an optional JSON config file. Env wins over the file.
 * Every error is a ConfigError naming the setting (the env var, or the file's dotted path).
 */
import { ConfigError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

export class ConfigReader {
  readonly env: Env;
  readonly file: Record<string, unknown>;

  constructor(env: Env, file: unknown) {
    this.env = env;
    if (file !== undefined && file !== null && (typeof file !== 'object' || Array.isArray(file))) {
      throw new ConfigError('PARLEY_CONFIG', 'the config file must hold a JSON object');
    }
    this.file = (file ?? {}) as Record<string, unknown>;
  }

  /** The raw value: env first (a non-empty string), else the file path (e.g. 'sip.port'). */
  raw(envName: string | null, filePath: string | null): { value: unknown; setting: string } | undefined {
    if (envName !== null) {
      const v = this.env[envName];
      if (v !== undefined && v !== '') return { value: v, setting: envName };
    }
    if (filePath !== null) {
      let cur: unknown = this.file;
      for (const part of filePath.split('.')) {
        if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
        cur = (cur as Record<string, unknown>)[part];
      }
      if (cur !== undefined && cur !== null) return { value: cur, setting: `${filePath} (PARLEY_CONFIG)` };
    }
    return undefined;
  }

  str(envName: string | null, filePath: string | null, def: string): string {
    return this.optStr(envName, filePath) ?? def;
  }

  optStr(envName: string | null, filePath: string | null): string | null {
    const r = this.raw(envName, filePath);
    if (r === undefined) return null;
    if (typeof r.value !== 'string') throw new ConfigError(r.setting, `must be a string (got ${JSON.stringify(r.value)})`);
    return r.value;
  }

  int(envName: string | null, filePath: string | null, def: number, range: { min?: number; max?: number } = {}): number {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    const n = typeof r.value === 'number' ? r.value : typeof r.value === 'string' && /^-?\d+$/.test(r.value.trim()) ? Number(r.value.trim()) : NaN;
    const min = range.min ?? Number.MIN_SAFE_INTEGER;
    const max = range.max ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(r.setting, `must be an integer between ${min} and ${max} (got ${JSON.stringify(r.value)})`);
    }
    return n;
  }

  num(envName: string | null, filePath: string | null, def: number, range: { min?: number; max?: number } = {}): number {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    const n = typeof r.value === 'number' ? r.value : typeof r.value === 'string' && r.value.trim() !== '' ? Number(r.value) : NaN;
    const min = range.min ?? -Infinity;
    const max = range.max ?? Infinity;
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new ConfigError(r.setting, `must be a number between ${min} and ${max} (got ${JSON.stringify(r.value)})`);
    }
    return n;
  }

  /** on|off|true|false|1|0|yes|no (env) or a JSON boolean (file). */
  bool(envName: string | null, filePath: string | null, def: boolean): boolean {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    if (typeof r.value === 'boolean') return r.value;
    const s = String(r.value).trim().toLowerCase();
    if (['on', 'true', '1', 'yes'].includes(s)) return true;
    if (['off', 'false', '0', 'no'].includes(s)) return false;
    throw new ConfigError(r.setting, `must be on or off (got ${JSON.stringify(r.value)})`);
  }

  oneOf<T extends string>(envName: string | null, filePath: string | null, values: readonly T[], def: T): T {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    if (typeof r.value !== 'string' || !(values as readonly string[]).includes(r.value)) {
      throw new ConfigError(r.setting, `must be one of ${values.join(', ')} (got ${JSON.stringify(r.value)})`);
    }
    return r.value as T;
  }

  /** Comma-separated in env, a JSON array of strings in the file. Empty entries dropped. */
  list(envName: string | null, filePath: string | null, def: string[]): string[] {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    if (typeof r.value === 'string') return r.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (Array.isArray(r.value) && r.value.every((v) => typeof v === 'string')) return r.value as string[];
    throw new ConfigError(r.setting, `must be a comma-separated list (got ${JSON.stringify(r.value)})`);
  }

  /** 'min-max' in env, {min,max} or 'min-max' in the file. */
  range(envName: string | null, filePath: string | null, def: { min: number; max: number }, bounds: { min: number; max: number }): { min: number; max: number } {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    let min = NaN;
    let max = NaN;
    if (typeof r.value === 'string') {
      const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(r.value);
      if (m) {
        min = Number(m[1]);
        max = Number(m[2]);
      }
    } else if (typeof r.value === 'object' && r.value !== null) {
      const o = r.value as Record<string, unknown>;
      min = typeof o['min'] === 'number' ? o['min'] : NaN;
      max = typeof o['max'] === 'number' ? o['max'] : NaN;
    }
    if (!Number.isInteger(min) || !Number.isInteger(max) || min > max || min < bounds.min || max > bounds.max) {
      throw new ConfigError(r.setting, `must be a range 'min-max' within ${bounds.min}-${bounds.max} (got ${JSON.stringify(r.value)})`);
    }
    return { min, max };
  }

  /** A URL with one of the given protocols; trailing slashes removed. */
  url(envName: string | null, filePath: string | null, def: string | null, protocols: readonly string[] = ['http:', 'https:']): string | null {
    const r = this.raw(envName, filePath);
    if (r === undefined) return def;
    if (typeof r.value !== 'string') throw new ConfigError(r.setting, `must be a URL string (got ${JSON.stringify(r.value)})`);
    let u: URL;
    try {
      u = new URL(r.value);
    } catch {
      throw new ConfigError(r.setting, `must be an absolute URL (got ${JSON.stringify(r.value)})`);
    }
    if (!protocols.includes(u.protocol)) throw new ConfigError(r.setting, `must use ${protocols.join(' or ')} (got ${u.protocol})`);
    return r.value.replace(/\/+$/, '');
  }

  /** A JSON object (file) or a JSON string holding one (env). */
  json(envName: string | null, filePath: string | null): Record<string, unknown> | null {
    const r = this.raw(envName, filePath);
    if (r === undefined) return null;
    let v = r.value;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        throw new ConfigError(r.setting, 'must be a JSON object (it does not parse)');
      }
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(r.setting, 'must be a JSON object');
    return v as Record<string, unknown>;
  }
}
