/**
 * `npm run cluster` (scripts/cluster.sh): a local Parley cluster on the loopback network for trying by hand
 * (issue 13, docs/cluster.md) — Redis, PostgreSQL, two Parley instances, HAProxy in front of their HTTP/WS
 * doors and Kamailio in front of their SIP doors, each started in the foreground from the shipped configs
 * (deploy/haproxy/, deploy/kamailio/) by the helpers the tests use (test/support/), and all stopped by PID on
 * Ctrl-C. Without OPENAI_API_KEY in the environment the instances talk to the test suite's fake OpenAI
 * (a scripted agent), so it runs on any machine.
 *
 * Options (env): CLUSTER_HTTP_PORT (HAProxy, default 8080), CLUSTER_REDIS_PORT (6390),
 * CLUSTER_PARLEY_PORTS (8081,8082), CLUSTER_SIP_PORTS (5071,5072), PARLEY_API_KEYS (default a dev key).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisServer } from '../test/support/redis.ts';
import { startPostgres, type PgCluster } from '../test/support/postgres.ts';
import { startParleyProcess, type ParleyProcess } from '../test/support/parley-process.ts';
import { startHaproxy, type HaproxyProcess } from '../test/support/haproxy.ts';
import { startKamailio, type Kamailio } from '../test/support/kamailio.ts';
import { FakeOpenAI } from '../test/fakes/index.ts';

const env = process.env;
const ports = (v: string | undefined, d: [number, number]): [number, number] => {
  const p = (v ?? '').split(',').map(Number);
  return p.length === 2 && p.every((n) => Number.isInteger(n) && n > 0) ? [p[0]!, p[1]!] : d;
};
const HTTP_PORT = Number(env['CLUSTER_HTTP_PORT'] ?? 8080);
const REDIS_PORT = Number(env['CLUSTER_REDIS_PORT'] ?? 6390);
const PARLEY_PORTS = ports(env['CLUSTER_PARLEY_PORTS'], [8081, 8082]);
const SIP_PORTS = ports(env['CLUSTER_SIP_PORTS'], [5071, 5072]);
const KEY = env['PARLEY_API_KEYS'] ?? 'pk_dev_cluster_key_0123456789';

const stops: Array<() => Promise<void>> = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  process.stdout.write('\nstopping the cluster…\n');
  for (const stop of stops.reverse()) await stop().catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main(): Promise<void> {
  const say = (s: string): boolean => process.stdout.write(`${s}\n`);
  const redis: RedisServer = await startRedis({ port: REDIS_PORT });
  stops.push(() => redis.close());
  say(`redis       ${redis.url} (pid ${redis.pid()})`);
  const pg: PgCluster = await startPostgres();
  stops.push(() => pg.stop());
  const databaseUrl = await pg.createDatabase('parley');
  say(`postgresql  ${databaseUrl} (pid ${pg.pid})`);

  let engine: Record<string, string>;
  if (env['OPENAI_API_KEY']) {
    engine = { OPENAI_API_KEY: env['OPENAI_API_KEY'], PARLEY_ENGINE: 'openai', ...(env['OPENAI_BASE_URL'] ? { OPENAI_BASE_URL: env['OPENAI_BASE_URL'] } : {}) };
    say('engine      OpenAI (OPENAI_API_KEY)');
  } else {
    const fake = await new FakeOpenAI({ replyAudioMs: 1200 }).start();
    stops.push(() => fake.stop());
    engine = { OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, PARLEY_ENGINE: 'openai' };
    say(`engine      the test suite's fake OpenAI at ${fake.baseUrl} (set OPENAI_API_KEY for the real one)`);
  }

  const instances: ParleyProcess[] = [];
  for (const i of [0, 1] as const) {
    const name = `parley-${'ab'[i]}`;
    const dataDir = mkdtempSync(join(tmpdir(), `${name}-`));
    stops.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const p = await startParleyProcess(
      {
        ...engine,
        PARLEY_API_KEYS: KEY,
        PARLEY_INSTANCE_ID: name,
        PARLEY_REDIS_URL: redis.url,
        PARLEY_DATABASE_URL: databaseUrl,
        PARLEY_DATA_DIR: dataDir,
        PARLEY_SIP_ENABLED: 'on',
        PARLEY_SIP_PORT: String(SIP_PORTS[i]),
        PARLEY_RTP_PORTS: `${30000 + i * 200}-${30199 + i * 200}`,
        PARLEY_FALLBACK_ENGINE: 'none',
        LOG_LEVEL: env['LOG_LEVEL'] ?? 'info',
      },
      { port: PARLEY_PORTS[i], readyTimeoutMs: 60_000 },
    );
    // a Ctrl-C drains nothing here: the instances are stopped (SIGTERM, then SIGKILL after 3 s)
    stops.push(async () => {
      p.signal('SIGTERM');
      p.signal('SIGTERM');
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))]);
      await p.stop();
    });
    p.child.stdout.on('data', (d: Buffer) => process.stdout.write(prefix(name, d)));
    p.child.stderr.on('data', (d: Buffer) => process.stdout.write(prefix(name, d)));
    instances.push(p);
    say(`${name.padEnd(11)} ${p.url}  SIP udp/tcp 127.0.0.1:${SIP_PORTS[i]} (pid ${p.pid})`);
  }
  const haproxy: HaproxyProcess = await startHaproxy({ a: `127.0.0.1:${PARLEY_PORTS[0]}`, b: `127.0.0.1:${PARLEY_PORTS[1]}` }, { port: HTTP_PORT });
  stops.push(() => haproxy.stop());
  say(`haproxy     ${haproxy.url} → both instances (deploy/haproxy/haproxy.cfg, pid ${haproxy.pid})`);
  const kamailio: Kamailio = await startKamailio({ backends: [...SIP_PORTS], pingIntervalS: 2 });
  stops.push(() => kamailio.stop());
  say(`kamailio    sip:127.0.0.1:${kamailio.port} → both instances (deploy/kamailio/kamailio.cfg, pid ${kamailio.pid})`);
  say(`
Try it:
  curl -s ${haproxy.url}/readyz -i | grep -i -e x-parley-served-by -e ready
  curl -s -X POST ${haproxy.url}/v1/realtime/client_secrets -H 'authorization: Bearer ${KEY}' -H 'content-type: application/json' -d '{}'
  open ${haproxy.url}/ in a browser (the demo page), or call sip:agent@127.0.0.1:${kamailio.port} (e.g. baresip)
  drain one: curl -X POST ${instances[0]!.url}/v1/admin/drain -H 'authorization: Bearer ${KEY}'
Ctrl-C stops everything.`);
}

function prefix(name: string, d: Buffer): string {
  return d
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `[${name}] ${l}\n`)
    .join('');
}

main().catch(async (err: unknown) => {
  process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(1);
});
