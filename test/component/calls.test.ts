/**
 * Call records (server/calls/, server/routes/calls.ts) on a listening Parley with a scripted GA engine:
 * a WS call's record as written while the call goes (transcript of both sides, the part of a reply
 * the caller did not hear, tool calls, turn timings, usage and cost by the price list); records left
 * open by a dead process closed as `interrupted` (on SQLite and on PostgreSQL); the API (filters,
 * pagination, 401, 400, 404, delete with the recording file); the retention sweep.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EngineConnection, EngineOpenOptions } from '../../server/engines/index.ts';
import { AudioChunk, type ServerEventBody } from '../../server/protocol/index.ts';
import { openStore, type CallRow, type StoreOptions } from '../../server/store/index.ts';
import { recordingPath } from '../../server/recording/index.ts';
import { ORPHAN_AFTER_MS, type CallRecord } from '../../server/calls/index.ts';
import { TestClient, TEST_KEY, startParley, until, type Parley } from './helpers.ts';
import { startPostgres, type PgCluster } from '../support/postgres.ts';

let cluster: PgCluster;
const tmp = mkdtempSync(join(tmpdir(), 'parley-calls-'));
let n = 0;
let parley: Parley | undefined;
const clients: TestClient[] = [];

beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await parley?.close();
  parley = undefined;
});

async function db(kind: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const dir = join(tmp, `d${++n}`);
  return kind === 'postgres' ? { PARLEY_DATA_DIR: dir, PARLEY_DATABASE_URL: await cluster.createDatabase() } : { PARLEY_DATA_DIR: dir };
}
const storeOpts = (env: Record<string, string>): StoreOptions => ({ dataDir: env['PARLEY_DATA_DIR']!, databaseUrl: env['PARLEY_DATABASE_URL'] ?? null });

let seq = 0;
const nid = (p: string): string => `${p}_${++seq}`;

const U1 = { total_tokens: 130, input_tokens: 100, output_tokens: 30, input_token_details: { text_tokens: 40, audio_tokens: 60, cached_tokens: 20, cached_tokens_details: { text_tokens: 20, audio_tokens: 0 } }, output_token_details: { text_tokens: 30, audio_tokens: 0 } };
const U2 = { total_tokens: 700, input_tokens: 200, output_tokens: 500, input_token_details: { text_tokens: 100, audio_tokens: 100, cached_tokens: 0 }, output_token_details: { text_tokens: 100, audio_tokens: 400 } };
const REPLY = 'It is noon, and a very fine day it is.';

/** A GA engine named `openai` that plays one turn: the caller asks, a tool runs, the agent answers in 10 chunks of 100 ms. */
function scriptedOpenai() {
  return () => ({
    name: 'openai',
    open: async (opts: EngineOpenOptions): Promise<EngineConnection> => {
      const emit = (b: ServerEventBody): void => opts.callbacks.onEvent({ ...b, event_id: nid('evt') } as Parameters<typeof opts.callbacks.onEvent>[0]);
      queueMicrotask(() => {
        emit({ type: 'session.created', session: opts.session });
        emit({ type: 'conversation.created', conversation: { id: nid('conv') } });
      });
      let responses = 0;
      return {
        send(ev) {
          if (ev.type === 'input_audio_buffer.commit') {
            emit({ type: 'input_audio_buffer.speech_started', item_id: 'item_u1', audio_start_ms: 500 });
            emit({ type: 'input_audio_buffer.speech_stopped', item_id: 'item_u1', audio_end_ms: 2000 });
            emit({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'item_u1', content_index: 0, transcript: 'What time is it?', usage: { type: 'tokens', input_tokens: 20, output_tokens: 5, input_token_details: { text_tokens: 0, audio_tokens: 20 } } });
            // the first response calls the server tool
            setTimeout(() => {
              const id = nid('resp');
              emit({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [], conversation_id: 'conv' } });
              const call = { id: nid('item'), type: 'function_call' as const, status: 'completed' as const, name: 'get_current_time', call_id: nid('call'), arguments: '{}' };
              emit({ type: 'response.output_item.done', response_id: id, output_index: 0, item: call });
              emit({ type: 'response.done', response: { id, object: 'realtime.response', status: 'completed', output: [call], conversation_id: 'conv', usage: U1 } });
            }, 30);
          } else if (ev.type === 'response.create' && ++responses === 1) {
            // the answer after the tool's output
            const id = nid('resp');
            const itemId = 'item_a2';
            emit({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [], conversation_id: 'conv' } });
            for (let i = 0; i < 10; i++) emit({ type: 'response.output_audio.delta', response_id: id, item_id: itemId, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(4800)) });
            emit({ type: 'response.output_audio_transcript.done', response_id: id, item_id: itemId, output_index: 0, content_index: 0, transcript: REPLY });
            emit({ type: 'response.done', response: { id, object: 'realtime.response', status: 'completed', output: [], conversation_id: 'conv', usage: U2 } });
          }
        },
        close() {},
      };
    },
  });
}

const auth = { authorization: `Bearer ${TEST_KEY}` };
async function get(p: Parley, path: string, headers: Record<string, string> = auth): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${p.httpUrl}${path}`, { headers });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

function row(id: string, over: Partial<CallRow> = {}): CallRow {
  return {
    id, door: 'ws', sipCallId: null, from: null, to: null, dialled: null, trunk: null, profile: null, metadata: {}, startedAtMs: Date.now() - 60_000,
    answeredAtMs: null, endedAtMs: null, endReason: null, engines: ['local'], recording: null, usage: null, cost: null, instance: null, ...over,
  };
}

describe('call records', () => {
  it('a WS call: both sides of the transcript, the unheard part of a cut reply, the tool call, turn timing, usage and cost', async () => {
    parley = await startParley({ env: { PARLEY_ENGINE: 'openai', OPENAI_API_KEY: 'sk-test-not-used', ...(await db('sqlite')) } });
    parley.app.parley.engines.register('openai', scriptedOpenai());
    const ended: CallRecord[] = [];
    parley.app.parley.calls!.onEnded((r) => ended.push(r));
    const c = new TestClient(parley.wsUrl);
    clients.push(c);
    await c.opened;
    const created = await c.waitFor('session.created', 3000);
    const id = (created['session'] as { id: string }).id;
    c.send({ type: 'input_audio_buffer.append', audio: Buffer.alloc(960).toString('base64') });
    c.send({ type: 'input_audio_buffer.commit' });
    await c.waitFor((e) => e.type === 'response.output_audio_transcript.done', 3000);
    // the caller barges in 400 ms into the 1000 ms reply
    c.send({ type: 'conversation.item.truncate', item_id: 'item_a2', content_index: 0, audio_end_ms: 400 });
    // while the call goes, its record is there already (open, with what was said so far)
    await until(() => parley!.app.parley.calls!.live.has(id), 2000, 'live');
    let live: Record<string, unknown> = {};
    for (let i = 0; i < 30; i++) {
      live = (await get(parley, `/v1/calls/${id}`)).body;
      if ((live['transcript'] as unknown[] | undefined)?.length === 2 && (live['tool_calls'] as unknown[]).length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(live).toMatchObject({ id, door: 'ws', ended_at: null, end_reason: null });
    // a call in progress is not deleted
    const del = await fetch(`${parley.httpUrl}/v1/calls/${id}`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(409);
    expect(((await del.json()) as { error: { code: string } }).error.code).toBe('call_in_progress');
    c.close();
    await until(() => ended.length === 1, 3000, 'the call ended');

    const { status, body } = await get(parley, `/v1/calls/${id}`);
    expect(status).toBe(200);
    const rec = body as unknown as CallRecord;
    expect(rec).toMatchObject({ id, door: 'ws', end_reason: 'caller_hangup', engines: ['openai'], profile: null });
    expect(Date.parse(rec.started_at)).toBeLessThanOrEqual(Date.parse(rec.answered_at!));
    expect(rec.duration_ms).toBe(Date.parse(rec.ended_at!) - Date.parse(rec.started_at));
    expect(rec.transcript.map((t) => [t.role, t.text])).toEqual([['user', 'What time is it?'], ['assistant', REPLY]]);
    const reply = rec.transcript[1]!;
    expect(reply).toMatchObject({ truncated: true, heard_ms: 400, audio_ms: 1000, heard_text: 'It is noon, and' });
    expect(rec.tool_calls).toHaveLength(1);
    expect(rec.tool_calls[0]).toMatchObject({ name: 'get_current_time', arguments: '{}', ok: true });
    expect(rec.tool_calls[0]!.output).toMatch(/\d{4}-\d{2}-\d{2}T/);
    // one turn: the caller's speech stopped → the answer's first audio (after the tool ran)
    expect(rec.turns).toHaveLength(1);
    expect(rec.turns[0]).toMatchObject({ item_id: 'item_a2' });
    expect(rec.turns[0]!.latency_ms).toBeGreaterThanOrEqual(25);
    expect(rec.usage).toMatchObject({ responses: 2, input_tokens: 300, output_tokens: 530, output_audio_tokens: 400, cached_input_tokens: 20, stt_seconds: 1.5 });
    // gpt-realtime: 20×4 + 20×0.4 + 60×32 + 30×16 + 100×4 + 100×32 + 100×16 + 400×64 per 1M; gpt-4o-mini-transcribe: 20×3 + 5×5 per 1M
    expect(rec.cost.total_usd).toBeCloseTo(0.033288 + 0.000085, 9);
    expect(rec.cost.items.map((i) => [i.model, i.kind])).toEqual([['gpt-4o-mini-transcribe', 'stt'], ['gpt-realtime', 'realtime']]);
    expect(rec.recording_url).toBeNull();
    // the end-of-call listener got the same record
    expect(ended[0]).toMatchObject({ id, end_reason: 'caller_hangup', transcript: rec.transcript, cost: rec.cost });
  });

  it.each(['sqlite', 'postgres'] as const)('%s: records a dead process left open are closed as interrupted; a live process keeps its own; an earlier process of this id is closed at start', async (kind) => {
    const env = { ...(await db(kind)), PARLEY_INSTANCE_ID: 'parley-me', PARLEY_INSTANCE_TTL_MS: '2000' };
    const store = await openStore(storeOpts(env));
    const t0 = Date.now() - 120_000;
    await store.calls.heartbeat('inst_dead', 2000);
    await store.calls.leave('inst_dead');
    await store.calls.heartbeat('inst_alive', 60_000);
    store.calls.open(row('crashed', { instance: 'inst_dead', startedAtMs: t0, answeredAtMs: t0 + 100, door: 'sip' }));
    store.calls.append({ callId: 'crashed', seq: 1, kind: 'transcript', atMs: t0 + 2000, body: { role: 'user', item_id: 'u1', text: 'hello there' } });
    store.calls.append({ callId: 'crashed', seq: 2, kind: 'usage', atMs: t0 + 3000, body: { response_id: 'r1', status: 'completed', engine: 'openai', model: 'gpt-realtime', usage: U2 } });
    store.calls.open(row('elsewhere', { instance: 'inst_alive', startedAtMs: t0 }));
    store.calls.open(row('unowned', { startedAtMs: t0 }));
    // an earlier process with this instance id (a kill -9, then a restart within the TTL): its call is closed at once
    await store.calls.heartbeat('parley-me', 60_000);
    store.calls.open(row('mine_before', { instance: 'parley-me', startedAtMs: t0 }));
    await store.close();

    parley = await startParley({ env });
    const calls = parley.app.parley.calls!;
    expect(calls.instance).toBe('parley-me');
    expect((await calls.get('mine_before'))!.end_reason).toBe('interrupted');
    // others' calls: once this process may judge (its heartbeat and the database up for a TTL)
    for (const end = Date.now() + 10_000; (await calls.get('crashed'))!.end_reason !== 'interrupted' && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
    const crashed = await calls.get('crashed');
    expect(crashed).toMatchObject({ end_reason: 'interrupted', ended_at: new Date(t0 + 3000).toISOString(), transcript: [{ role: 'user', text: 'hello there' }] });
    expect(crashed!.cost.total_usd).toBeCloseTo(0.0308, 9);
    expect((await calls.get('unowned'))!.end_reason).toBe('interrupted');
    expect((await calls.get('elsewhere'))!.end_reason).toBeNull();
    // once that process has stopped beating past its TTL, a sweep closes its calls too
    expect(await calls.closeOrphans(Date.now() + 120_000)).toBe(1);
    expect((await calls.get('elsewhere'))!.end_reason).toBe('interrupted');
    // this process's own open calls are never swept as others'
    parley.app.parley.store!.calls.open(row('mine', { instance: calls.instance }));
    expect(await calls.closeOrphans(Date.now() + 10 * ORPHAN_AFTER_MS)).toBe(0);
  });

  it('postgres: right after the database restarts nobody judges heartbeats (none could beat); once it has been up a TTL, a dead instance\'s calls are closed', async () => {
    const env = { ...(await db('postgres')), PARLEY_INSTANCE_ID: 'parley-judge', PARLEY_INSTANCE_TTL_MS: '3000' };
    const store = await openStore(storeOpts(env));
    await store.calls.heartbeat('inst_other', 3000);
    store.calls.open(row('other_call', { instance: 'inst_other' }));
    await store.close();
    // the database restarts; inst_other's row expires meanwhile (as every instance's would in an outage)
    await cluster.stopServer();
    await new Promise((r) => setTimeout(r, 3500));
    await cluster.startServer();
    const upAt = Date.now();
    parley = await startParley({ env });
    const calls = parley.app.parley.calls!;
    expect(calls.canJudgeOthers()).toBe(Date.now() - upAt >= 3000);
    if (Date.now() - upAt < 2500) expect((await calls.get('other_call'))!.end_reason).toBeNull();
    // inst_other really is gone: once the database has been up a TTL, a sweep closes its call
    for (const end = Date.now() + 10_000; (await calls.get('other_call'))!.end_reason === null && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
    expect((await calls.get('other_call'))!.end_reason).toBe('interrupted');
    expect(Date.now() - upAt).toBeGreaterThanOrEqual(3000);
  });

  it('the API: a server key (401 without), filters, cursor pages newest first, bad parameters 400, unknown 404, delete', async () => {
    const env = await db('sqlite');
    const store = await openStore(storeOpts(env));
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    for (let i = 0; i < 25; i++) {
      store.calls.open(row(`call_${String(i).padStart(2, '0')}`, {
        startedAtMs: t0 + i * 60_000, endedAtMs: t0 + i * 60_000 + 30_000, endReason: i % 5 === 0 ? 'error' : 'caller_hangup', door: i % 2 ? 'sip' : 'ws',
        from: i === 7 ? '+49 30 1234567' : `sip:caller${i}@example.com`, profile: i < 3 ? 'support' : null, usage: {}, cost: { total_usd: 0 },
      }));
    }
    await store.close();
    parley = await startParley({ env });
    const p = parley;
    expect((await get(p, '/v1/calls', {})).status).toBe(401);
    expect((await get(p, '/v1/calls', { authorization: 'Bearer not-a-key-0123456789' })).status).toBe(401);
    expect((await get(p, '/v1/calls/call_01', {})).status).toBe(401);

    const ids = (b: Record<string, unknown>): string[] => (b['data'] as Array<{ id: string }>).map((r) => r.id);
    const first = await get(p, '/v1/calls?limit=10');
    expect(first.status).toBe(200);
    expect(ids(first.body)).toEqual(Array.from({ length: 10 }, (_, i) => `call_${String(24 - i).padStart(2, '0')}`));
    const all: string[] = [...ids(first.body)];
    let cursor = first.body['next_cursor'] as string | null;
    while (cursor !== null) {
      const page = await get(p, `/v1/calls?limit=10&cursor=${encodeURIComponent(cursor)}`);
      all.push(...ids(page.body));
      cursor = page.body['next_cursor'] as string | null;
    }
    expect(all).toHaveLength(25);
    expect(new Set(all).size).toBe(25);
    expect(ids((await get(p, '/v1/calls?end_reason=error')).body)).toEqual(['call_20', 'call_15', 'call_10', 'call_05', 'call_00']);
    expect(ids((await get(p, '/v1/calls?door=sip&profile=support')).body)).toEqual(['call_01']);
    expect(ids((await get(p, `/v1/calls?number=${encodeURIComponent('30 1234')}`)).body)).toEqual(['call_07']);
    expect(ids((await get(p, '/v1/calls?from=2030-01-01T00:02:00Z&to=2030-01-01T00:04:00Z')).body)).toEqual(['call_03', 'call_02']);
    expect(ids((await get(p, `/v1/calls?from=${t0 + 23 * 60_000}`)).body)).toEqual(['call_24', 'call_23']);
    const rec = (await get(p, '/v1/calls/call_07')).body;
    expect(rec).toMatchObject({ id: 'call_07', door: 'sip', from: '+49 30 1234567', end_reason: 'caller_hangup', duration_ms: 30_000, transcript: [], tool_calls: [], started_at: '2030-01-01T00:07:00.000Z' });

    for (const [q, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['door=fax', 'door'], ['from=yesterday', 'from'], ['end_reason=bored', 'end_reason'], ['cursor=abc', 'cursor'], ['colour=red', 'colour'], ['from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', 'to']] as const) {
      const r = await get(p, `/v1/calls?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body['error'], q).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param });
    }
    const missing = await get(p, '/v1/calls/call_nope');
    expect(missing.status).toBe(404);
    expect(missing.body['error']).toMatchObject({ code: 'call_not_found' });

    // delete: the record, its events, its outbox rows and its recording file
    const file = recordingPath(env['PARLEY_DATA_DIR']!, 'call_03');
    mkdirSync(join(env['PARLEY_DATA_DIR']!, 'recordings'), { recursive: true });
    writeFileSync(file, 'RIFF');
    expect((await get(p, '/v1/calls/call_03')).body['recording_url']).toBe('/v1/calls/call_03/recording');
    await p.app.parley.store!.outbox.enqueue([{ id: 'evt_c3', callId: 'call_03', type: 'call.ended', body: '{}' }]);
    const del = (id: string, headers: Record<string, string> = auth): Promise<Response> => fetch(`${p.httpUrl}/v1/calls/${id}`, { method: 'DELETE', headers });
    expect((await del('call_03', {})).status).toBe(401);
    const ok = await del('call_03');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: 'call_03', object: 'call.deleted', deleted: true });
    expect(existsSync(file)).toBe(false);
    expect((await get(p, '/v1/calls/call_03')).status).toBe(404);
    expect(await p.app.parley.store!.outbox.get('evt_c3')).toBeNull();
    expect((await del('call_03')).status).toBe(404);
  });

  it('the retention sweep deletes calls (and recordings) older than PARLEY_RETENTION_DAYS', async () => {
    const env: Record<string, string> = { ...(await db('sqlite')), PARLEY_RETENTION_DAYS: '30' };
    const store = await openStore(storeOpts(env));
    const now = Date.now();
    store.calls.open(row('old', { startedAtMs: now - 31 * 86_400_000, endedAtMs: now - 31 * 86_400_000 + 1000, endReason: 'caller_hangup' }));
    store.calls.open(row('recent', { startedAtMs: now - 29 * 86_400_000, endedAtMs: now - 29 * 86_400_000 + 1000, endReason: 'caller_hangup' }));
    await store.close();
    mkdirSync(join(env['PARLEY_DATA_DIR']!, 'recordings'), { recursive: true });
    writeFileSync(recordingPath(env['PARLEY_DATA_DIR']!, 'old'), 'RIFF');
    parley = await startParley({ env });
    expect(await parley.app.parley.calls!.sweepRetention(now)).toBe(1);
    expect(await parley.app.parley.calls!.get('old')).toBeNull();
    expect(existsSync(recordingPath(env['PARLEY_DATA_DIR']!, 'old'))).toBe(false);
    expect(await parley.app.parley.calls!.get('recent')).not.toBeNull();
  });
});
