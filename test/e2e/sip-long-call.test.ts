/**
 * A long SIP call, with its limits shortened (issue 12 §3 "Calls that last"): the OpenAI engine's 60-minute
 * session cap comes after every reply (the fake's `closeAfterTurns = 1`: error `session_expired`, close 1001,
 * as docs/protocol.md describes), so a call of a dozen turns lives through a dozen upstream sessions; RFC 4028
 * session timers run at a 4 s interval with Parley as the refresher (UPDATE every 2 s). The caller (MiniUac,
 * real UDP SIP/RTP on 127.0.0.1) speaks in bursts; every turn is answered with audio, the call record holds
 * every turn once, the stereo recording is as long as the call with the caller on the left, and the heap
 * after a forced GC does not grow with the number of rotations.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { FakeOpenAI } from '../fakes/index.ts';
import { rtpRange, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const TURNS = 10;
const CYCLE_MS = 2600; // 700 ms of "speech", then silence: the fake's VAD ends the turn after 200 ms
const SPEECH_FRAMES = 35;

let fake: FakeOpenAI | undefined;
let parley: Parley | undefined;
let bridge: SipBridge | undefined;
let uac: MiniUac | undefined;
afterEach(async () => {
  uac?.close();
  await bridge?.close();
  await parley?.close();
  await fake?.stop();
  uac = undefined;
  bridge = undefined;
  parley = undefined;
  fake = undefined;
});

/** Polls `fn` until it returns non-null. */
async function poll<T>(fn: () => Promise<T | null>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const heapMiB = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / (1024 * 1024);
};

describe('a long SIP call (limits shortened)', () => {
  it('survives an upstream session cap on every turn and session-timer refreshes: every turn answered, one whole record, a recording as long as the call, a flat heap', async () => {
    let asked = 0; // the fake counts turns per upstream session; the caller's questions are numbered across the call
    fake = await new FakeOpenAI({ replyAudioMs: 500, transcribe: () => `question number ${++asked}` }).start();
    fake.closeAfterTurns = 1;
    parley = await startParley({ fake, env: { PARLEY_RECORDING: 'stereo', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange(), minSeS: 2, sessionExpiresS: 1800 }, engine: 'openai' });
    let callId = '';
    parley.app.parley.sessions.observe((info) => {
      callId = info.id;
      return {};
    });

    uac = new MiniUac(bridge.server.port);
    await uac.bind();
    uac.keepPayloads = false;
    // agent audio per cycle: a frame that is not μ-law silence
    const agentFrames: number[] = new Array<number>(TURNS + 2).fill(0);
    let t0 = 0;
    uac.onRtp = (p) => {
      if (t0 === 0) return;
      const cycle = Math.floor((p.arrivalMs - t0) / CYCLE_MS);
      if (cycle >= 0 && cycle < agentFrames.length && p.pt === 0) agentFrames[cycle]!++;
    };
    await uac.call({ extraHeaders: ['Supported: timer', 'Session-Expires: 4;refresher=uas', 'Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE'] });
    await waitFor(() => callId !== '', 3000, 'the session');

    const speech = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) speech[i] = i % 2 === 0 ? 0x10 : 0x90; // loud, alternating sign
    const silence = Buffer.alloc(160, 0xff);
    const framesPerCycle = CYCLE_MS / 20;
    const heap: number[] = [];
    const handles: number[] = []; // sockets, timers, servers alive in this process (Parley's, the fake's, the caller's)
    t0 = performance.now();
    const stop = uac.stream((i) => ((i % framesPerCycle) < SPEECH_FRAMES && i < TURNS * framesPerCycle ? speech : silence));
    for (let turn = 0; turn < TURNS; turn++) {
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + (turn + 1) * CYCLE_MS - performance.now())));
      if (turn === 2 || turn === TURNS - 1) {
        heap.push(heapMiB());
        handles.push(process.getActiveResourcesInfo().length);
      }
    }
    stop();
    const callMs = performance.now() - t0;
    await uac.bye();

    // every turn was answered on the phone (the reply starts ~0.3 s into its cycle, 500 ms of audio = 25 frames)
    for (let turn = 0; turn < TURNS; turn++) expect(agentFrames[turn], `agent audio in turn ${turn + 1}`).toBeGreaterThanOrEqual(20);
    // a new upstream session per turn: the cap came every time and the call went on
    expect(fake.upgrades).toBeGreaterThanOrEqual(TURNS);
    expect(fake.violations).toEqual([]);
    // Parley refreshed the session (UPDATE at half of 4 s) the whole time, and the caller answered each one
    const updates = uac.requests.filter((m) => m.startsWith('UPDATE '));
    expect(updates.length).toBeGreaterThanOrEqual(Math.floor(callMs / 2000) - 2);

    // the call record: one call, every question once, a reply to each, ended by the caller
    const rec = await poll(async () => {
      const r = await fetch(`${parley!.httpUrl}/v1/calls/${callId}`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
      if (r.status !== 200) return null;
      const b = (await r.json()) as { ended_at: string | null; end_reason: string; door: string; transcript: Array<{ role: string; text: string }> };
      return b.ended_at ? b : null;
    }, 10_000, 'the call record');
    expect(rec.door).toBe('sip');
    expect(rec.end_reason).toBe('caller_hangup');
    const questions = rec.transcript.filter((t) => t.role === 'user').map((t) => t.text);
    expect(questions).toEqual(Array.from({ length: TURNS }, (_, i) => `question number ${i + 1}`));
    expect(rec.transcript.filter((t) => t.role === 'assistant' && t.text.length > 0).length).toBeGreaterThanOrEqual(TURNS);

    // the recording: as long as the call, the caller's bursts on the left
    const res = await poll(async () => {
      const r = await fetch(`${parley!.httpUrl}/v1/calls/${callId}/recording`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
      return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : null;
    }, 10_000, 'the recording');
    const wav = new WaveFile(res);
    const fmt = wav.fmt as { numChannels: number; sampleRate: number };
    expect(fmt.numChannels).toBe(2);
    const samples = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
    const left = samples[0]!;
    const seconds = left.length / fmt.sampleRate;
    expect(seconds).toBeGreaterThan(callMs / 1000 - 1);
    expect(seconds).toBeLessThan(callMs / 1000 + 2);
    const energyAt = (ch: Int16Array, fromS: number, toS: number): number => {
      let e = 0;
      for (let i = Math.floor(fromS * fmt.sampleRate); i < Math.min(ch.length, toS * fmt.sampleRate); i++) e += Math.abs(ch[i]!);
      return e / Math.max(1, (toS - fromS) * fmt.sampleRate);
    };
    // the last burst is in the left channel, where it was spoken (±0.5 s for the answer delay)
    const lastBurst = ((TURNS - 1) * CYCLE_MS) / 1000;
    expect(energyAt(left, lastBurst, lastBurst + 1.2)).toBeGreaterThan(20 * Math.max(1, energyAt(left, lastBurst + 1.6, lastBurst + 2.4)));

    // memory: after the first rotations, the later ones left the heap and the live handles where they were (a leak of one
    // upstream session per rotation — its socket, timers, buffers, a history copy — would show in both)
    expect(heap[1]! - heap[0]!).toBeLessThan(4); // measured: +1.2 MiB over 7 rotations, transcripts included
    expect(handles[1]! - handles[0]!).toBeLessThan(3); // one leaked socket or timer per rotation would be ≥ 7
    expect(fake.open).toBeLessThanOrEqual(1);
  }, 90_000);
});
