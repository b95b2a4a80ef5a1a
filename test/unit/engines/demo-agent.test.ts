import { describe, expect, it } from 'vitest';
import { DemoAgent, spokenTime } from '../../../server/agent/index.ts';
import type { ChatChunk, ChatMessage, ChatTool } from '../../../server/engines/providers/index.ts';

const TOOLS: ChatTool[] = [
  { name: 'get_current_time', description: 'time', parameters: { type: 'object', properties: { timezone: { type: 'string' } } } },
  { name: 'end_call', description: 'hang up', parameters: { type: 'object', properties: { reason: { type: 'string' } }, required: ['reason'] } },
  { name: 'transfer_call', description: 'transfer', parameters: { type: 'object', properties: { target: { type: 'string' } }, required: ['target'] } },
];

async function run(messages: ChatMessage[], tools: ChatTool[] = TOOLS, toolChoice?: 'none'): Promise<{ text: string; calls: { name: string; args: string; callId: string }[]; chunks: ChatChunk[] }> {
  const agent = new DemoAgent();
  const chunks: ChatChunk[] = [];
  for await (const c of agent.stream({ messages, tools, ...(toolChoice ? { toolChoice } : {}), signal: new AbortController().signal })) chunks.push(c);
  const calls: { name: string; args: string; callId: string }[] = [];
  let text = '';
  for (const c of chunks) {
    if (c.type === 'text') text += c.delta;
    if (c.type === 'tool_call') calls[c.index] = { name: c.name, args: '', callId: c.callId };
    if (c.type === 'tool_arguments') calls[c.index]!.args += c.delta;
  }
  return { text, calls, chunks };
}
const user = (content: string): ChatMessage[] => [{ role: 'system', content: 'be nice' }, { role: 'user', content }];

describe('DemoAgent', () => {
  it('greets back, streaming word by word', async () => {
    const r = await run(user('hello there'));
    expect(r.text).toBe('Hello! How can I help you today?');
    expect(r.chunks.filter((c) => c.type === 'text').length).toBeGreaterThan(3);
    expect(r.chunks.at(-1)).toEqual({ type: 'done', finishReason: 'stop' });
  });

  it('says what it heard otherwise', async () => {
    expect((await run(user('the weather in london'))).text).toBe('You said: the weather in london.');
  });

  it('calls get_current_time, then speaks the result', async () => {
    const r = await run(user('what time is it'));
    expect(r.calls.map((c) => c.name)).toEqual(['get_current_time']);
    expect(JSON.parse(r.calls[0]!.args)).toEqual({});
    expect(r.chunks.filter((c) => c.type === 'tool_arguments').length).toBeGreaterThanOrEqual(1);
    expect(r.chunks.at(-1)).toEqual({ type: 'done', finishReason: 'tool_calls' });
    const after = await run([
      ...user('what time is it'),
      { role: 'assistant', content: null, tool_calls: [{ id: r.calls[0]!.callId, type: 'function', function: { name: 'get_current_time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: r.calls[0]!.callId, content: '{"iso":"2026-11-26T15:04:00Z"}' },
    ]);
    expect(after.text).toBe('It is 3:04 PM UTC.');
    expect(after.calls).toEqual([]);
  });

  it('says goodbye and calls end_call with schema-valid arguments', async () => {
    const r = await run(user('ok thanks, goodbye'));
    expect(r.text).toBe('Goodbye!');
    expect(r.calls[0]!.name).toBe('end_call');
    expect(JSON.parse(r.calls[0]!.args)).toEqual({ reason: 'caller said goodbye' });
  });

  it('transfers to the named target', async () => {
    const r = await run(user('Please transfer me to the billing department.'));
    expect(r.calls[0]!.name).toBe('transfer_call');
    expect(JSON.parse(r.calls[0]!.args)).toEqual({ target: 'billing department' });
  });

  it('does not call tools the session does not have, or when tool_choice is none', async () => {
    expect((await run(user('what time is it'), [])).text).toBe('You said: what time is it.');
    expect((await run(user('what time is it'), TOOLS, 'none')).calls).toEqual([]);
    expect((await run(user('goodbye'), [])).calls).toEqual([]);
  });

  it('handles empty input and a response without any user turn', async () => {
    expect((await run(user(''))).text).toBe("Sorry, I didn't catch that.");
    expect((await run([{ role: 'system', content: 'x' }])).text).toBe('Hello! How can I help you today?');
  });

  it('stops when aborted', async () => {
    const ctrl = new AbortController();
    const got: ChatChunk[] = [];
    for await (const c of new DemoAgent().stream({ messages: user('one two three four five six'), tools: [], signal: ctrl.signal })) {
      got.push(c);
      if (got.length === 2) ctrl.abort();
    }
    expect(got.length).toBe(2);
  });

  it('spokenTime reads ISO strings, objects with a zone, and passes text through', () => {
    expect(spokenTime('"2026-01-01T09:30:00Z"')).toBe('9:30 AM UTC');
    expect(spokenTime('{"time":"2026-01-01T09:30:00Z","timezone":"Europe/Paris"}')).toMatch(/^10:30 AM/);
    expect(spokenTime('half past nine')).toBe('half past nine');
  });
});
