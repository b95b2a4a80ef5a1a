import { afterEach, describe, expect, it, vi } from 'vitest';
import { ResponseSequencer, enforceSession, mergeSession, type SessionPolicy } from '../../../server/session/index.ts';
import type { ClientEvent, ConversationItem, RealtimeSession } from '../../../server/protocol/index.ts';
import { Conversation } from '../../../server/conversation.ts';

const defaults: RealtimeSession = {
  type: 'realtime',
  model: 'gpt-realtime',
  instructions: 'server',
  audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad' } }, output: { voice: 'marin' } },
};
const policy: SessionPolicy = {
  defaults,
  allowedModels: ['gpt-realtime'],
  allowedVoices: ['marin', 'cedar'],
  maxOutputTokens: 100,
  serverTools: [{ type: 'function', name: 'srv', description: 'server tool', parameters: {} }],
};

describe('session config', () => {
  it('merges GA patches: top-level replace, audio.input/output one level deep', () => {
    const m = mergeSession(defaults, { instructions: 'client', audio: { output: { voice: 'cedar' } } });
    expect(m.instructions).toBe('client');
    expect(m.audio?.output?.voice).toBe('cedar');
    expect(m.audio?.input?.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    const m2 = mergeSession(m, { audio: { input: { turn_detection: null } } });
    expect(m2.audio?.input?.turn_detection).toBeNull();
    expect(m2.audio?.input?.format).toEqual({ type: 'audio/pcm', rate: 24000 });
  });

  it('enforces model, voice, token cap and server tools', () => {
    const { session, violations } = enforceSession(
      mergeSession(defaults, { model: 'other', max_output_tokens: 'inf', audio: { output: { voice: 'shimmer' } }, tools: [{ type: 'function', name: 'srv', description: 'fake' }, { type: 'function', name: 'mine' }] }),
      policy,
    );
    expect(violations.map((v) => v.param).sort()).toEqual(['session.audio.output.voice', 'session.max_output_tokens', 'session.model']);
    expect(session.model).toBe('gpt-realtime');
    expect(session.audio?.output?.voice).toBe('marin');
    expect(session.max_output_tokens).toBe(100);
    expect(session.tools).toEqual([policy.serverTools[0], { type: 'function', name: 'mine' }]);
  });
});

describe('response sequencer', () => {
  afterEach(() => vi.useRealTimers());

  it('holds response.create while one is active and retries collisions', () => {
    vi.useFakeTimers();
    const sent: ClientEvent[] = [];
    const seq = new ResponseSequencer((e) => sent.push(e));
    seq.enqueue({ type: 'response.create', event_id: 'a' }, 'client');
    expect(sent.map((e) => e.event_id)).toEqual(['a']);
    seq.enqueue({ type: 'response.create', event_id: 'b' }, 'server');
    expect(sent).toHaveLength(1); // waiting for 'a' to be created
    seq.onCreated('resp_a');
    seq.onDone('resp_a');
    expect(sent.map((e) => e.event_id)).toEqual(['a', 'b']);
    // 'b' collides with a response the model started itself (not yet seen): retried later
    expect(seq.onError('conversation_already_has_active_response', 'b')).toBe(true);
    vi.advanceTimersByTime(300);
    expect(sent.map((e) => e.event_id)).toEqual(['a', 'b', 'b']);
    // other errors on it are not absorbed
    expect(seq.onError('invalid_value', 'b')).toBe(false);
    // out-of-band responses bypass the queue
    seq.onCreated('resp_x');
    seq.enqueue({ type: 'response.create', event_id: 'oob', response: { conversation: 'none' } }, 'client');
    expect(sent.at(-1)!.event_id).toBe('oob');
  });

  it('gives up after repeated collisions and lets the error through', () => {
    vi.useFakeTimers();
    const sent: ClientEvent[] = [];
    const seq = new ResponseSequencer((e) => sent.push(e));
    seq.enqueue({ type: 'response.create', event_id: 'a' }, 'client');
    let absorbed = 0;
    for (let i = 0; i < 10; i++) {
      if (seq.onError('conversation_already_has_active_response', 'a')) absorbed++;
      vi.advanceTimersByTime(300);
    }
    expect(absorbed).toBe(4);
    expect(sent).toHaveLength(5);
  });
});

describe('conversation history', () => {
  it('keeps the conversation as text items, with transcripts filled in later', () => {
    const h = new Conversation(3);
    h.upsert({ id: 'u1', type: 'message', role: 'user', content: [{ type: 'input_audio', transcript: null }] });
    h.setTranscript('u1', 0, 'hello');
    h.upsert({ id: 'a1', type: 'message', role: 'assistant', content: [{ type: 'output_audio', transcript: 'hi there' }] });
    h.upsert({ id: 'f1', type: 'function_call', call_id: 'c1', name: 'srv', arguments: '{}' });
    expect(h.textItems()).toEqual([
      { id: 'u1', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] },
      { id: 'a1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'hi there' }] },
      { id: 'f1', type: 'function_call', call_id: 'c1', name: 'srv', arguments: '{}' },
    ]);
    h.upsert({ id: 'o1', type: 'function_call_output', call_id: 'c1', output: 'x' });
    expect(h.textItems().map((i: ConversationItem) => i.id)).toEqual(['a1', 'f1', 'o1']); // bounded
    h.delete('a1');
    expect(h.textItems().map((i: ConversationItem) => i.id)).toEqual(['f1', 'o1']);
  });
});
