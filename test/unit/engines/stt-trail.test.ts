/**
 * The STT hears at most STT_TRAIL_MS of the silence that ends a turn (the rest of server_vad's window
 * is held back), and all of a pause that speech resumes after. Real cascade engine, energy VAD, an
 * STT stage that counts what it is given.
 */
import { describe, expect, it } from 'vitest';
import { CascadeEngine, STT_TRAIL_MS } from '../../../server/engines/cascade/index.ts';
import type { CascadeStages } from '../../../server/engines/cascade/index.ts';
import { EngineProbe, speech16k, toAppendChunks } from './cascade-harness.ts';

function countingStages(): { stages: CascadeStages; heard: number[] } {
  const heard: number[] = [];
  const stages: CascadeStages = {
    stt: {
      name: 'counting',
      open: () => {
        const i = heard.push(0) - 1;
        return {
          push: (pcm: Int16Array) => { heard[i]! += pcm.length; },
          abort: () => undefined,
          finish: async () => ({ text: 'hello', audioMs: heard[i]! / 16, finaliseMs: 0 }),
        };
      },
    },
    chat: { name: 'quiet', async *stream() { yield { type: 'done' as const, finishReason: 'stop' as const }; } },
    tts: { name: 'none', async *synthesize() { /* nothing */ } },
  };
  return { stages, heard };
}

async function turn(pcm: Int16Array, windowMs: number): Promise<{ heardMs: number; turnMs: number }> {
  const { stages, heard } = countingStages();
  const engine = new CascadeEngine({ name: 'cascade', stages, vad: 'energy' });
  const p = await EngineProbe.open(engine, { output_modalities: ['text'], audio: { input: { turn_detection: { type: 'server_vad', silence_duration_ms: windowMs, create_response: false } } } });
  try {
    p.append(toAppendChunks(pcm, 'pcm', windowMs + 500));
    const started = await p.next('input_audio_buffer.speech_started');
    const stopped = await p.next('input_audio_buffer.speech_stopped');
    await p.next('input_audio_buffer.committed');
    expect(p.types().filter((t) => t === 'input_audio_buffer.speech_started')).toHaveLength(1);
    expect(heard).toHaveLength(1);
    return { heardMs: heard[0]! / 16, turnMs: (stopped as { audio_end_ms: number }).audio_end_ms - (started as { audio_start_ms: number }).audio_start_ms };
  } finally {
    p.close();
    await engine.close();
  }
}

describe('the STT hears the end of a turn up to STT_TRAIL_MS of silence', () => {
  it('a turn: its speech and STT_TRAIL_MS of the 500 ms of silence that ended it, not the rest', async () => {
    const { heardMs, turnMs } = await turn(speech16k('hello'), 500);
    // turnMs = prefix padding + speech up to the silence; the STT gets that plus the trail (± one 20 ms chunk)
    expect(heardMs).toBeGreaterThanOrEqual(turnMs + STT_TRAIL_MS - 20);
    expect(heardMs).toBeLessThanOrEqual(turnMs + STT_TRAIL_MS + 40);
    expect(heardMs).toBeLessThan(turnMs + 500 - 40);
  });

  it('a pause longer than the trail but shorter than the window: the STT is given all of it when speech resumes', async () => {
    const hello = speech16k('hello');
    // (the fixture ends in some silence of its own: the pause between the two is longer than this)
    const pauseMs = 500;
    const pcm = new Int16Array(hello.length * 2 + pauseMs * 16);
    pcm.set(hello);
    pcm.set(hello, hello.length + pauseMs * 16);
    const { heardMs, turnMs } = await turn(pcm, 1_200);
    // one turn over both halves; nothing of it lost, only the final silence beyond the trail
    expect(turnMs).toBeGreaterThan(hello.length / 16 + pauseMs);
    expect(heardMs).toBeGreaterThanOrEqual(turnMs + STT_TRAIL_MS - 20);
    expect(heardMs).toBeLessThanOrEqual(turnMs + STT_TRAIL_MS + 40);
  });
});
