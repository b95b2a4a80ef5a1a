/**
 * Outbound calls (POST /v1/calls, sip/uac.ts, server/outbound/, docs/notes/outbound.md) against real SIPp
 * called parties on 127.0.0.1: answered after 180 (the answered leg is a session: profile, first message,
 * call record, webhooks, Parley's BYE), 486 busy, never answered (CANCEL after the ring timeout → no_answer),
 * 183 early media (RTP before the 200), a trunk challenging with 407 (digest response checked) and 401
 * (SIPp verifyauth, right and wrong password), the calls-per-second spacing, the concurrency cap (429), and
 * the 400s naming the field. The session runs on the scripted engine (test/fakes/sip-engine.ts).
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { outboundCalls } from '../../server/outbound/calls.ts';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { ScriptedEngineProbe, scriptedEngine } from '../fakes/sip-engine.ts';
import { freePort, killAll, rtpRange, runSipp, waitFor } from '../fakes/sip-harness.ts';
import { sippOk as ok, sippUas as uas } from '../support/sipp.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

const FILE = { profiles: { greeter: { instructions: 'You call customers.', firstMessage: 'Hello, this is Acme calling.' } } };

let parley: Parley | undefined;
let bridge: SipBridge | undefined;
let hooks: WebhookReceiver | undefined;
afterEach(async () => {
  await bridge?.close();
  await parley?.close();
  await hooks?.stop();
  killAll();
  bridge = undefined;
  parley = undefined;
  hooks = undefined;
});

async function setup(env: Record<string, string> = {}): Promise<{ probe: ScriptedEngineProbe }> {
  hooks = await new WebhookReceiver('whsec_outbound_test_secret_0123').start();
  parley = await startParley({
    env: { LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent', PARLEY_WEBHOOK_URL: hooks.url, PARLEY_WEBHOOK_SECRET: hooks.secret, ...env },
    file: FILE,
  });
  const probe = new ScriptedEngineProbe();
  parley.app.parley.engines.register('cascade', scriptedEngine({}, probe));
  bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'cascade' });
  return { probe };
}

async function post(body: unknown, key: string | null = TEST_KEY): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${parley!.httpUrl}/v1/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function getCall(id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${parley!.httpUrl}/v1/calls/${id}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const statusOf = (id: string): string | undefined => outboundCalls(parley!.app).get(id)?.status;

describe('outbound calls through SIPp', () => {
  it('answered after 180: ringing then answered, the leg is a session with the profile, Parley hangs up with BYE', async () => {
    const { probe } = await setup();
    const peer = await uas('uas-answer.xml');
    const r = await post({ to: `sip:1000@127.0.0.1:${peer.port}`, profile: 'greeter', metadata: { campaign: 'c1' } });
    expect(r.status).toBe(201);
    expect(r.json['status']).toBe('queued');
    const id = String(r.json['id']);
    expect(id).toMatch(/^sess_\w{20}$/);
    const seen: string[] = [];
    await waitFor(() => {
      const s = statusOf(id);
      if (s && seen[seen.length - 1] !== s) seen.push(s);
      return s === 'answered';
    }, 10_000, 'answered');
    expect(seen[0]).toMatch(/queued|ringing/);
    expect(seen).toContain('ringing');
    // the answered leg: a SIP call on the server, a session with the call's id, the profile's first message
    await waitFor(() => parley!.app.parley.sessions.get(id) !== undefined, 5000, 'the session, under the call id');
    const call = bridge!.server.calls().find((c) => c.id === id);
    expect(call?.state).toBe('active');
    // the profile's first message reaches the engine as soon as the call is answered
    await waitFor(() => probe.received.some((e) => e.type === 'response.create'), 5000, 'first message response');
    const rec = await getCall(id);
    expect(rec['status']).toBe('answered');
    expect(rec['direction']).toBe('outbound');
    expect((rec['outbound'] as Record<string, unknown>)['setup_ms']).toBeGreaterThan(500); // 180, then 600 ms
    await new Promise((res) => setTimeout(res, 800));
    expect(call!.stats().rtp.packetsOut).toBeGreaterThan(10); // RTP flows to the called party
    await call!.hangup('local-hangup', 'test');
    ok(await peer.done);
    await waitFor(() => hooks!.accepted.some((e) => e.type === 'call.ended' && e.data['call_id'] === id), 10_000, 'call.ended webhook');
    const types = hooks!.accepted.filter((e) => e.data['call_id'] === id).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['call.ringing', 'call.started', 'call.answered', 'call.ended']));
    const ended = hooks!.accepted.find((e) => e.type === 'call.ended' && e.data['call_id'] === id)!;
    expect(ended.data['profile']).toBe('greeter');
    expect(ended.data['metadata']).toMatchObject({ campaign: 'c1', direction: 'outbound' });
  }, 30_000);

  it('486 → busy (call record status, call.failed webhook)', async () => {
    await setup();
    const peer = await uas('uas-busy.xml');
    const r = await post({ to: `sip:1000@127.0.0.1:${peer.port}` });
    const id = String(r.json['id']);
    await waitFor(() => statusOf(id) === 'busy', 10_000, 'busy');
    ok(await peer.done);
    const rec = await getCall(id);
    expect(rec).toMatchObject({ id, status: 'busy', direction: 'outbound', outbound: { sip_status: 486 } });
    await waitFor(() => hooks!.accepted.some((e) => e.type === 'call.failed' && e.data['call_id'] === id), 10_000, 'call.failed');
    expect(hooks!.accepted.find((e) => e.type === 'call.failed')?.data).toMatchObject({ status: 'busy', sip_status: 486 });
    expect(bridge!.server.activeCalls).toBe(0);
  }, 30_000);

  it('never answered: CANCEL after ring_timeout_s → no_answer', async () => {
    await setup();
    const peer = await uas('uas-no-answer.xml');
    const t0 = Date.now();
    const r = await post({ to: `sip:1000@127.0.0.1:${peer.port}`, ring_timeout_s: 2 });
    const id = String(r.json['id']);
    await waitFor(() => statusOf(id) === 'ringing', 5000, 'ringing');
    await waitFor(() => statusOf(id) === 'no_answer', 10_000, 'no_answer');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThan(1900);
    expect(took).toBeLessThan(5000);
    ok(await peer.done); // SIPp saw the CANCEL, sent 487, got the ACK
    const rec = await getCall(id);
    expect(rec).toMatchObject({ status: 'no_answer', outbound: { sip_status: 487 } });
  }, 30_000);

  it('183 with SDP: early media (RTP both ways before the 200), then answered', async () => {
    await setup();
    const peer = await uas('uas-early-media.xml');
    const r = await post({ to: `sip:1000@127.0.0.1:${peer.port}` });
    const id = String(r.json['id']);
    await waitFor(() => statusOf(id) === 'ringing', 5000, 'ringing');
    await waitFor(() => bridge!.server.calls().some((c) => c.id === id && c.stats().rtp.packetsIn > 5), 5000, 'early RTP in');
    const call = bridge!.server.calls().find((c) => c.id === id)!;
    expect(call.state).toBe('ringing');
    expect(call.stats().rtp.packetsOut).toBeGreaterThan(0); // we send too (NAT pinholes, the far end's latching)
    await waitFor(() => statusOf(id) === 'answered', 5000, 'answered');
    expect(outboundCalls(parley!.app).get(id)?.early_media).toBe(true);
    await waitFor(() => call.state === 'active', 5000, 'active');
    await call.hangup('local-hangup', 'test');
    ok(await peer.done);
  }, 30_000);
});

describe('the answering-machine detection hook', () => {
  it('a detector gets the answered leg with a tap on the callee audio; machine + action hangup → BYE, result stored', async () => {
    await setup();
    let frames = 0;
    let format = '';
    outboundCalls(parley!.app).setMachineDetector({
      detect: (leg, opts) =>
        new Promise((resolve) => {
          expect(opts.action).toBe('hangup');
          const t0 = Date.now();
          const off = leg.tap((chunk) => {
            frames++;
            format = leg.format().encoding;
            expect(chunk.length).toBeGreaterThan(0);
            if (frames === 25) {
              off();
              resolve({ result: 'machine', decided_after_ms: Date.now() - t0 });
            }
          });
        }),
    });
    const peer = await uas('uas-early-media.xml');
    const r = await post({ to: `sip:1000@127.0.0.1:${peer.port}`, machine_detection: { action: 'hangup' } });
    const id = String(r.json['id']);
    await waitFor(() => outboundCalls(parley!.app).get(id)?.amd !== null && outboundCalls(parley!.app).get(id)?.amd !== undefined, 8000, 'amd result');
    ok(await peer.done); // Parley's BYE answered: the hook hung up
    expect(frames).toBe(25);
    expect(format).toBe('pcma'); // the session's format on this PCMA call (set by the bridge), frames as the session gets them
    const rec = await getCall(id);
    expect((rec['outbound'] as Record<string, unknown>)['amd']).toMatchObject({ result: 'machine' });
    expect(rec['status']).toBe('answered');
  }, 30_000);
});

describe('outbound calls through a trunk with digest auth', () => {
  it('407 → INVITE again with Proxy-Authorization (digest response right), then answered; a number goes to the trunk host', async () => {
    const port = await freePort(20000, 10000);
    await setup({ PARLEY_SIP_TRUNK_URI: `sip:127.0.0.1:${port}`, PARLEY_SIP_TRUNK_USER: 'trunkuser', PARLEY_SIP_TRUNK_PASSWORD: 's3cret' });
    const done = runSipp({ scenario: 'uas-trunk-407.xml', serverPort: 0, uasPort: port, timeoutS: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await post({ to: '+1 (555) 010-0199', from: '+15550001111' });
    expect(r.status).toBe(201);
    const id = String(r.json['id']);
    await waitFor(() => statusOf(id) === 'answered', 10_000, 'answered');
    await waitFor(() => bridge!.server.calls().some((c) => c.id === id && c.state === 'active'), 5000, 'active');
    await bridge!.server.calls().find((c) => c.id === id)!.hangup();
    const res = await done;
    ok(res);
    // the INVITEs went to sip:<number>@<trunk host>; the second carries a correct RFC 2617 digest (qop=auth)
    expect(res.messages).toMatch(/INVITE sip:\+15550100199@127\.0\.0\.1:\d+ SIP\/2\.0/);
    expect(res.messages).toMatch(/From: .*sip:\+15550001111@127\.0\.0\.1/);
    const h = /Proxy-Authorization: Digest ([^\r\n]+)/.exec(res.messages)?.[1] ?? '';
    const p = (k: string): string => new RegExp(`${k}="?([^",]+)"?`).exec(h)?.[1] ?? '';
    const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`trunkuser:trunk.test:s3cret`);
    const ha2 = md5(`INVITE:${p('uri')}`);
    expect(p('username')).toBe('trunkuser');
    expect(p('response')).toBe(md5(`${ha1}:${p('nonce')}:${p('nc')}:${p('cnonce')}:${p('qop')}:${ha2}`));
  }, 30_000);

  it('401 verified by SIPp: the right password is answered, a wrong one gets 403 → failed', async () => {
    const port = await freePort(20000, 10000);
    await setup({ PARLEY_SIP_TRUNK_URI: `sip:127.0.0.1:${port}`, PARLEY_SIP_TRUNK_USER: 'trunkuser', PARLEY_SIP_TRUNK_PASSWORD: 's3cret' });
    let done = runSipp({ scenario: 'uas-trunk-401.xml', serverPort: 0, uasPort: port, timeoutS: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const id = String((await post({ to: '5550100' })).json['id']);
    await waitFor(() => statusOf(id) === 'answered', 10_000, 'answered');
    await waitFor(() => bridge!.server.calls().some((c) => c.id === id && c.state === 'active'), 5000, 'active');
    await bridge!.server.calls().find((c) => c.id === id)!.hangup();
    ok(await done);
    await bridge!.close();
    await parley!.close();
    bridge = undefined;
    await setup({ PARLEY_SIP_TRUNK_URI: `sip:127.0.0.1:${port}`, PARLEY_SIP_TRUNK_USER: 'trunkuser', PARLEY_SIP_TRUNK_PASSWORD: 'wrong' });
    done = runSipp({ scenario: 'uas-trunk-401.xml', serverPort: 0, uasPort: port, timeoutS: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const bad = String((await post({ to: '5550100' })).json['id']);
    await waitFor(() => statusOf(bad) === 'failed', 10_000, 'failed');
    expect(outboundCalls(parley!.app).get(bad)?.sip_status).toBe(403);
    await done;
  }, 40_000);
});

describe('outbound limits and input', () => {
  it('calls per second: a burst leaves evenly spaced at the configured rate; over the cap → 429', async () => {
    await setup({ PARLEY_OUTBOUND_CPS: '5', PARLEY_OUTBOUND_MAX_CALLS: '4' });
    const port = await freePort(20000, 10000);
    const done = runSipp({ scenario: 'uas-busy.xml', serverPort: 0, uasPort: port, timeoutS: 20, calls: 4 } as Parameters<typeof runSipp>[0]);
    await new Promise((r) => setTimeout(r, 300));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(String((await post({ to: `sip:1000@127.0.0.1:${port}` })).json['id']));
    const over = await post({ to: `sip:1000@127.0.0.1:${port}` });
    expect(over.status).toBe(429);
    expect(over.json['error']).toMatchObject({ code: 'too_many_calls' });
    expect(over.headers.get('retry-after')).toBeTruthy();
    await waitFor(() => ids.every((id) => statusOf(id) === 'busy'), 10_000, 'all busy');
    const dialled = ids.map((id) => Date.parse(outboundCalls(parley!.app).get(id)!.dialled_at!)).sort((a, b) => a - b);
    for (let i = 1; i < dialled.length; i++) expect(dialled[i]! - dialled[i - 1]!).toBeGreaterThanOrEqual(190); // 5/s = 200 ms apart
    await done;
    expect((await post({ to: `sip:1000@127.0.0.1:${port}`, ring_timeout_s: 1 })).status).toBe(201); // room again
  }, 30_000);

  it('bad input → 400 naming the field; no key → 401', async () => {
    await setup();
    const bad = async (body: unknown, param: string): Promise<void> => {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((r.json['error'] as Record<string, unknown>)['param']).toBe(param);
    };
    await bad({}, 'to');
    await bad({ to: '' }, 'to');
    await bad({ to: 'sip:' }, 'to');
    await bad({ to: 'sip:bob@exa mple.com' }, 'to');
    await bad({ to: 'bob@example.com' }, 'to');
    await bad({ to: '+15550100' }, 'to'); // a number without a trunk
    await bad({ to: 'sip:bob@127.0.0.1', profile: 'nope' }, 'profile');
    await bad({ to: 'sip:bob@127.0.0.1', ring_timeout_s: 0 }, 'ring_timeout_s');
    await bad({ to: 'sip:bob@127.0.0.1', ring_timeout_s: 301 }, 'ring_timeout_s');
    await bad({ to: 'sip:bob@127.0.0.1', ring_timeout_s: '30' }, 'ring_timeout_s');
    await bad({ to: 'sip:bob@127.0.0.1', from: 'not a uri' }, 'from');
    await bad({ to: 'sip:bob@127.0.0.1', metadata: { a: 1 } }, 'metadata');
    await bad({ to: 'sip:bob@127.0.0.1', machine_detection: { action: 'explode' } }, 'machine_detection.action');
    await bad({ to: 'sip:bob@127.0.0.1', colour: 'blue' }, 'colour');
    expect((await post({ to: 'sip:bob@127.0.0.1' }, null)).status).toBe(401);
    expect((await post({ to: 'sip:bob@127.0.0.1' }, 'pk_wrong_key_0123456789abcdef')).status).toBe(401);
    // accepted: machine_detection stored for the AMD hook
    const r = await post({ to: 'sip:bob@127.0.0.1:9', machine_detection: { action: 'hangup' }, ring_timeout_s: 1 });
    expect(r.status).toBe(201);
    expect(outboundCalls(parley!.app).get(String(r.json['id']))?.machine_detection).toEqual({ action: 'hangup' });
  }, 30_000);
});
