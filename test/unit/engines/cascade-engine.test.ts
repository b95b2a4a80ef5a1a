import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawDecode, rmsDbfs } from '../../../audio/index.ts';
import { CascadeEngine } from '../../../server/engines/cascade/index.ts';
import { DemoAgent } from '../../../server/agent/index.ts';
import { FliteTts, PocketSphinxStt } from '../../../server/engines/providers/index.ts';
import { AudioChunk } from '../../../server/protocol/index.ts';
import type { ServerEvent } from '../../../server/protocol/index.ts';
import { EngineProbe, overlap, recognise, silentLog, speech16k, toAppendChunks, words } from './cascade-harness.ts';

const TIME_TOOL = { type: 'function', name: 'get_current_time', description: 'The current time', parameters: { type: 'object', properties: {} } };

describe('local cascade engine (PocketSphinx + demo agent + flite), driven with GA events', () => {
  const stt = new PocketSphinxStt();
  const engine = new CascadeEngine({ name: 'local', stages: { stt, chat: new DemoAgent(), tts: new FliteTts() } });
  const probes: EngineProbe[] = [];
  const open = async (session: Record<string, unknown> = {}): Promise<EngineProbe> => {
    const p = await EngineProbe.open(engine, session);
    probes.push(p);
    return p;
  };
  beforeAll(async () => { await engine.warm(); });
  afterAll(async () => { for (const p of probes) p.close(); await engine.close(); });

  /** Recognises a response's audio (pcm 24 kHz or μ-law 8 kHz) with PocketSphinx. */
  const hear = (audio: Buffer, format: 'pcm' | 'pcmu'): Promise<string> => recognise(stt, audio, format);

  it('a full voice turn: GA event sequence, transcript, and a reply the STT recognises back', async () => {
    const p = await open({ audio: { input: { transcription: { model: 'whisper-1' } } } });
    const start = p.events.length;
    p.append(toAppendChunks(speech16k('hello-padded'), 'pcm'));
    const done = await p.next('response.done');
    const response = done.response as { id: string; status: string; output: { type: string; content: { transcript: string }[] }[]; usage: { total_tokens: number } };
    expect(response.status).toBe('completed');
    expect(p.shape(start)).toEqual([
      'input_audio_buffer.speech_started',
      'input_audio_buffer.speech_stopped',
      'input_audio_buffer.committed',
      'conversation.item.added',
      'response.created',
      'conversation.item.input_audio_transcription.delta',
      'conversation.item.input_audio_transcription.completed',
      'conversation.item.done',
      'response.output_item.added',
      'conversation.item.added',
      'response.content_part.added',
      'response.output_audio_transcript.delta',
      'response.output_audio.delta',
      'response.output_audio_transcript.delta',
      'response.output_audio.delta',
      'response.output_audio.done',
      'response.output_audio_transcript.done',
      'response.content_part.done',
      'response.output_item.done',
      'conversation.item.done',
      'response.done',
    ]);
    const started = await p.next('input_audio_buffer.speech_started');
    const stopped = await p.next('input_audio_buffer.speech_stopped');
    // hello-padded: 1 s of silence, 1.78 s of speech; audio_start_ms includes the 300 ms prefix padding.
    expect(started.audio_start_ms as number).toBeGreaterThan(550);
    expect(started.audio_start_ms as number).toBeLessThan(1_000);
    expect(stopped.audio_end_ms as number).toBeGreaterThan(2_400);
    expect(stopped.audio_end_ms as number).toBeLessThan(3_100);
    expect(stopped.item_id).toBe(started.item_id);
    const transcript = (await p.next('conversation.item.input_audio_transcription.completed')).transcript as string;
    expect(words(transcript)).toEqual(expect.arrayContaining(['hello', 'time']));
    const reply = response.output[0]!.content[0]!.transcript;
    expect(reply).toBe('Hello! How can I help you today?');
    expect(response.usage.total_tokens).toBe(0);
    // "Hello! How can I help you today?" recognised back: most of its words
    expect(overlap(await hear(p.audioOf(response.id), 'pcm'), ['hello', 'how', 'can', 'i', 'help', 'you', 'today'])).toBeGreaterThanOrEqual(4);
    // ids are GA-shaped
    expect(response.id).toMatch(/^resp_/);
    expect(started.item_id).toMatch(/^item_/);
    expect(done.event_id).toMatch(/^event_/);
  });

  it('a tool call: function_call item with streamed arguments; the tool output is then spoken', async () => {
    const p = await open({ tools: [TIME_TOOL] });
    p.append(toAppendChunks(speech16k('hello'), 'pcm'));
    const done = await p.next('response.done');
    const out = (done.response as { output: { type: string; name: string; call_id: string; arguments: string; status: string }[] }).output;
    expect(out.map((o) => o.type)).toEqual(['function_call']);
    expect(out[0]).toMatchObject({ name: 'get_current_time', arguments: '{}', status: 'completed' });
    const argsDone = await p.next('response.function_call_arguments.done');
    expect(argsDone).toMatchObject({ name: 'get_current_time', arguments: '{}', call_id: out[0]!.call_id });
    expect(p.types().filter((t) => t === 'response.function_call_arguments.delta').length).toBeGreaterThanOrEqual(1);

    const mark = p.events.length;
    p.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: out[0]!.call_id, output: '{"iso":"2026-11-26T15:04:00Z"}' } });
    p.send({ type: 'response.create' });
    const second = await p.next('response.done', () => true, mark);
    const r2 = second.response as { id: string; status: string; output: { content: { transcript: string }[] }[] };
    expect(r2.status).toBe('completed');
    expect(r2.output[0]!.content[0]!.transcript).toBe('It is 3:04 PM UTC.');
    expect(p.shape(mark).slice(0, 3)).toEqual(['conversation.item.added', 'conversation.item.done', 'response.created']);
    // "It is 3:04 PM UTC." → flite says "it is three oh four p m u t c"
    expect(overlap(await hear(p.audioOf(r2.id), 'pcm'), ['it', 'is', 'three', 'four', 'p', 'm'])).toBeGreaterThanOrEqual(2);
  });

  it('barge-in mid-reply cancels it (turn_detected); truncate keeps what was heard', async () => {
    const p = await open();
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'First sentence here. Then a second one follows. And a third sentence ends it' }] } });
    const mark = p.events.length;
    p.send({ type: 'response.create' });
    const firstAudio = await p.next('response.output_audio.delta', () => true, mark);
    // The caller talks over the reply while it is still being generated.
    const speech = toAppendChunks(speech16k('goodbye'), 'pcm', 0);
    await new Promise((r) => setImmediate(r));
    p.append(speech.slice(0, 25));
    const done = await p.next('response.done', () => true, mark);
    const r = done.response as { id: string; status: string; status_details: { type: string; reason: string }; output: { id: string; status: string; content: { transcript: string }[] }[] };
    expect(r.status).toBe('cancelled');
    expect(r.status_details).toEqual({ type: 'cancelled', reason: 'turn_detected' });
    expect(r.output[0]!.status).toBe('incomplete');
    const startedIdx = p.types().indexOf('input_audio_buffer.speech_started', mark);
    const doneIdx = p.events.indexOf(done);
    expect(startedIdx).toBeGreaterThan(p.events.indexOf(firstAudio));
    expect(startedIdx).toBeLessThan(doneIdx);
    expect(p.shape(startedIdx, doneIdx + 1)).toEqual([
      'input_audio_buffer.speech_started', 'response.output_audio.done', 'response.output_audio_transcript.done',
      'response.content_part.done', 'response.output_item.done', 'conversation.item.done', 'response.done',
    ]);
    // nothing of the cancelled response after its response.done
    await new Promise((res) => setTimeout(res, 200));
    expect(p.events.slice(doneIdx + 1).filter((e) => e.response_id === r.id)).toEqual([]);
    // the reply was cut before the end: not all three sentences were spoken
    const spoken = r.output[0]!.content[0]!.transcript;
    expect(spoken.length).toBeGreaterThan(0);
    expect(spoken).not.toContain('third');

    const itemId = r.output[0]!.id;
    const audioMs = p.audioOf(r.id).length / 48;
    const m2 = p.events.length;
    p.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: Math.ceil(audioMs) + 500, event_id: 'evt_too_far' });
    const err = await p.next('error', () => true, m2);
    expect(err.error).toMatchObject({ code: 'invalid_value', event_id: 'evt_too_far' });
    p.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 300 });
    expect(await p.next('conversation.item.truncated', () => true, m2)).toMatchObject({ item_id: itemId, content_index: 0, audio_end_ms: 300 });
    p.send({ type: 'conversation.item.retrieve', item_id: itemId });
    const got = await p.next('conversation.item.retrieved', () => true, m2);
    const heard = (got.item as { content: { transcript: string }[] }).content[0]!.transcript;
    expect(heard.split(' ').length).toBeLessThan(spoken.split(' ').length);
    expect(spoken.startsWith(heard)).toBe(true);
  });

  it('manual turns (turn_detection null), G.711 μ-law in and out, text-only responses', async () => {
    const p = await open({ audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcmu' } } } });
    p.send({ type: 'input_audio_buffer.commit', event_id: 'evt_empty' });
    expect((await p.next('error')).error).toMatchObject({ code: 'input_audio_buffer_commit_empty', event_id: 'evt_empty' });
    p.append(toAppendChunks(speech16k('book-table'), 'pcmu', 300));
    await new Promise((r) => setTimeout(r, 100));
    expect(p.types()).not.toContain('input_audio_buffer.speech_started');
    const mark = p.events.length;
    p.send({ type: 'input_audio_buffer.commit' });
    const committed = await p.next('input_audio_buffer.committed', () => true, mark);
    const userDone = await p.next('conversation.item.done', (e) => (e.item as { id: string }).id === committed.item_id, mark);
    // 8 kHz telephone audio: PocketSphinx hears only part of it (docs/notes/cascade.md), the end reliably.
    const heardUser = (userDone.item as { content: { transcript: string }[] }).content[0]!.transcript;
    const expected = ['like', 'table', 'two', 'people', 'tomorrow', 'evening'];
    expect(words(heardUser).filter((w) => expected.includes(w)).length).toBeGreaterThanOrEqual(2);
    expect(p.types(mark)).not.toContain('response.created');
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'goodbye' }] } });
    p.send({ type: 'response.create' });
    const done = await p.next('response.done', () => true, mark);
    const r = done.response as { id: string; output: { content: { transcript: string }[] }[]; audio: { output: { format: { type: string } } } };
    expect(r.output[0]!.content[0]!.transcript).toBe('Goodbye!');
    expect(r.audio.output.format.type).toBe('audio/pcmu');
    const audio = p.audioOf(r.id);
    // μ-law: 8 bytes per ms; "Goodbye!" is roughly half a second to a second of speech
    expect(audio.length / 8).toBeGreaterThan(300);
    expect(audio.length / 8).toBeLessThan(2_000);
    const pcm8k = mulawDecode(new Uint8Array(audio));
    expect(rmsDbfs(pcm8k)).toBeGreaterThan(-35);
    // the μ-law reply is the same speech as the pcm reply would be: PocketSphinx hears it after zero insertion
    expect(words(await hear(audio, 'pcmu')).length).toBeGreaterThan(0);

    const m2 = p.events.length;
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
    p.send({ type: 'response.create', response: { output_modalities: ['text'] } });
    const textDone = await p.next('response.done', () => true, m2);
    expect(p.shape(m2)).toEqual([
      'conversation.item.added', 'conversation.item.done', 'response.created', 'response.output_item.added', 'conversation.item.added',
      'response.content_part.added', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'conversation.item.done', 'response.done',
    ]);
    expect((textDone.response as { output: { content: { text: string }[] }[] }).output[0]!.content[0]!.text).toBe('Hello! How can I help you today?');
  });

  it('interrupt_response false: speech during a reply does not cancel it; the new turn is answered after it', async () => {
    const p = await open({ audio: { input: { turn_detection: { type: 'server_vad', interrupt_response: false } } } });
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'First sentence here. Then a second one follows. And a third sentence ends it' }] } });
    const mark = p.events.length;
    p.send({ type: 'response.create' });
    await p.next('response.output_audio.delta', () => true, mark);
    await new Promise((r) => setImmediate(r));
    p.append(toAppendChunks(speech16k('goodbye'), 'pcm'));
    const first = await p.next('response.done', () => true, mark);
    expect(first.response).toMatchObject({ status: 'completed' });
    expect(p.types(mark)).toContain('input_audio_buffer.speech_started');
    const second = await p.next('response.done', (e) => e !== first, p.events.indexOf(first) + 1);
    expect(second.response).toMatchObject({ status: 'completed' });
    expect(p.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('idle_timeout_ms: silence after the reply commits an empty turn and the agent prompts; speech disarms it', async () => {
    const p = await open({ output_modalities: ['text'], audio: { input: { turn_detection: { type: 'server_vad', idle_timeout_ms: 300 } } } });
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
    p.send({ type: 'response.create' });
    const first = await p.next('response.done');
    const t0 = performance.now();
    const trig = await p.next('input_audio_buffer.timeout_triggered', () => true, 0, 5_000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    const i = p.events.indexOf(trig);
    const second = await p.next('response.done', (e) => e !== first, i);
    expect(p.shape(i, p.events.indexOf(second) + 1).slice(0, 5)).toEqual([
      'input_audio_buffer.timeout_triggered', 'input_audio_buffer.committed', 'conversation.item.added', 'conversation.item.done', 'response.created',
    ]);
    expect(trig.item_id).toBe(p.events[i + 1]!.item_id);
    expect((second.response as { output: { content: { text: string }[] }[] }).output[0]!.content[0]!.text).toBe('Are you still there?');

    // speech before the timeout disarms it: no timeout_triggered until the speech turn is answered
    const q = await open({ output_modalities: ['text'], audio: { input: { turn_detection: { type: 'server_vad', idle_timeout_ms: 400 } } } });
    q.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
    q.send({ type: 'response.create' });
    const r1 = await q.next('response.done');
    q.append(toAppendChunks(speech16k('goodbye'), 'pcm'));
    const r2 = await q.next('response.done', (e) => e !== r1, q.events.indexOf(r1) + 1);
    expect(q.types(0).slice(0, q.events.indexOf(r2))).not.toContain('input_audio_buffer.timeout_triggered');
  });

  it('A-law in and out with server VAD', async () => {
    const p = await open({ audio: { input: { format: { type: 'audio/pcma' } }, output: { format: { type: 'audio/pcma' } } } });
    p.append(toAppendChunks(speech16k('book-table'), 'pcma'));
    const done = await p.next('response.done');
    const r = done.response as { id: string; status: string; audio: { output: { format: { type: string } } } };
    expect(r.status).toBe('completed');
    expect(r.audio.output.format.type).toBe('audio/pcma');
    const started = await p.next('input_audio_buffer.speech_started');
    expect(started.audio_start_ms as number).toBeLessThan(500);
    // A-law: 8 bytes per ms, and a "You said: …" reply lasts seconds
    expect(p.audioOf(r.id).length / 8).toBeGreaterThan(1_000);
  });

  it('session.created and conversation.created come first even when events arrive right after open', async () => {
    const seen: string[] = [];
    const conn = await engine.open({ session: { type: 'realtime' }, log: silentLog, callbacks: { onEvent: (e) => seen.push(e.type), onClose: () => undefined } });
    conn.send({ type: 'session.update', session: { type: 'realtime', instructions: 'x' } });
    await new Promise((r) => setImmediate(r));
    conn.close();
    expect(seen).toEqual(['session.created', 'conversation.created', 'session.updated']);
  });

  it('one response at a time; cancel, delete and retrieve answer like OpenAI', async () => {
    const p = await open();
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
    p.send({ type: 'response.create' });
    p.send({ type: 'response.create', event_id: 'evt_second' });
    const err = await p.next('error');
    expect(err.error).toMatchObject({ code: 'conversation_already_has_active_response', event_id: 'evt_second' });
    p.send({ type: 'response.cancel' });
    const done = await p.next('response.done');
    expect(done.response).toMatchObject({ status: 'cancelled', status_details: { type: 'cancelled', reason: 'client_cancelled' } });
    const m = p.events.length;
    p.send({ type: 'response.cancel', event_id: 'evt_c' });
    expect((await p.next('error', () => true, m)).error).toMatchObject({ code: 'response_cancel_not_active' });
    p.send({ type: 'conversation.item.delete', item_id: 'item_nope' });
    expect((await p.next('error', (e) => (e.error as { code: string }).code === 'item_delete_invalid_item_id', m))).toBeTruthy();
    const userItem = (p.events.find((e) => e.type === 'conversation.item.added')!.item as { id: string }).id;
    p.send({ type: 'conversation.item.delete', item_id: userItem });
    expect(await p.next('conversation.item.deleted', () => true, m)).toMatchObject({ item_id: userItem });
    p.send({ type: 'conversation.item.retrieve', item_id: userItem });
    expect((await p.next('error', (e) => (e.error as { code: string }).code === 'item_retrieve_invalid_item_id', m))).toBeTruthy();
    // item shapes are the door's (server/protocol/validate.ts); the conversation's state is checked here
    p.send({ type: 'conversation.item.create', previous_item_id: 'item_nope', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x' }] } });
    expect((await p.next('error', (e) => (e.error as { param: string }).param === 'previous_item_id', m))).toBeTruthy();
    p.send({ type: 'input_audio_buffer.append', event_id: 'evt_odd', audio: AudioChunk.fromBase64('AAAA') });   // 3 bytes: not whole pcm16 samples
    expect((await p.next('error', (e) => (e.error as { event_id: string }).event_id === 'evt_odd', m)).error).toMatchObject({ code: 'invalid_value', param: 'audio' });
    p.send({ type: 'session.update', session: { type: 'realtime', instructions: 'be brief' } });
    const updated = await p.next('session.updated', () => true, m);
    expect((updated.session as { instructions: string }).instructions).toBe('be brief');
  });
});

export type { ServerEvent };
