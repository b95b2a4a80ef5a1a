import { describe, expect, it } from 'vitest';
import {
  AudioChunk,
  base64ByteLength,
  encodeClientEvent,
  encodeServerEvent,
  fastParseAppendBytes,
  fastParseAudioDeltaBytes,
  fastParseAppend,
  fastParseAudioDelta,
  isBase64,
  newEventId,
  parseClientEvent,
  parseServerEvent,
  validateClientEvent,
} from '../../../server/protocol/index.ts';
import { ProtocolError } from '../../../server/errors.ts';

function gaCode(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return (err as ProtocolError).gaCode;
  }
}

/** As it goes on the wire (audio chunks write themselves as base64). */
const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

describe('protocol validation', () => {
  it('checks base64 canonically', () => {
    expect(isBase64('')).toBe(true);
    expect(isBase64('AAAA')).toBe(true);
    expect(isBase64('AAA=')).toBe(true);
    expect(isBase64('AA==')).toBe(true);
    expect(isBase64('A===')).toBe(false);
    expect(isBase64('AAA')).toBe(false);
    expect(isBase64('AA-_')).toBe(false);
    expect(isBase64('AAAA\n')).toBe(false);
    const buf = Buffer.from([1, 2, 3, 4, 5]);
    expect(base64ByteLength(buf.toString('base64'))).toBe(5);
    expect(base64ByteLength(Buffer.alloc(960).toString('base64'))).toBe(960);
  });

  it('the append fast path agrees with JSON.parse, and falls back for other shapes', () => {
    const audio = Buffer.alloc(960, 7).toString('base64');
    const a = JSON.stringify({ type: 'input_audio_buffer.append', audio });
    expect(wire(fastParseAppend(a))).toEqual(JSON.parse(a));
    const b = JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'ev_1', audio });
    expect(wire(fastParseAppend(b))).toEqual(JSON.parse(b));
    // other key order / whitespace: not the fast shape, but the general path accepts it
    const c = JSON.stringify({ audio, type: 'input_audio_buffer.append' });
    expect(fastParseAppend(c)).toBeNull();
    expect(wire(parseClientEvent(c))).toEqual(JSON.parse(c));
    // a fast-shaped message with trailing junk is not accepted by the fast path
    expect(fastParseAppend(a + ' ')).toBeNull();
    expect(gaCode(() => parseClientEvent('{"type":"input_audio_buffer.append","audio":"AAAA"}x'))).toBe('invalid_json');
    // an escaped quote inside event_id falls back to JSON.parse
    const d = JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'a"b', audio });
    expect(fastParseAppend(d)).toBeNull();
    expect(parseClientEvent(d)['event_id']).toBe('a"b');
  });

  it('rejects what GA rejects', () => {
    expect(gaCode(() => validateClientEvent([]))).toBe('invalid_event');
    expect(gaCode(() => validateClientEvent({ type: 'nope' }))).toBe('unknown_event');
    expect(gaCode(() => validateClientEvent({ type: 'session.update' }))).toBe('missing_required_parameter');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', modalities: ['text'] } }))).toBe('unknown_parameter');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', max_output_tokens: 0 } }))).toBe('integer_below_min_value');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', tools: [{ type: 'function' }] } }))).toBe('missing_required_parameter');
    expect(gaCode(() => validateClientEvent({ type: 'conversation.item.truncate', item_id: 'i', content_index: -1, audio_end_ms: 0 }))).toBe('integer_below_min_value');
    expect(gaCode(() => validateClientEvent({ type: 'conversation.item.create', item: { type: 'message', role: 'robot', content: [] } }))).toBe('invalid_value');
    expect(gaCode(() => validateClientEvent({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_audio', audio: '!!' }] } }))).toBe('invalid_value');
    expect(gaCode(() => validateClientEvent({ type: 'response.create', response: 'now' }))).toBe('invalid_type');
    expect(gaCode(() => validateClientEvent({ type: 'response.cancel', event_id: 5 }))).toBe('invalid_type');
    expect(gaCode(() => parseClientEvent('x'.repeat(100), 100, 50))).toBe('message_too_large');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', audio: { input: { format: 'pcm16' } } } }))).toBe('invalid_type');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', audio: { output: { format: { type: 'audio/pcm', rate: 16000 } } } } }))).toBe('invalid_value');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', audio: { output: { format: { type: 'audio/opus' } } } } }))).toBe('invalid_value');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'push_to_talk' } } } } }))).toBe('invalid_value');
    expect(gaCode(() => validateClientEvent({ type: 'session.update', session: { type: 'realtime', output_modalities: ['audio', 'text'] } }))).toBe('array_above_max_length');
    expect(validateClientEvent({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null }, output: { format: { type: 'audio/pcm', rate: 24000 } } } } })).toBeTruthy();
  });

  it('accepts every GA client event type in its minimal valid form', () => {
    const ok = [
      { type: 'session.update', session: { type: 'realtime', instructions: 'hi' } },
      { type: 'input_audio_buffer.append', audio: 'AAAA' },
      { type: 'input_audio_buffer.commit' },
      { type: 'input_audio_buffer.clear' },
      { type: 'output_audio_buffer.clear' },
      { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } },
      { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'c', output: '{}' } },
      { type: 'conversation.item.retrieve', item_id: 'i' },
      { type: 'conversation.item.truncate', item_id: 'i', content_index: 0, audio_end_ms: 10 },
      { type: 'conversation.item.delete', item_id: 'i' },
      { type: 'response.create' },
      { type: 'response.create', response: { conversation: 'none', output_modalities: ['text'] } },
      { type: 'response.cancel' },
    ];
    for (const ev of ok) expect(wire(validateClientEvent(ev))).toEqual(ev);
  });

  it('the audio-delta fast path agrees with JSON.parse', () => {
    const delta = Buffer.alloc(4800, 3).toString('base64');
    const raw = JSON.stringify({ type: 'response.output_audio.delta', event_id: 'event_1', response_id: 'resp_1', item_id: 'item_1', output_index: 0, content_index: 0, delta });
    expect(wire(fastParseAudioDelta(raw))).toEqual(JSON.parse(raw));
    const reordered = JSON.stringify({ type: 'response.output_audio.delta', delta, event_id: 'event_1', response_id: 'resp_1', item_id: 'item_1', output_index: 2, content_index: 1 });
    expect(wire(fastParseAudioDelta(reordered))).toEqual(JSON.parse(reordered));
    const other = JSON.stringify({ event_id: 'e', type: 'response.output_audio.delta', delta });
    expect(fastParseAudioDelta(other)).toBeNull();
    expect(wire(parseServerEvent(other))).toEqual(JSON.parse(other));
  });

  it('event ids are unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newEventId()));
    expect(ids.size).toBe(1000);
  });
});

describe('wire edges (server/protocol/wire.ts)', () => {
  it('an append read from its bytes agrees with the string fast path and the general path, and relays as the same bytes', () => {
    const audio = Buffer.alloc(960, 7).toString('base64');
    for (const msg of [
      JSON.stringify({ type: 'input_audio_buffer.append', audio }),
      JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'ev_1', audio }),
      JSON.stringify({ type: 'input_audio_buffer.append', audio: '' }),
    ]) {
      const buf = Buffer.from(msg);
      const ev = fastParseAppendBytes(buf);
      expect(ev).not.toBeNull();
      expect(wire(ev)).toEqual(JSON.parse(msg));
      expect(wire(ev)).toEqual(wire(parseClientEvent(msg)));
      expect(encodeClientEvent(ev!)).toBe(buf);
      expect(Buffer.from(ev!.audio.bytes()).equals(Buffer.from(JSON.parse(msg).audio, 'base64'))).toBe(true);
    }
  });

  it('an append the bytes fast path cannot vouch for goes to the general path (which still validates it)', () => {
    const cases = [
      '{"type":"input_audio_buffer.append","audio":"abc"}', // not a multiple of 4
      '{"type":"input_audio_buffer.append","audio":"ab!d"}', // outside the alphabet
      '{"type":"input_audio_buffer.append","audio":"AA=A"}', // inner padding
      '{"type":"input_audio_buffer.append","event_id":"a\\"b","audio":"AAAA"}', // escaped id
      '{"type":"input_audio_buffer.append","event_id":"é","audio":"AAAA"}', // non-ASCII id
      '{"type":"input_audio_buffer.append","audio":"AAAA"} ', // trailing byte
      '{"audio":"AAAA","type":"input_audio_buffer.append"}', // another key order
    ];
    for (const msg of cases) expect(fastParseAppendBytes(Buffer.from(msg)), msg).toBeNull();
    expect(gaCode(() => parseClientEvent(cases[1]!))).toBe('invalid_value');
    expect(wire(parseClientEvent(cases[4]!))).toEqual(JSON.parse(cases[4]!));
  });

  it('an upstream delta read from its bytes relays as the same bytes; one built in process is serialised', () => {
    const delta = Buffer.alloc(480, 9).toString('base64');
    const msg = JSON.stringify({ type: 'response.output_audio.delta', event_id: 'event_1', response_id: 'resp_1', item_id: 'item_1', output_index: 0, content_index: 0, delta });
    const buf = Buffer.from(msg);
    const ev = fastParseAudioDeltaBytes(buf)!;
    expect(wire(ev)).toEqual(JSON.parse(msg));
    expect(encodeServerEvent(ev)).toBe(buf);
    const built = { ...ev, delta: AudioChunk.fromBytes(Buffer.alloc(480, 9)) };
    expect(JSON.parse(String(encodeServerEvent(built)))).toEqual(JSON.parse(msg));
    expect(fastParseAudioDeltaBytes(Buffer.from(JSON.stringify({ ...JSON.parse(msg), extra: '"x"' })))).toBeNull(); // delta not last
  });
});

describe('the append fast paths agree', () => {
  it('on random strings near base64 (bytes path = string path = the strict check)', () => {
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const odd = ['=', '-', '_', ' ', '\n', 'é', '\u0000', '.', '"'];
    for (let i = 0; i < 20_000; i++) {
      const len = rnd(24);
      let a = '';
      for (let j = 0; j < len; j++) a += rnd(12) === 0 ? odd[rnd(odd.length)]! : alphabet[rnd(64)]!;
      if (rnd(3) === 0) a += rnd(2) ? '=' : '==';
      const msg = `{"type":"input_audio_buffer.append","audio":${JSON.stringify(a)}}`;
      const bytes = fastParseAppendBytes(Buffer.from(msg));
      const str = fastParseAppend(msg);
      expect(bytes === null ? null : wire(bytes), msg).toEqual(str === null ? null : wire(str));
      if (bytes !== null) expect(isBase64(a), msg).toBe(true);
    }
  });
});
