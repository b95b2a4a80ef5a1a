/**
 * A SIP caller that hangs up (CANCEL) while the engine is still opening must not leave its session or its
 * engine connection behind (server/sip-bridge.ts subscribes to the call's end before it awaits the open).
 * Real UDP SIP from MiniUac; an engine that takes 800 ms to open, as an upstream WebSocket can.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineConnection, EngineOpenOptions } from '../../server/engines/index.ts';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { startParley, until, type Parley } from '../component/helpers.ts';
import { rtpRange } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

let parley: Parley | undefined;
let bridge: SipBridge | undefined;
const uacs: MiniUac[] = [];
afterEach(async () => {
  for (const u of uacs.splice(0)) u.close();
  await bridge?.close();
  await parley?.close();
  bridge = undefined;
  parley = undefined;
});

describe('SIP CANCEL while the engine opens', () => {
  it('ten INVITE/CANCEL pairs leave no session and no engine connection open', async () => {
    parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_MAX_SESSIONS: '5' } });
    let opened = 0;
    let closed = 0;
    parley.app.parley.engines.register('local', () => ({
      name: 'local',
      open: async (opts: EngineOpenOptions): Promise<EngineConnection> => {
        await new Promise((r) => setTimeout(r, 800));
        opened++;
        queueMicrotask(() => opts.callbacks.onEvent({ type: 'session.created', event_id: `evt_${opened}`, session: opts.session }));
        return { send() {}, close: () => void closed++ };
      },
    }));
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, engine: 'local' });
    for (let i = 0; i < 10; i++) {
      const uac = new MiniUac(bridge.server.port);
      uacs.push(uac);
      await uac.bind();
      const final = await uac.inviteAndCancel(100);
      expect(final).toMatch(/^SIP\/2\.0 487/);
    }
    // the opens finish after the CANCELs: every one of them is closed again, no session stays
    await until(() => opened === 10, 5000, 'the slow opens to finish');
    await until(() => closed === opened && parley!.app.parley.sessions.active === 0, 3000, 'sessions and engine connections closed');
    expect(bridge.server.activeCalls).toBe(0);
    // and the server still takes calls (PARLEY_MAX_SESSIONS=5 is not exhausted)
    const uac = new MiniUac(bridge.server.port);
    uacs.push(uac);
    await uac.bind();
    await uac.call();
    expect(parley.app.parley.sessions.active).toBe(1);
    await uac.bye();
    await until(() => parley!.app.parley.sessions.active === 0, 3000, 'the answered call to end');
  }, 30_000);
});
