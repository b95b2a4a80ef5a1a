/** server/live/live-calls.ts: the live transcript observer, driven through its hooks. */
import { describe, expect, it } from 'vitest';
import { LiveCalls, type LiveEvent } from '../../../server/live/index.ts';
import type { ServerEvent } from '../../../server/protocol/index.ts';
import type { SessionInfo, SessionObserver } from '../../../server/session/index.ts';

const info = (id: string, extra: Partial<SessionInfo> = {}): SessionInfo => ({
  id,
  leg: 'sip',
  callId: undefined,
  metadata: {},
  startedAt: Date.parse('2025-01-01T10:00:00Z'),
  profile: 'support',
  call: { from: '+15551230000', to: '+15559870000' },
  recording: 'off',
  ...extra,
});

let n = 0;
const ev = (e: Record<string, unknown>): ServerEvent => ({ event_id: `evt_${++n}`, ...e }) as ServerEvent;
const ref = (item: string) => ({ response_id: 'resp_1', item_id: item, output_index: 0, content_index: 0 });

function call(live: LiveCalls, id = 'sess_1'): SessionObserver {
  const o = live.observer(info(id));
  o.opened!(info(id), 'local');
  return o;
}

describe('LiveCalls', () => {
  it('keeps the transcript: caller words, the reply with its turn latency, tool calls; a summary per call', () => {
    const live = new LiveCalls({ now: () => Date.parse('2025-01-01T10:00:05Z') });
    const o = call(live);
    o.answered!(Date.parse('2025-01-01T10:00:01Z'));
    o.serverEvent!(ev({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'u1', content_index: 0, transcript: ' what time is it ' }));
    o.serverEvent!(ev({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'u0', content_index: 0, transcript: '  ' })); // nothing heard: no line
    o.toolCall!({ name: 'get_current_time', callId: 'call_1', arguments: '{}', output: '{"iso":"x"}', ok: true, durationMs: 3.4 });
    o.turn!({ kind: 'first_audio', atMs: 0, responseId: 'resp_1', itemId: 'a1', sinceSpeechStoppedMs: 412.6 });
    o.serverEvent!(ev({ type: 'response.output_audio.delta', ...ref('a1'), delta: null })); // audio: ignored
    o.serverEvent!(ev({ type: 'response.output_audio_transcript.delta', ...ref('a1'), delta: 'It is ' }));
    o.serverEvent!(ev({ type: 'response.output_audio_transcript.done', ...ref('a1'), transcript: 'It is ten.' }));
    const events: LiveEvent[] = [];
    const w = live.watch('sess_1', (e) => events.push(e));
    if (w === null || w === 'full') throw new Error('not watchable');
    expect(w.snapshot.lines.map((l) => [l.seq, l.role, l.text])).toEqual([
      [1, 'user', 'what time is it'],
      [2, 'tool', 'get_current_time({})'],
      [3, 'assistant', 'It is ten.'],
    ]);
    expect(w.snapshot.lines[1]!.tool).toEqual({ name: 'get_current_time', call_id: 'call_1', arguments: '{}', output: '{"iso":"x"}', ok: true, duration_ms: 3 });
    expect(w.snapshot.lines[2]).toMatchObject({ latency_ms: 413, item_id: 'a1', at: '2025-01-01T10:00:05.000Z' });
    expect(w.snapshot.partials).toEqual([]);
    expect(live.list()).toEqual([
      { id: 'sess_1', door: 'sip', started_at: '2025-01-01T10:00:00.000Z', answered_at: '2025-01-01T10:00:01.000Z', profile: 'support', from: '+15551230000', to: '+15559870000', engine: 'local', lines: 3, last_line_at: '2025-01-01T10:00:05.000Z' },
    ]);
    o.engineSwitch!({ from: 'local', to: 'cascade', reason: 'fallback' });
    expect(live.list()[0]!.engine).toBe('cascade');
  });

  it('a reply cut by the caller is marked interrupted (before or after its text was complete)', () => {
    const live = new LiveCalls();
    const o = call(live);
    const events: LiveEvent[] = [];
    live.watch('sess_1', (e) => events.push(e));
    // cut while still speaking: the line comes out marked
    o.serverEvent!(ev({ type: 'response.output_audio_transcript.delta', ...ref('a1'), delta: 'Let me tell you a long story' }));
    o.agentAudioTruncated!({ itemId: 'a1', contentIndex: 0, audioEndMs: 800 });
    o.serverEvent!(ev({ type: 'response.output_audio_transcript.done', ...ref('a1'), transcript: 'Let me tell you a long story' }));
    // cut after the text was complete: the line is sent again with the same seq
    o.serverEvent!(ev({ type: 'response.output_text.done', ...ref('a2'), text: 'Second reply' }));
    o.agentAudioTruncated!({ itemId: 'a2', contentIndex: 0, audioEndMs: 300 });
    const lines = events.filter((e) => e.type === 'line').map((e) => (e.type === 'line' ? e.line : null));
    expect(lines.map((l) => [l!.seq, l!.text, l!.interrupted ?? false, l!.heard_ms ?? null])).toEqual([
      [1, 'Let me tell you a long story', true, 800],
      [2, 'Second reply', false, null],
      [2, 'Second reply', true, 300],
    ]);
    expect(events[0]).toEqual({ type: 'partial', item_id: 'a1', delta: 'Let me tell you a long story' });
  });

  it('is bounded: lines per call (oldest dropped, counted), characters per line, watchers per call', () => {
    const live = new LiveCalls({ maxLinesPerCall: 3, maxLineChars: 10, maxWatchersPerCall: 2 });
    const o = call(live);
    for (let i = 1; i <= 5; i++) o.serverEvent!(ev({ type: 'conversation.item.input_audio_transcription.completed', item_id: `u${i}`, content_index: 0, transcript: `line ${i} is rather long` }));
    // a reply's partial text stops growing at the line limit
    for (let i = 0; i < 100; i++) o.serverEvent!(ev({ type: 'response.output_audio_transcript.delta', ...ref('a1'), delta: 'word ' }));
    const w = live.watch('sess_1', () => undefined);
    if (w === null || w === 'full') throw new Error('not watchable');
    expect(w.snapshot.lines.map((l) => l.seq)).toEqual([3, 4, 5]);
    expect(w.snapshot.dropped).toBe(2);
    expect(w.snapshot.lines[0]!.text).toBe('line 3 is…');
    expect(w.snapshot.partials[0]!.text.length).toBeLessThanOrEqual(10 + 5);
    expect(live.watch('sess_1', () => undefined)).not.toBe('full');
    expect(live.watch('sess_1', () => undefined)).toBe('full');
    w.unwatch();
    expect(live.watch('sess_1', () => undefined)).not.toBe('full');
    // after seq: only the later lines
    const later = live.watch('sess_2', () => undefined);
    expect(later).toBeNull();
  });

  it('tells watchers the end and forgets the call; a throwing watcher is dropped, the others go on', () => {
    const live = new LiveCalls();
    const o = call(live);
    const got: LiveEvent[] = [];
    live.watch('sess_1', () => {
      throw new Error('broken watcher');
    });
    live.watch('sess_1', (e) => got.push(e));
    o.serverEvent!(ev({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'u1', content_index: 0, transcript: 'hi' }));
    o.closed!(info('sess_1'), { reason: 'bye', endReason: 'agent_ended', code: 1000, durationMs: 1234.5, engine: 'local' });
    expect(got.map((e) => e.type)).toEqual(['line', 'end']);
    expect(got[1]).toMatchObject({ type: 'end', end: { id: 'sess_1', end_reason: 'agent_ended', duration_ms: 1235 } });
    expect(live.has('sess_1')).toBe(false);
    expect(live.list()).toEqual([]);
    expect(live.watch('sess_1', () => undefined)).toBeNull();
  });

  it('a session that failed to open leaves nothing behind', () => {
    const live = new LiveCalls();
    const o = live.observer(info('sess_x'));
    o.closed!(info('sess_x'), { reason: 'engine failed', endReason: 'error', code: null, durationMs: 5, engine: null });
    expect(live.size).toBe(0);
  });
});
