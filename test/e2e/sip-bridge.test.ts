/**
 * The SIP bridge (server/sip-bridge.ts) end to end: a real UDP SIP/RTP peer (MiniUac) calls Parley,
 * the call becomes a session on a scripted engine (test/fakes/sip-engine.ts), and we measure the media:
 * μ-law passthrough byte for byte, barge-in (outgoing RTP stops within one frame of speech_started,
 * measured on RTP sequence numbers and timestamps), end_call (BYE after the goodbye has played),
 * transfer_call (REFER, the NOTIFY sipfrags followed to the final answer: 200 → BYE, 486 or no answer in time →
 * told to the model and the call goes on; a refused REFER is spoken back), send_dtmf (RFC 4733 out),
 * and caller DTMF reaching the conversation (PCMA call: decode + resample path).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mulawDecode, mulawEncode } from '../../audio/index.ts';
import { startSipBridge } from '../../server/sip-bridge.ts';
import type { SipBridge, SipBridgeOptions } from '../../server/sip-bridge.ts';
import { startParley } from '../component/helpers.ts';
import type { Parley } from '../component/helpers.ts';
import { ScriptedEngineProbe, scriptedEngine } from '../fakes/sip-engine.ts';
import type { ScriptedOptions } from '../fakes/sip-engine.ts';
import { killAll, rtpRange, runSipp, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

const SILENCE = new Uint8Array(160).fill(0xff);
const isTone = (p: Buffer): boolean => p.length === 160 && p.some((b) => b !== 0xff && b !== 0x7f);
/** Loud noise as μ-law: the scripted engine's "speech". */
const LOUD = mulawEncode(Int16Array.from({ length: 160 }, (_v, i) => (i % 2 ? 12000 : -12000)));

let parley: Parley | undefined;
let bridge: SipBridge | undefined;
/** What the session observers saw of the calls (answered, dtmf, transferred, closed with its end reason). */
let seen: Array<[string, unknown]> = [];
const uacs: MiniUac[] = [];
afterEach(async () => {
  killAll();
  for (const u of uacs.splice(0)) u.close();
  await bridge?.close();
  await parley?.close();
  bridge = undefined;
  parley = undefined;
});

async function setup(s: ScriptedOptions, over: SipBridgeOptions = {}): Promise<{ probe: ScriptedEngineProbe; uac: MiniUac }> {
  parley = await startParley({ env: { LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
  const probe = new ScriptedEngineProbe();
  parley.app.parley.engines.register('cascade', scriptedEngine(s, probe));
  seen = [];
  parley.app.parley.sessions.observe((info) => ({
    answered: () => seen.push(['answered', { dialled: info.call.dialled, sipCallId: typeof info.call.sipCallId }]),
    dtmf: (d) => seen.push(['dtmf', d.digit]),
    transferred: (t) => seen.push(['transferred', t.target]),
    closed: (_s, end) => seen.push(['closed', end.endReason]),
  }));
  bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'cascade', g711Passthrough: true, ...over });
  const uac = new MiniUac(bridge.server.port);
  uacs.push(uac);
  await uac.bind();
  return { probe, uac };
}

const toolOutputs = (probe: ScriptedEngineProbe): string[] =>
  probe.received
    .filter((e) => e.type === 'conversation.item.create' && (e['item'] as { type?: string }).type === 'function_call_output')
    .map((e) => String((e['item'] as { output?: unknown }).output));

describe('SIP bridge', () => {
  it('passes μ-law straight through to an audio/pcmu session, byte for byte', async () => {
    const { probe, uac } = await setup({});
    await uac.call();
    const frames = Array.from({ length: 20 }, (_v, i) => Uint8Array.from({ length: 160 }, (_x, j) => (i * 7 + j) & 0xff));
    for (const f of frames) uac.sendRtp(f);
    await waitFor(() => probe.appendedBytes.length >= 20, 3000, 'appends');
    expect(probe.format).toBe('audio/pcmu');
    expect(Buffer.concat(probe.appendedBytes.slice(0, 20))).toEqual(Buffer.concat(frames.map((f) => Buffer.from(f))));
    await uac.bye();
  });

  it('barge-in: outgoing agent audio stops within one frame of speech_started, and the item is truncated at what was played', async () => {
    let sentAtSpeech = -1;
    const { probe, uac } = await setup({
      greetMs: 6000,
      onSpeechStarted: () => {
        // how many RTP packets had left Parley when speech_started was emitted (Parley's own count, not
        // what the test's socket has read yet: that may lag behind under load)
        sentAtSpeech = bridge?.server.calls()[0]?.stats().rtp.packetsOut ?? -1;
      },
    });
    await uac.call();
    let speak = false;
    const stop = uac.stream(() => (speak ? LOUD : SILENCE));
    // let the agent talk for ~1.5 s, then the caller talks over it
    await waitFor(() => uac.received.filter((p) => isTone(p.payload)).length >= 75, 5000, 'agent audio');
    speak = true;
    await waitFor(() => sentAtSpeech >= 0, 3000, 'speech_started');
    await new Promise((r) => setTimeout(r, 300));
    stop();
    const seq0 = uac.received[0]!.seq;
    const lastSeqAtSpeech = (seq0 + sentAtSpeech - 1) & 0xffff; // Parley's sequence numbers are consecutive
    const atSpeech = uac.received.find((p) => p.seq === lastSeqAtSpeech);
    expect(atSpeech, 'the last packet sent before speech_started').toBeDefined();
    const isAfter = (p: { seq: number }): boolean => ((p.seq - lastSeqAtSpeech) & 0xffff) > 0 && ((p.seq - lastSeqAtSpeech) & 0xffff) < 0x8000;
    const tone = uac.received.filter((p) => isTone(p.payload));
    expect(tone.filter(isAfter).length, 'agent packets sent after speech_started').toBeLessThanOrEqual(1);
    const lastTone = tone[tone.length - 1]!;
    expect(((lastTone.ts - atSpeech!.ts) | 0) / 160, 'RTP timestamp frames after speech_started').toBeLessThanOrEqual(1);
    // silence (not agent audio) keeps flowing after the flush
    expect(uac.received.filter((p) => isAfter(p) && !isTone(p.payload)).length).toBeGreaterThan(5);
    const trunc = probe.received.find((e) => e.type === 'conversation.item.truncate');
    expect(trunc).toBeDefined();
    const playedMs = tone.length * 20;
    expect(Math.abs(Number(trunc?.['audio_end_ms']) - playedMs)).toBeLessThanOrEqual(60);
    expect(Number(trunc?.['audio_end_ms'])).toBeLessThan(6000);
    await uac.bye();
  });

  it('end_call: the goodbye finishes playing, then Parley sends BYE', async () => {
    const { probe, uac } = await setup({ greetMs: 1000, tool: { name: 'end_call', args: { reason: 'caller said goodbye' } } });
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    const bye = await uac.waitSip((m) => m.startsWith('BYE '), 10_000, 'BYE');
    stop();
    expect(bye).toContain('BYE sip:uac@127.0.0.1');
    const tone = uac.received.filter((p) => isTone(p.payload));
    expect(tone.length).toBeGreaterThanOrEqual(48); // the whole 1 s goodbye (50 frames) played before the BYE
    expect(toolOutputs(probe)[0]).toMatch(/call will end/);
    await waitFor(() => seen.some(([k]) => k === 'closed'), 3000, 'session closed');
    expect(seen.filter(([k]) => k === 'answered')).toEqual([['answered', { dialled: expect.any(String), sipCallId: 'string' }]]);
    expect(seen.find(([k]) => k === 'closed')).toEqual(['closed', 'agent_ended']);
  });

  it('a re-INVITE that switches PCMU → PCMA keeps the call and the session going (A-law transcoded to the μ-law session)', async () => {
    const { probe, uac } = await setup({});
    await uac.call();
    let pt: 0 | 8 = 0;
    const stop = uac.stream(() => new Uint8Array(160).fill(pt === 0 ? 0xff : 0xd5), 0);
    await waitFor(() => probe.appendedBytes.length >= 10, 3000, 'PCMU audio');
    stop();
    const answer = await uac.reinvite('sendrecv', 8);
    expect(answer).toMatch(/^m=audio \d+ RTP\/AVP 8 101/m);
    pt = 8;
    const before = probe.appendedBytes.length;
    const seen = uac.received.length;
    const stop2 = uac.stream(() => new Uint8Array(160).fill(0xd5), 8); // A-law silence
    await waitFor(() => probe.appendedBytes.length >= before + 10 && uac.received.length >= seen + 10, 3000, 'PCMA audio both ways');
    stop2();
    expect(probe.format).toBe('audio/pcmu'); // the session keeps its format
    const last = mulawDecode(new Uint8Array(probe.appendedBytes[probe.appendedBytes.length - 1]!));
    expect(last.length).toBe(160);
    expect(last.every((v) => Math.abs(v) < 64)).toBe(true); // A-law silence → (near) μ-law silence
    const after = uac.received.slice(seen + 2);
    expect(after.every((p) => p.pt === 8)).toBe(true);
    expect(new Set(uac.received.map((p) => p.ssrc)).size).toBe(1);
    await uac.bye();
  });

  it('when the session ends (engine gone), the caller is not left in dead air: BYE after the queued audio', async () => {
    const { uac } = await setup({ greetMs: 1000, dieAfterMs: 50 });
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await uac.waitSip((m) => m.startsWith('BYE '), 8000, 'BYE after the session ended');
    stop();
    expect(uac.received.filter((p) => isTone(p.payload)).length).toBeGreaterThanOrEqual(45); // what was queued still played
    await waitFor(() => bridge?.server.activeCalls === 0, 2000, 'call gone');
  });

  it('transfer_call: REFER, the NOTIFYs (100 Trying, then 200 OK) each answered 200, then BYE and the transferred hook', async () => {
    const { uac } = await setup({ greetMs: 400, tool: { name: 'transfer_call', args: { target: 'sip:billing@127.0.0.1:5999' } } });
    uac.referNotifies = [
      { frag: 'SIP/2.0 100 Trying', state: 'active' },
      { frag: 'SIP/2.0 180 Ringing', state: 'active', afterMs: 200 },
      { frag: 'SIP/2.0 200 OK', state: 'terminated', afterMs: 400 },
    ];
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    const refer = await uac.waitSip((m) => m.startsWith('REFER '), 10_000, 'REFER');
    const referAt = Date.now();
    expect(refer).toMatch(/^Refer-To: <?sip:billing@127\.0\.0\.1:5999>?/m);
    await uac.waitSip((m) => m.startsWith('BYE '), 10_000, 'BYE after transfer');
    stop();
    // the BYE waited for the final sipfrag (sent ≥ 600 ms after the REFER), not just the 202
    expect(Date.now() - referAt).toBeGreaterThanOrEqual(550);
    await waitFor(() => uac.responses.filter((m) => /^SIP\/2\.0 200/.test(m) && /^CSeq: \d+ NOTIFY/m.test(m)).length === 3, 2000, 'a 200 for each NOTIFY');
    await waitFor(() => seen.some(([k]) => k === 'closed'), 3000, 'session closed');
    expect(seen.filter(([k]) => k === 'transferred' || k === 'closed')).toEqual([['transferred', 'sip:billing@127.0.0.1:5999'], ['closed', 'transferred']]);
  });

  it.each([
    ['486 Busy Here', ['SIP/2.0 100 Trying']],
    ['603 Decline', ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing']],
  ] as const)('transfer_call: a NOTIFY reporting %s is told to the model with its code, and the call goes on', async (final, progress) => {
    const { probe, uac } = await setup({ greetMs: 200, tool: { name: 'transfer_call', args: { target: 'sip:busy@127.0.0.1:5999' } } });
    uac.referNotifies = [
      ...progress.map((frag) => ({ frag, state: 'active' as const })),
      { frag: `SIP/2.0 ${final}`, state: 'terminated', afterMs: 100 },
    ];
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await uac.waitSip((m) => m.startsWith('REFER '), 10_000, 'REFER');
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'tool output');
    expect(toolOutputs(probe)[0]).toBe(`Transfer failed: the transfer target answered ${final}. The caller is still on the line: tell them the transfer did not work and offer to help another way.`);
    await waitFor(() => probe.received.some((e) => e.type === 'response.create'), 3000, 'response.create');
    await waitFor(() => uac.responses.filter((m) => /^SIP\/2\.0 200/.test(m) && /^CSeq: \d+ NOTIFY/m.test(m)).length === progress.length + 1, 2000, 'a 200 for each NOTIFY');
    // the call is still up: media flows, no BYE, no transferred hook
    const before = uac.received.length;
    await waitFor(() => uac.received.length > before + 10, 2000, 'RTP after the failed transfer');
    expect(uac.requests.some((m) => m.startsWith('BYE '))).toBe(false);
    expect(bridge?.server.activeCalls).toBe(1);
    stop();
    await uac.bye();
    await waitFor(() => seen.some(([k]) => k === 'closed'), 3000, 'session closed');
    expect(seen.filter(([k]) => k === 'transferred' || k === 'closed')).toEqual([['closed', 'caller_hangup']]);
  });

  it('transfer_call: no final NOTIFY within PARLEY_SIP_TRANSFER_TIMEOUT_S → the model hears the transfer failed, and the call goes on', async () => {
    const { probe, uac } = await setup(
      { greetMs: 200, tool: { name: 'transfer_call', args: { target: 'sip:slow@127.0.0.1:5999' } } },
      { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange(), transferTimeoutS: 1 } },
    );
    uac.referNotifies = [{ frag: 'SIP/2.0 100 Trying', state: 'active' }]; // the target never answers
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await uac.waitSip((m) => m.startsWith('REFER '), 10_000, 'REFER');
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'tool output');
    expect(toolOutputs(probe)[0]).toMatch(/^Transfer failed: no final answer from the transfer within 1 s \(last report: 100 Trying\)/);
    await new Promise((r) => setTimeout(r, 300));
    expect(uac.requests.some((m) => m.startsWith('BYE '))).toBe(false);
    expect(bridge?.server.activeCalls).toBe(1);
    stop();
    await uac.bye();
  });

  it('transfer_call: a refused REFER is spoken back to the model, and the call goes on', async () => {
    const { probe, uac } = await setup({ greetMs: 200, tool: { name: 'transfer_call', args: {} } }, { transferTarget: 'sip:operator@127.0.0.1:5999' });
    uac.referStatus = 403;
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await uac.waitSip((m) => m.startsWith('REFER '), 10_000, 'REFER');
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'tool output');
    expect(toolOutputs(probe)[0]).toMatch(/^Transfer failed: transfer refused: 403/);
    // the model is asked to respond (and speak the failure): a response.create follows the tool output
    await waitFor(() => probe.received.some((e) => e.type === 'response.create'), 3000, 'response.create');
    expect(uac.requests.some((m) => m.startsWith('BYE '))).toBe(false);
    stop();
    await uac.bye();
  });

  it('a caller that stops refreshing its session timer (RFC 4028) is hung up, and the session ends as an error', async () => {
    const { uac } = await setup({}, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange(), minSeS: 1 } });
    await uac.call({ extraHeaders: ['Supported: timer', 'Session-Expires: 2;refresher=uac'] });
    expect(uac.lastInviteResponse).toMatch(/^Session-Expires: 2;refresher=uac\r$/m);
    const t0 = Date.now();
    const stop = uac.stream(() => SILENCE); // media flows: only the missing refresh ends the call
    await uac.waitSip((m) => m.startsWith('BYE '), 5000, 'BYE after the missed refresh');
    stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1200); // 2 − min(32, 2/3) s
    await waitFor(() => seen.some(([k]) => k === 'closed'), 3000, 'session closed');
    expect(seen.find(([k]) => k === 'closed')).toEqual(['closed', 'error']);
  });

  it('send_dtmf: the agent presses keys as RFC 4733 events (3 end packets each)', async () => {
    const { probe, uac } = await setup({ greetMs: 100, tool: { name: 'send_dtmf', args: { digits: '1#' } } });
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'tool output');
    stop();
    expect(toolOutputs(probe)[0]).toBe('Sent the digits 1#.');
    const ev = uac.received.filter((p) => p.pt === 101);
    const ends = ev.filter((p) => (p.payload[1]! & 0x80) !== 0);
    expect(ends.map((p) => p.payload[0])).toEqual([1, 1, 1, 11, 11, 11]);
    expect(ev.filter((p) => p.marker).map((p) => p.payload[0])).toEqual([1, 11]); // marker on each event's first packet
    expect(new Set(ev.filter((p) => p.payload[0] === 1).map((p) => p.ts)).size).toBe(1); // one timestamp per event
    await uac.bye();
  });

  it('PARLEY_SIP_DTMF=tool: collect_dtmf waits for the caller keys up to the terminator', async () => {
    const { probe, uac } = await setup({ greetMs: 100, tool: { name: 'collect_dtmf', args: { max_digits: 8, timeout_s: 5 } } }, { dtmfMode: 'tool' });
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await new Promise((r) => setTimeout(r, 300));
    let ts = 50_000;
    for (const digit of [9, 8, 11, 7]) {
      for (let i = 0; i < 3; i++) uac.sendRtp(Uint8Array.from([digit, 0x80 | 10, 0x02, 0x80]), 101, i === 0, ts);
      ts += 2000;
    }
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'collect_dtmf output');
    stop();
    expect(toolOutputs(probe)[0]).toBe('The caller typed: 98');
    // in tool mode digits do not become user messages
    expect(probe.received.some((e) => e.type === 'conversation.item.create' && (e['item'] as { type?: string }).type === 'message')).toBe(false);
    await uac.bye();
  });

  it('send_dtmf with bad digits answers the model with an error string, and nothing is sent', async () => {
    const { probe, uac } = await setup({ greetMs: 100, tool: { name: 'send_dtmf', args: { digits: '12x' } } });
    await uac.call();
    const stop = uac.stream(() => SILENCE);
    await waitFor(() => toolOutputs(probe).length > 0, 5000, 'tool output');
    stop();
    expect(toolOutputs(probe)[0]).toMatch(/^Error: digits must use only/);
    expect(uac.received.some((p) => p.pt === 101)).toBe(false);
    await uac.bye();
  });

  it('SIPp PCMA call: its RFC 4733 digits reach the session as user text, its audio as A-law bytes, untouched', async () => {
    const { probe } = await setup({}, { dtmfFlushMs: 500 });
    const r = await runSipp({ scenario: 'uac-pcma-dtmf.xml', serverPort: bridge!.server.port });
    expect(r.code, r.errors.slice(-2000)).toBe(0);
    const texts = probe.received
      .filter((e) => e.type === 'conversation.item.create' && (e['item'] as { type?: string }).type === 'message')
      .map((e) => (e['item'] as { content: Array<{ text: string }> }).content[0]!.text);
    expect(texts.join(' ').match(/keys: ([0-9*# ]+)\]/g)?.map((m) => m.replace(/\D/g, '')).join('')).toBe('15');
    expect(probe.format).toBe('audio/pcma');
    expect(probe.appendedBytes.length).toBeGreaterThan(50); // g711a.pcap's speech, A-law as sent
    expect(probe.received.filter((e) => e.type === 'response.create').length).toBe(texts.length);
  });

  it('caller DTMF reaches the conversation as text (PCMA call, A-law passed straight through)', async () => {
    const { probe, uac } = await setup({}, { dtmfFlushMs: 300 });
    await uac.call({ pts: [8, 101] });
    const stop = uac.stream(() => new Uint8Array(160).fill(0xd5), 8);
    await waitFor(() => probe.appendedBytes.length > 5, 3000, 'audio');
    expect(probe.format).toBe('audio/pcma');
    expect(probe.appendedBytes[1]?.length).toBe(160); // 20 ms of A-law at 8 kHz, no resample
    expect(probe.appendedBytes[1]!.every((b) => b === 0xd5)).toBe(true); // the caller's bytes, as sent
    let ts = 100_000;
    for (const digit of [4, 2, 11]) {
      for (let i = 1; i <= 3; i++) uac.sendRtp(Uint8Array.from([digit, 10, 0, i * 160]), 101, i === 1, ts);
      for (let i = 0; i < 3; i++) uac.sendRtp(Uint8Array.from([digit, 0x80 | 10, 0x02, 0x80]), 101, false, ts);
      ts += 2000;
    }
    await waitFor(() => probe.received.some((e) => e.type === 'conversation.item.create'), 3000, 'dtmf text');
    stop();
    const item = probe.received.find((e) => e.type === 'conversation.item.create')?.['item'] as { content: Array<{ text: string }> };
    expect(item.content[0]?.text).toBe('[The caller pressed the phone keys: 4 2 #]');
    expect(bridge?.server.metrics().dtmfIn).toBe(3);
    const prom = await parley!.app.parley.metrics.render();
    expect(prom).toContain('parley_sip_dtmf_in_total 3');
    expect(prom).toContain('parley_sip_calls_active 1');
    await uac.bye();
    await waitFor(() => seen.some(([k]) => k === 'closed'), 3000, 'session closed');
    expect(seen.filter(([k]) => k === 'dtmf' || k === 'closed')).toEqual([['dtmf', '4'], ['dtmf', '2'], ['dtmf', '#'], ['closed', 'caller_hangup']]);
  });
});
