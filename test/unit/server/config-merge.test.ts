/**
 * mergeSession is pure (issue 10, defect 2): it returns a new session, mutates neither input and
 * shares no object with them, so a session can compute the next config and keep the old one when
 * an update is refused.
 */
import { describe, expect, it } from 'vitest';
import { mergeSession } from '../../../server/session/index.ts';
import type { RealtimeSession, SessionPatch } from '../../../server/protocol/index.ts';

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Every object reachable from `v`. */
function objects(v: unknown, out = new Set<object>()): Set<object> {
  if (typeof v === 'object' && v !== null && !out.has(v)) {
    out.add(v);
    for (const x of Object.values(v)) objects(x, out);
  }
  return out;
}

const base = (): RealtimeSession => ({
  type: 'realtime',
  model: 'gpt-realtime',
  instructions: 'server',
  tools: [{ type: 'function', name: 'srv', parameters: { type: 'object', properties: { a: { type: 'string' } } } }],
  audio: {
    input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', threshold: 0.5 }, transcription: { model: 'whisper-1' } },
    output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'marin' },
  },
});
const patch = (): SessionPatch => ({
  type: 'realtime',
  instructions: 'client',
  tools: [{ type: 'function', name: 'mine', parameters: { type: 'object' } }],
  audio: { input: { turn_detection: { type: 'server_vad', threshold: 0.7, silence_duration_ms: 800 } }, output: { speed: 1.2 } },
});

describe('mergeSession is pure', () => {
  it('merges GA patches: top-level fields replace, audio.input / audio.output one level deep', () => {
    const m = mergeSession(base(), patch());
    expect(m).toEqual({
      type: 'realtime',
      model: 'gpt-realtime',
      instructions: 'client',
      tools: [{ type: 'function', name: 'mine', parameters: { type: 'object' } }],
      audio: {
        input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', threshold: 0.7, silence_duration_ms: 800 }, transcription: { model: 'whisper-1' } },
        output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'marin', speed: 1.2 },
      },
    });
    expect(mergeSession(m, { audio: { input: { turn_detection: null } } }).audio?.input?.turn_detection).toBeNull();
  });

  it('never mutates its inputs (deep-frozen inputs merge without a throw, and are unchanged)', () => {
    const b = deepFreeze(base());
    const p = deepFreeze(patch());
    const before = JSON.stringify([b, p]);
    expect(() => mergeSession(b, p)).not.toThrow();
    expect(JSON.stringify([b, p])).toBe(before);
  });

  it('shares no object with base or patch: changing the result changes neither', () => {
    const b = base();
    const p = patch();
    const m = mergeSession(b, p);
    const inputs = new Set([...objects(b), ...objects(p)]);
    const shared = [...objects(m)].filter((o) => inputs.has(o));
    expect(shared).toEqual([]);
    const before = JSON.stringify([b, p]);
    (m.audio!.input!.transcription as Record<string, unknown>)['model'] = 'changed';
    (m.tools as unknown[]).push({ type: 'function', name: 'added' });
    (m.audio!.input!.turn_detection as Record<string, unknown>)['threshold'] = 0.1;
    expect(JSON.stringify([b, p])).toBe(before);
  });

  it('a refused update leaves the old config exactly as it was (compute, check, keep)', () => {
    const current = mergeSession(base(), { type: 'realtime', instructions: 'v1' });
    const snapshot = JSON.stringify(current);
    const next = mergeSession(current, { type: 'realtime', instructions: 'v2', audio: { input: { turn_detection: { type: 'server_vad', threshold: 5 } } } });
    expect(next.instructions).toBe('v2');
    // the caller refuses `next` and keeps `current`
    expect(JSON.stringify(current)).toBe(snapshot);
  });

  it('copies without recursion (no stack overflow on deep values) and keeps a `__proto__` key as data', () => {
    const deep = JSON.parse('{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)) as unknown;
    const m = mergeSession(base(), { tools: [{ type: 'function', name: 'f', parameters: deep }] } as SessionPatch);
    expect(m.tools?.[0]).toMatchObject({ name: 'f' });
    const proto = JSON.parse('{"tools":[{"type":"function","name":"p","parameters":{"__proto__":{"polluted":true}}}]}') as SessionPatch;
    const mp = mergeSession(base(), proto);
    const params = (mp.tools?.[0] as { parameters: Record<string, unknown> }).parameters;
    expect(Object.keys(params)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
