/** Every client event is validated; a bad one gets a GA error (with its event_id) and the session goes on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { startParley, TestClient, until, type Ev, type Parley } from './helpers.ts';

describe('client event validation over /v1/realtime', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  let c: TestClient;

  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    parley = await startParley({ fake, env: { PARLEY_MAX_MESSAGE_BYTES: '65536' } });
    c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
  });
  afterAll(async () => {
    c?.close();
    await parley?.close();
    await fake?.stop();
  });

  const cases: Array<[string, string, string, string | null]> = [
    ['not JSON', '{"type":"session.update",', 'invalid_json', null],
    ['unknown type', JSON.stringify({ type: 'response.audio.delta', event_id: 'e1' }), 'unknown_event', 'type'],
    ['missing type', JSON.stringify({ event_id: 'e2' }), 'missing_required_parameter', 'type'],
    ['append without audio', JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'e3' }), 'missing_required_parameter', 'audio'],
    ['append with invalid base64', JSON.stringify({ type: 'input_audio_buffer.append', event_id: 'e4', audio: 'not base64!!' }), 'invalid_value', 'audio'],
    ['append fast-path shape with bad base64', '{"type":"input_audio_buffer.append","event_id":"e5","audio":"abc"}', 'invalid_value', 'audio'],
    ['truncate without audio_end_ms', JSON.stringify({ type: 'conversation.item.truncate', event_id: 'e6', item_id: 'x', content_index: 0 }), 'missing_required_parameter', 'audio_end_ms'],
    ['item.create with a bad item type', JSON.stringify({ type: 'conversation.item.create', event_id: 'e7', item: { type: 'nope' } }), 'invalid_value', 'item.type'],
    ['function_call_output without output', JSON.stringify({ type: 'conversation.item.create', event_id: 'e8', item: { type: 'function_call_output', call_id: 'c' } }), 'missing_required_parameter', 'item.output'],
    ['beta session field', JSON.stringify({ type: 'session.update', event_id: 'e9', session: { type: 'realtime', input_audio_format: 'pcm16' } }), 'unknown_parameter', 'session.input_audio_format'],
    ['session.type transcription', JSON.stringify({ type: 'session.update', event_id: 'e10', session: { type: 'translation' } }), 'invalid_value', 'session.type'],
  ];

  for (const [name, raw, code, param] of cases) {
    it(`rejects ${name} with a GA error and keeps the session`, async () => {
      const from = c.events.length;
      c.sendRaw(raw);
      const err = await c.waitFor('error', 3000, from);
      const body = err['error'] as Record<string, unknown>;
      expect(body['type']).toBe('invalid_request_error');
      expect(body['code']).toBe(code);
      expect(body['param']).toBe(param);
      expect(typeof body['message']).toBe('string');
      const sentId = (() => {
        try {
          return (JSON.parse(raw) as Record<string, unknown>)['event_id'] ?? null;
        } catch {
          return null;
        }
      })();
      expect(body['event_id']).toBe(sentId);
      expect(typeof err['event_id']).toBe('string');
    });
  }

  it('rejects a message over the size limit (here 64 KiB) with message_too_large', async () => {
    const from = c.events.length;
    c.send({ type: 'input_audio_buffer.append', audio: Buffer.alloc(70_000).toString('base64') });
    const err = await c.waitFor('error', 3000, from);
    expect((err['error'] as Record<string, unknown>)['code']).toBe('message_too_large');
  });

  it('rejects binary frames', async () => {
    const from = c.events.length;
    c.ws.send(Buffer.from([1, 2, 3]));
    const err = await c.waitFor('error', 3000, from);
    expect((err['error'] as Record<string, unknown>)['code']).toBe('invalid_event');
  });

  it('none of the bad events reached the upstream, and the session still works', async () => {
    expect(fake.violations).toEqual([]);
    const from = c.events.length;
    c.send({ type: 'conversation.item.create', event_id: 'ok1', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello there' }] } });
    c.send({ type: 'response.create', event_id: 'ok2' });
    const done = await c.waitFor('response.done', 5000, from);
    expect((done['response'] as Record<string, unknown>)['status']).toBe('completed');
    expect(c.events.slice(from).filter((e: Ev) => e.type === 'error')).toEqual([]);
    expect(fake.violations).toEqual([]);
    await until(() => parley.app.parley.metrics.invalidEvents.get({ code: 'invalid_json' }) === 1, 1000, 'metric');
  });
});
