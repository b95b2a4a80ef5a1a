/**
 * The offline `local` engine through the real server: WebSocket /v1/realtime, flite speech in,
 * PocketSphinx → demo agent → flite out. No key, no network. The reply audio is checked by
 * recognising it back with PocketSphinx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { startParley, TestClient, type Ev, type Parley } from '../component/helpers.ts';
import { recognise, responseAudio, speech16k, toAppendChunks, words } from '../unit/engines/cascade-harness.ts';

describe('local engine over WebSocket (offline voice turns)', () => {
  let parley: Parley;
  // the checker recognises the reply audio with PocketSphinx's second pass on (its most accurate setting)
  const stt = new PocketSphinxStt({ secondPass: true });
  const clients: TestClient[] = [];
  beforeAll(async () => {
    // No OPENAI_API_KEY and PARLEY_ENGINE unset (auto): sessions run on the local engine.
    parley = await startParley({ env: {} });
    expect(parley.app.parley.config.engine).toBe('local');
    await stt.warm();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await parley?.close();
    await stt.close();
  });

  async function connect(): Promise<TestClient> {
    const c = new TestClient(parley.wsUrl);
    clients.push(c);
    await c.opened;
    const eng = await c.waitFor('parley.engine', 15_000);
    expect(eng).toMatchObject({ engine: 'local', reason: 'initial' });
    c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1' } } } } });
    await c.waitFor('session.updated', 5_000);
    return c;
  }
  const append = (c: TestClient, chunks: string[]): void => { for (const audio of chunks) c.send({ type: 'input_audio_buffer.append', audio }); };
  const resp = (e: Ev): { id: string; status: string; status_details: unknown; output: Array<{ type: string; name?: string; content?: Array<{ transcript?: string }> }> } => e['response'] as never;

  it('a spoken turn: transcript, reply text, and reply audio the STT recognises back', async () => {
    const c = await connect();
    append(c, toAppendChunks(speech16k('book-table'), 'pcm'));
    const done = await c.waitFor('response.done', 20_000);
    const r = resp(done);
    expect(r.status).toBe('completed');
    const heardUser = (await c.waitFor('conversation.item.input_audio_transcription.completed', 5_000))['transcript'] as string;
    const expected = ['like', 'table', 'two', 'people', 'tomorrow', 'evening'];
    expect(words(heardUser).filter((w) => expected.includes(w)).length).toBeGreaterThanOrEqual(3);
    const reply = r.output[0]!.content![0]!.transcript!;
    expect(reply).toBe(`You said: ${heardUser}.`);
    const back = words(await recognise(stt, responseAudio(c.events, r.id)));
    expect(back.filter((w) => expected.includes(w)).length).toBeGreaterThanOrEqual(3);
    expect(c.of('error')).toEqual([]);
  });

  it('a tool call through the demo agent: the server runs get_current_time, the reply speaks the time', async () => {
    const c = await connect();
    append(c, toAppendChunks(speech16k('hello'), 'pcm'));
    const first = await c.waitFor('response.done', 20_000);
    expect(resp(first).output.map((o) => [o.type, o.name])).toEqual([['function_call', 'get_current_time']]);
    const second = await c.waitFor((e) => e.type === 'response.done' && e !== first, 20_000);
    const r = resp(second);
    expect(r.status).toBe('completed');
    const spoken = r.output[0]!.content![0]!.transcript!;
    expect(spoken).toMatch(/^It is \d{1,2}:\d{2} (AM|PM) UTC\.$/);
    // the function_call_output the Session sent back is in the conversation
    const outputs = c.of('conversation.item.added').filter((e) => (e['item'] as { type: string }).type === 'function_call_output');
    expect(outputs).toHaveLength(1);
    const back = words(await recognise(stt, responseAudio(c.events, r.id)));
    // flite renders differ from call to call, and PocketSphinx hears "It is …" as "is …" in some of them
    expect(back.filter((w) => w === 'it' || w === 'is').length).toBeGreaterThanOrEqual(1);
    expect(parley.app.parley.metrics.toolCalls.get({ tool: 'get_current_time', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });

  it('barge-in in the middle of a reply: response.done cancelled / turn_detected, then the new turn is answered', async () => {
    const c = await connect();
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Here is the first sentence. Here comes the second one. Then a third one. A fourth follows it. And a fifth. The sixth one is the last' }] } });
    const from = c.events.length;
    c.send({ type: 'response.create' });
    await c.waitFor((e) => e.type === 'response.output_audio.delta', 10_000, from);
    // the caller talks over the reply
    append(c, toAppendChunks(speech16k('goodbye'), 'pcm'));
    const done = await c.waitFor('response.done', 20_000, from);
    const r = resp(done);
    expect(r.status).toBe('cancelled');
    expect(r.status_details).toEqual({ type: 'cancelled', reason: 'turn_detected' });
    const idx = c.events.indexOf(done);
    const startedIdx = c.events.findIndex((e, i) => i >= from && e.type === 'input_audio_buffer.speech_started');
    expect(startedIdx).toBeGreaterThan(from);
    expect(startedIdx).toBeLessThan(idx);
    // no late deltas of the cancelled response
    const next = await c.waitFor((e) => e.type === 'response.done' && e !== done, 20_000, idx + 1);
    expect(c.events.slice(idx + 1).filter((e) => e['response_id'] === r.id)).toEqual([]);
    expect(resp(next).status).toBe('completed');
  });
});
