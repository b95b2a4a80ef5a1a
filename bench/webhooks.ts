/**
 * Webhook end-of-call delivery latency (issue 11 §5 figure): from a session's close to a local
 * receiver getting its `call.ended` request (signed, checked with verifySignature), through the
 * durable outbox — SQLite (default store) and PostgreSQL (a throwaway durable cluster, when the
 * Debian package is installed) — against two baselines measured in the same process, interleaved:
 *   - memory: the same observer, writer and worker over an outbox in memory (no database);
 *   - direct: one signed POST of the same body straight to the receiver (the network floor).
 * Each round closes CALLS sessions, one every GAP_MS, on each path in turn (order rotated per round);
 * figures are the medians over ROUNDS rounds of each round's p50 / p99 [min–max], and ratios to the
 * memory path.
 *
 *   npx tsx bench/webhooks.ts            (ROUNDS=5 CALLS=100 GAP_MS=20)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { EngineFactory } from '../server/engines/index.ts';
import type { RealtimeSessionHandle } from '../server/session/index.ts';
import { signPayload } from '../server/signing.ts';
import { encodeEvent, makeEvent, startWebhooks, type Webhooks } from '../server/webhooks/index.ts';
import { MemoryOutbox } from '../test/fakes/memory-outbox.ts';
import { POSTGRES_AVAILABLE, startPostgres, type PgCluster } from '../test/support/postgres.ts';
import { WebhookReceiver } from '../test/support/webhook-receiver.ts';
import { summarize } from './lib/index.ts';

const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const CALLS = Number(process.env['CALLS'] ?? 100);
const GAP_MS = Number(process.env['GAP_MS'] ?? 20);
const SECRET = 'whsec_bench_0123456789abcdef';
const log = pino({ level: 'silent' });

/** An engine that only opens (the bench measures what happens after the call). */
const idleEngine: EngineFactory = () => ({
  name: 'local',
  open: async (opts) => {
    queueMicrotask(() => opts.callbacks.onEvent({ type: 'session.created', event_id: 'evt_bench', session: opts.session }));
    return { send: () => undefined, close: () => undefined };
  },
});

interface Path {
  name: string;
  /** Opens and closes CALLS sessions; returns each call.ended latency (ms). */
  run(): Promise<number[]>;
  close(): Promise<void>;
}

const receiver = await new WebhookReceiver(SECRET).start();
/** call id → close time (performance.now) and the resolver of its latency. */
const waiting = new Map<string, { t0: number; done: (ms: number) => void }>();
receiver.onAccepted = (ev) => {
  if (ev.type !== 'call.ended') return;
  const w = waiting.get(ev.data['call_id'] as string);
  if (!w) return;
  waiting.delete(ev.data['call_id'] as string);
  w.done(performance.now() - w.t0);
};
// the receiver keeps every request: trim between rounds
const trim = (): void => void receiver.requests.splice(0);

async function appPath(name: string, env: Record<string, string>, memory: boolean): Promise<Path> {
  const file = { webhooks: { url: receiver.url, secret: SECRET, events: ['call.started', 'call.ended'] } };
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_bench_key_0123456789abcdef', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', PARLEY_ENGINE: 'local', LOG_LEVEL: 'silent', ...env }, memory ? {} : file);
  const app: FastifyInstance = await buildApp(config, { logger: log, engines: { local: idleEngine }, ...(memory ? { store: null } : {}) });
  let extra: Webhooks | null = null;
  if (memory) {
    const c = loadConfig({}, file).webhooks;
    extra = startWebhooks({ config: c, outbox: new MemoryOutbox(), sessions: app.parley.sessions, metrics: app.parley.metrics, log });
  }
  const client = { send: (): void => undefined, close: (): void => undefined };
  return {
    name,
    async run() {
      const sessions: RealtimeSessionHandle[] = [];
      for (let i = 0; i < CALLS; i++) sessions.push(await app.parley.sessions.open({ leg: 'ws', client }));
      // let the call.started events go first (a call's events are delivered in order)
      await receiver.waitFor(() => receiver.accepted.filter((e) => e.type === 'call.started').length >= CALLS, 30_000, 'starts');
      const latencies: Promise<number>[] = [];
      for (const s of sessions) {
        latencies.push(new Promise<number>((done) => waiting.set(s.id, { t0: performance.now(), done })));
        s.close('bench', 'caller_hangup');
        await new Promise((r) => setTimeout(r, GAP_MS));
      }
      const out = await Promise.all(latencies);
      trim();
      return out;
    },
    async close() {
      await extra?.stop();
      await app.close();
    },
  };
}

/** One signed POST of a call.ended-sized body straight to the receiver. */
function directPath(): Path {
  return {
    name: 'direct POST',
    async run() {
      const out: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        const callId = `sess_direct_${i}`;
        const ev = makeEvent('call.ended', Date.now(), { call_id: callId, door: 'ws', end_reason: 'caller_hangup' });
        const body = encodeEvent(ev);
        const p = new Promise<number>((done) => waiting.set(callId, { t0: performance.now(), done }));
        const res = await fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', 'parley-signature': signPayload(body, SECRET) }, body });
        await res.body?.cancel();
        out.push(await p);
        await new Promise((r) => setTimeout(r, GAP_MS));
      }
      trim();
      return out;
    },
    async close() {},
  };
}

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'parley-bench-wh-'));
  dirs.push(d);
  return d;
};
let pgc: PgCluster | null = null;
const paths: Path[] = [directPath(), await appPath('memory outbox', {}, true), await appPath('SQLite', { PARLEY_DATA_DIR: tmp() }, false)];
if (POSTGRES_AVAILABLE) {
  pgc = await startPostgres({ durable: true });
  paths.push(await appPath('PostgreSQL', { PARLEY_DATA_DIR: tmp(), PARLEY_DATABASE_URL: await pgc.createDatabase('bench_webhooks') }, false));
} else {
  process.stdout.write('(no PostgreSQL here: install the Debian package postgresql, scripts/setup.sh)\n');
}

// warm-up: one small round each
for (const p of paths) await p.run();

const per = new Map<string, { p50: number[]; p99: number[] }>(paths.map((p) => [p.name, { p50: [], p99: [] }]));
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < paths.length; k++) {
    const p = paths[(k + r) % paths.length]!;
    const s = summarize(await p.run());
    per.get(p.name)!.p50.push(s.p50);
    per.get(p.name)!.p99.push(s.p99);
  }
}
if (receiver.badSignatures.length > 0) throw new Error(`bad signatures: ${receiver.badSignatures.length}`);

const fmt = (xs: number[]): string => {
  const s = summarize(xs);
  return `${s.p50.toFixed(1)} ms [${s.min.toFixed(1)}–${s.max.toFixed(1)}]`;
};
const med = (xs: number[]): number => summarize(xs).p50;
const mem = per.get('memory outbox')!;
process.stdout.write(`webhook end-of-call delivery latency, session close → receiver (${ROUNDS} rounds × ${CALLS} calls, one close every ${GAP_MS} ms; median of per-round figures [min–max])\n`);
process.stdout.write(`${'path'.padEnd(16)} ${'p50'.padEnd(26)} ${'p99'.padEnd(26)} p50 / memory  p99 / memory\n`);
for (const p of paths) {
  const f = per.get(p.name)!;
  process.stdout.write(`${p.name.padEnd(16)} ${fmt(f.p50).padEnd(26)} ${fmt(f.p99).padEnd(26)} ${(med(f.p50) / med(mem.p50)).toFixed(2)}×`.padEnd(86) + `  ${(med(f.p99) / med(mem.p99)).toFixed(2)}×\n`);
}

for (const p of paths) await p.close();
await receiver.stop();
await pgc?.stop();
for (const d of dirs) rmSync(d, { recursive: true, force: true });
