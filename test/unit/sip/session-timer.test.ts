/**
 * RFC 4028 rules (sip/session-timer.ts): header parsing, the UAS's choice of interval and refresher (§9),
 * the BYE margin (§10), and SessionTimer's reactions to refresh answers (real timers, intervals of a fraction
 * of a second; the SIP exchange itself is tested against SIPp in test/e2e/sip-session-timer.test.ts).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { SessionTimer, byeMarginMs, negotiateAsUac, negotiateAsUas, parseMinSe, parseSessionExpires, readTimerOffer, timerResponseHeaders, uacInviteHeaders } from '../../../sip/session-timer.ts';
import type { RefreshResult, TimerOffer } from '../../../sip/session-timer.ts';

const settings = { sessionExpiresS: 1800, minSeS: 90 };
const offer = (o: Partial<TimerOffer>): TimerOffer => ({ sessionExpires: undefined, minSeS: undefined, supportsTimer: false, allowsUpdate: false, ...o });
const log = pino({ level: 'silent' });

describe('session timer header rules', () => {
  it('as the UAC: the INVITE asks for our interval with our Min-SE; the 2xx decides (RFC 4028 §7.1, §7.2)', () => {
    expect(uacInviteHeaders(settings)).toEqual(['Session-Expires: 1800', 'Min-SE: 90']);
    expect(uacInviteHeaders(settings, 3600)).toEqual(['Session-Expires: 3600', 'Min-SE: 90']);
    expect(uacInviteHeaders({ sessionExpiresS: 0, minSeS: 90 })).toEqual([]);
    expect(negotiateAsUac(offer({ sessionExpires: { intervalS: 600, refresher: 'uac' } }))).toMatchObject({ kind: 'timer', intervalS: 600, refresher: 'uac' });
    expect(negotiateAsUac(offer({ sessionExpires: { intervalS: 600, refresher: 'uas' } }))).toMatchObject({ kind: 'timer', intervalS: 600, refresher: 'uas' });
    expect(negotiateAsUac(offer({ sessionExpires: { intervalS: 600 } }))).toMatchObject({ kind: 'timer', refresher: 'uac' });
    expect(negotiateAsUac(offer({ supportsTimer: true }))).toEqual({ kind: 'none' }); // no Session-Expires in the 2xx: no expiration
  });

  it('parses Session-Expires and Min-SE (RFC 4028 §4, §5)', () => {
    expect(parseSessionExpires('1800;refresher=uac')).toEqual({ intervalS: 1800, refresher: 'uac' });
    expect(parseSessionExpires(' 90 ; x=1 ; Refresher = UAS')).toEqual({ intervalS: 90, refresher: 'uas' });
    expect(parseSessionExpires('600')).toEqual({ intervalS: 600 });
    expect(parseSessionExpires('600;refresher=proxy')).toEqual({ intervalS: 600 });
    expect(parseSessionExpires('soon')).toBeUndefined();
    expect(parseSessionExpires('0')).toBeUndefined();
    expect(parseMinSe('120;x')).toBe(120);
    expect(parseMinSe(undefined)).toBeUndefined();
    const h: Record<string, string[]> = { x: ['300;refresher=uas'], k: ['100rel'], require: ['timer'], 'min-se': ['120'], allow: ['INVITE, ACK, update'] };
    expect(readTimerOffer((n) => h[n] ?? [])).toEqual({ sessionExpires: { intervalS: 300, refresher: 'uas' }, minSeS: 120, supportsTimer: true, allowsUpdate: true });
  });

  it('chooses the interval and the refresher as a UAS (RFC 4028 §9)', () => {
    // the peer asks: honoured, with its refresher
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 900, refresher: 'uas' }, supportsTimer: true }), settings)).toEqual({ kind: 'timer', intervalS: 900, refresher: 'uas', require: true });
    // no refresher named: the peer (it supports timers)
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 900 }, supportsTimer: true }), settings)).toMatchObject({ refresher: 'uac', require: true });
    // longer than ours: lowered to ours, never under its Min-SE
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 7200 }, supportsTimer: true }), settings)).toMatchObject({ intervalS: 1800 });
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 7200 }, minSeS: 3600, supportsTimer: true }), settings)).toMatchObject({ intervalS: 3600 });
    // too small from a peer that understands 422
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 60 }, supportsTimer: true }), settings)).toEqual({ kind: 'too-small', minSeS: 90 });
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 60 }, minSeS: 120, supportsTimer: true }), settings)).toEqual({ kind: 'too-small', minSeS: 120 });
    // …from one that does not (a proxy put it there): taken as it is, we refresh, no Require
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 60, refresher: 'uac' } }), settings)).toEqual({ kind: 'timer', intervalS: 60, refresher: 'uas', require: false });
    // no Session-Expires: ours when the peer supports timers (or the call's current one for a refresh), else none
    expect(negotiateAsUas(offer({ supportsTimer: true }), settings)).toEqual({ kind: 'timer', intervalS: 1800, refresher: 'uac', require: true });
    expect(negotiateAsUas(offer({ supportsTimer: true }), settings, 300)).toMatchObject({ intervalS: 300 });
    expect(negotiateAsUas(offer({}), settings)).toEqual({ kind: 'none' });
    // timers off
    expect(negotiateAsUas(offer({ sessionExpires: { intervalS: 900 }, supportsTimer: true }), { sessionExpiresS: 0, minSeS: 90 })).toEqual({ kind: 'none' });
    expect(timerResponseHeaders({ kind: 'timer', intervalS: 900, refresher: 'uas', require: true })).toEqual(['Session-Expires: 900;refresher=uas', 'Require: timer']);
    expect(timerResponseHeaders({ kind: 'none' })).toEqual([]);
  });

  it('sends BYE min(32 s, interval/3) before the session expires (RFC 4028 §10)', () => {
    expect(byeMarginMs(1800)).toBe(32_000);
    expect(byeMarginMs(90)).toBe(30_000);
    expect(byeMarginMs(3)).toBe(1000);
  });
});

const ok = (se?: string): RefreshResult => ({ status: 200, reason: 'OK', sessionExpires: parseSessionExpires(se), minSeS: undefined });
const fail = (status: number, minSeS?: number): RefreshResult => ({ status, reason: 'x', sessionExpires: undefined, minSeS });

function timerWith(answers: Array<RefreshResult | Error>, preferUpdate = false): { t: SessionTimer; sent: Array<{ method: string; headers: string[]; at: number }>; expired: string[] } {
  const sent: Array<{ method: string; headers: string[]; at: number }> = [];
  const expired: string[] = [];
  const t = new SessionTimer({
    settings: { sessionExpiresS: 1800, minSeS: 1 },
    log,
    preferUpdate,
    onExpired: (d) => expired.push(d),
    sendRefresh: async (method, headers) => {
      sent.push({ method, headers, at: performance.now() });
      const a = answers.shift() ?? ok();
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { t, sent, expired };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SessionTimer', () => {
  it('as the refresher: refreshes at half the interval, as `uac` of its request, and keeps doing so', async () => {
    const { t, sent, expired } = timerWith([ok('0.4;refresher=uac'), ok('1;refresher=uac')], true);
    const t0 = performance.now();
    t.refreshed(0.4, true);
    await sleep(520);
    t.stop();
    expect(sent.map((s) => s.method)).toEqual(['UPDATE', 'UPDATE']);
    expect(sent[0]!.headers).toEqual(['Session-Expires: 0.4;refresher=uac', 'Min-SE: 1']);
    expect(sent[0]!.at - t0).toBeGreaterThanOrEqual(195);
    expect(sent[1]!.at - sent[0]!.at).toBeGreaterThanOrEqual(195);
    // the last 2xx said 1 s: the interval is now 1 s
    expect(expired).toEqual([]);
    expect(t.intervalS).toBe(1);
  });

  it('not the refresher: expires interval − interval/3 after the last refresh; a refresh restarts the clock', async () => {
    const { t, sent, expired } = timerWith([]);
    t.refreshed(0.6, false); // deadline 400 ms
    await sleep(200);
    t.peerRefreshed({ kind: 'timer', intervalS: 0.6, refresher: 'uac', require: true }); // deadline 600 ms
    await sleep(250);
    expect(expired).toEqual([]);
    await sleep(300);
    expect(expired.length).toBe(1);
    expect(expired[0]).toMatch(/did not refresh the session/);
    expect(sent).toEqual([]);
    expect(t.active).toBe(false);
  });

  it('481 or 408 to our refresh ends the session; 422 retries with Min-SE; 405 to UPDATE falls back to re-INVITE', async () => {
    const a = timerWith([fail(481)]);
    a.t.refreshed(0.2, true);
    await sleep(150);
    expect(a.expired[0]).toMatch(/481/);

    const b = timerWith([fail(422, 2), fail(405), ok()], true);
    b.t.refreshed(0.2, true);
    await sleep(150);
    b.t.stop();
    expect(b.sent.map((s) => [s.method, s.headers[0]])).toEqual([
      ['UPDATE', 'Session-Expires: 0.2;refresher=uac'],
      ['UPDATE', 'Session-Expires: 2;refresher=uac'],
      ['INVITE', 'Session-Expires: 2;refresher=uac'],
    ]);
    expect(b.t.intervalS).toBe(2); // the 2xx had no Session-Expires: the interval we asked for
    expect(b.expired).toEqual([]);
  });

  it('as the refresher, when no refresh succeeds within the interval, the session expires', async () => {
    const { t, expired, sent } = timerWith([fail(500), fail(500), fail(500), fail(500), fail(500)]);
    t.refreshed(0.3, true);
    await sleep(450);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(expired[0]).toMatch(/no successful session refresh/);
  });

  it('a peer refresh without a timer turns it off; stop() is final', async () => {
    const { t, expired } = timerWith([]);
    t.refreshed(0.15, false);
    t.peerRefreshed({ kind: 'none' });
    await sleep(200);
    expect(expired).toEqual([]);
    expect(t.intervalS).toBe(0);
    t.stop();
    t.refreshed(0.05, false);
    await sleep(80);
    expect(expired).toEqual([]);
  });
});
