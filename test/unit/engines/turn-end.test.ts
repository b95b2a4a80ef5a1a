/**
 * Adaptive end of turn (docs/notes/turns.md): the word-class rule on the words so far, the window it
 * picks between the bounds, and the turn detector's window moved mid-silence (a scripted VAD pins it
 * to the frame).
 */
import { describe, expect, it } from 'vitest';
import { TurnDetector } from '../../../audio/index.ts';
import type { VoiceActivityDetector } from '../../../audio/index.ts';
import { DEFAULT_END_OF_TURN, completeness, eagernessBounds, endOfTurnSilenceMs } from '../../../server/engines/cascade/end-of-turn.ts';

describe('end of turn from the words so far', () => {
  it('complete questions and answers are complete; trailing words are not', () => {
    for (const t of ['What time does the store open tomorrow', 'yes that is correct', 'no', 'My order number is four five six seven', 'can you fix it'])
      expect(completeness(t), t).toBe('complete');
    for (const t of ['I would like to book a table for', 'My name is', 'can you move my appointment to', 'I think the problem is', 'so um', 'and', 'I was calling because'])
      expect(completeness(t), t).toBe('incomplete');
    expect(completeness('')).toBe('unknown');
    expect(completeness(null)).toBe('unknown');
    expect(completeness('je voudrais', 'fr')).toBe('unknown');
  });

  it('the window: min after complete words, max after trailing ones, the middle otherwise; eagerness scales the bounds', () => {
    const b = eagernessBounds(DEFAULT_END_OF_TURN, 'auto');
    expect(endOfTurnSilenceMs('complete', b)).toBe(200);
    expect(endOfTurnSilenceMs('incomplete', b)).toBe(1200);
    expect(endOfTurnSilenceMs('unknown', b)).toBe(700);
    expect(eagernessBounds(DEFAULT_END_OF_TURN, 'high')).toEqual({ minMs: 100, maxMs: 600 });
    expect(eagernessBounds(DEFAULT_END_OF_TURN, 'low')).toEqual({ minMs: 400, maxMs: 2400 });
  });
});

class ScriptedVad implements VoiceActivityDetector {
  readonly kind = 'energy' as const;
  readonly sampleRateHz = 16000 as const;
  readonly frameSamples = 512;
  i = 0;
  constructor(private readonly speechFrames: number) {}
  process(): number { return this.i++ < this.speechFrames ? 0.9 : 0.05; }
  reset(): void { this.i = 0; }
  close(): void {}
}

describe('TurnDetector: the silence window moved mid-silence', () => {
  it('a shorter window than the silence so far ends the turn at once, at the start of the silence', () => {
    const td = new TurnDetector({ vad: new ScriptedVad(10), silenceDurationMs: 1200, prefixPaddingMs: 0 });
    const frame = new Int16Array(512);
    for (let i = 0; i < 10; i++) td.push(frame);
    expect(td.speaking).toBe(true);
    for (let i = 0; i < 8; i++) expect(td.push(frame)).toEqual([]);   // 256 ms of silence, window 1200
    expect(td.silenceMs).toBe(256);
    expect(td.setSilenceDuration(400)).toEqual([]);                     // not silent that long yet
    expect(td.setSilenceDuration(200)).toEqual([{ type: 'speech_stopped', audioEndMs: 320 }]);
    expect(td.speaking).toBe(false);
    expect(td.silenceMs).toBe(0);
  });

  it('a longer window keeps the turn open past the old one', () => {
    const td = new TurnDetector({ vad: new ScriptedVad(10), silenceDurationMs: 200, prefixPaddingMs: 0 });
    const frame = new Int16Array(512);
    for (let i = 0; i < 11; i++) td.push(frame);
    td.setSilenceDuration(1000);
    for (let i = 0; i < 20; i++) expect(td.push(frame)).toEqual([]);   // 672 ms of silence: still the same turn
    expect(td.speaking).toBe(true);
  });
});
