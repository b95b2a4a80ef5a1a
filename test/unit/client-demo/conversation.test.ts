import { describe, expect, it } from 'vitest';
import { ConversationModel, heardPart } from '../../../client-demo/src/lib/conversation.ts';
import type { ChatEntry } from '../../../client-demo/src/lib/conversation.ts';

describe('ConversationModel: what the page shows, from GA server events', () => {
  it('builds the chat in item order even when the user transcript arrives late (§1.7)', () => {
    const changes: ChatEntry[] = [];
    const m = new ConversationModel({ onChange: (e) => changes.push(e) });
    const feed = (ev: Record<string, unknown> & { type: string }, t = 0) => m.handle(ev, t);
    feed({ type: 'session.created', session: { id: 'sess_1' } });
    feed({ type: 'parley.engine', engine: 'local', reason: 'initial' });
    feed({ type: 'input_audio_buffer.speech_started', audio_start_ms: 100, item_id: 'item_u1' });
    expect(m.userSpeaking).toBe(true);
    feed({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: 1500, item_id: 'item_u1' }, 1000);
    expect(m.userSpeaking).toBe(false);
    feed({ type: 'conversation.item.added', item: { id: 'item_u1', type: 'message', role: 'user', content: [{ type: 'input_audio' }] } });
    feed({ type: 'response.output_item.added', item: { id: 'item_a1', type: 'message', role: 'assistant', content: [] } });
    feed({ type: 'response.output_audio.delta', item_id: 'item_a1', response_id: 'r1', delta: 'AAAA' }, 1640);
    feed({ type: 'response.output_audio_transcript.delta', item_id: 'item_a1', delta: 'Hello ' });
    feed({ type: 'response.output_audio_transcript.delta', item_id: 'item_a1', delta: 'there.' });
    feed({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'item_u1', transcript: 'hello computer' });
    feed({ type: 'response.output_audio_transcript.done', item_id: 'item_a1', transcript: 'Hello there.' });

    expect(m.sessionId).toBe('sess_1');
    expect(m.engine).toEqual({ engine: 'local', reason: 'initial' });
    expect(m.entries.map((e) => [e.kind, e.text])).toEqual([
      ['user', 'hello computer'],
      ['assistant', 'Hello there.'],
    ]);
    expect(m.entries[1]?.latencyMs).toBe(640);
    expect(m.latenciesMs).toEqual([640]);
    expect(changes.length).toBeGreaterThan(4);
  });

  it('shows tool calls with streamed arguments and the result', () => {
    const m = new ConversationModel();
    m.handle({ type: 'response.output_item.added', item: { id: 'fc_1', type: 'function_call', call_id: 'call_1', name: 'get_current_time', arguments: '' } }, 0);
    m.handle({ type: 'response.function_call_arguments.delta', item_id: 'fc_1', call_id: 'call_1', delta: '{"tz":' }, 0);
    m.handle({ type: 'response.function_call_arguments.delta', item_id: 'fc_1', call_id: 'call_1', delta: '"UTC"}' }, 0);
    m.handle({ type: 'response.function_call_arguments.done', item_id: 'fc_1', call_id: 'call_1', name: 'get_current_time', arguments: '{"tz":"UTC"}' }, 0);
    m.handle({ type: 'conversation.item.added', item: { id: 'fco_1', type: 'function_call_output', call_id: 'call_1', output: '{"time":"12:00"}' } }, 0);
    expect(m.entries).toHaveLength(1);
    expect(m.entries[0]?.tool).toEqual({ name: 'get_current_time', callId: 'call_1', arguments: '{"tz":"UTC"}', output: '{"time":"12:00"}' });
    expect(m.entries[0]?.final).toBe(true);
  });

  it('cuts an interrupted reply at the share of its audio that was heard', () => {
    const m = new ConversationModel();
    const half = 'A'.repeat(64000); // 64000 base64 chars = 48000 bytes = 1000 ms of 24 kHz pcm16
    m.handle({ type: 'response.output_item.added', item: { id: 'a', type: 'message', role: 'assistant' } }, 0);
    m.handle({ type: 'response.output_audio.delta', item_id: 'a', response_id: 'r', delta: half }, 0);
    m.handle({ type: 'response.output_audio.delta', item_id: 'a', response_id: 'r', delta: half }, 0);
    m.handle({ type: 'response.output_audio_transcript.delta', item_id: 'a', delta: 'one two three four five six seven eight' }, 0);
    m.handle({ type: 'conversation.item.truncated', item_id: 'a', audio_end_ms: 1000 }, 0); // half of 2 s
    expect(m.entries[0]?.heardText).toBe('one two three four');
    expect(m.entries[0]?.text).toBe('one two three four five six seven eight');
    expect(heardPart('hello there', 0)).toBe('');
    expect(heardPart('hello there', 1)).toBe('hello there');
  });

  it('marks an interrupted reply and keeps only what was heard', () => {
    const m = new ConversationModel();
    m.handle({ type: 'response.output_item.added', item: { id: 'a', type: 'message', role: 'assistant' } }, 0);
    m.handle({ type: 'response.output_audio_transcript.delta', item_id: 'a', delta: 'I was saying' }, 0);
    m.handle({ type: 'conversation.item.truncated', item_id: 'a', audio_end_ms: 300 }, 0);
    m.handle({ type: 'response.output_audio_transcript.done', item_id: 'a', transcript: 'I was saying something long' }, 0);
    expect(m.entries[0]).toMatchObject({ interrupted: true, text: 'I was saying' });
  });

  it('turns errors into plain words, and keeps quiet about benign ones', () => {
    const m = new ConversationModel();
    m.handle({ type: 'error', error: { type: 'invalid_request_error', code: 'conversation_already_has_active_response', message: 'x' } }, 0);
    m.handle({ type: 'error', error: { type: 'invalid_request_error', code: 'invalid_value', message: 'Audio content of 10ms is already shorter than 20ms', event_id: 'evt_demo_trunc_1' } }, 0, true);
    expect(m.entries).toHaveLength(0);
    m.handle({ type: 'error', error: { type: 'invalid_request_error', code: 'rate_limit_exceeded', message: 'slow down' } }, 0);
    m.handle({ type: 'response.done', response: { status: 'failed', status_details: { error: { type: 'server_error', message: 'upstream died' } } } }, 0);
    expect(m.entries.map((e) => e.kind)).toEqual(['error', 'error']);
    expect(m.entries[0]?.text).toMatch(/busy/);
    expect(m.entries[1]?.text).toBe('The AI service had a problem: upstream died');
  });

  it('announces an engine change (fallback)', () => {
    const engines: string[] = [];
    const m = new ConversationModel({ onEngine: (i) => engines.push(i.engine) });
    m.handle({ type: 'parley.engine', engine: 'openai', reason: 'initial' }, 0);
    m.handle({ type: 'parley.engine', engine: 'cascade', reason: 'fallback', detail: 'upstream answered 429' }, 0);
    expect(engines).toEqual(['openai', 'cascade']);
    expect(m.entries[0]).toMatchObject({ kind: 'notice', text: 'Switched to the cascade engine (upstream answered 429).' });
  });

  it('measures push-to-talk latency from the release', () => {
    const m = new ConversationModel();
    m.markTurnEnd(5000);
    m.handle({ type: 'response.output_audio.delta', item_id: 'a', response_id: 'r' }, 5300);
    m.handle({ type: 'response.output_audio.delta', item_id: 'a', response_id: 'r' }, 5400);
    expect(m.latenciesMs).toEqual([300]);
  });
});
