/**
 * The recorder against an older checkout of it, in one process (docs/notes/recording.md "Figures"): 100 stereo
 * μ-law recorders with real files, fed a caller frame and an agent frame per call every 20 ms of a simulated
 * clock; before each frame, THRASH words of a 64 MB array are read (the rest of the app's work between two frames
 * of one call, which leaves the recorder's memory cold as it is in the app). Rounds interleave old, new and
 * neither (the thrash alone); a recorder's CPU per call-second is its round's process CPU (user + system, so the
 * writes on libuv's threads count) minus the thrash-only round's. The first simulated second (files opened, rings
 * made) is not counted.
 *
 *   git worktree add --detach /tmp/parley-old <commit> && ln -s "$PWD/node_modules" /tmp/parley-old/node_modules
 *   OLD=/tmp/parley-old npx tsx bench/recorder-ab.ts            (ROUNDS=12 SECONDS=10 THRASH=4096)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { CallRecorder } from '../server/recording/index.ts';
import { AudioChunk } from '../server/protocol/index.ts';
import { spread } from './lib/index.ts';

const OLD = process.env.OLD;
if (!OLD) throw new Error('OLD=<path of an older checkout> (see the header)');
const env = (k: string, d: number): number => Number(process.env[k] ?? d);
const CALLS = 100;
const SECONDS = env('SECONDS', 10);
const ROUNDS = env('ROUNDS', 12);
const THRASH = env('THRASH', 4096);

type Rec = Pick<CallRecorder, 'callerAudio' | 'agentAudio' | 'tick' | 'finish'> & { stream: { idle(): Promise<void> } | null };
interface Impl {
  Recorder: new (s: object, o: object) => Rec;
  Chunk: { fromBytes(b: Uint8Array, f: object): unknown };
}
const oldImpl: Impl = {
  Recorder: ((await import(pathToFileURL(join(OLD, 'server/recording/index.ts')).href)) as { CallRecorder: Impl['Recorder'] }).CallRecorder,
  Chunk: ((await import(pathToFileURL(join(OLD, 'server/protocol/index.ts')).href)) as { AudioChunk: Impl['Chunk'] }).AudioChunk,
};
const newImpl: Impl = { Recorder: CallRecorder as unknown as Impl['Recorder'], Chunk: AudioChunk as unknown as Impl['Chunk'] };

const log = pino({ level: 'silent' });
const big = new Uint32Array(16 * 1024 * 1024);
let at = 0;
let sum = 0;
function thrash(): void {
  let s = 0;
  const end = at + THRASH;
  for (let i = at; i < end; i += 16) s += big[i]!;
  sum += s;
  at = end >= big.length ? 0 : end;
}

type Side = 'none' | 'old' | 'new';
let n = 0;
async function round(side: Side): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-recorder-ab-'));
  const clock = { t: 0 };
  const impl = side === 'old' ? oldImpl : newImpl;
  const recs: Rec[] = side === 'none' ? [] : Array.from({ length: CALLS }, (_, i) => new impl.Recorder({ id: `s${++n}`, leg: 'sip', callId: undefined, metadata: {}, startedAt: Date.now() }, { mode: 'stereo', path: join(dir, `r${n}.wav`), log, clock: () => clock.t, startedAtMs: -i * 20 }));
  const caller = impl.Chunk.fromBytes(new Uint8Array(160).fill(0x80), { type: 'audio/pcmu' }) as never;
  const agent = impl.Chunk.fromBytes(new Uint8Array(160).fill(0x90), { type: 'audio/pcmu' }) as never;
  const pos = { itemId: 'item_1', responseId: 'resp_1', contentIndex: 0, offsetMs: 0 };
  let c0 = process.cpuUsage();
  for (let k = 1; k <= (SECONDS + 1) * 50; k++) {
    if (k === 51) c0 = process.cpuUsage();
    clock.t = k * 20;
    for (let i = 0; i < CALLS; i++) {
      thrash();
      recs[i]?.callerAudio(caller);
      thrash();
      recs[i]?.agentAudio(agent, pos);
    }
    pos.offsetMs += 20;
    if (k % 10 === 0) {
      await Promise.all(recs.map((r) => r.stream?.idle()));
      for (const r of recs) r.tick();
    }
  }
  await Promise.all(recs.map((r) => r.stream?.idle()));
  const u = process.cpuUsage(c0);
  await Promise.all(recs.map((r) => r.finish()));
  rmSync(dir, { recursive: true, force: true });
  return (u.user + u.system) / (CALLS * SECONDS);
}

async function main(): Promise<void> {
  const res: Record<Side, number[]> = { none: [], old: [], new: [] };
  for (const s of ['old', 'new', 'none'] as const) await round(s); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const order: Side[] = r % 2 ? ['new', 'none', 'old'] : ['old', 'none', 'new'];
    const got: Partial<Record<Side, number>> = {};
    for (const s of order) got[s] = await round(s);
    for (const s of order) res[s].push(got[s]!);
    process.stderr.write(`round ${r}: thrash alone ${got.none!.toFixed(0)} µs/call-s; recorder old ${(got.old! - got.none!).toFixed(0)}, new ${(got.new! - got.none!).toFixed(0)}\n`);
  }
  const f = (xs: number[], d = 0): string => {
    const s = spread(xs);
    return `${s.median.toFixed(d)} [${s.min.toFixed(d)}–${s.max.toFixed(d)}]`;
  };
  const oldR = res.old.map((x, i) => x - res.none[i]!);
  const newR = res.new.map((x, i) => x - res.none[i]!);
  process.stdout.write(
    `recorder CPU µs per call-second (${CALLS} stereo μ-law calls, ${ROUNDS} rounds of ${SECONDS} s, thrash ${THRASH} words a frame): ` +
      `thrash alone ${f(res.none)}; old ${f(oldR)}; new ${f(newR)}; new / old per round ${f(newR.map((x, i) => x / oldR[i]!), 2)}×${sum < 0 ? ' ' : ''}\n`,
  );
  process.exit(0);
}

void main();
