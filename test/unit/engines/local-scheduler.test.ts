import { describe, expect, it } from 'vitest';
import { DecodeScheduler, OPEN_STEP_SAMPLES } from '../../../server/engines/providers/pocketsphinx/scheduler.ts';
import type { Step } from '../../../server/engines/providers/pocketsphinx/scheduler.ts';

const chunk = (n = 1600, v = 0): Int16Array => new Int16Array(n).fill(v);
const drain = (s: DecodeScheduler): Step[] => { const out: Step[] = []; for (let st = s.next(); st; st = s.next()) out.push(st); return out; };
const label = (st: Step): string => (st.t === 'load' ? 'load' : `${st.t}:${st.id}${st.t === 'audio' ? `:${st.pcm.length}` : st.t === 'hyp' ? `#${st.seq}` : ''}`);

describe('PocketSphinx worker schedule: finals first', () => {
  it('an utterance that ended goes before the audio of callers still speaking that arrived before its end', () => {
    const s = new DecodeScheduler();
    for (const id of [1, 2, 3, 4]) s.start(id);
    // four callers' audio piled up on the worker (it is behind), then caller 3 stops speaking
    for (let i = 0; i < 3; i++) for (const id of [1, 2, 3, 4]) s.audio(id, chunk());
    s.end(3);
    const steps = drain(s).map(label);
    // caller 3's remaining audio in one piece, then its end, before anyone else's audio
    expect(steps.slice(0, 2)).toEqual(['audio:3:4800', 'end:3']);
    expect(steps).not.toContain('end:1');
    expect(steps.filter((x) => x.startsWith('audio:1')).reduce((n, x) => n + Number(x.split(':')[2]), 0)).toBe(4800);
  });

  it('ends are served in the order they arrived; each waits only for its own audio', () => {
    const s = new DecodeScheduler();
    for (const id of [1, 2]) s.start(id);
    for (let i = 0; i < 2; i++) { s.audio(1, chunk()); s.audio(2, chunk()); }
    s.end(2);
    s.end(1);
    expect(drain(s).map(label)).toEqual(['audio:2:3200', 'end:2', 'audio:1:3200', 'end:1']);
  });

  it('open utterances advance in arrival order, at most OPEN_STEP_SAMPLES per step', () => {
    const s = new DecodeScheduler();
    s.start(1); s.start(2);
    for (let i = 0; i < 5; i++) s.audio(1, chunk());
    s.audio(2, chunk());
    const steps = drain(s);
    // oldest chunk first: caller 1's fourth chunk came before caller 2's first
    expect(steps.map(label)).toEqual(['audio:1:4800', 'audio:1:3200', 'audio:2:1600']);
    expect(OPEN_STEP_SAMPLES).toBe(4800);
    // the audio comes out whole and in order
    const s2 = new DecodeScheduler();
    s2.start(7);
    for (let i = 0; i < 4; i++) s2.audio(7, chunk(1600, i));
    s2.end(7);
    const a = s2.next();
    expect(a?.t).toBe('audio');
    const pcm = (a as { pcm: Int16Array }).pcm;
    expect([pcm[0], pcm[1600], pcm[3200], pcm.length]).toEqual([0, 1, 2, 4800]);
    // an ended utterance goes on first, step by step (an abort can land between two steps)
    expect(s2.next()).toMatchObject({ t: 'audio', id: 7, pcm: new Int16Array(1600).fill(3) });
    expect(s2.next()).toEqual({ t: 'end', id: 7 });
  });

  it('a decoder load waits until no audio or end is queued', () => {
    const s = new DecodeScheduler();
    s.load();
    s.start(1);
    s.audio(1, chunk());
    s.end(1);
    expect(drain(s).map(label)).toEqual(['audio:1:1600', 'end:1', 'load']);
    expect(s.idle).toBe(true);
  });

  it('an aborted utterance drops its queued audio and its end', () => {
    const s = new DecodeScheduler();
    s.start(1); s.start(2);
    s.audio(1, chunk()); s.audio(2, chunk());
    s.end(1);
    expect(s.abort(1)).toBe(true);
    expect(s.abort(1)).toBe(false);
    expect(s.queuedSamples).toBe(1600);
    expect(drain(s).map(label)).toEqual(['audio:2:1600']);
    // audio or an end for an utterance it does not know is ignored
    s.audio(9, chunk()); s.end(9);
    expect(s.next()).toBeNull();
  });

  it('a question for the hypothesis so far comes after finals and before others\' audio, once its own queued audio is decoded', () => {
    const s = new DecodeScheduler();
    for (const id of [1, 2, 3]) s.start(id);
    for (const id of [1, 2, 3]) s.audio(id, chunk());
    s.hyp(2, 7);
    s.end(3);
    expect(drain(s).map(label)).toEqual(['audio:3:1600', 'end:3', 'audio:2:1600', 'hyp:2#7', 'audio:1:1600']);
    // a question about an utterance that ended meanwhile is still answered
    s.start(4); s.audio(4, chunk()); s.hyp(4, 8); s.end(4);
    expect(drain(s).map(label)).toEqual(['audio:4:1600', 'end:4', 'hyp:4#8']);
  });
});
