/**
 * Warm transfer with two real softphones (docs/notes/transfer.md), on the offline local engine, μ-law passed
 * through. The caller (baresip) says "Operator. I need an operator, please." (flite); the profile offers
 * warm_transfer only, so the demo agent says "Please hold while I connect you." and calls it with the caller's
 * words as the summary. Parley puts the caller on hold and dials the target (a second baresip, answering by hand):
 *  - the target declines (baresip's hangup on the ringing call: 486) → the caller is taken off hold, the model hears
 *    the failure and the agent tells the caller (PocketSphinx hears the apology in the caller's recording); the
 *    caller's next line ("hello") is answered by the agent: the caller is back with it;
 *  - the target does not answer (ring timeout) → the same, the INVITE cancelled;
 *  - the target answers → the agent says its introduction with the summary to the target (PocketSphinx hears it in
 *    the target's recording), then Parley relays the two legs' RTP and the agent leaves: the caller hears the target's
 *    microphone (a WAV of flite speech, "I would like to book a table for two people tomorrow evening.") in its
 *    recording; the call record says end reason `transferred` with the transfer's target.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile, resampleWhole, writeWavFile } from '../../audio/index.ts';
import { FliteTts, PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import type { SipCall } from '../../sip/index.ts';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { killAll, rtpRange, startBaresip, waitFor } from '../fakes/sip-harness.ts';

const SPEECH = new URL('../../fixtures/speech/', import.meta.url).pathname;
const FILE = { profiles: { default: { instructions: 'You are the front desk. Put callers through to billing.', tools: ['warm_transfer', 'end_call'] } } };
const words = (s: string): string[] => s.toLowerCase().replace(/[^a-z' ]/g, ' ').split(/\s+/).filter(Boolean);
const sil = (s: number): number => Math.round(s * 8000);

/** 8 kHz phone audio → 16 kHz for PocketSphinx by zero insertion (docs/notes/cascade.md). */
function to16k(x: Int16Array): Int16Array {
  const y = new Int16Array(x.length * 2);
  for (let i = 0; i < x.length; i++) y[2 * i] = x[i]!;
  return y;
}

/** Stretches of sound (ms) of 8 kHz audio, by 20 ms windows, joined across pauses shorter than 250 ms, at most 5 s each (short decodes: a crowded machine times long ones out). */
function speechSpans(x: Int16Array): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (let w = 0; w * 160 < x.length; w++) {
    let e = 0;
    for (let i = w * 160; i < Math.min(x.length, (w + 1) * 160); i++) e += x[i]! * x[i]!;
    if (Math.sqrt(e / 160) < 300) continue;
    const last = spans[spans.length - 1];
    if (last && w * 20 - last[1] < 250 && w * 20 - last[0] < 5000) last[1] = (w + 1) * 20;
    else spans.push([w * 20, (w + 1) * 20]);
  }
  return spans;
}

/** Clips at the given seconds in a WAV of `totalS` seconds. */
function wavOf(dir: string, name: string, totalS: number, clips: Array<[number, Int16Array]>): string {
  const out = new Int16Array(sil(totalS));
  for (const [at, clip] of clips) out.set(clip.subarray(0, Math.max(0, out.length - sil(at))), sil(at));
  const path = join(dir, name);
  writeWavFile(path, out, 8000);
  return path;
}

describe('warm transfer between two baresip phones (local engine)', () => {
  let parley: Parley;
  let bridge: SipBridge;
  let target: Awaited<ReturnType<typeof startBaresip>>;
  let targetUri = '';
  const stt = new PocketSphinxStt();
  const dir = mkdtempSync(join(tmpdir(), 'parley-warm-'));
  let callerWav = '';
  const replies = new Map<string, string[]>(); // call id → the agent's reply transcripts
  const sessions = new Map<string, string>(); // call id → session id (the record's id)
  const closed = new Map<string, string>(); // session id → end reason
  const toolOutputs = new Map<string, string[]>(); // call id → warm_transfer's outputs (what the model was told)

  /** The words PocketSphinx finds in a baresip recording, stretch of sound by stretch (each decode stays short on a loaded machine). */
  const hear = async (path: string | undefined, pick: (spans: Array<[number, number]>) => Array<[number, number]> = (all) => all): Promise<Set<string>> => {
    expect(path, 'baresip recorded what it heard').toBeTruthy();
    const x = readWavFile(path as string, { sampleRateHz: 8000 }).samples;
    const heard = new Set<string>();
    for (const [a, b] of pick(speechSpans(x))) {
      const clip = to16k(x.subarray(Math.max(0, (a - 300) * 8), Math.min(x.length, (b + 300) * 8)));
      // a crowded machine may time a decode out (STT_TIMEOUT, retryable): once more, then the stretch counts as unheard
      for (let attempt = 0; attempt < 3; attempt++) {
        const s = stt.open();
        s.push(clip);
        const text = await s.finish().then((r) => r.text, (err: unknown) => ((err as { retryable?: boolean }).retryable ? null : Promise.reject(err)));
        if (text === null) continue;
        for (const w of words(text)) heard.add(w);
        break;
      }
    }
    return heard;
  };

  beforeAll(async () => {
    // flite's "Operator. I need an operator, please.": PocketSphinx keeps "operator" through μ-law (it loses
    // "transfer" in fixtures/speech/transfer.wav), and the word makes the demo agent transfer
    const tts = new FliteTts();
    const parts: Int16Array[] = [];
    let rate = 16000;
    for await (const c of tts.synthesize({ text: 'Operator. I need an operator, please.', signal: new AbortController().signal })) {
      parts.push(c.pcm);
      rate = c.sampleRateHz;
    }
    await tts.close();
    const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => (pcm.set(p, o), o + p.length), 0);
    const transfer = resampleWhole(pcm, rate, 8000);
    const hello = readWavFile(join(SPEECH, 'hello.wav'), { sampleRateHz: 8000 }).samples;
    const book = readWavFile(join(SPEECH, 'book-table.wav'), { sampleRateHz: 8000 }).samples;
    // the caller asks for the transfer, then (back with the agent after a failed one) says hello
    callerWav = wavOf(dir, 'caller.wav', 60, [[0.5, transfer], [24, hello]]);
    // the target's microphone: quiet while the agent introduces the call, then the same line three times
    const targetWav = wavOf(dir, 'target.wav', 60, [[12, book], [17, book], [22, book], [27, book]]);
    target = await startBaresip({ inputWav: targetWav, uri: null, codecs: 'pcmu' }); // answers by hand (ctrl_tcp)
    targetUri = `sip:caller@127.0.0.1:${target.sipPort}`; // baresip's account user
    parley = await startParley({ env: { PARLEY_ENGINE: 'local', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' }, file: FILE });
    parley.app.parley.sessions.observe((s) => {
      if (s.callId !== undefined) sessions.set(s.callId, s.id);
      return {
        closed: (_s, end) => closed.set(s.id, end.endReason),
        toolCall: (t) => {
          if (t.name === 'warm_transfer' && s.callId !== undefined) toolOutputs.set(s.callId, [...(toolOutputs.get(s.callId) ?? []), t.output]);
        },
      };
    });
    bridge = await startSipBridge(parley.app, {
      sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() },
      transferTarget: targetUri,
      warmTransferRingTimeoutS: 5,
      observe: (call, ev) => {
        if (process.env.WARM_DEBUG && !ev.type.includes('delta')) console.log(call.id, ev.type, JSON.stringify(ev).slice(0, 300));
        if (ev.type === 'response.output_audio_transcript.done') replies.set(call.id, [...(replies.get(call.id) ?? []), String(ev['transcript'])]);
      },
    });
    await stt.warm();
  }, 60_000);
  afterAll(async () => {
    await target?.quit();
    await bridge?.close();
    await parley?.close();
    await stt.close();
    killAll();
  });

  /** The caller dials in; returns its baresip and Parley's side of the call. */
  async function callIn(): Promise<{ bs: Awaited<ReturnType<typeof startBaresip>>; call: SipCall }> {
    const bs = await startBaresip({ inputWav: callerWav, uri: `sip:1000@127.0.0.1:${bridge.server.port}`, codecs: 'pcmu' });
    await bs.waitEvent('CALL_ESTABLISHED', 10_000);
    let call: SipCall | undefined;
    await waitFor(() => (call = bridge.server.calls().find((c) => c.outbound === undefined && c.state === 'active')) !== undefined, 5000, 'the call on the server');
    return { bs, call: call! };
  }

  const targetEvents = (type: string): number => target.events.filter((e) => e.type === type).length;

  async function backWithTheAgent(bs: Awaited<ReturnType<typeof startBaresip>>, call: SipCall): Promise<void> {
    // the failure reaches the model, the agent apologises to the caller, then answers the caller's next line ("hello")
    await waitFor(() => (replies.get(call.id) ?? []).some((r) => /nobody could take your call/.test(r)), 30_000, 'the apology');
    const apologyAt = (replies.get(call.id) ?? []).findIndex((r) => /nobody could take your call/.test(r));
    await waitFor(() => (replies.get(call.id) ?? []).length > apologyAt + 1, 30_000, 'the reply to the next line');
    await waitFor(() => call.queuedMs === 0, 20_000, 'reply played');
    expect(call.state).toBe('active');
    await new Promise((r) => setTimeout(r, 300));
    bs.command('hangup');
    await bs.waitEvent('CALL_CLOSED', 5000);
  }

  /** After the caller's baresip quit: it heard the apology; the session ended when the caller hung up. */
  async function heardTheApology(bs: Awaited<ReturnType<typeof startBaresip>>, call: SipCall): Promise<void> {
    const heard = await hear(bs.decodedWav());
    const apology = ['sorry', 'nobody', 'call', 'back', 'help'];
    expect(apology.filter((w) => heard.has(w)).length, `caller heard: ${[...heard].join(' ')}`).toBeGreaterThanOrEqual(2);
    const sid = sessions.get(call.id)!;
    await waitFor(() => closed.has(sid), 5000, 'session closed');
    expect(closed.get(sid)).toBe('caller_hangup');
  }

  it('the target declines (486): the caller is taken off hold and the agent tells them; the call goes on with the agent', async () => {
    const incoming = targetEvents('CALL_INCOMING');
    const { bs, call } = await callIn();
    try {
      await waitFor(() => targetEvents('CALL_INCOMING') > incoming, 30_000, 'the target rings');
      target.command('hangup'); // decline the ringing call
      await backWithTheAgent(bs, call);
    } finally {
      await bs.quit();
    }
    await heardTheApology(bs, call);
    const said = (replies.get(call.id) ?? []).join(' ');
    expect(said).toMatch(/^Please hold while I connect you\./);
    expect(said).not.toMatch(/connecting you now/); // nothing was announced
    expect(toolOutputs.get(call.id)).toEqual([expect.stringMatching(/^Warm transfer failed: .* is busy \(486 .*\)\. The caller is off hold and back on the line with you/)]);
  }, 180_000);

  it('the target does not answer: after the ring timeout the caller is back with the agent', async () => {
    const incoming = targetEvents('CALL_INCOMING');
    const { bs, call } = await callIn();
    try {
      await waitFor(() => targetEvents('CALL_INCOMING') > incoming, 30_000, 'the target rings');
      await backWithTheAgent(bs, call); // the target never answers: Parley cancels after 5 s
    } finally {
      await bs.quit();
    }
    await heardTheApology(bs, call);
    expect(toolOutputs.get(call.id)).toEqual([expect.stringMatching(/^Warm transfer failed: .* did not answer \(487 Request Terminated\)\. The caller is off hold/)]);
  }, 180_000);

  it('the target answers: it hears the introduction, then the caller and the target hear each other; the record shows the transfer', async () => {
    const incoming = targetEvents('CALL_INCOMING');
    const established = targetEvents('CALL_ESTABLISHED');
    const targetClosed = targetEvents('CALL_CLOSED');
    const { bs, call } = await callIn();
    let sid = '';
    try {
      await waitFor(() => targetEvents('CALL_INCOMING') > incoming, 30_000, 'the target rings');
      target.command('accept');
      await waitFor(() => targetEvents('CALL_ESTABLISHED') > established, 5000, 'the target answered');
      sid = sessions.get(call.id)!;
      // the introduction is played, then the legs are joined and the agent's session ends as transferred
      await waitFor(() => closed.has(sid), 40_000, 'the agent left');
      expect(closed.get(sid)).toBe('transferred');
      expect(call.state).toBe('active');
      // the caller hears the target's line (played from 12 s after it answered, every 5 s)
      await new Promise((r) => setTimeout(r, 14_000));
      expect(call.state, 'still connected').toBe('active');
      bs.command('hangup'); // the caller hangs up: Parley hangs up the target
      await bs.waitEvent('CALL_CLOSED', 5000);
      await waitFor(() => targetEvents('CALL_CLOSED') > targetClosed, 5000, 'the target hung up by Parley');
    } finally {
      await bs.quit();
    }
    const said = (replies.get(call.id) ?? []).join(' ');
    expect(said).toMatch(/virtual assistant with a caller for you\. The caller asked: .* I am connecting you now\./);
    expect(toolOutputs.get(call.id)).toEqual([`The caller is now connected to ${targetUri}. You have left the call: do not say anything else.`]);
    // the caller heard the target (2 of 3 words)
    const callerHeard = await hear(bs.decodedWav(), (spans) => spans.filter(([a]) => a > spans[0]![1] + 1500)); // after the agent's 'Please hold while I connect you.'
    expect(['table', 'people', 'evening'].filter((w) => callerHeard.has(w)).length, `caller heard: ${[...callerHeard].join(' ')}`).toBeGreaterThanOrEqual(2);
    // the target heard the introduction (the last call's recording)
    const rec = join(target.dir, 'rec');
    const last = readdirSync(rec).filter((f) => f.endsWith('-dec.wav')).sort().pop(); // one per call: the answered one is the last
    const targetHeard = await hear(last && join(rec, last), (spans) => spans.filter(([a]) => a < spans[0]![0] + 8000)); // the introduction comes first
    // "Hello, this is the virtual assistant with a caller for you. The caller asked: operator i need an operator…
    // I am connecting you now." (PocketSphinx hears "caller" as "collar" on a loaded machine: 2 of these will do)
    expect(['hello', 'virtual', 'assistant', 'caller', 'operator', 'connecting'].filter((w) => targetHeard.has(w)).length, `target heard: ${[...targetHeard].join(' ')}`).toBeGreaterThanOrEqual(2);
    // the call record
    let record: Record<string, unknown> = {};
    for (let i = 0; i < 50 && record['end_reason'] === undefined; i++) {
      const r = await fetch(`${parley.httpUrl}/v1/calls/${sid}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
      if (r.status === 200) record = (await r.json()) as Record<string, unknown>;
      if (record['end_reason'] === undefined || record['end_reason'] === null) {
        record = {};
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    expect(record).toMatchObject({ id: sid, end_reason: 'transferred' });
    expect(record['transfers']).toEqual([expect.objectContaining({ target: targetUri })]);
  }, 180_000);
});
