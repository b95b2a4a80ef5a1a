/**
 * Parley on the offline local engine (PocketSphinx → demo agent → flite) with its SIP door on 127.0.0.1 (an
 * ephemeral SIP port, the harness's RTP range), and optionally a warmed PocketSphinx to hear what the SIP peer
 * received (test/support/hear.ts): the set-up of the e2e tests where baresip or a MiniUac calls the local
 * engine, or Parley calls baresip (POST /v1/calls). `close()` stops all of it and the SIP peers the harness
 * started (baresip, SIPp: test/fakes/sip-harness.ts killAll).
 */
import type { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startSipBridge, type SipBridge, type SipBridgeOptions } from '../../server/sip-bridge.ts';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { killAll, rtpRange } from '../fakes/sip-harness.ts';

export interface LocalSip {
  parley: Parley;
  bridge: SipBridge;
  close(): Promise<void>;
}

export async function startLocalSip(
  o: {
    /** Parley's environment (LOG_LEVEL defaults to PARLEY_TEST_LOG or silent); the engine is the test's to choose. */
    env?: Record<string, string>;
    /** the PARLEY_CONFIG file's content (profiles, routes) */
    file?: unknown;
    observe?: SipBridgeOptions['observe'];
    /** warmed now, closed by close() */
    stt?: PocketSphinxStt;
  } = {},
): Promise<LocalSip> {
  const parley = await startParley({ env: { LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent', ...o.env }, ...(o.file !== undefined ? { file: o.file } : {}) });
  let bridge: SipBridge | undefined;
  try {
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() }, ...(o.observe ? { observe: o.observe } : {}) });
    await o.stt?.warm();
  } catch (err) {
    await bridge?.close();
    await parley.close();
    throw err;
  }
  const sip = bridge;
  return {
    parley,
    bridge: sip,
    close: async () => {
      await sip.close();
      await parley.close();
      await o.stt?.close();
      killAll();
    },
  };
}

/** POST /v1/calls with the test key; expects 201 and returns the call's id. */
export async function placeCall(parley: Parley, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${parley.httpUrl}/v1/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /v1/calls answered ${res.status}: ${await res.text()}`);
  return String(((await res.json()) as { id: string }).id);
}

/** GET /v1/calls/{id} with the test key: the record (and the outbound status). */
export async function getCall(parley: Parley, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${parley.httpUrl}/v1/calls/${id}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  return (await res.json()) as Record<string, unknown>;
}
