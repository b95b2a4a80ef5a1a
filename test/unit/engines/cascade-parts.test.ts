import { describe, expect, it } from 'vitest';
import { Resampler, mulawDecode, mulawEncode } from '../../../audio/index.ts';
import { InputDecoder, OutputEncoder, SentenceSplitter, heardText, toChatMessages, zeroInsertUpsample } from '../../../server/engines/cascade/index.ts';

describe('SentenceSplitter', () => {
  it('cuts streamed text at sentence ends, not at abbreviations, initials or decimals', () => {
    const s = new SentenceSplitter();
    const out: string[] = [];
    for (const d of ['Hello', ' there! ', 'Dr. Smith', ' met J. Doe at 3.5 pm. Then', ' he left?', ' Fine']) out.push(...s.push(d));
    expect(out).toEqual(['Hello there!', 'Dr. Smith met J. Doe at 3.5 pm.', 'Then he left?']);
    expect(s.flush()).toBe('Fine');
    expect(s.flush()).toBeNull();
  });
  it('cuts a long clause at a comma so speech can start early', () => {
    const s = new SentenceSplitter();
    const long = 'Well, this is a rather long opening clause that goes on and on and on for quite a while, and then it ends.';
    const out = s.push(`${long} `);
    expect(out.length).toBe(2);
    expect(out.join(' ')).toBe(long);
  });
});

describe('heardText (truncate)', () => {
  const pieces = [{ startMs: 0, text: 'One two three four.' }, { startMs: 1000, text: 'Five six.' }];
  it('keeps whole pieces before the cut and a word share of the piece it cuts', () => {
    expect(heardText(pieces, 2000, 2000)).toBe('One two three four. Five six.');
    expect(heardText(pieces, 2000, 1000)).toBe('One two three four.');
    expect(heardText(pieces, 2000, 500)).toBe('One two');
    expect(heardText(pieces, 2000, 0)).toBe('');
  });
});

describe('InputDecoder / OutputEncoder', () => {
  const tone = (rate: number, ms: number, hz = 440): Int16Array => {
    const n = (rate * ms) / 1000;
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.round(10_000 * Math.sin((2 * Math.PI * hz * i) / rate));
    return out;
  };
  const bytes = (pcm: Int16Array): Uint8Array => new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);

  it('decodes 24 kHz pcm to 16 kHz in 20 ms chunks (same as one call), and rejects odd byte counts', () => {
    const src = tone(24_000, 400);
    const a = new InputDecoder({ type: 'audio/pcm', rate: 24_000 }, 'zero-insert');
    const chunked: number[] = [];
    for (let i = 0; i < src.length; i += 480) chunked.push(...a.decode(bytes(src.subarray(i, i + 480)))!);
    const whole = new Resampler({ inputRateHz: 24_000, outputRateHz: 16_000 }).process(src);
    expect(chunked.length).toBe(whole.length);
    expect(Int16Array.from(chunked)).toEqual(whole);
    expect(a.decode(Uint8Array.of(1, 2, 3))).toBeNull();
    // bytes at an odd offset (a door's packet buffer) decode the same
    const b = new InputDecoder({ type: 'audio/pcm', rate: 24_000 }, 'zero-insert');
    const odd = new Uint8Array(src.byteLength + 1);
    odd.set(bytes(src), 1);
    expect(b.decode(odd.subarray(1))).toEqual(whole.subarray(0, b.sttView.length));
  });

  it('decodes μ-law 8 kHz to 16 kHz: clean resample for the VAD, zero insertion for STT', () => {
    const src = tone(8_000, 100);
    const d = new InputDecoder({ type: 'audio/pcmu' }, 'zero-insert');
    const vad = d.decode(mulawEncode(src))!;
    expect(Math.abs(vad.length - src.length * 2)).toBeLessThanOrEqual(8);   // clean resample (filter delay)
    const out = d.sttView;
    expect(out.length).toBe(src.length * 2);
    const ref = mulawDecode(mulawEncode(src));
    for (let i = 0; i < src.length; i++) { expect(out[2 * i]).toBe(ref[i]); expect(out[2 * i + 1]).toBe(0); }
    expect(zeroInsertUpsample(Int16Array.of(5, -7), new Int16Array(8))).toEqual(Int16Array.of(5, 0, -7, 0));
  });

  it('encodes 16 kHz TTS audio to 24 kHz pcm and to μ-law, in pieces of at most 200 ms', () => {
    const pcm = tone(16_000, 1_000, 300);
    for (const [format, rate, bytesPerSample] of [[{ type: 'audio/pcm', rate: 24_000 }, 24_000, 2], [{ type: 'audio/pcmu' }, 8_000, 1]] as const) {
      const enc = new OutputEncoder(format);
      const pieces: { bytes: number; samples: number }[] = [];
      enc.write(pcm, 16_000, (b, samples) => pieces.push({ bytes: b.byteLength, samples }));
      enc.flush((b, samples) => pieces.push({ bytes: b.byteLength, samples }));
      const total = pieces.reduce((n, p) => n + p.samples, 0);
      expect(Math.abs(total - rate)).toBeLessThanOrEqual(rate / 100);   // 1 s of audio (+ the resampler's filter tail, a few ms)
      expect(Math.max(...pieces.map((p) => p.samples))).toBeLessThanOrEqual(rate / 5);
      for (const p of pieces) expect(p.bytes).toBe(p.samples * bytesPerSample);
    }
  });
});

describe('toChatMessages', () => {
  it('turns GA items into chat messages; calls without outputs are left out', () => {
    const msgs = toChatMessages([
      { id: 'a', type: 'message', role: 'user', content: [{ type: 'input_audio', transcript: 'what time is it' }] },
      { id: 'b', type: 'message', role: 'assistant', content: [{ type: 'output_audio', transcript: 'Let me check.' }] },
      { id: 'c', type: 'function_call', call_id: 'call_1', name: 'get_current_time', arguments: '{}' },
      { id: 'd', type: 'function_call_output', call_id: 'call_1', output: '{"iso":"x"}' },
      { id: 'e', type: 'function_call', call_id: 'call_2', name: 'end_call', arguments: '{}' },
      { id: 'f', type: 'message', role: 'system', content: [{ type: 'input_text', text: 'be brief' }] },
    ], 'You are Parley.');
    expect(msgs).toEqual([
      { role: 'system', content: 'You are Parley.' },
      { role: 'user', content: 'what time is it' },
      { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_current_time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"iso":"x"}' },
      { role: 'system', content: 'be brief' },
    ]);
  });
});

describe('cascade item order with a scripted chat stage', () => {
  it('text after a tool call: the call item is done before the message item starts', async () => {
    const { CascadeEngine } = await import('../../../server/engines/cascade/index.ts');
    const { EngineProbe } = await import('./cascade-harness.ts');
    const chat = {
      name: 'scripted',
      async *stream() {
        yield { type: 'tool_call' as const, index: 0, callId: 'call_a', name: 'get_current_time' };
        yield { type: 'tool_arguments' as const, index: 0, delta: '{}' };
        yield { type: 'text' as const, delta: 'One moment.' };
        yield { type: 'done' as const, finishReason: 'tool_calls' as const };
      },
    };
    const tts = { name: 'silent', async *synthesize() { yield { pcm: new Int16Array(1600), sampleRateHz: 16_000 }; } };
    const stt = { name: 'none', open: () => ({ push: () => undefined, abort: () => undefined, finish: async () => ({ text: '', audioMs: 0, finaliseMs: 0 }) }) };
    const engine = new CascadeEngine({ name: 'cascade', stages: { stt, chat, tts }, vad: 'energy' });
    const p = await EngineProbe.open(engine);
    p.send({ type: 'response.create' });
    const done = await p.next('response.done');
    expect((done.response as { output: { type: string; status: string }[] }).output.map((o) => [o.type, o.status])).toEqual([['function_call', 'completed'], ['message', 'completed']]);
    const order = p.shape().filter((t) => t.startsWith('response.output_item'));
    expect(order).toEqual(['response.output_item.added', 'response.output_item.done', 'response.output_item.added', 'response.output_item.done']);
    p.close();
  });
});

describe('cascade parts share the session\'s conversation store', () => {
  it('history in the store reaches the model; the reply is stored there once; a delete removes it there', async () => {
    const { CascadeEngine } = await import('../../../server/engines/cascade/index.ts');
    const { EngineProbe } = await import('./cascade-harness.ts');
    const { Conversation } = await import('../../../server/conversation.ts');
    const seen: string[][] = [];
    const chat = {
      name: 'scripted',
      async *stream(req: { messages: { role: string; content: string | null }[] }) {
        seen.push(req.messages.map((m) => `${m.role}:${m.content ?? ''}`));
        yield { type: 'text' as const, delta: 'Sure.' };
        yield { type: 'done' as const, finishReason: 'stop' as const };
      },
    };
    const tts = { name: 'silent', async *synthesize() { yield { pcm: new Int16Array(1600), sampleRateHz: 16_000 }; } };
    const stt = { name: 'none', open: () => ({ push: () => undefined, abort: () => undefined, finish: async () => ({ text: '', audioMs: 0, finaliseMs: 0 }) }) };
    const conversation = new Conversation();
    conversation.insert({ id: 'item_prior', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'book a table' }] });
    const engine = new CascadeEngine({ name: 'cascade', stages: { stt, chat, tts }, vad: 'energy' });
    const p = await EngineProbe.open(engine, { output_modalities: ['text'] }, conversation);
    p.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'for two' }] } });
    p.send({ type: 'response.create' });
    const done = await p.next('response.done');
    expect(seen[0]).toEqual(['user:book a table', 'user:for two']);
    const replyId = (done.response as { output: { id: string }[] }).output[0]!.id;
    expect(conversation.items.map((i) => i.id)).toEqual(['item_prior', expect.any(String), replyId]);
    expect(conversation.find(replyId)).toMatchObject({ role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Sure.' }] });
    // an item the session drops from the store is gone for the cascade too
    conversation.delete('item_prior');
    p.send({ type: 'conversation.item.delete', item_id: replyId });
    await p.next('conversation.item.deleted');
    expect(conversation.items.map((i) => i.id)).toEqual([expect.any(String)]);
    p.send({ type: 'response.create' });
    await p.next('response.done', () => true, p.events.indexOf(done) + 1);
    expect(seen[1]).toEqual(['user:for two']);
    p.close();
  });

  it('input audio arrives as bytes (a SIP door\'s μ-law): decoded straight from them, never through base64', async () => {
    const { CascadeEngine } = await import('../../../server/engines/cascade/index.ts');
    const { EngineProbe } = await import('./cascade-harness.ts');
    const { AudioChunk } = await import('../../../server/protocol/index.ts');
    const heard: number[] = [];
    const stt = { name: 'count', open: () => ({ push: (pcm: Int16Array) => { heard.push(pcm.length); }, abort: () => undefined, finish: async () => ({ text: 'hello', audioMs: 0, finaliseMs: 0 }) }) };
    const chat = { name: 'scripted', async *stream() { yield { type: 'done' as const, finishReason: 'stop' as const }; } };
    const tts = { name: 'silent', async *synthesize() { yield { pcm: new Int16Array(160), sampleRateHz: 16_000 }; } };
    const engine = new CascadeEngine({ name: 'cascade', stages: { stt, chat, tts }, vad: 'energy' });
    const p = await EngineProbe.open(engine, { audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null } } });
    const frame = mulawEncode(Int16Array.from({ length: 160 }, (_, i) => Math.round(8_000 * Math.sin(i / 3))));
    const chunk = AudioChunk.fromBytes(frame, { type: 'audio/pcmu' });
    chunk.base64 = () => { throw new Error('base64 inside the process'); };
    for (let i = 0; i < 10; i++) p.send({ type: 'input_audio_buffer.append', audio: chunk });
    p.send({ type: 'input_audio_buffer.commit' });
    await p.next('conversation.item.done');
    // 200 ms of 8 kHz μ-law → 16 kHz for the STT (zero insertion: exactly twice the samples)
    expect(heard.reduce((a, b) => a + b, 0)).toBe(10 * 320);
    expect(p.types()).not.toContain('error');
    p.close();
  });
});
