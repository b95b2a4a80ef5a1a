/**
 * The session as a typed hub (server/session/session.ts): observers see a whole call, and the hub's own
 * fixes — a cancelled response's server tools do not ask for a new response, a response.create that
 * throws on the way out ends its response and frees the queue, out-of-band responses and the
 * conversation are bounded, engineName is null before an engine is open. Real WS clients against a
 * listening Parley; the engine is a small scripted GA engine registered in the app.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineConnection, EngineOpenOptions } from '../../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEventBody } from '../../server/protocol/index.ts';
import type { SessionObserver } from '../../server/session/index.ts';
import { TestClient, startParley, until, sleep, type Parley } from './helpers.ts';

let parley: Parley | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await parley?.close();
  parley = undefined;
});

interface Script {
  received: ClientEvent[];
  /** Called for each client event; may emit. */
  onEvent?: (ev: ClientEvent, emit: (b: ServerEventBody) => void) => void;
  openDelayMs?: number;
}

let seq = 0;
const nid = (p: string): string => `${p}_${++seq}`;

function scripted(script: Script) {
  return () => ({
    name: 'local',
    open: async (opts: EngineOpenOptions): Promise<EngineConnection> => {
      if (script.openDelayMs) await sleep(script.openDelayMs);
      const emit = (b: ServerEventBody): void => opts.callbacks.onEvent({ ...b, event_id: nid('evt') } as Parameters<typeof opts.callbacks.onEvent>[0]);
      queueMicrotask(() => {
        emit({ type: 'session.created', session: opts.session });
        emit({ type: 'conversation.created', conversation: { id: nid('conv') } });
      });
      return {
        send(ev) {
          script.received.push(ev.type === 'input_audio_buffer.append' ? { ...ev, audio: ev.audio.copy() } : ev);
          if (ev.type === 'conversation.item.create') emit({ type: 'conversation.item.added', item: { ...ev.item, id: ev.item.id ?? nid('item') } });
          script.onEvent?.(ev, emit);
        },
        close() {},
      };
    },
  });
}

async function setup(script: Script, env: Record<string, string> = {}): Promise<Parley> {
  parley = await startParley({ env: { PARLEY_ENGINE: 'local', ...env } });
  parley.app.parley.engines.register('local', scripted(script));
  return parley;
}

async function connect(p: Parley): Promise<TestClient> {
  const c = new TestClient(p.wsUrl);
  clients.push(c);
  await c.opened;
  await c.waitFor('session.created', 3000);
  return c;
}

/** One response: created, an audio item with `chunks` deltas of 100 ms pcm, optionally a server tool call, done. */
function respond(emit: (b: ServerEventBody) => void, opts: { chunks?: number; tool?: string; status?: 'completed' | 'cancelled'; oob?: boolean } = {}): string {
  const id = nid('resp');
  const itemId = nid('item');
  const conversation_id = opts.oob ? null : 'conv';
  emit({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [], conversation_id } });
  for (let i = 0; i < (opts.chunks ?? 0); i++) {
    emit({ type: 'response.output_audio.delta', response_id: id, item_id: itemId, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(4800).fill(i + 1)) });
  }
  const output = [];
  if (opts.tool) {
    const call = { id: nid('item'), type: 'function_call' as const, status: 'completed' as const, name: opts.tool, call_id: nid('call'), arguments: '{}' };
    emit({ type: 'response.output_item.done', response_id: id, output_index: 0, item: call });
    output.push(call);
  }
  emit({ type: 'response.done', response: { id, object: 'realtime.response', status: opts.status ?? 'completed', output, conversation_id } });
  return id;
}

describe('session hub', () => {
  it('observers see the whole call: open, events, caller and agent audio, truncation, turn timings, tools, close', async () => {
    const script: Script = {
      received: [],
      onEvent(ev, emit) {
        if (ev.type === 'input_audio_buffer.commit') {
          emit({ type: 'input_audio_buffer.speech_started', item_id: 'item_u1', audio_start_ms: 0 });
          emit({ type: 'input_audio_buffer.speech_stopped', item_id: 'item_u1', audio_end_ms: 400 });
          setTimeout(() => respond(emit, { chunks: 3, tool: 'get_current_time' }), 30);
        }
      },
    };
    const p = await setup(script);
    const seen: Array<[string, unknown]> = [];
    const callerBytes: number[] = [];
    const agent: Array<{ itemId: string; offsetMs: number; bytes: number; first: number }> = [];
    const observer: SessionObserver = {
      opened: (s, engine) => seen.push(['opened', { leg: s.leg, engine }]),
      closed: (_s, end) => seen.push(['closed', end.reason], ['endReason', end.endReason]),
      answered: (atMs) => seen.push(['answered', atMs]),
      clientEvent: (ev) => seen.push(['client', ev.type]),
      serverEvent: (ev) => seen.push(['server', ev.type]),
      callerAudio: (chunk) => callerBytes.push(...chunk.bytes()),
      agentAudio: (chunk, at) => agent.push({ itemId: at.itemId, offsetMs: at.offsetMs, bytes: chunk.byteLength, first: chunk.bytes()[0]! }),
      agentAudioTruncated: (t) => seen.push(['truncated', t]),
      turn: (m) => seen.push(['turn', m]),
      toolCall: (r) => seen.push(['tool', r]),
    };
    p.app.parley.sessions.observe(() => observer);
    const c = await connect(p);
    const pcm = Buffer.from(Uint8Array.from({ length: 960 }, (_v, i) => i & 0xff));
    c.send({ type: 'input_audio_buffer.append', audio: pcm.toString('base64') });
    c.send({ type: 'input_audio_buffer.commit' });
    const delta = await c.waitFor('response.output_audio.delta', 3000);
    await until(() => seen.some(([k]) => k === 'tool'), 3000, 'the tool ran');
    c.send({ type: 'conversation.item.truncate', item_id: delta['item_id'] as string, content_index: 0, audio_end_ms: 150 });
    await until(() => seen.some(([k]) => k === 'truncated'), 3000, 'truncation observed');
    c.close();
    await until(() => seen.some(([k]) => k === 'closed'), 3000, 'closed');

    expect(seen[0]).toEqual(['opened', { leg: 'ws', engine: 'local' }]);
    expect(seen.filter(([k]) => k === 'answered')).toHaveLength(1);
    expect(Buffer.from(callerBytes).equals(pcm)).toBe(true);
    expect(agent.map((a) => [a.offsetMs, a.bytes, a.first])).toEqual([[0, 4800, 1], [100, 4800, 2], [200, 4800, 3]]);
    expect(seen.filter(([k]) => k === 'client').map(([, t]) => t)).toEqual(expect.arrayContaining(['input_audio_buffer.append', 'input_audio_buffer.commit', 'conversation.item.create', 'conversation.item.truncate']));
    expect(seen.filter(([k]) => k === 'server').map(([, t]) => t)).toEqual(expect.arrayContaining(['session.created', 'response.created', 'response.output_audio.delta', 'response.done']));
    const turns = seen.filter(([k]) => k === 'turn').map(([, m]) => m as { kind: string; sinceSpeechStoppedMs?: number | null });
    expect(turns.map((t) => t.kind).slice(0, 4)).toEqual(['speech_started', 'speech_stopped', 'first_audio', 'response_done']);
    expect(turns[2]!.sinceSpeechStoppedMs).toBeGreaterThanOrEqual(25);
    expect(seen.find(([k]) => k === 'tool')![1]).toMatchObject({ name: 'get_current_time', ok: true, arguments: '{}' });
    expect(seen.find(([k]) => k === 'truncated')![1]).toEqual({ itemId: delta['item_id'], contentIndex: 0, audioEndMs: 150 });
    expect(seen.at(-2)).toEqual(['closed', 'client disconnected']);
    expect(seen.at(-1)).toEqual(['endReason', 'caller_hangup']);
  });

  it('the end reason says who ended the call: the server shutting down, or the engine failing', async () => {
    const p = await setup({ received: [], onEvent: () => undefined });
    const ends: Array<{ reason: string; endReason: string; profile: string | null; call: object }> = [];
    p.app.parley.sessions.observe(() => ({ closed: (s, end) => ends.push({ reason: end.reason, endReason: end.endReason, profile: s.profile, call: s.call }) }));
    const c = await connect(p);
    await until(() => p.app.parley.sessions.active === 1, 3000, 'session open');
    for (const s of p.app.parley.sessions.list()) s.end(1001, 'server shutting down');
    await until(() => ends.length === 1, 3000, 'closed');
    expect(ends[0]).toEqual({ reason: 'server shutting down', endReason: 'shutdown', profile: null, call: {} });
    c.close();
  });

  it('an observer that throws is ignored; the call goes on', async () => {
    const script: Script = { received: [], onEvent: (ev, emit) => ev.type === 'response.create' && respond(emit, { chunks: 1 }) };
    const p = await setup(script);
    p.app.parley.sessions.observe(() => ({ serverEvent: () => { throw new Error('observer bug'); } }));
    const c = await connect(p);
    c.send({ type: 'response.create' });
    await c.waitFor('response.done', 3000);
    expect(c.of('error')).toEqual([]);
  });

  it('a cancelled response whose server tool ran: the output is sent, but no new response is asked for', async () => {
    const script: Script = {
      received: [],
      onEvent: (ev, emit) => {
        if (ev.type === 'response.create' && script.received.filter((e) => e.type === 'response.create').length === 1) respond(emit, { tool: 'get_current_time', status: 'cancelled' });
      },
    };
    const p = await setup(script);
    const c = await connect(p);
    c.send({ type: 'response.create' });
    await c.waitFor('response.done', 3000);
    await until(() => script.received.some((e) => e.type === 'conversation.item.create' && e.item.type === 'function_call_output'), 3000, 'tool output');
    await sleep(300);
    expect(script.received.filter((e) => e.type === 'response.create')).toHaveLength(1);
  });

  it('a completed response whose server tool ran asks for the next response', async () => {
    const script: Script = {
      received: [],
      onEvent: (ev, emit) => {
        if (ev.type !== 'response.create') return;
        const n = script.received.filter((e) => e.type === 'response.create').length;
        respond(emit, n === 1 ? { tool: 'get_current_time' } : { chunks: 1 });
      },
    };
    const p = await setup(script);
    const c = await connect(p);
    c.send({ type: 'response.create' });
    await until(() => script.received.filter((e) => e.type === 'response.create').length === 2, 3000, 'the follow-up response');
  });

  it('a response.create that throws on the way out ends its response (failed) and frees the queue', async () => {
    let thrown = false;
    const script: Script = {
      received: [],
      onEvent: (ev, emit) => {
        if (ev.type !== 'response.create') return;
        if (!thrown) {
          thrown = true;
          emit({ type: 'response.created', response: { id: 'resp_wedged', object: 'realtime.response', status: 'in_progress', output: [], conversation_id: 'conv' } });
          throw new RangeError('Maximum call stack size exceeded');
        }
        respond(emit, { chunks: 1 });
      },
    };
    const p = await setup(script);
    const c = await connect(p);
    c.send({ type: 'response.create', event_id: 'first' });
    const failed = await c.waitFor((e) => e.type === 'response.done' && (e['response'] as { id: string }).id === 'resp_wedged', 3000);
    expect((failed['response'] as { status: string }).status).toBe('failed');
    c.send({ type: 'response.create', event_id: 'second' });
    const done = await c.waitFor((e) => e.type === 'response.done' && (e['response'] as { id: string }).id !== 'resp_wedged', 3000);
    expect((done['response'] as { status: string }).status).toBe('completed');
  });

  it('out-of-band responses are bounded per session, with a clear error', async () => {
    const script: Script = { received: [] };
    const p = await setup(script);
    const c = await connect(p);
    for (let i = 0; i < 10; i++) c.send({ type: 'response.create', event_id: `oob_${i}`, response: { conversation: 'none', instructions: 'x' } });
    await until(() => c.of('error').length === 6, 3000, 'six refusals');
    expect(script.received.filter((e) => e.type === 'response.create')).toHaveLength(4);
    expect(c.of('error').map((e) => (e['error'] as { code: string; event_id: string }).code)).toEqual(Array(6).fill('too_many_out_of_band_responses'));
    expect((c.of('error')[0]!['error'] as { event_id: string }).event_id).toBe('oob_4');
  });

  it('the conversation is bounded: beyond its size, conversation.item.create gets a clear error', async () => {
    const script: Script = { received: [] };
    const p = await setup(script);
    const c = await connect(p);
    const item = { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x' }] };
    for (let i = 0; i < 1000; i++) c.send({ type: 'conversation.item.create', item });
    await until(() => c.of('conversation.item.added').length === 1000, 10_000, '1000 items');
    c.send({ type: 'conversation.item.create', event_id: 'one_too_many', item });
    const err = await c.waitFor('error', 3000);
    expect(err['error']).toMatchObject({ code: 'conversation_too_large', event_id: 'one_too_many' });
  });

  it('engineName is null until an engine is open', async () => {
    const script: Script = { received: [], openDelayMs: 300 };
    const p = await setup(script);
    const c = new TestClient(p.wsUrl);
    clients.push(c);
    await c.opened;
    await until(() => p.app.parley.sessions.list().length === 1, 2000, 'a session');
    expect(p.app.parley.sessions.list()[0]!.engineName).toBeNull();
    await c.waitFor('session.created', 3000);
    expect(p.app.parley.sessions.list()[0]!.engineName).toBe('local');
  });
});
