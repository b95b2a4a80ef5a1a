/**
 * The call record marks speech over the agent that did not stop it (issue 14, docs/notes/turns.md): a
 * WS call on a cascade with the offline parts (Silero VAD, PocketSphinx, flite) and a chat stage that
 * talks until stopped. While the agent speaks, the caller says "yeah" (a backchannel), hums "hmm"
 * (PocketSphinx hears lone letters: a false interruption), then "wait, stop" (a real interruption),
 * flite speech paced at real time. The record read back through the API holds the first two as
 * user lines marked `backchannel` / `false_interruption`, and the interruption as an ordinary turn
 * (no mark). The WS client never sees an event for the ignored speech.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWavFile } from '../../audio/index.ts';
import { CascadeEngine, DEFAULT_INTERRUPTION_RULES } from '../../server/engines/cascade/index.ts';
import type { ChatChunk, ChatProvider, ChatRequest } from '../../server/engines/providers/index.ts';
import { FliteTts, PocketSphinxStt } from '../../server/engines/providers/index.ts';
import type { CallRecord } from '../../server/calls/index.ts';
import { startParley, TestClient, TEST_KEY, until, type Parley } from '../component/helpers.ts';
import { toAppendChunks } from '../unit/engines/cascade-harness.ts';

/** A chat stage that talks until aborted: one sentence every 250 ms. */
const talker: ChatProvider = {
  name: 'talker',
  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    for (let i = 0; i < 80 && !req.signal?.aborted; i++) {
      yield { type: 'text', delta: `This is sentence number ${i + 1} of a rather long answer about the weather. ` };
      await new Promise((r) => setTimeout(r, 250));
    }
    yield { type: 'done', finishReason: 'stop' };
  },
};

const tmp = mkdtempSync(join(tmpdir(), 'parley-record-marks-'));
const say = (voice: string, text: string): Int16Array => {
  const f = join(tmp, `${voice}-${text.replace(/\W+/g, '_')}.wav`);
  execFileSync('flite', ['-voice', voice, '-t', text, '-o', f]);
  return readWavFile(f, { sampleRateHz: 16_000 }).samples;
};

describe('call record: backchannels and false interruptions are marked', () => {
  // a decoder for the caller's utterance and one for the interruption's words probe
  const stt = new PocketSphinxStt({ decoders: 3 });
  const engine = new CascadeEngine({
    name: 'local',
    stages: { stt, chat: talker, tts: new FliteTts() },
    interruptions: { ...DEFAULT_INTERRUPTION_RULES, serverVad: false },
  });
  let parley: Parley;
  beforeAll(async () => {
    await engine.warm();
    await stt.ready();
    parley = await startParley({
      env: { PARLEY_ENGINE: 'local', LOG_LEVEL: process.env.PARLEY_TEST_LOG ?? 'silent' },
      deps: { engines: { local: () => engine } },
    });
  }, 60_000);
  afterAll(async () => {
    await parley?.close();
    await engine.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** 16 kHz speech (+ silence) appended as 24 kHz pcm, 100 ms every 100 ms. */
  async function speak(c: TestClient, pcm: Int16Array, silenceAfterMs: number): Promise<void> {
    const chunks = toAppendChunks(pcm, 'pcm', silenceAfterMs);
    const t0 = performance.now();
    for (let i = 0; i < chunks.length; i += 5) {
      for (const audio of chunks.slice(i, i + 5)) c.send({ type: 'input_audio_buffer.append', audio });
      const due = t0 + ((i + 5) / 50) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
  }

  it('"yeah" over the agent is a backchannel line, a hum a false interruption, "wait, stop" an unmarked turn', async () => {
    const ended: CallRecord[] = [];
    parley.app.parley.calls!.onEnded((r) => ended.push(r));
    const c = new TestClient(parley.wsUrl);
    await c.opened;
    const id = ((await c.waitFor('session.created', 15_000))['session'] as { id: string }).id;
    c.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'semantic_vad' }, transcription: { model: 'whisper-1' } } } } });
    await c.waitFor('session.updated', 5_000);
    c.send({ type: 'response.create' });
    await c.waitFor('response.output_audio.delta', 15_000);

    await speak(c, say('slt', 'yeah'), 900);
    await speak(c, say('slt', 'hmm'), 900);
    // both decided (final transcripts) before the interruption: the agent still talks, no event for them
    await new Promise((r) => setTimeout(r, 1_000));
    expect(c.of('input_audio_buffer.speech_started')).toHaveLength(0);

    await speak(c, say('slt', 'wait, stop'), 900);
    const done = await c.waitFor('response.done', 25_000);
    expect((done['response'] as { status: string }).status).toBe('cancelled');
    const tr = await c.waitFor('conversation.item.input_audio_transcription.completed', 25_000);
    expect(String(tr['transcript'])).toMatch(/wait|stop/);
    c.close();
    await until(() => ended.length === 1, 15_000, 'the call record written');

    const r = (await (await fetch(`${parley.httpUrl}/v1/calls/${id}`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).json()) as CallRecord;
    const what = JSON.stringify(r.transcript);
    const user = r.transcript.filter((t) => t.role === 'user');
    expect(user, what).toHaveLength(3);
    expect(user[0], what).toMatchObject({ mark: 'backchannel', text: expect.stringMatching(/yeah|yes/) });
    expect(user[1], what).toMatchObject({ mark: 'false_interruption' });
    expect(user[2]!.text, what).toMatch(/wait|stop/);
    expect(user[2], what).not.toHaveProperty('mark');
    // in time order: the reply they were said over begins before them
    const agent = r.transcript.findIndex((t) => t.role === 'assistant');
    expect(agent, what).toBeGreaterThanOrEqual(0);
    expect(agent, what).toBeLessThan(r.transcript.indexOf(user[0]!));
    // what the end-of-call listener got is what the database holds
    expect(ended[0]!.transcript).toEqual(r.transcript);
  }, 90_000);
});
