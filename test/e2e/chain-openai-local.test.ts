/**
 * Two Parley instances chained: A (engine `openai`, OPENAI_BASE_URL → B's /v1/realtime) in front
 * of B (engine `local`, offline). The official `openai` client (OpenAIRealtimeWS) talks to A over
 * WSS; A speaks GA to B exactly as it would to OpenAI. Server tools run at the edge (A); B is
 * configured without server tools (PARLEY_TOOLS=none) so a call is answered once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { PocketSphinxStt } from '../../server/engines/providers/index.ts';
import { makeTestCert, startParley, TEST_KEY, until, type Parley, type TestCert } from '../component/helpers.ts';
import { recognise, responseAudio, speech16k, toAppendChunks, words } from '../unit/engines/cascade-harness.ts';

type Ev = { type: string; [k: string]: unknown };

describe('Parley A (openai engine) chained to Parley B (local engine)', () => {
  let a: Parley;
  let b: Parley;
  let cert: TestCert;
  const stt = new PocketSphinxStt();

  beforeAll(async () => {
    cert = makeTestCert();
    b = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_TOOLS: 'none' } });
    a = await startParley({ cert, env: { PARLEY_ENGINE: 'openai', OPENAI_API_KEY: TEST_KEY, OPENAI_BASE_URL: `${b.httpUrl}/v1` } });
    await stt.warm();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    cert?.cleanup();
    await stt.close();
  });

  it('the official client holds a spoken conversation, with a server tool, through A to the offline engine in B', async () => {
    const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${a.httpUrl}/v1` });
    const rt = new OpenAIRealtimeWS({ model: 'gpt-realtime', options: { ca: cert.certPem } }, client);
    const events: Ev[] = [];
    const errors: unknown[] = [];
    rt.on('event', (e) => events.push(e as unknown as Ev));
    rt.on('error', (e) => errors.push(e));
    const of = (t: string, from = 0): Ev[] => events.slice(from).filter((e) => e.type === t);
    await new Promise<void>((resolve, reject) => { rt.socket.once('open', () => resolve()); rt.socket.once('error', reject); });
    await until(() => of('conversation.created').length === 1, 10_000, 'conversation.created');
    // GA order: session.created first, once; parley.engine never precedes it
    expect(events[0]!.type).toBe('session.created');
    expect(of('session.created')).toHaveLength(1);
    // A announces its engine (openai); B's own announcement (local) is relayed through as an event too
    await until(() => of('parley.engine').length >= 2, 5_000, 'parley.engine from A and B');
    expect(of('parley.engine').map((e) => e['engine']).sort()).toEqual(['local', 'openai']);
    rt.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { transcription: { model: 'whisper-1' } } } } });
    await until(() => of('session.updated').length >= 1, 5_000, 'session.updated');

    // turn 1: spoken, answered by B's demo agent, audio back through A
    for (const audio of toAppendChunks(speech16k('book-table'), 'pcm')) rt.send({ type: 'input_audio_buffer.append', audio });
    await until(() => of('response.done').length >= 1, 20_000, 'first response');
    const r1 = of('response.done')[0]!['response'] as { id: string; status: string; output: Array<{ content: Array<{ transcript: string }> }> };
    expect(r1.status).toBe('completed');
    const reply = r1.output[0]!.content[0]!.transcript;
    expect(reply).toMatch(/^You said: .*table.*\.$/);
    const heard = words(await recognise(stt, responseAudio(events, r1.id)));
    expect(heard.filter((w) => ['table', 'two', 'people', 'tomorrow', 'evening'].includes(w)).length).toBeGreaterThanOrEqual(2);
    expect(of('conversation.item.input_audio_transcription.completed')).toHaveLength(1);

    // turn 2: "what time is it" → B's agent calls get_current_time → A runs it → B speaks the time
    const from = events.length;
    for (const audio of toAppendChunks(speech16k('hello'), 'pcm')) rt.send({ type: 'input_audio_buffer.append', audio });
    await until(() => of('response.done', from).length >= 2, 20_000, 'tool call and spoken answer');
    const [call, spoken] = of('response.done', from).map((e) => e['response'] as { status: string; output: Array<{ type: string; name?: string; content?: Array<{ transcript: string }> }> });
    expect(call!.output.map((o) => [o.type, o.name])).toEqual([['function_call', 'get_current_time']]);
    expect(spoken!.status).toBe('completed');
    expect(spoken!.output[0]!.content![0]!.transcript).toMatch(/^It is \d{1,2}:\d{2} (AM|PM) UTC\.$/);
    expect(a.app.parley.metrics.toolCalls.get({ tool: 'get_current_time', outcome: 'ok' })).toBe(1);

    expect(errors).toEqual([]);
    expect(of('error')).toEqual([]);
    rt.close();
    await until(() => a.app.parley.sessions.active === 0 && b.app.parley.sessions.active === 0, 5_000, 'both sessions to end');
  });
});
