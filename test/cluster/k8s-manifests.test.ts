/**
 * The Kubernetes manifests (deploy/k8s/, issue 13) parse and match the server's real settings: every env
 * name is one the server reads (named in server/), the Deployment's env loads as a valid config
 * (loadConfig), the probes are /readyz (readiness) and /healthz (liveness) on the container's HTTP port,
 * the preStop hook drains (POST /v1/admin/drain), and terminationGracePeriodSeconds is the drain limit plus
 * the shutdown grace that config gives (PARLEY_DRAIN_LIMIT_S, PARLEY_SHUTDOWN_GRACE_MS).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../server/config.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const k8sDir = join(root, 'deploy', 'k8s');

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function manifests(): Array<{ file: string; doc: Obj }> {
  const out: Array<{ file: string; doc: Obj }> = [];
  for (const f of readdirSync(k8sDir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'))) {
    for (const d of parseAllDocuments(readFileSync(join(k8sDir, f), 'utf8'))) {
      expect(d.errors, `${f}: ${d.errors.map((e) => e.message).join('; ')}`).toEqual([]);
      const js = d.toJS() as unknown;
      if (js !== null && js !== undefined) out.push({ file: f, doc: obj(js) });
    }
  }
  return out;
}

/** All of server/'s TypeScript, once: an env name the server reads appears there as a quoted literal. */
function serverSource(): string {
  const parts: string[] = [];
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) parts.push(readFileSync(p, 'utf8'));
    }
  };
  walk(join(root, 'server'));
  walk(join(root, 'sip'));
  return parts.join('\n');
}

describe('deploy/k8s manifests', () => {
  const docs = manifests();
  const deployment = docs.find((d) => d.doc['kind'] === 'Deployment' && obj(d.doc['metadata'])['name'] === 'parley')?.doc;
  const pod = obj(obj(obj(deployment?.['spec'])['template'])['spec']);
  const container = obj(arr(pod['containers']).find((c) => obj(c)['name'] === 'parley'));
  const env = arr(container['env']).map(obj);

  it('parse, and hold a Deployment named parley with a container named parley', () => {
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const { file, doc } of docs) {
      expect(typeof doc['apiVersion'], file).toBe('string');
      expect(typeof doc['kind'], file).toBe('string');
    }
    expect(deployment).toBeDefined();
    expect(container['name']).toBe('parley');
  });

  it('name only env settings the server reads, and they load as a valid config', () => {
    const src = serverSource();
    const names = env.map((e) => String(e['name']));
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) expect(src.includes(`'${n}'`), `${n} is not read anywhere in server/ or sip/`).toBe(true);
    // values from secrets and the downward API get stand-ins of the right shape
    const stand: Record<string, string> = {
      PARLEY_INSTANCE_ID: 'parley-5d9c7b-abcde',
      PARLEY_API_KEYS: 'pk_stand_in_key_0123456789',
      OPENAI_API_KEY: 'sk-stand-in',
      PARLEY_DATABASE_URL: 'postgres://parley:x@127.0.0.1:5432/parley',
    };
    const values: Record<string, string> = {};
    for (const e of env) {
      const n = String(e['name']);
      if (typeof e['value'] === 'string') values[n] = e['value'];
      else {
        expect(stand[n], `a stand-in for ${n}`).toBeDefined();
        values[n] = stand[n]!;
      }
    }
    const config = loadConfig(values);
    expect(config.port).toBe(Number(values['PORT']));
    expect(config.redisUrl).toBe(values['PARLEY_REDIS_URL']);
    expect(config.instanceId).toBe('parley-5d9c7b-abcde');
  });

  it('probe readiness on /readyz and liveness on /healthz, on the HTTP port', () => {
    const ports = arr(container['ports']).map(obj);
    const http = ports.find((p) => p['name'] === 'http');
    expect(http?.['containerPort']).toBe(Number(env.find((e) => e['name'] === 'PORT')?.['value']));
    const ready = obj(obj(container['readinessProbe'])['httpGet']);
    const live = obj(obj(container['livenessProbe'])['httpGet']);
    expect(ready['path']).toBe('/readyz');
    expect(live['path']).toBe('/healthz');
    expect([http?.['name'], http?.['containerPort']]).toContain(ready['port']);
    expect([http?.['name'], http?.['containerPort']]).toContain(live['port']);
  });

  it('drain in preStop, with a termination grace of the drain limit plus the shutdown grace', () => {
    const values = Object.fromEntries(env.filter((e) => typeof e['value'] === 'string').map((e) => [String(e['name']), String(e['value'])]));
    const config = loadConfig({ PARLEY_API_KEYS: 'pk_stand_in_key_0123456789', ...values });
    const defaults = loadConfig({});
    // the manifest keeps the server's defaults (the drain limit documented in docs/notes/cluster-drain.md)
    expect(config.limits.drainLimitS).toBe(defaults.limits.drainLimitS);
    expect(pod['terminationGracePeriodSeconds']).toBe(config.limits.drainLimitS + Math.ceil(config.limits.shutdownGraceMs / 1000));
    const preStop = arr(obj(obj(obj(container['lifecycle'])['preStop'])['exec'])['command']).join(' ');
    expect(preStop).toContain('/v1/admin/drain');
    expect(preStop).toContain("method:'POST'");
    expect(preStop).toContain(`127.0.0.1:${values['PORT']}`);
    // a rolling update never takes a pod away before its replacement is ready
    expect(obj(obj(obj(deployment?.['spec'])['strategy'])['rollingUpdate'])['maxUnavailable']).toBe(0);
  });

  it('point PARLEY_REDIS_URL at the Redis Service of redis.yaml', () => {
    const redisSvc = docs.find((d) => d.doc['kind'] === 'Service' && obj(d.doc['metadata'])['name'] === 'parley-redis')?.doc;
    expect(redisSvc).toBeDefined();
    const port = obj(arr(obj(redisSvc?.['spec'])['ports'])[0])['port'];
    const url = new URL(String(env.find((e) => e['name'] === 'PARLEY_REDIS_URL')?.['value']));
    expect(url.hostname).toBe('parley-redis');
    expect(Number(url.port)).toBe(port);
  });
});
