/**
 * Echo (docs/notes/turns.md "Echo"): the agent's reply (flite, the cascade's local parts) plays on a phone
 * line that echoes it into the caller's microphone (bench/turns-line.ts) at −20 and −10 dB, 40 / 120 /
 * 250 ms late, over the line's noise floor, under server_vad (any speech interrupts: the hardest case).
 * Each call runs on two engines AT THE SAME TIME: with the echo gate (audio/echo.ts) and without
 * (today), so both see the same load. Counted: calls where the agent's own echo stopped it (a
 * speech_started; there is no caller speech at all). Then the gate's cost per 32 ms frame, against
 * Silero's own, timed in this process.
 *
 *   npx tsx bench/turns-echo.ts [--rounds 2] [--cost-only]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EchoDetector, EchoGatedVad, createVad, mulawDecode, mulawEncode, readWavFile, resampleWhole } from '../audio/index.ts';
import { CascadeEngine, DEFAULT_INTERRUPTION_RULES } from '../server/engines/cascade/index.ts';
import type { ChatProvider, ChatRequest, ChatChunk } from '../server/engines/providers/index.ts';
import { FliteTts, PocketSphinxStt } from '../server/engines/providers/index.ts';
import { percentileSorted } from './lib/index.ts';
import { echoCall } from './turns-line.ts';

const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 2) || 2;
const keep = setInterval(() => undefined, 1_000);
const REPLY = ['Our store opens at nine in the morning and closes at eight in the evening, every day except Sunday.',
  'I have booked a table for two people tomorrow evening at seven. You will receive a confirmation by text message.'];
const agent: ChatProvider = {
  name: 'agent',
  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    for (const s of REPLY) { if (req.signal?.aborted) break; yield { type: 'text', delta: `${s} ` }; }
    yield { type: 'done', finishReason: 'stop' };
  },
};
const stt = new PocketSphinxStt({ decoders: 3 });
const stages = { stt, chat: agent, tts: new FliteTts() };
const rules = { ...DEFAULT_INTERRUPTION_RULES, serverVad: false };
const gated = new CascadeEngine({ name: 'local', stages, interruptions: { ...rules, echo: true } });
const plain = new CascadeEngine({ name: 'local', stages, interruptions: rules });
await gated.warm(); await plain.warm(); await stt.ready();

const cases = [-20, -10].flatMap((gainDb) => [40, 120, 250].map((delayMs) => ({ gainDb, delayMs })));
const stats = new Map<string, { calls: number; gated: number; plain: number }>();
const costOnly = args.includes('--cost-only');
for (let r = 0; r < (costOnly ? 0 : rounds); r++) {
  for (const c of cases) {
    const key = `${c.gainDb} dB`;
    const s = stats.get(key) ?? { calls: 0, gated: 0, plain: 0 };
    const [g, p] = await Promise.all([echoCall(gated, { ...c, td: { type: 'server_vad' }, seed: r + 1 }), echoCall(plain, { ...c, td: { type: 'server_vad' }, seed: r + 1 })]);
    s.calls++;
    if (g.speechStarted > 0) s.gated++;
    if (p.speechStarted > 0) s.plain++;
    stats.set(key, s);
    console.log(`round ${r + 1} ${c.gainDb} dB ${c.delayMs} ms: gated ${g.status} (speech_started ${g.speechStarted}, played ${(g.playedMs / 1000).toFixed(1)} s) | without ${p.status} (speech_started ${p.speechStarted}, played ${(p.playedMs / 1000).toFixed(1)} s)`);
  }
}
if (!costOnly) console.log('\necho-triggered interruptions (calls where the agent stopped for its own echo), no caller speech:');
for (const [k, s] of stats) console.log(`  ${k}: with the echo gate ${s.gated}/${s.calls}, without ${s.plain}/${s.calls}`);

// The gate's cost per frame: Silero alone vs Silero behind the gate, on echo (tracked delay) and on
// caller speech over echo (a full delay search each frame), interleaved, 5 rounds.
const dir = mkdtempSync(join(tmpdir(), 'parley-echo-bench-'));
execFileSync('flite', ['-voice', 'kal', '-t', REPLY.join(' '), '-o', join(dir, 'a.wav')]);
execFileSync('flite', ['-voice', 'slt', '-t', 'Wait, stop, I have a question about my order, it never arrived.', '-o', join(dir, 'c.wav')]);
const ref = mulawDecode(mulawEncode(readWavFile(join(dir, 'a.wav'), { sampleRateHz: 8_000 }).samples));
const callerPcm = readWavFile(join(dir, 'c.wav'), { sampleRateHz: 8_000 }).samples;
const echo8 = new Int16Array(ref.length + 960);
for (let i = 0; i < ref.length; i++) echo8[i + 960] = Math.round(ref[i]! * 0.1);
const talk8 = Int16Array.from(echo8, (v, i) => Math.max(-32768, Math.min(32767, v + (callerPcm[i % callerPcm.length]! * 0.8))));
const echo16 = resampleWhole(echo8, 8_000, 16_000);
const talk16 = resampleWhole(talk8, 8_000, 16_000);
const silero = await createVad({ kind: 'silero', sampleRateHz: 16_000, strict: true });
function perFrameUs(mic: Int16Array, withGate: boolean): number {
  silero.reset();
  const gate = new EchoGatedVad(silero, new EchoDetector());
  gate.echo.played(ref, 0);
  const vad = withGate ? gate : silero;
  const t = performance.now();
  let n = 0;
  for (let i = 0; i + 512 <= mic.length; i += 512, n++) vad.process(mic.subarray(i, i + 512));
  return ((performance.now() - t) * 1000) / n;
}
for (const [name, mic] of [['echo alone (tracked delay)', echo16], ['caller over the echo (full search)', talk16]] as const) {
  const ratios: number[] = []; const base: number[] = [];
  for (let r = 0; r < 5; r++) {
    const a = r % 2 ? perFrameUs(mic, true) : perFrameUs(mic, false);
    const b = r % 2 ? perFrameUs(mic, false) : perFrameUs(mic, true);
    const [gUs, pUs] = r % 2 ? [a, b] : [b, a];
    ratios.push(gUs / pUs); base.push(pUs);
  }
  ratios.sort((x, y) => x - y); base.sort((x, y) => x - y);
  console.log(`gate cost, ${name}: ${percentileSorted(ratios, 50).toFixed(2)}× Silero alone [${ratios[0]!.toFixed(2)}–${ratios[ratios.length - 1]!.toFixed(2)}] (Silero ${percentileSorted(base, 50).toFixed(0)} µs/frame)`);
}
rmSync(dir, { recursive: true, force: true });
await gated.close(); await plain.close();
clearInterval(keep);
process.exit(0);
