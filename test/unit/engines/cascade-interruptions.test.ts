/**
 * "Interruptions that mean it" on the cascade with the offline parts (Silero VAD, PocketSphinx,
 * flite): flite speech said over the agent's reply, paced at real time. A backchannel does not stop
 * it under semantic_vad; "wait, stop" does; under server_vad any speech still does (OpenAI's semantics).
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
import type { ServerEvent, TurnDetection } from '../../../server/protocol/index.ts';
import { EngineProbe, toAppendChunks } from './cascade-harness.ts';

/** A chat stage that talks for a while: `sentences` sentences, one every 250 ms (until aborted). */
let sentences = 12;
const talker: ChatProvider = {
  name: 'talker',
  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    for (let i = 0; i < sentences && !req.signal?.aborted; i++) {
      yield { type: 'text', delta: `This is sentence number ${i + 1} of a rather long answer about the weather. ` };
      await new Promise((r) => setTimeout(r, 250));
    }
    yield { type: 'done', finishReason: 'stop' };
  },
};

describe('cascade: speech over the agent (interruptions that mean it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-turns-'));
  const say = (voice: string, text: string): Int16Array => {
    const f = join(dir, `${voice}-${text.replace(/\W+/g, '_')}.wav`);
    execFileSync('flite', ['-voice', voice, '-t', text, '-o', f]);
    return readWavFile(f, { sampleRateHz: 16_000 }).samples;
  };
  // a decoder for the caller's utterance and one for the interruption's words probe, each session
  const stt = new PocketSphinxStt({ decoders: 3 });
  const tts = new FliteTts();
  const engine = new CascadeEngine({
    name: 'local',
    stages: { stt, chat: talker, tts },
    interruptions: { ...DEFAULT_INTERRUPTION_RULES, serverVad: false },
  });
  beforeAll(async () => { await engine.warm(); await stt.ready(); }, 60_000);
  afterAll(async () => { await engine.close(); rmSync(dir, { recursive: true, force: true }); });

  /** Appends 16 kHz speech (+ silence) as 24 kHz pcm, 100 ms every 100 ms. Resolves when all is sent. */
  async function speak(p: EngineProbe, pcm: Int16Array, silenceAfterMs: number): Promise<number> {
    const chunks = toAppendChunks(pcm, 'pcm', silenceAfterMs);
    const t0 = performance.now();
    for (let i = 0; i < chunks.length; i += 5) {
      p.append(chunks.slice(i, i + 5));
      const due = t0 + ((i + 5) / 50) * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    }
    return t0;
  }

  async function agentTalking(td: TurnDetection): Promise<EngineProbe> {
    const p = await EngineProbe.open(engine, { audio: { input: { turn_detection: td, transcription: { model: 'x' } } } });
    p.send({ type: 'response.create' });
    await p.next('response.output_audio.delta');
    return p;
  }
  const done = (e: ServerEvent): { status: string; status_details: { reason?: string } | null } => (e as never as { response: never })['response'];

  it('semantic_vad: a flite "mhm" and a "yeah" over the agent do not stop it; the reply completes', async () => {
    sentences = 12;
    const p = await agentTalking({ type: 'semantic_vad' });
    await speak(p, say('rms', 'mhm'), 700);
    await speak(p, say('slt', 'yeah'), 900);
    const d = await p.next('response.done', () => true, 0, 25_000);
    expect(done(d).status).toBe('completed');
    await new Promise((r) => setTimeout(r, 250));   // the last decision (final transcript) is in
    expect(p.types()).not.toContain('input_audio_buffer.speech_started');
    expect(p.types()).not.toContain('input_audio_buffer.committed');
    p.conn.close();
  }, 60_000);

  it('semantic_vad: "wait, stop" over the agent stops it (speech_started, response cancelled, the turn answered)', async () => {
    sentences = 80;   // talks until stopped, however slow the machine is
    const p = await agentTalking({ type: 'semantic_vad' });
    const pcm = say('slt', 'wait, stop');
    const t0 = performance.now();
    void speak(p, pcm, 900);
    const started = await p.next('input_audio_buffer.speech_started', () => true, 0, 25_000);
    const d = await p.next('response.done', () => true, 0, 25_000);
    expect(done(d).status).toBe('cancelled');
    expect(done(d).status_details?.reason).toBe('turn_detected');
    expect(p.types().indexOf('input_audio_buffer.speech_started')).toBeLessThan(p.types().indexOf('response.done'));
    const tr = await p.next('conversation.item.input_audio_transcription.completed', () => true, 0, 25_000);
    expect((tr as never as { transcript: string }).transcript).toMatch(/wait|stop/);
    // the turn's own response follows
    await p.next('response.created', (e) => (e as never as { response: { id: string } }).response.id !== (d as never as { response: { id: string } }).response.id, 0, 25_000);
    expect(started).toBeTruthy();
    expect(performance.now() - t0).toBeLessThan(45_000);
    p.conn.close();
  }, 60_000);

  it('server_vad (OpenAI semantics, the default): the same "mhm" stops the agent', async () => {
    sentences = 80;
    const p = await agentTalking({ type: 'server_vad' });
    await speak(p, say('rms', 'mhm'), 700);
    await p.next('input_audio_buffer.speech_started');
    const d = await p.next('response.done');
    expect(done(d).status).toBe('cancelled');
    p.conn.close();
  }, 60_000);
});
