/**
 * RFC 4028 session timers (sip/session-timer.ts) against SIPp, with intervals shortened to a few seconds
 * (PARLEY_SIP_MIN_SE_S 2): a peer that refreshes by re-INVITE and UPDATE over two intervals (each refresh
 * answered 200 with Session-Expires and Require: timer, same SDP), a peer that stops refreshing (Parley's BYE
 * at interval − min(32 s, interval/3) after the last refresh), 422 with Min-SE for a too-small interval, and
 * Parley as the refresher (re-INVITE, or UPDATE when the peer allows it, at half the interval).
 * The times are read on Parley's own outgoing messages (the transport's dropOutgoing hook, which drops nothing).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CallEndInfo, SipCall, SipConfig, SipServer } from '../../sip/index.ts';
import { killAll, runSipp, waitFor } from '../fakes/sip-harness.ts';
import { sippOk as ok, sippReceived as received, startTimedSipServer, stopTimedSipServers, type SentMessage } from '../support/sipp.ts';

interface Seen {
  call: SipCall;
  answeredAt?: number;
  ended?: CallEndInfo;
}

afterEach(stopTimedSipServers);
afterAll(() => killAll());

/** A SIP server with short session timers; `sent` is every SIP message it sent (first line, time in ms). */
async function start(over: Partial<SipConfig> = {}): Promise<{ server: SipServer; seen: Seen[]; sent: SentMessage[] }> {
  const seen: Seen[] = [];
  const { server, sent } = await startTimedSipServer({ sessionExpiresS: 1800, minSeS: 2, ...over }, (call) => {
    const s: Seen = { call };
    seen.push(s);
    call.on('answered', () => (s.answeredAt = performance.now()));
    call.on('ended', (e) => (s.ended = e));
  });
  return { server, seen, sent };
}

describe('RFC 4028 session timers with SIPp', () => {
  it('a peer that refreshes (re-INVITE and UPDATE) keeps the call up over two intervals; every refresh is answered 200 with Session-Expires, the same SDP', async () => {
    const { server, seen, sent } = await start();
    const r = await runSipp({ scenario: 'uac-timer-refresh.xml', serverPort: server.port });
    ok(r);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    const s = seen[0]!;
    expect(s.ended).toMatchObject({ reason: 'remote-hangup', by: 'remote' });
    const oks = sent.filter((m) => m.line.startsWith('SIP/2.0 200'));
    expect(oks.length).toBe(7); // INVITE, 3 re-INVITEs, 2 UPDATEs, BYE
    expect(oks[oks.length - 1]!.at - oks[0]!.at).toBeGreaterThan(7000); // the call outlived the 4 s interval twice
    expect(sent.some((m) => m.line.startsWith('BYE '))).toBe(false);
    // the SDP answered to every re-INVITE is the one of the 200 OK, o= version unchanged (RFC 3264 §8)
    const inviteOks = received(r.messages).filter((m) => m.startsWith('SIP/2.0 200') && /^CSeq:\s*\d+ INVITE/m.test(m));
    expect(inviteOks.length).toBe(4);
    const sdps = inviteOks.map((m) => m.slice(m.indexOf('v=0')).trim());
    expect(new Set(sdps).size).toBe(1);
    for (const m of inviteOks) {
      expect(m).toMatch(/^Session-Expires: 4;refresher=uac\r?$/m);
      expect(m).toMatch(/^Require: timer\r?$/m);
      expect(m).toMatch(/^Supported: .*\btimer\b/m);
    }
  }, 30_000);

  it('a peer that stops refreshing: Parley sends BYE interval − min(32 s, interval/3) after the last refresh (end reason session-expired)', async () => {
    const { server, seen, sent } = await start();
    const r = await runSipp({ scenario: 'uac-timer-silent.xml', serverPort: server.port });
    ok(r);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]!.ended).toMatchObject({ reason: 'session-expired', by: 'local' });
    const oks = sent.filter((m) => m.line.startsWith('SIP/2.0 200'));
    const bye = sent.find((m) => m.line.startsWith('BYE '));
    expect(oks.length).toBe(2); // the INVITE's and the refresh's
    expect(bye).toBeDefined();
    const afterRefreshMs = bye!.at - oks[1]!.at;
    // Session-Expires 3: BYE 3 − min(32, 1) = 2 s after the refresh restarted the clock (not 2 s after the 200 OK)
    expect(afterRefreshMs).toBeGreaterThanOrEqual(1950);
    expect(afterRefreshMs).toBeLessThan(2800);
    expect(bye!.at - oks[0]!.at).toBeGreaterThan(2900);
  }, 30_000);

  it('an INVITE whose Session-Expires is below PARLEY_SIP_MIN_SE_S gets 422 with Min-SE; the retry with that interval is answered', async () => {
    const { server, seen, sent } = await start({ minSeS: 3 });
    const r = await runSipp({ scenario: 'uac-timer-422.xml', serverPort: server.port });
    ok(r);
    const first = received(r.messages).find((m) => m.startsWith('SIP/2.0 422'));
    expect(first).toMatch(/^SIP\/2\.0 422 Session Interval Too Small/);
    expect(first).toMatch(/^Min-SE: 3\r?$/m);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen.length).toBe(1); // the 422 is sent before any call exists
    const answer = received(r.messages).find((m) => m.startsWith('SIP/2.0 200') && /^CSeq:\s*2 INVITE/m.test(m));
    expect(answer).toMatch(/^Session-Expires: 3;refresher=uac\r?$/m);
    expect(sent.filter((m) => m.line.startsWith('SIP/2.0 422')).length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it.each([
    ['re-INVITE', 'uac-timer-parley-refreshes.xml', 'INVITE '],
    ['UPDATE (the peer allows it)', 'uac-timer-parley-updates.xml', 'UPDATE '],
  ])('Parley as the refresher sends a %s at half the interval, and again half an interval after its answer', async (_what, scenario, method) => {
    const { server, seen, sent } = await start();
    const r = await runSipp({ scenario, serverPort: server.port });
    ok(r);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]!.ended).toMatchObject({ reason: 'remote-hangup' });
    const answered = sent.find((m) => m.line.startsWith('SIP/2.0 200'))!;
    const refreshes = sent.filter((m) => m.line.startsWith(method));
    expect(refreshes.length).toBe(2);
    // Session-Expires 3 → a refresh every 1.5 s
    expect(refreshes[0]!.at - answered.at).toBeGreaterThanOrEqual(1450);
    expect(refreshes[0]!.at - answered.at).toBeLessThan(2100);
    expect(refreshes[1]!.at - refreshes[0]!.at).toBeGreaterThanOrEqual(1450);
    expect(refreshes[1]!.at - refreshes[0]!.at).toBeLessThan(2100);
    const ours = received(r.messages).filter((m) => m.startsWith(method));
    expect(ours[0]).toMatch(/^Session-Expires: 3;refresher=uac\r?$/m);
    if (method === 'UPDATE ') expect(ours[0]).toMatch(/^Contact: <sip:parley@/m);
    else expect(ours[0]).toMatch(/^m=audio \d+ RTP\/AVP 0 101/m); // the re-INVITE offers the call's SDP
  }, 30_000);
});
