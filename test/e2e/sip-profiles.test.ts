/**
 * Agent profiles through the SIP door (server/sip-bridge.ts, server/profiles/): a real UDP SIP/RTP peer
 * (MiniUac) calls Parley; the session runs on the scripted engine (test/fakes/sip-engine.ts), which answers a
 * response.create with 300 ms of tone. Routing by dialled number (instructions, tool list), the first message
 * played before the caller says anything, maxCallS ending the call with a BYE (end reason max_duration), and
 * the incoming-call hook inside the INVITE's answer window, with the chosen SIP headers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { startParley, type Parley } from '../component/helpers.ts';
import { ScriptedEngineProbe, scriptedEngine } from '../fakes/sip-engine.ts';
import { rtpRange, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';
import { verifySignature } from '../../server/signing.ts';
import type { SessionEnd, SessionInfo } from '../../server/session/index.ts';

const SECRET = 'whsec_sip_profiles_secret';
const isTone = (p: Buffer): boolean => p.length === 160 && p.some((b) => b !== 0xff && b !== 0x7f);

const FILE = {
  profiles: {
    sales: { instructions: 'You are Acme sales.', voice: 'cedar', tools: ['end_call'], metadata: { team: 'sales' } },
    support: { instructions: 'You are Acme support.', firstMessage: 'Hello, this is Acme support.' },
    short: { maxCallS: 1 },
    default: { instructions: 'You are the Acme switchboard.' },
  },
  routes: [
    { dialled: { prefix: '1800' }, profile: 'sales' },
    { dialled: { regex: '^7\\d{3}$' }, profile: 'support' },
    { dialled: '9999', profile: 'short' },
  ],
};

let parley: Parley | undefined;
let bridge: SipBridge | undefined;
let backend: Server | undefined;
const uacs: MiniUac[] = [];
afterEach(async () => {
  for (const u of uacs.splice(0)) u.close();
  await bridge?.close();
  await parley?.close();
  if (backend) {
    backend.closeAllConnections();
    await new Promise((r) => backend!.close(r));
  }
  bridge = undefined;
  parley = undefined;
  backend = undefined;
});

interface Seen { info: SessionInfo; answeredAt?: number; end?: SessionEnd }

async function setup(file: unknown = FILE, env: Record<string, string> = {}): Promise<{ probe: ScriptedEngineProbe; seen: Seen[]; uac: () => Promise<MiniUac> }> {
  parley = await startParley({ env: { LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent', ...env }, file });
  const probe = new ScriptedEngineProbe();
  parley.app.parley.engines.register('cascade', scriptedEngine({}, probe));
  const seen: Seen[] = [];
  parley.app.parley.sessions.observe((info) => {
    const s: Seen = { info };
    seen.push(s);
    return { answered: (at) => { s.answeredAt = at; }, closed: (_i, end) => { s.end = end; } };
  });
  bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'cascade' });
  const port = bridge.server.port;
  return {
    probe,
    seen,
    uac: async () => {
      const u = new MiniUac(port);
      uacs.push(u);
      await u.bind();
      return u;
    },
  };
}

const sessionOf = (info: SessionInfo): NonNullable<ReturnType<Parley['app']['parley']['sessions']['get']>> => parley!.app.parley.sessions.get(info.id)!;
const tools = (info: SessionInfo): string[] => (sessionOf(info).effectiveSession.tools ?? []).map((t) => String((t as { name?: string }).name)).sort();

describe('profiles on SIP calls', () => {
  it("routes by dialled number: the profile's instructions, voice and tool list; the default profile otherwise", async () => {
    const { seen, uac } = await setup();
    const a = await uac();
    await a.call({ user: '18005550100' });
    await waitFor(() => seen.length === 1, 3000, 'session');
    expect(seen[0]!.info).toMatchObject({ profile: 'sales', metadata: { team: 'sales' }, call: { dialled: '18005550100', trunk: '127.0.0.1' } });
    const s = sessionOf(seen[0]!.info).effectiveSession;
    expect(s.instructions).toBe('You are Acme sales.');
    expect(s.audio?.output?.voice).toBe('cedar');
    expect(s.audio?.input?.format).toEqual({ type: 'audio/pcmu' }); // the door's format is kept
    expect(tools(seen[0]!.info)).toEqual(['end_call']);
    await a.bye();

    const b = await uac();
    await b.call({ user: '2000' });
    await waitFor(() => seen.length === 2, 3000, 'second session');
    expect(seen[1]!.info.profile).toBe('default');
    expect(sessionOf(seen[1]!.info).effectiveSession.instructions).toBe('You are the Acme switchboard.');
    expect(tools(seen[1]!.info)).toEqual(['end_call', 'get_current_time', 'send_dtmf', 'transfer_call', 'warm_transfer']);
    await b.bye();
  });

  it('the first message is played when the call is answered, before the caller says anything', async () => {
    const { probe, seen, uac } = await setup();
    const a = await uac();
    await a.call({ user: '7001' }); // no RTP from the caller at all
    await waitFor(() => a.received.filter((p) => isTone(p.payload)).length >= 14, 5000, 'the first message played');
    expect(probe.appendedBytes.length).toBe(0);
    const rc = probe.received.filter((e) => e.type === 'response.create');
    expect(rc).toHaveLength(1);
    expect((rc[0] as { response?: { instructions?: string } }).response?.instructions).toBe('Say exactly the following to the caller, word for word, and nothing else: "Hello, this is Acme support."');
    expect(seen[0]!.info.profile).toBe('support');
    expect(seen[0]!.answeredAt).toBeDefined();
    await a.bye();
  });

  it('maxCallS: Parley hangs up (BYE) and the session ends with end reason max_duration', async () => {
    const { seen, uac } = await setup();
    const a = await uac();
    const t0 = Date.now();
    await a.call({ user: '9999' });
    await a.waitSip((m) => m.startsWith('BYE '), 5000, 'BYE');
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(4000);
    await waitFor(() => seen[0]?.end !== undefined, 3000, 'closed');
    expect(seen[0]!.end!.endReason).toBe('max_duration');
  });

  it('the incoming-call hook runs before the 200 OK with the chosen SIP headers, and picks the profile', async () => {
    const got: Array<{ ok: boolean; data: Record<string, unknown> }> = [];
    backend = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const ok = verifySignature(req.headers['parley-signature'], raw, SECRET).ok;
        got.push({ ok, data: (JSON.parse(raw) as { data: Record<string, unknown> }).data });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ profile: 'support', overrides: { firstMessage: 'Welcome back, customer 77.' }, metadata: { crm_id: '77' } }));
      });
    });
    await new Promise<void>((r) => backend!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/incoming`;
    const { probe, seen, uac } = await setup({ ...FILE, incomingCall: { url, headers: ['X-Customer-Id'] } }, { PARLEY_WEBHOOK_SECRET: SECRET });
    const a = await uac();
    await a.call({ user: '18005550100', extraHeaders: ['X-Customer-Id: 77', 'X-Other: not passed'] });
    expect(got).toHaveLength(1);
    expect(got[0]!.ok).toBe(true);
    expect(got[0]!.data).toMatchObject({ door: 'sip', dialled: '18005550100', caller: 'uac', trunk: '127.0.0.1', profile: 'sales', headers: { 'x-customer-id': '77' }, metadata: { team: 'sales' } });
    expect(Object.keys(got[0]!.data['headers'] as object)).toEqual(['x-customer-id']);
    expect(got[0]!.data['sip_call_id']).toEqual(expect.any(String));
    await waitFor(() => seen.length === 1, 3000, 'session');
    expect(seen[0]!.info).toMatchObject({ profile: 'support', metadata: { crm_id: '77', incoming_call: 'ok' } });
    await waitFor(() => probe.received.some((e) => e.type === 'response.create'), 3000, 'first message');
    expect(JSON.stringify(probe.received.find((e) => e.type === 'response.create'))).toContain('Welcome back, customer 77.');
    await a.bye();
  });
});
