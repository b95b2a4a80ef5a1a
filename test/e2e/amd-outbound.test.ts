/**
 * Answering-machine detection on real outbound calls (docs/notes/amd.md): POST /v1/calls with
 * `machine_detection` dials baresip (auto-answer) whose microphone is a generated phone-line WAV — a voicemail
 * greeting ending in a beep, or a person saying "Hello?" — on the offline local engine, with a profile whose
 * first message the agent says as soon as the call is up. baresip records what it hears.
 *
 * - machine + leave_message: the verdict is `machine` with the beep's time; the agent's first message never
 *   reaches the voicemail; after the beep Parley speaks the configured message (PocketSphinx finds its words
 *   in baresip's recording, and nothing loud before the beep) and hangs up.
 * - machine + hangup: Parley hangs up on the greeting, the agent unheard.
 * - human + continue: the verdict is `human` within 2.5 s; the agent's audio is queued only after it, and heard.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWavFile } from '../../audio/index.ts';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { outboundCalls } from '../../server/outbound/calls.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import type { Parley } from '../component/helpers.ts';
import { startBaresip, waitFor } from '../fakes/sip-harness.ts';
import { hear, phoneWav, words } from '../support/hear.ts';
import { getCall, placeCall, startLocalSip, type LocalSip } from '../support/local-sip.ts';
import { AmdCaseMaker, hasFliteAndSox } from '../support/amd-cases.ts';
import type { AmdCase } from '../support/amd-cases.ts';

const FIRST = 'Hello, this is the dental office calling to confirm your appointment for tomorrow morning.';
const FILE = { profiles: { reminder: { instructions: 'You remind patients of appointments.', firstMessage: FIRST } } };
// words PocketSphinx keeps through flite → μ-law → a loaded machine's playout, none of them in FIRST
// (a CI run heard "hello this is the guard and then tear your hair…" for "Hello, this is the garden centre. Your order…")
const MESSAGE = 'Okay, bye bye. Your order is ready at the garden centre, please call us back. Goodbye.';

/** Loudest 100 ms RMS (dBFS) in [fromMs, toMs) of an 8 kHz recording. */
function loudestDb(x: Int16Array, fromMs: number, toMs: number): number {
  let best = -120;
  for (let t = Math.max(0, fromMs); t + 100 <= toMs && (t + 100) * 8 <= x.length; t += 50) {
    let s = 0;
    for (let i = t * 8; i < (t + 100) * 8; i++) s += (x[i] as number) ** 2;
    best = Math.max(best, 10 * Math.log10(s / 800 / 32768 ** 2 + 1e-12));
  }
  return best;
}

/** The first 100 ms above −35 dBFS in an 8 kHz recording, ms (−1: none). */
function firstLoudMs(x: Int16Array): number {
  for (let t = 0; (t + 100) * 8 <= x.length; t += 50) if (loudestDb(x, t, t + 100) > -35) return t;
  return -1;
}

/**
 * When Parley first queues audio to the call (ms after the 200 OK, on Parley's clock): the agent's audio held
 * back by the detector is not queued until released, so this is when the callee starts to hear something.
 */
function firstQueued(bridge: SipBridge, id: string, answeredAt: () => number, snapshot: () => unknown = () => null): Promise<{ at: number; then: unknown }> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      const call = bridge.server.calls().find((x) => x.id === id);
      if (call && call.enqueuedMs > 0) {
        clearInterval(t);
        resolve({ at: Date.now() - answeredAt(), then: snapshot() });
      }
    }, 10);
    setTimeout(() => {
      clearInterval(t);
      resolve({ at: -1, then: null });
    }, 60_000).unref();
  });
}

describe.skipIf(!hasFliteAndSox())('answering-machine detection on outbound calls (baresip answers)', () => {
  let rig: LocalSip | undefined;
  let parley: Parley;
  let bridge: SipBridge;
  let maker: AmdCaseMaker;
  const stt = new PocketSphinxStt();
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-amd-e2e-data-'));

  beforeAll(async () => {
    maker = new AmdCaseMaker();
    rig = await startLocalSip({ env: { PARLEY_ENGINE: 'local', PARLEY_DATA_DIR: dataDir }, file: FILE, stt });
    ({ parley, bridge } = rig);
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
    maker?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The case as baresip's microphone: the line audio then 30 s of silence. */
  function mic(c: AmdCase): string {
    const f = join(maker.dir, `mic-${c.name}.wav`);
    const pcm = new Int16Array(c.pcm.length + 8000 * 30);
    pcm.set(c.pcm);
    writeWavFile(f, pcm, 8000);
    return f;
  }

  const place = (sipPort: number, machineDetection: unknown): Promise<string> =>
    placeCall(parley, { to: `sip:caller@127.0.0.1:${sipPort}`, profile: 'reminder', machine_detection: machineDetection });

  const greeting = "Hi, you've reached the voicemail of John Smith. Please leave a message after the tone.";
  function machineCase(beep: boolean): AmdCase {
    const speechMs = (maker.say('rms', 1, greeting).length * 1000) / 8000;
    const atMs = Math.round(300 + speechMs + 500);
    return maker.make({ label: 'machine', hard: false, text: greeting, voice: 'rms', speed: 1, leadMs: 300, snrDb: 30, levelDbfs: -18, tailMs: 500, ...(beep ? { beep: { hz: 1000, ms: 400, atMs } } : {}) });
  }

  it('machine + leave_message: the verdict and the beep; the agent stays silent; the message after the beep; then BYE', async () => {
    const c = machineCase(true);
    const beep = c.beep as { atMs: number; ms: number };
    const bs = await startBaresip({ inputWav: mic(c), uri: null, autoAnswer: true, codecs: 'pcmu' });
    let id = '';
    try {
      id = await place(bs.sipPort, { action: 'leave_message', message: MESSAGE });
      const queued = firstQueued(
        bridge,
        id,
        () => Date.parse(outboundCalls(parley.app).get(id)?.answered_at ?? ''),
        () => (outboundCalls(parley.app).get(id)?.amd as { beep_at_ms?: number } | null)?.beep_at_ms,
      );
      await bs.waitEvent('CALL_ESTABLISHED', 10_000);
      await waitFor(() => outboundCalls(parley.app).get(id)?.amd != null, 10_000, 'the verdict');
      const amd = outboundCalls(parley.app).get(id)?.amd as { result: string; decided_after_ms: number; beep_at_ms?: number };
      expect(amd.result).toBe('machine');
      expect(amd.decided_after_ms).toBeLessThan(c.speechEndMs);
      // the message plays after the beep, then Parley hangs up
      await bs.waitEvent('CALL_CLOSED', 40_000);
      expect(Math.abs((amd.beep_at_ms as number) - beep.atMs), `beep at ${amd.beep_at_ms} ms, played at ${beep.atMs} ms`).toBeLessThanOrEqual(150);
      // the first audio queued to the voicemail is the message, as the beep ends (the agent's was dropped)
      // — the beep had been heard by then. (Wall clock against the audio's own: on a loaded machine RTP comes in
      // bursts, so the bound is loose; the exact moment, the beep's end, is the unit tests'.)
      const q = await queued;
      const beepEnd = (amd.beep_at_ms as number) + beep.ms;
      expect(q.then, 'the beep was heard before anything was queued').toBe(amd.beep_at_ms);
      expect(q.at, `message queued ${q.at} ms after the answer, beep heard ${amd.beep_at_ms}–${beepEnd} ms`).toBeGreaterThan(amd.beep_at_ms as number);
      expect(q.at, `message queued ${q.at} ms after the answer, beep heard ${amd.beep_at_ms}–${beepEnd} ms`).toBeLessThanOrEqual(beepEnd + 1500);
      const rec = (await getCall(parley, id)) as { outbound?: { amd?: unknown } };
      expect(rec.outbound?.amd).toMatchObject({ result: 'machine', beep_at_ms: amd.beep_at_ms });
    } finally {
      await bs.quit();
    }
    const dec = bs.decodedWav();
    expect(dec, 'baresip recorded what it heard').toBeTruthy();
    const heardPcm = phoneWav(dec as string);
    // what the voicemail recorded: the message, not the agent's first message
    expect(firstLoudMs(heardPcm), 'something was heard').toBeGreaterThanOrEqual(0);
    // the loud stretch only (PocketSphinx is slow on a loaded machine)
    const from = Math.max(0, firstLoudMs(heardPcm) - 300) * 8;
    const heard = new Set(words(await hear(stt, heardPcm.subarray(from, from + 8000 * 7))));
    const expected = ['okay', 'bye', 'goodbye', 'garden', 'centre', 'center', 'order', 'ready', 'please', 'call', 'back'];
    expect(expected.filter((w) => heard.has(w)).length, `heard: ${[...heard].join(' ')}`).toBeGreaterThanOrEqual(1);
    expect(['dental', 'appointment', 'tomorrow'].filter((w) => heard.has(w)), 'the first message must not be heard').toEqual([]);
  }, 90_000);

  it('machine + hangup: Parley hangs up on the greeting, the agent unheard', async () => {
    const c = machineCase(false);
    const bs = await startBaresip({ inputWav: mic(c), uri: null, autoAnswer: true, codecs: 'pcmu' });
    try {
      const id = await place(bs.sipPort, { action: 'hangup' });
      await bs.waitEvent('CALL_ESTABLISHED', 10_000);
      await waitFor(() => outboundCalls(parley.app).get(id)?.amd != null, 10_000, 'the verdict');
      expect(outboundCalls(parley.app).get(id)?.amd).toMatchObject({ result: 'machine' });
      await bs.waitEvent('CALL_CLOSED', 5000);
    } finally {
      await bs.quit();
    }
    const heardPcm = phoneWav(bs.decodedWav() as string);
    expect(loudestDb(heardPcm, 0, heardPcm.length / 8)).toBeLessThan(-45);
  }, 60_000);

  it('human + continue: human within 2.5 s, and then the agent speaks', async () => {
    const c = maker.make({ label: 'human', hard: false, text: 'Hello?', voice: 'slt', speed: 1, leadMs: 400, snrDb: 30, levelDbfs: -20, tailMs: 500 });
    const bs = await startBaresip({ inputWav: mic(c), uri: null, autoAnswer: true, codecs: 'pcmu' });
    try {
      const id = await place(bs.sipPort, { action: 'continue' });
      const queued = firstQueued(
        bridge,
        id,
        () => Date.parse(outboundCalls(parley.app).get(id)?.answered_at ?? ''),
        () => outboundCalls(parley.app).get(id)?.amd,
      );
      await bs.waitEvent('CALL_ESTABLISHED', 10_000);
      await waitFor(() => outboundCalls(parley.app).get(id)?.amd != null, 10_000, 'the verdict');
      const amd = outboundCalls(parley.app).get(id)?.amd as { result: string; decided_after_ms: number };
      expect(amd.result).toBe('human');
      expect(amd.decided_after_ms).toBeLessThanOrEqual(2500);
      const decidedMs = amd.decided_after_ms;
      // the agent's first message was held back until the verdict, then queued
      const q = await queued;
      expect(q.then, 'the verdict was in before the agent was queued').toMatchObject({ result: 'human' });
      expect(q.at, `first message queued ${q.at} ms after the answer, verdict at ${decidedMs} ms`).toBeGreaterThanOrEqual(decidedMs - 500);
      // let it play a while, then hang up
      const call = bridge.server.calls().find((x) => x.id === id);
      await waitFor(() => (call?.playout.playedMs ?? 0) > 1000, 30_000, 'the agent is heard');
      await call?.hangup('local-hangup', 'test');
      await bs.waitEvent('CALL_CLOSED', 5000);
    } finally {
      await bs.quit();
    }
    // the agent was heard (its first message, or its answer to "Hello?" when that interrupted it)
    const heardPcm = phoneWav(bs.decodedWav() as string);
    expect(firstLoudMs(heardPcm)).toBeGreaterThanOrEqual(0);
  }, 90_000);
});
