/**
 * RFC 4028 session timers on outbound calls (Parley the UAC: sip/uac.ts + sip/session-timer.ts,
 * docs/notes/outbound.md) against a SIPp called party, intervals shortened to seconds (sessionExpiresS 4,
 * minSeS 2): the INVITE carries Session-Expires and Min-SE; a 200 with `refresher=uac` makes Parley refresh at
 * half the interval, by UPDATE when the 200's Allow lists it, else by re-INVITE, over two intervals with the
 * call staying up; a 422 with Min-SE is retried once (same Call-ID, next CSeq) with that interval; a 200 with
 * `refresher=uas` from a peer that then never refreshes ends in Parley's BYE (end reason session-expired).
 * The times are read on Parley's own outgoing messages (the transport's dropOutgoing hook, which drops nothing).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CallEndInfo, SipConfig, SipServer } from '../../sip/index.ts';
import { killAll, waitFor } from '../fakes/sip-harness.ts';
import { sippOk as ok, sippReceived as received, sippUas as uas, startTimedSipServer, stopTimedSipServers, type SentMessage } from '../support/sipp.ts';

afterEach(stopTimedSipServers);
afterAll(() => killAll());

async function start(over: Partial<SipConfig> = {}): Promise<{ server: SipServer; sent: SentMessage[] }> {
  return startTimedSipServer({ sessionExpiresS: 4, minSeS: 2, ...over }, () => undefined);
}

describe('RFC 4028 session timers on outbound calls (SIPp as the called party)', () => {
  it.each([
    ['UPDATE (the 200 allows it)', 'uas-timer-uac-updates.xml', 'UPDATE '],
    ['re-INVITE (no UPDATE in Allow)', 'uas-timer-uac-reinvites.xml', 'INVITE '],
  ])('200 with Session-Expires: 4;refresher=uac → Parley refreshes by %s every 2 s, twice, and the call stays up', async (_what, scenario, method) => {
    const { server, sent } = await start();
    const peer = await uas(scenario);
    let ended: CallEndInfo | undefined;
    const dial = await server.dial({ id: 'call_00000000000000a1', to: `sip:1000@127.0.0.1:${peer.port}`, ringTimeoutMs: 5000 });
    dial.call.on('ended', (e) => (ended = e));
    expect((await dial.outcome).status).toBe('answered');
    const answeredAt = performance.now();
    const firstInvite = sent.find((m) => m.line.startsWith('INVITE '))!;
    const refreshes = (): Array<{ line: string; at: number }> => sent.filter((m) => m.line.startsWith(method) && m !== firstInvite);
    await waitFor(() => refreshes().length >= 2, 7000, 'two refreshes');
    // past one whole interval since the 200 and still up
    await new Promise((r) => setTimeout(r, 1000));
    expect(ended).toBeUndefined();
    expect(dial.call.state).toBe('active');
    const [r1, r2] = refreshes();
    // Session-Expires 4 → a refresh every 2 s
    expect(r1!.at - answeredAt).toBeGreaterThanOrEqual(1850);
    expect(r1!.at - answeredAt).toBeLessThan(2700);
    expect(r2!.at - r1!.at).toBeGreaterThanOrEqual(1900);
    expect(r2!.at - r1!.at).toBeLessThan(2600);
    expect(sent.some((m) => m.line.startsWith('BYE '))).toBe(false);
    await dial.call.hangup('local-hangup', 'test');
    const r = await peer.done;
    ok(r); // SIPp checked Session-Expires/Min-SE/Supported of the INVITE and of each refresh
    const msgs = received(r.messages);
    const invite = msgs.find((m) => /^INVITE /.test(m) && /^CSeq:\s*1 INVITE/m.test(m))!;
    expect(invite).toMatch(/^Session-Expires: 4\r?$/m);
    expect(invite).toMatch(/^Min-SE: 2\r?$/m);
    const ours = msgs.filter((m) => m.startsWith(method) && !/^CSeq:\s*1 INVITE/m.test(m));
    expect(ours.length).toBe(2);
    expect(ours[0]).toMatch(/^Session-Expires: 4;refresher=uac\r?$/m);
    if (method === 'INVITE ') expect(ours[0]).toMatch(/^m=audio \d+ RTP\/AVP/m); // the re-INVITE offers the call's SDP
    expect(ended).toMatchObject({ reason: 'local-hangup' });
  }, 30_000);

  it('422 with Min-SE: 6 → one more INVITE (same Call-ID, CSeq 2) with Session-Expires 6; the peer is the refresher, never refreshes, and Parley hangs up at 6 − 2 s', async () => {
    const { server, sent } = await start();
    const peer = await uas('uas-timer-uac-422.xml');
    let ended: CallEndInfo | undefined;
    const dial = await server.dial({ id: 'call_00000000000000a2', to: `sip:1000@127.0.0.1:${peer.port}`, ringTimeoutMs: 5000 });
    dial.call.on('ended', (e) => (ended = e));
    const outcome = await dial.outcome;
    expect(outcome).toMatchObject({ status: 'answered', sipStatus: 200 });
    const answeredAt = performance.now();
    await waitFor(() => ended !== undefined, 8000, 'the session to expire');
    expect(ended).toMatchObject({ reason: 'session-expired', by: 'local' });
    const bye = sent.find((m) => m.line.startsWith('BYE '))!;
    expect(bye.at - answeredAt).toBeGreaterThanOrEqual(3850);
    expect(bye.at - answeredAt).toBeLessThan(4700);
    const r = await peer.done;
    ok(r);
    const invites = received(r.messages).filter((m) => m.startsWith('INVITE '));
    expect(invites.length).toBe(2);
    const callIdOf = (m: string): string | undefined => /^Call-ID:\s*(\S+)/m.exec(m)?.[1];
    expect(callIdOf(invites[1]!)).toBe(callIdOf(invites[0]!));
    expect(invites[0]).toMatch(/^Session-Expires: 4\r?$/m);
    expect(invites[1]).toMatch(/^CSeq: 2 INVITE\r?$/m);
    expect(invites[1]).toMatch(/^Session-Expires: 6\r?$/m);
    expect(invites[1]).toMatch(/^Min-SE: 6\r?$/m);
    expect(sent.some((m) => m.line.startsWith('UPDATE '))).toBe(false); // the peer refreshes, not us
  }, 30_000);
});
