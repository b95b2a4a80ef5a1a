/** client-demo/src/calls/model.ts: records → chat, the live transcript, formatting. */
import { describe, expect, it } from 'vitest';
import { LiveTranscript, callDurationMs, describeCost, describeEndReason, formatCost, formatDuration, formatUsage, latencySummary, recordChat, recordingUrl, turnLatencies } from '../../../client-demo/src/calls/model.ts';

const record = {
  id: 'sess_abc',
  door: 'ws',
  started_at: '2025-01-01T10:00:00.000Z',
  ended_at: '2025-01-01T10:01:05.000Z',
  end_reason: 'caller_hangup',
  transcript: [
    { role: 'user', text: 'what time is it', at: '2025-01-01T10:00:02.000Z', item_id: 'u1' },
    { role: 'assistant', text: 'It is ten o clock and a lovely day', heard_text: 'It is ten o clock', at: '2025-01-01T10:00:04.000Z', item_id: 'a1' },
    { role: 'user', text: 'thanks', at: '2025-01-01T10:00:10.000Z' },
    { role: 'assistant', text: "You're welcome", at: '2025-01-01T10:00:11.000Z' },
    { role: 'system', text: 'ignored' },
  ],
  tool_calls: [{ name: 'get_current_time', arguments: '{}', output: '{"iso":"x"}', ok: true, duration_ms: 2, at: '2025-01-01T10:00:03.000Z' }],
  turns: [{ latency_ms: 420 }, { latency_ms: 380 }],
  cost: { total_usd: 0.0123 },
  usage: { input_tokens: 100, output_tokens: 50 },
  recording_url: 'http://127.0.0.1:8080/v1/calls/sess_abc/recording',
};

describe('calls page model', () => {
  it('a record becomes one chat in time order: caller, tool call, agent (what was heard), with turn latencies', () => {
    const chat = recordChat(record);
    expect(chat.map((l) => [l.role, l.heardText ?? l.text])).toEqual([
      ['user', 'what time is it'],
      ['tool', 'get_current_time({})'],
      ['assistant', 'It is ten o clock'],
      ['user', 'thanks'],
      ['assistant', "You're welcome"],
    ]);
    expect(chat[2]).toMatchObject({ interrupted: true, latencyMs: 420 });
    expect(chat[4]).toMatchObject({ latencyMs: 380 });
    expect(chat[1]!.tool).toEqual({ name: 'get_current_time', arguments: '{}', output: '{"iso":"x"}', ok: true, durationMs: 2 });
    expect(turnLatencies(record)).toEqual([420, 380]);
  });

  it('speech over the agent that did not stop it keeps its mark (backchannel, false interruption)', () => {
    const chat = recordChat({
      started_at: '2025-01-01T10:00:00.000Z',
      transcript: [
        { role: 'assistant', text: 'Let me tell you about the weather', at: '2025-01-01T10:00:01.000Z' },
        { role: 'user', text: 'yeah', at: '2025-01-01T10:00:02.000Z', mark: 'backchannel' },
        { role: 'user', text: 'h m m', at: '2025-01-01T10:00:03.000Z', mark: 'false_interruption' },
        { role: 'user', text: 'wait stop', at: '2025-01-01T10:00:04.000Z', mark: 'other' },
      ],
    });
    expect(chat.map((l) => l.mark)).toEqual([undefined, 'backchannel', 'false_interruption', undefined]);
  });

  it('reads records tolerantly: no times keeps record order, turns by item id, errors of tools, odd shapes', () => {
    const chat = recordChat({
      id: 'x',
      transcript: [{ role: 'user', text: 'a' }, { role: 'assistant', text: 'b', item_id: 'i2' }, 'junk', null],
      tool_calls: [{ name: 'lookup', arguments: { q: 1 }, error: 'timeout' }],
      turns: [{ item_id: 'i2', first_audio_ms: 99 }],
    });
    expect(chat.map((l) => l.role)).toEqual(['user', 'assistant', 'tool']);
    expect(chat[1]!.latencyMs).toBe(99);
    expect(chat[2]!.tool).toEqual({ name: 'lookup', arguments: '{"q":1}', output: 'timeout', ok: false });
    expect(recordChat({ id: 'y' })).toEqual([]);
  });

  it('formats durations, costs, usage, end reasons, latency summaries; finds the recording on this origin', () => {
    expect(formatDuration(450)).toBe('450 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(125_000)).toBe('2 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
    expect(formatDuration(undefined)).toBe('–');
    expect(callDurationMs(record)).toBe(65_000);
    expect(formatCost(record.cost)).toBe('$0.0123');
    expect(formatCost(1.5)).toBe('$1.50');
    expect(formatCost({ total: 2, currency: 'eur' })).toBe('2.00 EUR');
    expect(formatCost(null)).toBe('–');
    expect(describeCost({ total_usd: 0, currency: 'USD', estimated: true, items: [], unpriced: [] })).toBe('$0.00 (estimated)');
    expect(describeCost({ total_usd: 0.5, estimated: true, unpriced: ['my-model'] })).toBe('$0.5000 (estimated) · no price for my-model');
    expect(describeCost(undefined)).toBe('–');
    expect(formatUsage(record.usage)).toBe('in 100 · out 50 tokens');
    expect(formatUsage({ total_tokens: 7, stt_seconds: 3.25, tts_characters: 120 })).toBe('7 tokens · STT 3.3 s · TTS 120 chars');
    expect(describeEndReason('caller_hangup')).toBe('caller hung up');
    expect(describeEndReason('something_new')).toBe('something new');
    expect(describeEndReason(null)).toBe('in progress');
    expect(latencySummary([300, 100, 200, 400])).toEqual({ median: 250, max: 400 });
    expect(latencySummary([])).toBeNull();
    expect(recordingUrl(record, 'http://127.0.0.1:8080')).toBe('v1/calls/sess_abc/recording');
    expect(recordingUrl(record, 'https://parley.example')).toBe('v1/calls/sess_abc/recording');
    expect(recordingUrl({ id: 'z', recording_url: null }, 'http://h')).toBeNull();
  });

  it('the live transcript grows: lines by seq (a resent seq replaces), partial replies until their line arrives, the end', () => {
    const t = new LiveTranscript();
    t.line({ seq: 1, role: 'user', text: 'hello', at: '2025-01-01T10:00:00Z', item_id: 'u1' });
    t.partial('a1', 'Hi ');
    t.partial('a1', 'there');
    expect(t.chat().map((l) => [l.role, l.text, l.pending ?? false])).toEqual([
      ['user', 'hello', false],
      ['assistant', 'Hi there', true],
    ]);
    t.line({ seq: 2, role: 'assistant', text: 'Hi there!', item_id: 'a1', latency_ms: 300 });
    t.partial('a1', ' late piece'); // after its line: ignored
    t.line({ seq: 2, role: 'assistant', text: 'Hi there!', item_id: 'a1', latency_ms: 300, interrupted: true });
    expect(t.chat().map((l) => [l.key, l.text, l.interrupted ?? false, l.latencyMs ?? null])).toEqual([
      ['s1', 'hello', false, null],
      ['s2', 'Hi there!', true, 300],
    ]);
    expect(t.lastSeq).toBe(2);
    t.partial('a9', 'unfinished');
    t.end({ end_reason: 'caller_hangup', ended_at: '2025-01-01T10:00:09Z', duration_ms: 9000 });
    expect(t.chat().length).toBe(2);
    expect(t.ended?.end_reason).toBe('caller_hangup');
  });
});
