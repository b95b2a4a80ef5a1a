/**
 * The byte fast paths of server/protocol/wire.ts: an upstream delta in OpenAI's field order is read in one
 * pass, any other order by the general head reading, both giving what JSON.parse gives; an event read from
 * bytes is relayed as those bytes only while its audio is the one it came with; copies are serialised.
 */
import { describe, expect, it } from 'vitest';
import { AudioChunk, encodeClientEvent, encodeServerEvent, fastParseAppendBytes, fastParseAudioDeltaBytes } from '../../../server/protocol/index.ts';

const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;
const AUDIO = Buffer.alloc(480, 9).toString('base64');

function deltaJson(fields: Array<[string, unknown]>): string {
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

describe('the upstream delta read from its bytes', () => {
  it('gives what JSON.parse gives, in OpenAI order and in any other (ids, indices, extra fields)', () => {
    let seed = 99;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % n;
    const ids = ['event_1', 'e', 'resp_ABCdef0123456789abcdefXYZ', 'item-with-dashes_and.dots', 'x'.repeat(40), 'a b', 'é', 'a"b', 'a\\b', ''];
    const idxs = [0, 1, 7, 42, 123456789, 1234567890];
    let inOrder = 0;
    let other = 0;
    for (let i = 0; i < 3000; i++) {
      const fields: Array<[string, unknown]> = [
        ['event_id', ids[rnd(ids.length)]],
        ['response_id', ids[rnd(ids.length)]],
        ['item_id', ids[rnd(ids.length)]],
        ['output_index', idxs[rnd(idxs.length)]],
        ['content_index', idxs[rnd(idxs.length)]],
      ];
      // mostly OpenAI's order; sometimes shuffled, or with a field a newer upstream added
      if (rnd(4) === 0) fields.sort(() => rnd(3) - 1);
      if (rnd(8) === 0) fields.splice(rnd(fields.length + 1), 0, ['extra', 'x']);
      fields.unshift(['type', 'response.output_audio.delta']);
      fields.push(['delta', AUDIO]);
      const msg = deltaJson(fields);
      const buf = Buffer.from(msg);
      const ev = fastParseAudioDeltaBytes(buf);
      const parsed = JSON.parse(msg) as Record<string, unknown>;
      const plainIds = [parsed['event_id'], parsed['response_id'], parsed['item_id']].every((v) => typeof v === 'string' && /^[\x20-\x7e]*$/.test(v) && !/["\\]/.test(v));
      if (!plainIds) {
        expect(ev, msg).toBeNull(); // the general parser takes it
        continue;
      }
      const smallIdx = (parsed['output_index'] as number) < 1e9 && (parsed['content_index'] as number) < 1e9;
      if (ev === null) {
        expect(smallIdx, msg).toBe(false);
        continue;
      }
      // a field a newer upstream added is not in the typed event, and reaches the client with the bytes
      const { extra: _extra, ...known } = parsed;
      if (smallIdx) expect(wire(ev), msg).toEqual(known);
      expect(encodeServerEvent(ev)).toBe(buf);
      const ordered = fields.slice(1, 6).map(([k]) => k).join() === 'event_id,response_id,item_id,output_index,content_index';
      if (ordered) inOrder++;
      else other++;
    }
    expect(inOrder).toBeGreaterThan(500);
    expect(other).toBeGreaterThan(50);
  });

  it('is relayed as its bytes only while its audio is its own; a copy or a replaced chunk is serialised', () => {
    const msg = deltaJson([['type', 'response.output_audio.delta'], ['event_id', 'event_1'], ['response_id', 'resp_1'], ['item_id', 'item_1'], ['output_index', 0], ['content_index', 0], ['delta', AUDIO]]);
    const buf = Buffer.from(msg);
    const ev = fastParseAudioDeltaBytes(buf)!;
    expect(encodeServerEvent(ev)).toBe(buf);
    expect(Object.keys(ev)).toEqual(['type', 'event_id', 'response_id', 'item_id', 'output_index', 'content_index', 'delta']);
    const copy = { ...ev, delta: ev.delta.copy() };
    expect(encodeServerEvent(copy)).not.toBe(buf);
    expect(JSON.parse(String(encodeServerEvent(copy)))).toEqual(JSON.parse(msg));
    ev.delta = AudioChunk.fromBytes(Buffer.alloc(480, 1));
    const out = encodeServerEvent(ev);
    expect(out).not.toBe(buf);
    expect(JSON.parse(String(out))).toEqual({ ...JSON.parse(msg), delta: Buffer.alloc(480, 1).toString('base64') });
  });
});

describe('the client append read from its bytes', () => {
  it('has the GA keys of a plain object (no event_id key without one) and relays as its bytes while its audio is its own', () => {
    const audio = Buffer.alloc(960, 7).toString('base64');
    const noId = fastParseAppendBytes(Buffer.from(JSON.stringify({ type: 'input_audio_buffer.append', audio })))!;
    expect(Object.keys(noId)).toEqual(['type', 'audio']);
    expect('event_id' in noId).toBe(false);
    const buf = Buffer.from(JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'ev_1', audio }));
    const ev = fastParseAppendBytes(buf)!;
    expect(Object.keys(ev)).toEqual(['type', 'event_id', 'audio']);
    expect(encodeClientEvent(ev)).toBe(buf);
    // the session's queue keeps a spread copy with its own chunk: serialised, same JSON
    const queued = { ...ev, audio: ev.audio.copy() };
    expect(encodeClientEvent(queued)).not.toBe(buf);
    expect(JSON.parse(String(encodeClientEvent(queued)))).toEqual(JSON.parse(buf.toString()));
    ev.audio = AudioChunk.fromBytes(Buffer.alloc(3, 1));
    expect(JSON.parse(String(encodeClientEvent(ev)))).toEqual({ type: 'input_audio_buffer.append', event_id: 'ev_1', audio: 'AQEB' });
  });
});
