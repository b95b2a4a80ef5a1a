/**
 * End of turn through the SIP door (issue 14, docs/notes/turns.md "Figures: end of turn through the SIP
 * door"): Parley runs in this process on the offline local engine (Silero VAD, PocketSphinx, the demo
 * agent, flite) with its SIP door on 127.0.0.1 (test/support/local-sip.ts). A SIP UAC (test/fakes/sip-uac.ts
 * MiniUac) calls it and says each clean question and each sentence with a thinking pause of the test set
 * (scripts/turns-fixtures.sh) as the phone line carries it: the fixture's 8 kHz μ-law in RTP, one 20 ms
 * packet per deadline, then line silence; it records the RTP it gets back with arrival times.
 *
 * The turn detection is chosen per call by the dialled number, through the config file's profiles and
 * routes (the way an operator sets it for SIP calls): 2001 → today's fixed window (`server_vad`, 500 ms),
 * 2002 → `semantic_vad` with the adaptive end of turn (the defaults: 200..1200 ms). Each file is said on
 * two calls AT THE SAME TIME, one per mode, so both see the same machine load; rounds repeat the set.
 *
 *   bash scripts/turns-fixtures.sh /tmp/turns && npx tsx bench/turns-sip.ts /tmp/turns [--rounds 1] [--speeds 1.0] [--limit N] [--verbose]
 *
 * Per mode: the time from the end of the caller's speech (the last 20 ms frame above the line's noise in
 * the fixture, as bench/turns.ts defines it) to the first audible RTP packet of the reply at the phone,
 * p50/p95 with the spread of p50 over rounds and the ratio adaptive/fixed per round; premature end of turn
 * on the paused sentences, counted two ways: the turn ended inside the sentence (a `speech_stopped` before
 * the speech's end, or two of them, seen by an in-process session observer) and the reply's audio reached
 * the phone before the speech's end.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { mulawDecode } from '../audio/index.ts';
import type { ServerEvent } from '../server/protocol/index.ts';
import { MiniUac } from '../test/fakes/sip-uac.ts';
import { startLocalSip } from '../test/support/local-sip.ts';
import { percentileSorted } from './lib/index.ts';
import { mulawOf, speechEndMs } from './lib/turn-set.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : def; };
const dir = args[0] && !args[0].startsWith('--') ? args[0] : new URL('../fixtures/turns/', import.meta.url).pathname;
const rounds = Number(opt('rounds', '1'));
const speeds = opt('speeds', '1.0').split(',').map(Number);
const limit = Number(opt('limit', '0'));
const verbose = args.includes('--verbose');   // one line per call: the server's events and the phone's audio, ms from the speech's end

interface Entry { category: string; file: string; text: string; voice: string; speed: number; pauseMs?: number }
let manifest = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Entry[])
  .filter((e) => (e.category === 'questions' || e.category === 'paused') && speeds.includes(e.speed));
if (limit > 0) manifest = manifest.slice(0, limit);

/** |sample| of each μ-law byte: a packet is audible when one sample is above AUDIBLE (−48 dBFS). */
const ABS = Int16Array.from(mulawDecode(Buffer.from(Array.from({ length: 256 }, (_, i) => i))), (x) => Math.abs(x));
const AUDIBLE = 128;
const audible = (p: Buffer): boolean => { for (let i = 0; i < p.length; i++) if (ABS[p[i]!]! > AUDIBLE) return true; return false; };

const SILENCE = new Uint8Array(160).fill(0xff);   // μ-law silence
const LEAD_MS = 400;   // line silence after the ACK, before the caller speaks (the session and the jitter buffer settle)

const modes = [
  { name: 'fixed (server_vad, 500 ms)', dialled: '2001', profile: 'fixed' },
  { name: 'adaptive (semantic_vad, 200..1200 ms)', dialled: '2002', profile: 'adaptive' },
] as const;

/** When speech_stopped went out (performance.now()), per SIP Call-ID (the session observer sees the door's session). */
const stops = new Map<string, number[]>();
const profileOf = new Map<string, string | null>();
/** When the first response.output_audio.delta of each response went out, per SIP Call-ID (--verbose). */
const deltas = new Map<string, number[]>();

const loads: number[] = [loadavg()[0]!];
const sip = await startLocalSip({
  env: { PARLEY_LOCAL_STT_WORKERS: '2', PARLEY_LOCAL_STT_DECODERS: '4' },
  file: {
    profiles: { fixed: { turn_detection: { type: 'server_vad' } }, adaptive: { turn_detection: { type: 'semantic_vad' } } },
    routes: modes.map((m) => ({ dialled: m.dialled, profile: m.profile })),
  },
});
if (sip.parley.app.parley.config.engine !== 'local') throw new Error(`the engine is ${sip.parley.app.parley.config.engine}, not local`);
sip.parley.app.parley.sessions.observe((info) => {
  const id = info.call.sipCallId;
  if (id === undefined) return null;
  const list: number[] = [];
  const firsts: number[] = [];
  let inResponse = false;
  stops.set(id, list);
  deltas.set(id, firsts);
  profileOf.set(id, info.profile);
  return {
    serverEvent: (ev: ServerEvent) => {
      if (ev.type === 'input_audio_buffer.speech_stopped') list.push(performance.now());
      else if (ev.type === 'response.created') inResponse = true;
      else if (ev.type === 'response.output_audio.delta' && inResponse) { inResponse = false; firsts.push(performance.now()); }
    },
  };
});

interface Outcome { latencyMs: number | null; eotMs: number | null; turnCut: boolean; replyEarly: boolean; profile: string | null }

/** One call: INVITE (the dialled number picks the mode), the file at real time from `t0`, the reply awaited. */
async function call(mu: Buffer, endMs: number, uac: MiniUac, t0: number): Promise<Outcome> {
  const nFile = Math.ceil(mu.length / 160);
  let firstAfter: number | null = null;   // the first audible packet after the speech's end
  let replyEarly = false;
  uac.keepPayloads = true;   // onRtp gets the payload only when kept
  uac.onRtp = undefined;
  const callId = /^Call-ID:\s*(\S+)/im.exec(uac.lastInvite)?.[1] ?? '';
  const done = new Promise<void>((resolve) => {
    const endAt = t0 + endMs;
    const capAt = endAt + 10_000;
    let i = 0;
    let stopAt = Infinity;
    uac.onRtp = (p) => {
      if (!audible(p.payload)) return;
      if (p.arrivalMs < endAt) replyEarly = true;
      else if (firstAfter === null) { firstAfter = p.arrivalMs; stopAt = p.arrivalMs + 200; }
    };
    const tick = (): void => {
      const now = performance.now();
      // every packet whose deadline has passed (a late timer sends the backlog, as a phone's clock would)
      while (now >= t0 + i * 20) {
        uac.sendRtp(i < nFile ? mu.subarray(i * 160, Math.min(mu.length, (i + 1) * 160)) : SILENCE);
        i++;
      }
      // the first audio, or 6 s after the turn's end was decided with no reply, or 10 s after the speech
      const list = stops.get(callId) ?? [];
      if (list.length > 0 && i >= nFile && stopAt === Infinity) stopAt = Math.max(endAt, now) + 6_000;
      if (now >= stopAt || now >= capAt) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    // line silence until t0 (the lead), deadline-paced from the ACK
    const lead = (): void => {
      if (performance.now() >= t0) return tick();
      uac.sendRtp(SILENCE);
      setTimeout(lead, 20);
    };
    lead();
  });
  await done;
  uac.onRtp = undefined;
  if (verbose) {
    const rel = (xs: number[]): string => xs.map((x) => (x - (t0 + endMs)).toFixed(0)).join(',');
    const aud = uac.received.filter((p) => audible(p.payload)).map((p) => p.arrivalMs);
    console.log(`  ${profileOf.get(callId)} speech ${endMs} ms: speech_stopped [${rel(stops.get(callId) ?? [])}] first deltas [${rel(deltas.get(callId) ?? [])}] audible packets ${aud.length} from ${rel(aud.slice(0, 1))}`);
  }
  await uac.bye().catch(() => undefined);
  // the turn ended inside the sentence: a speech_stopped before the speech's end (bench/turns.ts), or two
  // turns where the caller said one (the second half after the pause, a turn of its own)
  const list = stops.get(callId) ?? [];
  const turnCut = list.some((at) => at < t0 + endMs - 20) || list.length >= 2;
  return { latencyMs: firstAfter === null ? null : firstAfter - (t0 + endMs), eotMs: list.length > 0 ? list[list.length - 1]! - (t0 + endMs) : null, turnCut, replyEarly, profile: profileOf.get(callId) ?? null };
}

const lat: number[][][] = modes.map(() => []);   // [mode][round] latencies, turns not cut
const cut: number[][] = modes.map(() => []);     // [mode][round] paused sentences whose turn ended inside
const early: number[][] = modes.map(() => []);   // [mode][round] paused sentences answered before their end
const noReply: number[] = modes.map(() => 0);
const latQ: number[][] = modes.map(() => []);   // [mode] latencies on the clean questions alone (the same turns in both modes)
const eot: number[][] = modes.map(() => []);   // [mode] end of speech → the last speech_stopped (the turn's end decided), turns not cut
const cuts: string[] = [];
const wrongProfile: string[] = [];
const started = new Date();
const loadTimer = setInterval(() => loads.push(loadavg()[0]!), 15_000);
for (let r = 0; r < rounds; r++) {
  modes.forEach((_, m) => { lat[m]![r] = []; cut[m]![r] = 0; early[m]![r] = 0; });
  let paused = 0;
  // interleaved: the modes' INVITE order alternates per file
  for (const [k, e] of manifest.entries()) {
    const mu = mulawOf(join(dir, e.file));
    const endMs = speechEndMs(mu);
    const uacs = await Promise.all(modes.map(async () => { const u = new MiniUac(sip.bridge.server.port); await u.bind(); return u; }));
    const order = (k + r) % 2 === 0 ? [0, 1] : [1, 0];
    for (const m of order) await uacs[m]!.call({ user: modes[m]!.dialled, pts: [0] });
    const t0 = performance.now() + LEAD_MS;
    const outs = await Promise.all(modes.map((_, i) => call(mu, endMs, uacs[i]!, t0)));
    for (const u of uacs) u.close();
    if (e.category === 'paused') paused++;
    outs.forEach((o, m) => {
      if (o.profile !== modes[m]!.profile) wrongProfile.push(`${e.file}: ${modes[m]!.profile} call ran ${o.profile}`);
      const premature = o.turnCut || o.replyEarly;
      if (o.eotMs !== null && !premature) eot[m]!.push(o.eotMs);
      if (o.latencyMs === null) noReply[m]!++;
      else if (!premature) { lat[m]![r]!.push(o.latencyMs); if (e.category === 'questions') latQ[m]!.push(o.latencyMs); }
      if (e.category === 'paused') {
        if (o.turnCut) cut[m]![r]!++;
        if (o.replyEarly) early[m]![r]!++;
        if (premature && r === 0) cuts.push(`${modes[m]!.name}: ${o.turnCut ? 'turn ended inside' : ''}${o.turnCut && o.replyEarly ? ', ' : ''}${o.replyEarly ? 'reply before the end' : ''} — ${e.file}`);
      }
    });
  }
  const med = (xs: number[]): number => percentileSorted([...xs].sort((a, b) => a - b), 50);
  console.log(`round ${r + 1}: ${modes.map((m, k) => `${m.name}: p50 ${med(lat[k]![r]!).toFixed(0)} ms (n ${lat[k]![r]!.length}), cut ${cut[k]![r]}/${paused}, answered early ${early[k]![r]}/${paused}`).join(' | ')}`);
  if (r === rounds - 1) {
    console.log(`\n${manifest.length} files (speeds ${speeds.join(',')}), ${rounds} round(s), both modes on two SIP calls at once per file; ${started.toISOString()}–${new Date().toISOString()}, load (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on 2 cores:`);
    modes.forEach((m, k) => {
      const all = lat[k]!.flat().sort((a, b) => a - b);
      const p50s = lat[k]!.map(med);
      const c = cut[k]!.reduce((a, b) => a + b, 0);
      const ea = early[k]!.reduce((a, b) => a + b, 0);
      const n = paused * rounds;
      const es = [...eot[k]!].sort((a, b) => a - b);
      console.log(`  ${m.name}: end of speech → speech_stopped (the turn's end decided, in the server) p50 ${percentileSorted(es, 50).toFixed(0)} ms p95 ${percentileSorted(es, 95).toFixed(0)} ms (n ${es.length})`);
      console.log(`  ${m.name}: end of speech → first audio at the phone p50 ${percentileSorted(all, 50).toFixed(0)} ms [rounds ${Math.min(...p50s).toFixed(0)}–${Math.max(...p50s).toFixed(0)}], p95 ${percentileSorted(all, 95).toFixed(0)} ms (n ${all.length}); no reply ${noReply[k]}`);
      console.log(`  ${m.name}: paused sentences: turn ended inside ${c}/${n} (${((100 * c) / n).toFixed(1)} %), reply at the phone before the speech's end ${ea}/${n} (${((100 * ea) / n).toFixed(1)} %)`);
    });
    const q = latQ.map((xs) => [...xs].sort((a, b) => a - b));
    console.log(`  the clean questions alone: ${modes.map((m, k) => `${m.name} p50 ${percentileSorted(q[k]!, 50).toFixed(0)} / p95 ${percentileSorted(q[k]!, 95).toFixed(0)} ms (n ${q[k]!.length})`).join(', ')}; adaptive/fixed p50 ${(percentileSorted(q[1]!, 50) / percentileSorted(q[0]!, 50)).toFixed(2)}`);
    const ratios = lat[1]!.map((xs, i) => med(xs) / med(lat[0]![i]!));
    console.log(`  adaptive/fixed p50 ratio per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}`);
    for (const c of cuts) console.log(`  ${c}`);
    for (const w of wrongProfile) console.log(`  WRONG PROFILE ${w}`);
  }
}
clearInterval(loadTimer);
await sip.close();
process.exit(0);
