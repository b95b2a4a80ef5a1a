/**
 * Real calls end with records in both databases: Parley writes its records to SQLite (its default store)
 * and, through a second call-record observer on the same sessions, to a real PostgreSQL
 * (test/support/postgres.ts). A WS client and a real softphone (baresip, μ-law over UDP) call it at the
 * same time, on the offline local engine, and each asks the time (flite speech). PocketSphinx hears it, the demo agent
 * runs get_current_time and says the time; the WS caller hangs up, the SIP caller says "Okay, bye bye"
 * and the agent ends the call. Each record holds the spoken words of both sides, the tool call and the
 * end reason, and the API lists it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile, writeWavFile } from '../../audio/index.ts';
import { startSipBridge, type SipBridge } from '../../server/sip-bridge.ts';
import { CallRecords, type CallRecord } from '../../server/calls/index.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { startParley, TestClient, TEST_KEY, until, type Parley } from '../component/helpers.ts';
import { killAll, rtpRange, startBaresip } from '../fakes/sip-harness.ts';
import { toAppendChunks } from '../unit/engines/cascade-harness.ts';
import { startPostgres, type PgCluster } from '../support/postgres.ts';
import { words } from '../support/hear.ts';

const tmp = mkdtempSync(join(tmpdir(), 'parley-records-e2e-'));
let cluster: PgCluster;
let question16k: Int16Array;
let callerWav: string;

beforeAll(async () => {
  cluster = await startPostgres();
  // flite: "Hello, what time is it?"
  const q = new URL('../../fixtures/speech/hello.wav', import.meta.url).pathname;
  question16k = readWavFile(q, { sampleRateHz: 16_000 }).samples;
  // the phone caller (8 kHz μ-law, which PocketSphinx hears less well): a question it hears reliably,
  // room for the answer, "Okay, bye bye.", room for the goodbye
  const phone = join(tmp, 'tell-me-the-time.wav');
  execFileSync('flite', ['-t', 'Could you tell me the time?', '-o', phone]);
  const q8 = readWavFile(phone, { sampleRateHz: 8000 }).samples;
  const bye = readWavFile(new URL('../../fixtures/sip/okay-bye-bye.wav', import.meta.url).pathname, { sampleRateHz: 8000 }).samples;
  const sil = (s: number): number => Math.round(s * 8000);
  const out = new Int16Array(sil(0.5) + q8.length + sil(14) + bye.length + sil(12));
  out.set(q8, sil(0.5));
  out.set(bye, sil(0.5) + q8.length + sil(14));
  callerWav = join(tmp, 'caller.wav');
  writeWavFile(callerWav, out, 8000);
}, 60_000);

afterAll(async () => {
  killAll();
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('call records of real calls, in SQLite and in PostgreSQL', () => {
  let parley: Parley;
  let bridge: SipBridge;
  let pgStore: Store;
  let pgCalls: CallRecords;
  beforeAll(async () => {
    parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_DATA_DIR: join(tmp, 'data'), LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' } });
    expect(parley.app.parley.store!.dialect).toBe('sqlite');
    // the same sessions also recorded into PostgreSQL
    pgStore = await openStore({ dataDir: join(tmp, 'data'), databaseUrl: await cluster.createDatabase() });
    expect(pgStore.dialect).toBe('postgres');
    pgCalls = new CallRecords({ store: pgStore, config: parley.app.parley.config, log: parley.app.parley.log });
    parley.app.parley.sessions.observe(pgCalls.observer);
    bridge = await startSipBridge(parley.app, { sip: { host: '127.0.0.1', port: 0, rtpPorts: rtpRange() } });
  }, 60_000);
  afterAll(async () => {
    await bridge?.close();
    await parley?.close();
    await pgStore?.close();
  });

  it('a WS call and a baresip call: the words of both sides, get_current_time, the end reason', async () => {
    const ended = new Map<string, CallRecord>();
    parley.app.parley.calls!.onEnded((r) => ended.set(`sqlite ${r.door}`, r));
    pgCalls.onEnded((r) => ended.set(`postgres ${r.door}`, r));

    const ws = async (): Promise<string> => {
      const c = new TestClient(parley.wsUrl);
      await c.opened;
      const id = ((await c.waitFor('session.created', 15_000))['session'] as { id: string }).id;
      c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1' } } } } });
      await c.waitFor('session.updated', 5_000);
      for (const audio of toAppendChunks(question16k, 'pcm')) c.send({ type: 'input_audio_buffer.append', audio });
      await c.waitFor((e) => e.type === 'response.output_audio_transcript.done' && /^It is /.test(String(e['transcript'])), 40_000);
      await c.waitFor((e) => e.type === 'response.done' && (e['response'] as { output?: Array<{ type: string }> }).output?.[0]?.type === 'message', 10_000);
      c.close();
      return id;
    };
    const sip = async (): Promise<void> => {
      const bs = await startBaresip({ inputWav: callerWav, uri: `sip:1000@127.0.0.1:${bridge.server.port}`, codecs: 'pcmu' });
      try {
        await bs.waitEvent('CALL_ESTABLISHED', 10_000);
        await bs.waitEvent('CALL_CLOSED', 60_000);
      } finally {
        await bs.quit();
      }
    };
    const [wsId] = await Promise.all([ws(), sip()]);
    await until(() => ended.size === 4, 10_000, 'both calls closed in both databases');

    // SQLite through the API, PostgreSQL through its CallRecords
    const get = async (path: string): Promise<Record<string, unknown>> => (await (await fetch(`${parley.httpUrl}${path}`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as Record<string, unknown>;
    const sipList = (await get('/v1/calls?door=sip'))['data'] as CallRecord[];
    expect(sipList).toHaveLength(1);
    const sipId = sipList[0]!.id;
    const records: Array<[string, CallRecord]> = [
      ['sqlite', (await get(`/v1/calls/${wsId}`)) as unknown as CallRecord],
      ['sqlite', (await get(`/v1/calls/${sipId}`)) as unknown as CallRecord],
      ['postgres', (await pgCalls.get(wsId))!],
      ['postgres', (await pgCalls.get(sipId))!],
    ];
    expect((await pgCalls.list({ door: 'sip' }, 10, null)).data.map((r) => r.id)).toEqual([sipId]);

    const said = (r: CallRecord, role: 'user' | 'assistant'): string => r.transcript.filter((t) => t.role === role).map((t) => t.text).join(' | ');
    for (const [db, r] of records) {
      const what = `${db} ${r.door}: ${JSON.stringify({ transcript: r.transcript, tool_calls: r.tool_calls, end_reason: r.end_reason, turns: r.turns, usage: r.usage })}`;
      expect(words(said(r, 'user')), what).toContain('time');
      expect(said(r, 'assistant'), what).toMatch(/It is \d{1,2}:\d{2} (AM|PM) UTC\./);
      expect(r.tool_calls.find((t) => t.name === 'get_current_time'), what).toMatchObject({ ok: true, arguments: expect.any(String) });
      expect(r.engines).toEqual(['local']);
      expect(r.usage.stt_seconds).toBeGreaterThan(0.5);
      expect(r.usage.tts_characters).toBeGreaterThan(10);
      expect(r.cost.total_usd).toBe(0);
      expect(r.turns.length).toBeGreaterThanOrEqual(1);
      expect(Date.parse(r.ended_at!)).toBeGreaterThan(Date.parse(r.started_at));
      if (r.door === 'ws') {
        expect(r).toMatchObject({ id: wsId, end_reason: 'caller_hangup' });
      } else {
        expect(r).toMatchObject({ id: sipId, end_reason: 'agent_ended', dialled: '1000' });
        expect(r.sip_call_id).toEqual(expect.any(String));
        expect(r.answered_at).not.toBeNull();
        expect(said(r, 'assistant'), what).toMatch(/Goodbye!/);
        expect(r.tool_calls.map((t) => t.name)).toContain('end_call');
      }
    }
    // both databases hold the same words; the end-of-call listener got what the database holds
    expect(records[3]![1].transcript).toEqual(records[1]![1].transcript);
    expect(ended.get('sqlite sip')!.transcript).toEqual(records[1]![1].transcript);
  }, 120_000);
});
