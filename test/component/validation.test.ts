/** Every client event is validated; a bad one gets a GA error (with its event_id) and the session goes on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { startFakeOpenAiHttp, type FakeOpenAiHttp } from '../fakes/openai-compatible-http.ts';
import { startParley, TestClient, until, type Ev, type Parley } from './helpers.ts';

/** `{"type":"session.update",…,"session":{"type":"realtime",<inner>}}` as raw JSON (deep values are built as text). */
const rawSessionUpdate = (eventId: string, inner: string): string => `{"type":"session.update","event_id":"${eventId}","session":{"type":"realtime",${inner}}}`;
/** `{"a":{"a":…1…}}`, `levels` objects deep. */
const nested = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

/** A real-world tool schema nested 10 objects deep through arrays and anyOf (OpenAI's structured-output limit). */
function deepToolSchema(levels: number): Record<string, unknown> {
  let node: Record<string, unknown> = { type: 'string', description: 'leaf' };
  for (let i = 0; i < levels; i++) {
    node = { type: 'object', properties: { [`level${i}`]: { type: 'array', items: { anyOf: [node, { type: 'null' }] } } }, required: [`level${i}`], additionalProperties: false };
  }
  return node;
}

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

describe('every GA field is checked by type and range (issue 10, defect 4)', () => {
  let fake: FakeOpenAI;
  let parley: Parley;
  let c: TestClient;
  let n = 0;

  beforeAll(async () => {
    fake = await new FakeOpenAI().start();
    parley = await startParley({ fake });
    c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created');
  });
  afterAll(async () => {
    c?.close();
    await parley?.close();
    await fake?.stop();
  });

  /** Sends `raw`; expects one invalid_request_error naming `code`, `param` and the sent event_id. */
  async function expectRefused(raw: string, eventId: string, code: string, param: string | RegExp): Promise<void> {
    const from = c.events.length;
    c.sendRaw(raw);
    const err = await c.waitFor((e) => e.type === 'error', 3000, from);
    const body = err['error'] as Record<string, unknown>;
    expect(body['type']).toBe('invalid_request_error');
    expect(body['code']).toBe(code);
    if (typeof param === 'string') expect(body['param']).toBe(param);
    else expect(body['param']).toMatch(param);
    expect(body['event_id']).toBe(eventId);
  }

  /** The session still converses: a valid session.update is answered with session.updated. */
  async function expectStillConverses(): Promise<void> {
    const from = c.events.length;
    c.send({ type: 'session.update', event_id: `ok_${++n}`, session: { type: 'realtime', instructions: `still here ${n}` } });
    const ev = await c.waitFor((e) => e.type === 'session.updated' || e.type === 'error', 3000, from);
    expect(ev.type, JSON.stringify(ev)).toBe('session.updated');
    expect((ev['session'] as Record<string, unknown>)['instructions']).toBe(`still here ${n}`);
  }

  const session = (s: Record<string, unknown>): Record<string, unknown> => ({ type: 'realtime', ...s });
  const input = (i: Record<string, unknown>): Record<string, unknown> => session({ audio: { input: i } });
  const vad = (td: Record<string, unknown>): Record<string, unknown> => input({ turn_detection: { type: 'server_vad', ...td } });
  const TD = 'session.audio.input.turn_detection';
  // [field, event, code, param]
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['transcription (a string)', { type: 'session.update', session: input({ transcription: 'whisper-1' }) }, 'invalid_type', 'session.audio.input.transcription'],
    ['transcription.model (a number)', { type: 'session.update', session: input({ transcription: { model: 42 } }) }, 'invalid_type', 'session.audio.input.transcription.model'],
    ['transcription (unknown field)', { type: 'session.update', session: input({ transcription: { model: 'whisper-1', temperature: 0 } }) }, 'unknown_parameter', 'session.audio.input.transcription.temperature'],
    ['noise_reduction (a string)', { type: 'session.update', session: input({ noise_reduction: 'near_field' }) }, 'invalid_type', 'session.audio.input.noise_reduction'],
    ['noise_reduction.type', { type: 'session.update', session: input({ noise_reduction: { type: 'loud' } }) }, 'invalid_value', 'session.audio.input.noise_reduction.type'],
    ['tool_choice (a number)', { type: 'session.update', session: session({ tool_choice: 42 }) }, 'invalid_type', 'session.tool_choice'],
    ['tool_choice (an unknown mode)', { type: 'session.update', session: session({ tool_choice: 'sometimes' }) }, 'invalid_value', 'session.tool_choice'],
    ['tool_choice (a function without name)', { type: 'session.update', session: session({ tool_choice: { type: 'function' } }) }, 'missing_required_parameter', 'session.tool_choice.name'],
    ['tracing (a number)', { type: 'session.update', session: session({ tracing: 42 }) }, 'invalid_type', 'session.tracing'],
    ['tracing (an unknown mode)', { type: 'session.update', session: session({ tracing: 'manual' }) }, 'invalid_value', 'session.tracing'],
    ['tracing.workflow_name (a number)', { type: 'session.update', session: session({ tracing: { workflow_name: 7 } }) }, 'invalid_type', 'session.tracing.workflow_name'],
    ['truncation (an unknown mode)', { type: 'session.update', session: session({ truncation: 'sometimes' }) }, 'invalid_value', 'session.truncation'],
    ['truncation.retention_ratio (> 1)', { type: 'session.update', session: session({ truncation: { type: 'retention_ratio', retention_ratio: 2 } }) }, 'decimal_above_max_value', 'session.truncation.retention_ratio'],
    ['prompt (a string)', { type: 'session.update', session: session({ prompt: 'be nice' }) }, 'invalid_type', 'session.prompt'],
    ['prompt without id', { type: 'session.update', session: session({ prompt: { version: '1' } }) }, 'missing_required_parameter', 'session.prompt.id'],
    ['include (a string)', { type: 'session.update', session: session({ include: 'logprobs' }) }, 'invalid_type', 'session.include'],
    ['include (an unknown value)', { type: 'session.update', session: session({ include: ['everything'] }) }, 'invalid_value', 'session.include[0]'],
    ['create_response (a string)', { type: 'session.update', session: vad({ create_response: 'yes' }) }, 'invalid_type', `${TD}.create_response`],
    ['interrupt_response (a number)', { type: 'session.update', session: vad({ interrupt_response: 1 }) }, 'invalid_type', `${TD}.interrupt_response`],
    ['idle_timeout_ms (negative)', { type: 'session.update', session: vad({ idle_timeout_ms: -1 }) }, 'integer_below_min_value', `${TD}.idle_timeout_ms`],
    ['idle_timeout_ms (a string)', { type: 'session.update', session: vad({ idle_timeout_ms: 'soon' }) }, 'invalid_type', `${TD}.idle_timeout_ms`],
    ['idle_timeout_ms (over 30 s)', { type: 'session.update', session: vad({ idle_timeout_ms: 600_000 }) }, 'integer_above_max_value', `${TD}.idle_timeout_ms`],
    ['eagerness', { type: 'session.update', session: input({ turn_detection: { type: 'semantic_vad', eagerness: 'eager' } }) }, 'invalid_value', `${TD}.eagerness`],
    ['eagerness on server_vad', { type: 'session.update', session: vad({ eagerness: 'low' }) }, 'unknown_parameter', `${TD}.eagerness`],
    ['threshold (> 1)', { type: 'session.update', session: vad({ threshold: 5 }) }, 'decimal_above_max_value', `${TD}.threshold`],
    ['threshold (a string)', { type: 'session.update', session: vad({ threshold: '0.5' }) }, 'invalid_type', `${TD}.threshold`],
    ['silence_duration_ms (a fraction)', { type: 'session.update', session: vad({ silence_duration_ms: 2.5 }) }, 'invalid_type', `${TD}.silence_duration_ms`],
    ['speed (> 1.5)', { type: 'session.update', session: session({ audio: { output: { speed: 3 } } }) }, 'decimal_above_max_value', 'session.audio.output.speed'],
    ['speed (a string)', { type: 'session.update', session: session({ audio: { output: { speed: 'fast' } } }) }, 'invalid_type', 'session.audio.output.speed'],
    ['max_output_tokens (over 4096)', { type: 'session.update', session: session({ max_output_tokens: 5000 }) }, 'integer_above_max_value', 'session.max_output_tokens'],
    ['session without type', { type: 'session.update', session: { instructions: 'hi' } }, 'missing_required_parameter', 'session.type'],
    ['an unknown session field', { type: 'session.update', session: session({ mood: 'cheerful' }) }, 'unknown_parameter', 'session.mood'],
    ['an unknown audio.input field', { type: 'session.update', session: input({ gain_db: 6 }) }, 'unknown_parameter', 'session.audio.input.gain_db'],
    ['an unknown event field', { type: 'response.cancel', reason: 'bored' }, 'unknown_parameter', 'reason'],
    ['a tool without name', { type: 'session.update', session: session({ tools: [{ type: 'function', parameters: { type: 'object' } }] }) }, 'missing_required_parameter', 'session.tools[0].name'],
    ['an mcp tool without server_label', { type: 'session.update', session: session({ tools: [{ type: 'mcp', server_url: 'https://mcp.example' }] }) }, 'missing_required_parameter', 'session.tools[0].server_label'],
    ['response max_output_tokens −5', { type: 'response.create', response: { max_output_tokens: -5 } }, 'integer_below_min_value', 'response.max_output_tokens'],
    ['response max_output_tokens "lots"', { type: 'response.create', response: { max_output_tokens: 'lots' } }, 'invalid_value', 'response.max_output_tokens'],
    ['response max_output_tokens 1e300', { type: 'response.create', response: { max_output_tokens: 1e300 } }, 'integer_above_max_value', 'response.max_output_tokens'],
    ['response conversation', { type: 'response.create', response: { conversation: 'maybe' } }, 'invalid_value', 'response.conversation'],
    ['response metadata value', { type: 'response.create', response: { metadata: { topic: 1 } } }, 'invalid_type', 'response.metadata.topic'],
    ['response input item', { type: 'response.create', response: { input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 5 }] }] } }, 'invalid_type', 'response.input[0].content[0].text'],
    ['item content part of the wrong role', { type: 'conversation.item.create', item: { type: 'message', role: 'assistant', content: [{ type: 'input_text', text: 'hi' }] } }, 'invalid_value', 'item.content[0].type'],
    ['truncate audio_end_ms negative', { type: 'conversation.item.truncate', item_id: 'i', content_index: 0, audio_end_ms: -10 }, 'integer_below_min_value', 'audio_end_ms'],
  ];

  for (const [name, ev, code, param] of cases) {
    it(`refuses ${name}: ${code} at '${param}' with its event_id, and the session goes on`, async () => {
      const eventId = `bad_${++n}`;
      await expectRefused(JSON.stringify({ ...ev, event_id: eventId }), eventId, code, param);
      await expectStillConverses();
    });
  }

  it('refuses an unknown field nested thousands of levels deep at the door; the next session.update works', async () => {
    await expectRefused(rawSessionUpdate('deep_1', `"x":${nested(5000)}`), 'deep_1', 'unknown_parameter', 'session.x');
    await expectStillConverses();
    await expectStillConverses();
  });

  it('bounds the nesting of free-form JSON (a tool schema 5000 levels deep); the next session.update works', async () => {
    await expectRefused(rawSessionUpdate('deep_2', `"tools":[{"type":"function","name":"f","parameters":${nested(5000)}}]`), 'deep_2', 'object_above_max_depth', /^session\.tools\[0\]\.parameters(\.a)+$/);
    await expectStillConverses();
  });

  it('accepts a real tool schema nested 10 objects deep (arrays, anyOf)', async () => {
    const from = c.events.length;
    c.send({ type: 'session.update', event_id: 'deep_ok', session: { type: 'realtime', tools: [{ type: 'function', name: 'plan_trip', description: 'nested', parameters: deepToolSchema(10) }] } });
    const ev = await c.waitFor((e) => e.type === 'session.updated' || e.type === 'error', 3000, from);
    expect(ev.type, JSON.stringify(ev)).toBe('session.updated');
  });

  it('bounds one string and one array', async () => {
    await expectRefused(JSON.stringify({ type: 'session.update', event_id: 'big_1', session: { type: 'realtime', instructions: 'x'.repeat(1024 * 1024 + 1) } }), 'big_1', 'string_above_max_length', 'session.instructions');
    const tools = Array.from({ length: 129 }, (_, i) => ({ type: 'function', name: `t${i}` }));
    await expectRefused(JSON.stringify({ type: 'session.update', event_id: 'big_2', session: { type: 'realtime', tools } }), 'big_2', 'array_above_max_length', 'session.tools');
    await expectStillConverses();
  });

  it('no server_error came back, and nothing invalid reached the upstream', () => {
    expect(c.events.filter((e) => e.type === 'error' && (e['error'] as Record<string, unknown>)['type'] !== 'invalid_request_error')).toEqual([]);
    expect(fake.violations).toEqual([]);
  });
});

describe('a bad VAD setting never reaches the engine (cascade engine, issue 10)', () => {
  let stages: FakeOpenAiHttp;
  let parley: Parley;
  let c: TestClient;

  beforeAll(async () => {
    stages = await startFakeOpenAiHttp({ apiKey: 'sk-stage' });
    const stage = (p: string, model: string): Record<string, string> => ({ [`PARLEY_${p}_URL`]: stages.baseUrl, [`PARLEY_${p}_KEY`]: 'sk-stage', [`PARLEY_${p}_MODEL`]: model });
    parley = await startParley({ env: { PARLEY_ENGINE: 'cascade', ...stage('STT', 'whisper-1'), ...stage('CHAT', 'llama3.1'), ...stage('TTS', 'tts-1') } });
    c = new TestClient(parley.wsUrl);
    await c.opened;
    await c.waitFor('session.created', 10_000);
  }, 20_000);
  afterAll(async () => {
    c?.close();
    await parley?.close();
    await stages?.close();
  });

  it('threshold 5, then audio and more updates: only invalid_request_error, no server_error, and the session converses', async () => {
    const from = c.events.length;
    c.send({ type: 'session.update', event_id: 'vad_bad', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad', threshold: 5 } } } } });
    const err = await c.waitFor('error', 3000, from);
    expect(err['error']).toMatchObject({ type: 'invalid_request_error', code: 'decimal_above_max_value', param: 'session.audio.input.turn_detection.threshold', event_id: 'vad_bad' });
    // audio and further events on the same socket
    const silence = Buffer.alloc(960).toString('base64');
    for (let i = 0; i < 10; i++) c.send({ type: 'input_audio_buffer.append', audio: silence });
    c.send({ type: 'session.update', event_id: 'vad_ok', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'server_vad', threshold: 0.6 } } } } });
    const upd = await c.waitFor((e) => e.type === 'session.updated' || (e.type === 'error' && e !== err), 5000, from);
    expect(upd.type, JSON.stringify(upd)).toBe('session.updated');
    const td = ((upd['session'] as Record<string, Record<string, Record<string, unknown>>>)['audio']!['input']!['turn_detection']) as Record<string, unknown>;
    expect(td['threshold']).toBe(0.6);
    c.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello there' }] } });
    c.send({ type: 'response.create' });
    const done = await c.waitFor('response.done', 10_000, from);
    expect((done['response'] as Record<string, unknown>)['status']).toBe('completed');
    const errors = c.events.slice(from).filter((e) => e.type === 'error').map((e) => e['error'] as Record<string, unknown>);
    expect(errors.map((e) => e['type'])).toEqual(['invalid_request_error']);
  }, 20_000);
});
