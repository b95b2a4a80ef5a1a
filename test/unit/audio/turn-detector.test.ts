import { describe, expect, it } from 'vitest';
import { AudioError, TurnDetector } from '../../../audio/index.ts';
import type { TurnEvent, VadSampleRateHz, VoiceActivityDetector } from '../../../audio/index.ts';

/**
 * A scripted VAD: the probability of frame i is script[i] (0 after the end). It checks the frames it
 * is given are whole and counts them; it stands in for Silero only to pin the state machine down to
 * the frame (the real Silero runs in vad.test.ts).
 */
class ScriptedVad implements VoiceActivityDetector {
  readonly kind = 'energy' as const;
  readonly frameSamples: number;
  frames = 0;
  constructor(private readonly script: readonly number[], readonly sampleRateHz: VadSampleRateHz = 16000) {
    this.frameSamples = sampleRateHz === 16000 ? 512 : 256;
  }
  process(frame: Int16Array): number {
    if (frame.length !== this.frameSamples) throw new Error('bad frame');
    return this.script[this.frames++] ?? 0;
  }
  reset(): void {
    this.frames = 0;
  }
  close(): void {}
}

/** 0/1 script from a string: '.' = silence frame, '#' = speech frame (32 ms each). */
function script(s: string): number[] {
  return [...s].map((c) => (c === '#' ? 0.9 : c === '+' ? 0.5 : c === '-' ? 0.49 : 0.05));
}

function run(td: TurnDetector, frames: number, chunkSamples: number, frameSamples = 512): TurnEvent[] {
  const ev: TurnEvent[] = [];
  const total = frames * frameSamples;
  const buf = new Int16Array(chunkSamples);
  for (let o = 0; o < total; o += chunkSamples) ev.push(...td.push(buf.subarray(0, Math.min(chunkSamples, total - o))));
  return ev;
}

describe('TurnDetector (OpenAI server_vad semantics)', () => {
  it('speech_started at the first frame ≥ threshold minus prefix padding; stopped at the silence start after silence_duration_ms', () => {
    // 20 silent frames (640 ms), speech from frame 20 to 39, then silence
    const vad = new ScriptedVad(script('.'.repeat(20) + '#'.repeat(20) + '.'.repeat(40)));
    const td = new TurnDetector({ vad, threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 });
    const ev = run(td, 80, 320);
    expect(ev).toEqual([
      { type: 'speech_started', audioStartMs: 20 * 32 - 300 },
      { type: 'speech_stopped', audioEndMs: 40 * 32 },
    ]);
  });

  it('emits speech_stopped exactly when silence reaches silence_duration_ms, not before', () => {
    const vad = new ScriptedVad(script('#'.repeat(5) + '.'.repeat(30)));
    const td = new TurnDetector({ vad, silenceDurationMs: 320 }); // 10 frames
    const ev1 = run(td, 5 + 9, 512);
    expect(ev1).toEqual([{ type: 'speech_started', audioStartMs: 0 }]); // prefix floored at 0
    expect(td.speaking).toBe(true);
    const ev2 = run(td, 1, 512);
    expect(ev2).toEqual([{ type: 'speech_stopped', audioEndMs: 5 * 32 }]);
    expect(td.speaking).toBe(false);
  });

  it('a pause shorter than silence_duration_ms does not end the turn', () => {
    const vad = new ScriptedVad(script('..' + '#'.repeat(10) + '.'.repeat(15) + '#'.repeat(10) + '.'.repeat(20)));
    const td = new TurnDetector({ vad, silenceDurationMs: 500, prefixPaddingMs: 0 });
    expect(run(td, 57, 160)).toEqual([
      { type: 'speech_started', audioStartMs: 64 },
      { type: 'speech_stopped', audioEndMs: (2 + 10 + 15 + 10) * 32 },
    ]);
  });

  it('treats probability == threshold as speech and just below as silence', () => {
    const vad = new ScriptedVad(script('---+' + '-'.repeat(20)));
    const td = new TurnDetector({ vad, threshold: 0.5, prefixPaddingMs: 0, silenceDurationMs: 200 });
    expect(run(td, 24, 512)).toEqual([
      { type: 'speech_started', audioStartMs: 3 * 32 },
      { type: 'speech_stopped', audioEndMs: 4 * 32 },
    ]);
  });

  it('gives the same events whatever the chunking, counting offsets in samples pushed', () => {
    const s = script('....###.#########..........##......................');
    const results = [1, 100, 320, 512, 1000, 4096].map((chunk) => {
      const td = new TurnDetector({ vad: new ScriptedVad(s), prefixPaddingMs: 100, silenceDurationMs: 300 });
      return run(td, s.length, chunk);
    });
    expect(results[0]!.length).toBe(4);
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('works at 8 kHz (256-sample frames) and reports audioMs', () => {
    const vad = new ScriptedVad(script('.'.repeat(10) + '#'.repeat(10) + '.'.repeat(20)), 8000);
    const td = new TurnDetector({ vad });
    const ev = run(td, 40, 160, 256);
    expect(ev).toEqual([
      { type: 'speech_started', audioStartMs: 20 },
      { type: 'speech_stopped', audioEndMs: 640 },
    ]);
    expect(td.audioMs).toBe(40 * 32);
    td.push(new Int16Array(80));
    expect(td.audioMs).toBe(40 * 32 + 10);
  });

  it('reset() restarts the clock and the state', () => {
    const vad = new ScriptedVad(script('###'));
    const td = new TurnDetector({ vad, prefixPaddingMs: 0 });
    expect(run(td, 3, 512)).toHaveLength(1);
    td.reset();
    expect(td.speaking).toBe(false);
    expect(td.audioMs).toBe(0);
    expect(run(td, 3, 512)).toEqual([{ type: 'speech_started', audioStartMs: 0 }]);
  });

  it('rejects a threshold outside 0..1', () => {
    expect(() => new TurnDetector({ vad: new ScriptedVad([]), threshold: 1.5 })).toThrow(AudioError);
  });
});
