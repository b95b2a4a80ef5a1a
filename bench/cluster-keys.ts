/**
 * Ephemeral key check latency with Redis vs in-process (issue 13 figure; server/auth.ts,
 * server/cluster/redis.ts, docs/cluster.md). One process, a throwaway redis-server on loopback
 * (test/support/redis.ts), interleaved rounds whose order rotates; each figure is the median of the
 * per-round means with the interquartile range, and each ratio is taken round by round against the
 * in-process check of the same round.
 *
 *   in-process            KeyStore without Redis (as on one machine): the key minted here
 *   redis, minted here    KeyStore with Redis, the key minted on this instance: answered from memory
 *   redis, seen before    a key minted on another instance, checked here once already: from memory
 *   redis, first use      a key minted on another instance, first check here: one Redis GET
 *   admit in-process      the session slot of a key with a cap (PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY)
 *   admit redis           the same slot held across the cluster: a lease in Redis (one script call)
 *
 * Run: npx tsx bench/cluster-keys.ts [--rounds 11] [--ops 300]
 */
import { parseArgs } from 'node:util';
import { KeyStore, type Credential } from '../server/auth.ts';
import { SharedRedis } from '../server/cluster/redis.ts';
import { startRedis } from '../test/support/redis.ts';
import { spread, formatSpread } from './lib/index.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '11' }, ops: { type: 'string', default: '300' } } });
const ROUNDS = Number(values.rounds);
const OPS = Number(values.ops);
const SYNC_OPS = OPS * 50;
const LIMITS = { ephemeralMaxSessions: 0, ephemeralMaxSessionsPerKey: 1 };

function must<T extends Credential>(r: ReturnType<KeyStore['check']>): T {
  if (!r.ok) throw new Error(`key refused: ${r.reason}`);
  return r.credential as T;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const sharedA = new SharedRedis({ url: redis.url });
  const sharedB = new SharedRedis({ url: redis.url });
  await sharedA.ready();
  await sharedB.ready();
  const local = new KeyStore([]);
  const a = new KeyStore([], { shared: sharedA }); // the instance that mints
  const b = new KeyStore([], { shared: sharedB }); // the instance that checks
  try {
    const localKey = local.mintEphemeral(600, null).value;
    const hereKey = b.mintEphemeral(600, null).value;
    const seenKey = a.mintEphemeral(600, null).value;
    await a.whenStored(seenKey);
    await b.verify(seenKey);
    const localCred = must(local.check(localKey));
    const sharedCred = must(await b.verify(hereKey));

    let sink = 0;
    const sync = (store: KeyStore, key: string) => (): number => {
      const t0 = performance.now();
      for (let i = 0; i < SYNC_OPS; i++) {
        const r = store.verify(key);
        if (r instanceof Promise) throw new Error('expected an answer from memory');
        if (r.ok) sink++;
      }
      return ((performance.now() - t0) * 1000) / SYNC_OPS;
    };
    type Variant = { name: string; run: () => number | Promise<number> };
    const variants: Variant[] = [
      { name: 'in-process', run: sync(local, localKey) },
      { name: 'redis, minted here', run: sync(b, hereKey) },
      { name: 'redis, seen before', run: sync(b, seenKey) },
      {
        name: 'redis, first use',
        run: async () => {
          // fresh keys minted on the other instance (not timed), each checked here once (timed)
          const keys: string[] = [];
          for (let i = 0; i < OPS; i++) keys.push(a.mintEphemeral(600, null).value);
          await Promise.all(keys.map((k) => a.whenStored(k)));
          const t0 = performance.now();
          for (const k of keys) if ((await b.verify(k)).ok) sink++;
          return ((performance.now() - t0) * 1000) / OPS;
        },
      },
      {
        name: 'admit in-process',
        run: () => {
          const t0 = performance.now();
          for (let i = 0; i < SYNC_OPS; i++) {
            const s = local.admit(localCred, LIMITS);
            if (s instanceof Promise || !s.ok) throw new Error('expected an admission from memory');
            s.release();
          }
          return ((performance.now() - t0) * 1000) / SYNC_OPS;
        },
      },
      {
        name: 'admit redis',
        run: async () => {
          const t0 = performance.now();
          for (let i = 0; i < OPS; i++) {
            const s = await b.admit(sharedCred, LIMITS);
            if (!s.ok) throw new Error(`not admitted: ${s.code}`);
            s.release();
          }
          return ((performance.now() - t0) * 1000) / OPS;
        },
      },
    ];
    // warm-up
    for (const v of variants) await v.run();
    const us: number[][] = variants.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < variants.length; j++) {
        const k = (r + j) % variants.length;
        us[k]!.push(await variants[k]!.run());
      }
    }
    const base = us[0]!;
    process.stdout.write(`ephemeral key check, ${ROUNDS} interleaved rounds (${SYNC_OPS} ops per round from memory, ${OPS} per round through Redis); µs per check, median [p25–p75]\n`);
    process.stdout.write(`${'variant'.padEnd(22)} ${'µs per op'.padEnd(26)} ratio to in-process check (per round)\n`);
    for (let i = 0; i < variants.length; i++) {
      const s = spread(us[i]!);
      const ratios = spread(us[i]!.map((x, r) => x / base[r]!));
      const isAdmit = variants[i]!.name.startsWith('admit');
      const adminBase = isAdmit ? spread(us[i]!.map((x, r) => x / us[4]![r]!)) : null;
      process.stdout.write(
        `${variants[i]!.name.padEnd(22)} ${formatSpread(s, 3).padEnd(26)} ${formatSpread(ratios, 2)}×${adminBase && i !== 4 ? `   (vs admit in-process: ${formatSpread(adminBase, 1)}×)` : ''}\n`,
      );
    }
    process.stdout.write(`(min–max of the in-process check: ${spread(base).min.toFixed(3)}–${spread(base).max.toFixed(3)} µs; ${sink > 0 ? 'all checks passed' : 'no check passed'})\n`);
  } finally {
    local.close();
    a.close();
    b.close();
    await sharedA.close();
    await sharedB.close();
    await redis.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
