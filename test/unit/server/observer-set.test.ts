/**
 * ObserverSet (server/session/observer.ts): per-frame hooks reach every observer that has them (plain
 * objects and class instances alike), in the order added; one that throws is logged once and skipped
 * from then on, without costing the others their call.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ObserverSet, type SessionObserver } from '../../../server/session/observer.ts';
import { AudioChunk, type ServerEvent } from '../../../server/protocol/index.ts';

function logSink(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'error' }, { write: (s: string) => void lines.push(s) });
  return { log, lines };
}

const DELTA: ServerEvent = { type: 'response.output_audio.delta', event_id: 'e', response_id: 'r', item_id: 'i', output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(160)) };

describe('ObserverSet', () => {
  it('calls each per-frame hook on every observer that has it, in order; class methods count', () => {
    const { log } = logSink();
    const set = new ObserverSet(log);
    const calls: string[] = [];
    class Recorder implements SessionObserver {
      serverEvent(ev: ServerEvent): void {
        calls.push(`class:${ev.type}`);
      }
      agentAudio(chunk: AudioChunk, at: { offsetMs: number }): void {
        calls.push(`class:agentAudio:${chunk.byteLength}:${at.offsetMs}`);
      }
    }
    set.add({ serverEvent: (ev) => void calls.push(`a:${ev.type}`), callerAudio: (c) => void calls.push(`a:callerAudio:${c.byteLength}`) });
    set.add(new Recorder());
    set.add({ clientEvent: (ev) => void calls.push(`c:${ev.type}`) });
    set.serverEvent(DELTA);
    set.clientEvent({ type: 'input_audio_buffer.commit' });
    set.callerAudio(AudioChunk.fromBytes(new Uint8Array(8)));
    set.agentAudio(AudioChunk.fromBytes(new Uint8Array(4)), { itemId: 'i', responseId: 'r', contentIndex: 0, offsetMs: 20 });
    expect(calls).toEqual(['a:response.output_audio.delta', 'class:response.output_audio.delta', 'c:input_audio_buffer.commit', 'a:callerAudio:8', 'class:agentAudio:4:20']);
    expect(set.has('serverEvent')).toBe(true);
    expect(set.has('turn')).toBe(false);
  });

  it('an observer that throws is logged once and skipped after; the ones after it still get every call', () => {
    const { log, lines } = logSink();
    const set = new ObserverSet(log);
    let badCalls = 0;
    const seen: string[] = [];
    set.add({ serverEvent: () => void seen.push('first') });
    set.add({
      serverEvent: () => {
        badCalls++;
        throw new Error('observer bug');
      },
      clientEvent: () => void seen.push('bad-client'),
    });
    set.add({ serverEvent: () => void seen.push('last') });
    for (let i = 0; i < 3; i++) set.serverEvent(DELTA);
    set.clientEvent({ type: 'input_audio_buffer.commit' });
    expect(badCalls).toBe(1);
    expect(seen).toEqual(['first', 'last', 'first', 'last', 'first', 'last']); // a failed observer gets nothing more, on any hook
    expect(lines.filter((l) => l.includes('session observer failed'))).toHaveLength(1);
  });
});
