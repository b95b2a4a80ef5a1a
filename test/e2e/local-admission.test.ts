/**
 * Admission control of the offline engine at the doors (server/engines/admission.ts): with the
 * local engine at capacity (PARLEY_LOCAL_MAX_SESSIONS), a SIP INVITE (SIPp, a real SIP peer) gets
 * 503 with Retry-After and a WS client a GA `error` (engine_at_capacity) and close 1013; once a
 * call or a socket ends, the next one is admitted again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipBridge } from '../../server/sip-bridge.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import { LocalEngine } from '../../server/engines/index.ts';
import { startParley, TestClient, until, type Parley } from '../component/helpers.ts';
import { killAll, rtpRange, runSipp } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

describe('offline engine at capacity: the doors refuse, then admit again', () => {
  let parley: Parley;
  let bridge: SipBridge;
  let engine: LocalEngine;
  const clients: TestClient[] = [];
  const uacs: MiniUac[] = [];

  beforeAll(async () => {
    // No OpenAI key: sessions run on the local engine, which admits one session at a time.
    parley = await startParley({ env: { PARLEY_LOCAL_MAX_SESSIONS: '1', PARLEY_LOCAL_RETRY_AFTER_S: '7', PARLEY_LOCAL_STT_WORKERS: '1', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
    expect(parley.app.parley.config.engine).toBe('local');
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() } });
    const e = parley.app.parley.engines.get('local');
    expect(e).toBeInstanceOf(LocalEngine);
    engine = e as LocalEngine;
  });
  afterAll(async () => {
    killAll();
    for (const c of clients) c.close();
    for (const u of uacs) u.close();
    await bridge?.close();
    await parley?.close();
  });

  const connect = (): TestClient => {
    const c = new TestClient(parley.wsUrl);
    clients.push(c);
    return c;
  };
  const admitted = async (): Promise<TestClient> => {
    const c = connect();
    await c.opened;
    await c.waitFor('parley.engine', 15_000);
    expect(c.of('error')).toEqual([]);
    return c;
  };
  const refusedOverWs = async (): Promise<void> => {
    const c = connect();
    await c.opened;
    const err = await c.waitFor('error', 5_000);
    expect(err['error']).toMatchObject({ type: 'server_error', code: 'engine_at_capacity' });
    expect(String((err['error'] as { message: string }).message)).toMatch(/capacity \(1 sessions\); retry in 7 s/);
    expect(await c.closed).toEqual({ code: 1013, reason: 'engine_at_capacity' });
    expect(c.of('session.created')).toEqual([]);
  };
  const refusedOverSip = async (): Promise<void> => {
    const r = await runSipp({ scenario: 'uac-503-retry-after.xml', serverPort: bridge.server.port, timeoutS: 10 });
    if (r.code !== 0) throw new Error(`sipp exited ${r.code}\n${r.errors.slice(-2000)}\n${r.messages.slice(-3000)}`);
    expect(r.messages).toMatch(/SIP\/2\.0 503 Service Unavailable[\s\S]*Retry-After: 7\r?\n/);
  };
  const idle = (): Promise<void> => until(() => engine.capacity().active === 0 && engine.capacity().reserved === 0, 5_000, 'the engine to be idle');

  it('a WS session fills the engine: a second WS client gets engine_at_capacity and close 1013, an INVITE gets 503 with Retry-After', async () => {
    const first = await admitted();
    expect(engine.capacity()).toEqual({ active: 1, reserved: 0, max: 1 });
    await refusedOverWs();
    await refusedOverSip();
    expect(parley.app.parley.sessions.active).toBe(1);
    // the first session is untouched by the refusals
    first.send({ type: 'session.update', session: { type: 'realtime', instructions: 'still here' } });
    await first.waitFor('session.updated', 5_000);
    first.close();
    await idle();
  });

  it('after a session ends the next caller is admitted; a SIP call holds the slot until its BYE', async () => {
    const again = await admitted();
    again.close();
    await idle();

    const uac = new MiniUac(bridge.server.port);
    uacs.push(uac);
    await uac.bind();
    await uac.call();
    await until(() => engine.capacity().active === 1, 5_000, 'the call to open a session');
    await refusedOverWs();
    await refusedOverSip();
    await uac.bye();
    await idle();
    const last = await admitted();
    last.close();
    await idle();
  });
});
