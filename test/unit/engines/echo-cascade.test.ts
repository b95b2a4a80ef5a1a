/**
 * Echo on the cascade (audio/echo.ts, docs/notes/turns.md "Echo"): the agent talks (flite), a phone line
 * plays its audio at real time and echoes it back into the caller's microphone 120 ms later at −10 dB over
 * a noise floor (bench/turns-line.ts). Under server_vad — any speech interrupts, OpenAI's semantics — the
 * echo must not count as the caller: with the echo gate the reply plays to its end with no speech_started;
 * the same engine without it is cut off by its own voice. A caller who really speaks over the echo still
 * interrupts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile } from '../../../audio/index.ts';
import { CascadeEngine, DEFAULT_INTERRUPTION_RULES } from '../../../server/engines/cascade/index.ts';
import type { ChatProvider, ChatRequest, ChatChunk } from '../../../server/engines/providers/index.ts';
import { FliteTts, PocketSphinxStt } from '../../../server/engines/providers/index.ts';
import { echoCall } from '../../../bench/turns-line.ts';

const talker: ChatProvider = {
  name: 'talker',
  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    for (let i = 0; i < 4 && !req.signal?.aborted; i++) {
      yield { type: 'text', delta: `Our store opens at nine in the morning and closes at eight in the evening, sentence ${i + 1}. ` };
      await new Promise((r) => setTimeout(r, 100));
    }
    yield { type: 'done', finishReason: 'stop' };
  },
};

describe('cascade: the agent\'s own echo is not the caller speaking', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-echo-cascade-'));
  const stt = new PocketSphinxStt({ decoders: 2 });
  const stages = { stt, chat: talker, tts: new FliteTts() };
  const rules = { ...DEFAULT_INTERRUPTION_RULES, serverVad: false };
  const gated = new CascadeEngine({ name: 'local', stages, interruptions: { ...rules, echo: true } });
  const plain = new CascadeEngine({ name: 'local', stages, interruptions: rules });
  beforeAll(async () => { await gated.warm(); await plain.warm(); await stt.ready(); }, 60_000);
  afterAll(async () => { await gated.close(); await plain.close(); rmSync(dir, { recursive: true, force: true }); });
  const line = { gainDb: -10, delayMs: 120, td: { type: 'server_vad' as const } };

  it('echo at −10 dB, 120 ms: the gated engine plays its whole reply, the plain one stops for its own voice', async () => {
    const g = await echoCall(gated, line);
    expect(g.status).toBe('completed');
    expect(g.speechStarted).toBe(0);
    expect(g.playedMs).toBeGreaterThan(8_000);
    const p = await echoCall(plain, line);
    expect(p.speechStarted).toBeGreaterThan(0);
    // its own echo barged in: the door flushed the reply (the response may have finished generating before)
    expect(p.playedMs).toBeLessThan(g.playedMs / 2);
  }, 90_000);

  it('the caller speaking over the echo still interrupts (speech_started, the playout flushed)', async () => {
    const f = join(dir, 'caller.wav');
    execFileSync('flite', ['-voice', 'slt', '-t', 'Wait, stop, I have a question about my order.', '-o', f]);
    const pcm8k = readWavFile(f, { sampleRateHz: 8_000 }).samples;
    const g = await echoCall(gated, { ...line, caller: { pcm8k, atMs: 2_000 } });
    expect(g.speechStarted).toBeGreaterThan(0);
    // the door flushed at the barge-in (the response itself may have finished generating before: faster than real time)
    expect(g.playedMs).toBeLessThan(6_000);
    // the interruption is the caller's: after they started (2 s into the reply), not before
    expect(g.startedAtMs[0]!).toBeGreaterThan(1_900);
  }, 90_000);
});
