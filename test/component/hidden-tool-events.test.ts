/**
 * PARLEY_SERVER_TOOL_EVENTS=hide: the client never sees the server tools' calls or outputs (for
 * clients that fail on calls to tools they did not declare); the tool still runs and the model
 * still answers with its result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI, pcmChunkB64 } from '../fakes/index.ts';
import { startParley, TestClient, speak, until, type Parley } from './helpers.ts';

describe('hidden server-tool events', () => {
  let fake: FakeOpenAI;
  let parley: Parley;

  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    parley = await startParley({ fake, env: { PARLEY_SERVER_TOOL_EVENTS: 'hide' } });
  });
  afterAll(async () => {
    await parley?.close();
    await fake?.stop();
  });

  it('runs the tool, answers with its result, and shows the client none of it', async () => {
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
    speak((ev) => c.send(ev), pcmChunkB64, 300, 300);
    await until(() => c.of('response.done').length >= 2, 10_000, 'two responses');
    // upstream: the call happened and Parley answered it
    const outs = fake.received('conversation.item.create').filter((e) => (e['item'] as Record<string, unknown>)['type'] === 'function_call_output');
    expect(outs).toHaveLength(1);
    // client: no trace of the call or its output
    const leaked = c.events.filter((e) => {
      const item = e['item'] as Record<string, unknown> | undefined;
      return e.type.startsWith('response.function_call_arguments') || item?.['type'] === 'function_call' || item?.['type'] === 'function_call_output';
    });
    expect(leaked).toEqual([]);
    const outputs = c.of('response.done').map((e) => ((e['response'] as Record<string, unknown>)['output'] as Array<Record<string, unknown>>).map((i) => i['type']));
    expect(outputs).toEqual([[], ['message']]);
    // the user's turn and the spoken answer are there
    expect(c.of('conversation.item.done').some((e) => (e['item'] as Record<string, unknown>)['role'] === 'user')).toBe(true);
    expect(c.of('response.output_audio_transcript.done').at(-1)!['transcript']).toMatch(/The tool answered: \{"iso"/);
    // the history (for fallback) still has the call and its output
    const session = parley.app.parley.sessions.list()[0]!;
    expect(session.history.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message']);
    c.close();
  });
});
