/**
 * An outbound call answered by a real softphone: POST /v1/calls dials baresip (auto-answer, a silent
 * microphone), the answered leg runs on the offline local engine with a profile whose first message the agent
 * says as soon as the call is up; baresip records what it hears and PocketSphinx finds the first message's
 * words in that recording. Parley then hangs up (BYE, answered 200 by baresip); the call record says
 * `status: answered`, `direction: outbound`, the profile, and the recording exists.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWavFile } from '../../audio/index.ts';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { outboundCalls } from '../../server/outbound/calls.ts';
import type { SipBridge } from '../../server/sip-bridge.ts';
import { until, type Parley } from '../component/helpers.ts';
import { startBaresip, waitFor } from '../fakes/sip-harness.ts';
import { hear, phoneWav, words } from '../support/hear.ts';
import { getCall, placeCall, startLocalSip, type LocalSip } from '../support/local-sip.ts';

const FIRST = 'Hello, this is the dental office calling to confirm your appointment for tomorrow morning.';
const FILE = { profiles: { reminder: { instructions: 'You remind patients of appointments.', firstMessage: FIRST } } };

describe('outbound call answered by baresip (local engine)', () => {
  let rig: LocalSip;
  let parley: Parley;
  let bridge: SipBridge;
  const stt = new PocketSphinxStt();
  const done = new Map<string, number>(); // call id → responses done
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-outbound-bs-data-'));

  beforeAll(async () => {
    rig = await startLocalSip({
      env: { PARLEY_ENGINE: 'local', PARLEY_RECORDING: 'stereo', PARLEY_DATA_DIR: dataDir },
      file: FILE,
      stt,
      observe: (call, ev) => {
        if (ev.type === 'response.done') done.set(call.id, (done.get(call.id) ?? 0) + 1);
      },
    });
    ({ parley, bridge } = rig);
  }, 60_000);
  afterAll(() => rig?.close());

  it('the called party hears the profile first message; Parley hangs up with BYE', async () => {
    const silence = join(mkdtempSync(join(tmpdir(), 'parley-outbound-bs-')), 'silence.wav');
    writeWavFile(silence, new Int16Array(8000 * 30), 8000);
    const bs = await startBaresip({ inputWav: silence, uri: null, autoAnswer: true, codecs: 'pcmu' });
    let id = '';
    try {
      id = await placeCall(parley, { to: `sip:caller@127.0.0.1:${bs.sipPort}`, profile: 'reminder', metadata: { patient: 'p-17' } });
      await bs.waitEvent('CALL_ESTABLISHED', 10_000);
      await waitFor(() => outboundCalls(parley.app).get(id)?.status === 'answered', 5000, 'answered');
      // the first message is spoken and played out, then Parley hangs up
      await waitFor(() => (done.get(id) ?? 0) >= 1, 30_000, 'the first message');
      const call = bridge.server.calls().find((c) => c.id === id)!;
      await waitFor(() => call.playout.queuedMs === 0, 20_000, 'first message played');
      await new Promise((r) => setTimeout(r, 500));
      await call.hangup('local-hangup', 'test');
      await bs.waitEvent('CALL_CLOSED', 5000);
    } finally {
      await bs.quit();
    }
    const dec = bs.decodedWav();
    expect(dec, 'baresip recorded what it heard').toBeTruthy();
    const heard = new Set(words(await hear(stt, phoneWav(dec as string))));
    const expected = ['hello', 'dental', 'office', 'calling', 'confirm', 'appointment', 'tomorrow', 'morning'];
    expect(expected.filter((w) => heard.has(w)).length, `heard: ${[...heard].join(' ')}`).toBeGreaterThanOrEqual(3);
    // the call record: answered, outbound, the profile and the request's metadata, a recording
    await until(() => parley.app.parley.recordings.get(id) === null, 5000, 'the recording finished');
    const rec = await getCall(parley, id);
    expect(rec).toMatchObject({ id, status: 'answered', direction: 'outbound', profile: 'reminder', door: 'sip' });
    expect(rec['metadata']).toMatchObject({ patient: 'p-17', direction: 'outbound' });
    expect(rec['recording_url']).toBeTruthy();
  }, 90_000);
});
