/**
 * The GA client-event schema (issue 10, defect 4), table-driven:
 * 1. events written against the official `openai` package's types (tsc checks them) are accepted,
 *    as are the browser demo's session.update in every mode;
 * 2. an explicit table of GA fields and ranges (reference: `openai/resources/realtime/realtime.d.ts`);
 * 3. a walk over every table: at every field of every event, a value of the wrong type, out of
 *    range, too long, an unknown key beside it, or a missing required field is refused with the
 *    right code and the dotted `param`;
 * 4. bounds on nesting, strings and arrays.
 */
import { describe, expect, it } from 'vitest';
import type { RealtimeClientEvent } from 'openai/resources/realtime/realtime';
import { validateClientEvent, parseClientEvent, fastParseAppend } from '../../../server/protocol/index.ts';
import { ProtocolError } from '../../../server/errors.ts';
import { CLIENT_EVENTS, MAX_TOOLS } from '../../../server/protocol/client-event-schema.ts';
import { MAX_AUDIO_BASE64_CHARS, MAX_ID_CHARS, MAX_JSON_DEPTH, MAX_TEXT_CHARS, formatParam, type ObjectSchema, type Schema, type TaggedSchema } from '../../../server/protocol/schema.ts';
import { DEFAULT_CONTROLS, buildSessionUpdate } from '../../../client-demo/src/lib/session-config.ts';

interface Refusal { code: string; param: string | null; eventId: string | null }

function refusal(ev: unknown): Refusal | null {
  try {
    validateClientEvent(ev);
    return null;
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { code: err.gaCode, param: err.param, eventId: err.eventId };
  }
}

describe('GA events written against the official openai types are accepted', () => {
  const tool = { type: 'function' as const, name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
  const mcp = {
    type: 'mcp' as const,
    server_label: 'docs',
    server_url: 'https://mcp.example/sse',
    allowed_tools: { tool_names: ['search'], read_only: true },
    require_approval: { never: { tool_names: ['search'] } },
    headers: { 'X-Team': 'voice' },
    authorization: 'tok_123',
    server_description: 'Docs search',
  };
  const events: RealtimeClientEvent[] = [
    {
      type: 'session.update',
      event_id: 'evt_full',
      session: {
        type: 'realtime',
        model: 'gpt-realtime',
        instructions: 'Be brief.',
        output_modalities: ['audio'],
        audio: {
          input: {
            format: { type: 'audio/pcm', rate: 24000 },
            noise_reduction: { type: 'near_field' },
            transcription: { model: 'gpt-4o-mini-transcribe', language: 'en', prompt: 'names', delay: 'low' },
            turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500, idle_timeout_ms: 10_000, create_response: true, interrupt_response: false },
          },
          output: { format: { type: 'audio/pcmu' }, voice: 'marin', speed: 1.25 },
        },
        include: ['item.input_audio_transcription.logprobs'],
        tracing: { workflow_name: 'support', group_id: 'g1', metadata: { tier: 'gold', nested: { ok: true } } },
        tools: [tool, mcp],
        tool_choice: { type: 'function', name: 'get_weather' },
        parallel_tool_calls: true,
        reasoning: { effort: 'low' },
        max_output_tokens: 4096,
        truncation: { type: 'retention_ratio', retention_ratio: 0.8, token_limits: { post_instructions: 5000 } },
        prompt: { id: 'pmpt_1', version: '2', variables: { city: 'Paris', note: { type: 'input_text', text: 'hi' } } },
      },
    },
    { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'semantic_vad', eagerness: 'high', create_response: true, interrupt_response: true }, noise_reduction: null as never, transcription: null as never }, output: { voice: { id: 'voice_1234' } } }, tracing: 'auto', truncation: 'disabled', tool_choice: 'required', max_output_tokens: 'inf', prompt: null } },
    { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null, format: { type: 'audio/pcma' } } }, tracing: null, tool_choice: { type: 'mcp', server_label: 'docs', name: 'search' } } },
    { type: 'input_audio_buffer.append', event_id: 'a1', audio: Buffer.alloc(960).toString('base64') },
    { type: 'input_audio_buffer.commit', event_id: 'c1' },
    { type: 'input_audio_buffer.clear' },
    { type: 'output_audio_buffer.clear', event_id: 'o1' },
    { type: 'conversation.item.create', previous_item_id: 'root', item: { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'The user is a pilot.' }] } },
    { type: 'conversation.item.create', item: { id: 'item_1', object: 'realtime.item', status: 'completed', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }, { type: 'input_audio', audio: 'AAAA', transcript: 'hi' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'low' }] } },
    { type: 'conversation.item.create', item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello.' }, { type: 'output_audio', transcript: 'Hello.' }] } },
    { type: 'conversation.item.create', item: { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' } },
    { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' } },
    { type: 'conversation.item.create', item: { type: 'mcp_approval_response', id: 'mcpr_1', approval_request_id: 'mcpa_1', approve: false, reason: 'not now' } },
    { type: 'conversation.item.create', item: { type: 'mcp_call', id: 'mcp_1', server_label: 'docs', name: 'search', arguments: '{}', output: null, error: { type: 'http_error', code: 502, message: 'bad gateway' } } },
    { type: 'conversation.item.create', item: { type: 'mcp_list_tools', server_label: 'docs', tools: [{ name: 'search', input_schema: { type: 'object' }, description: null }] } },
    { type: 'conversation.item.create', item: { type: 'mcp_approval_request', id: 'mcpa_1', server_label: 'docs', name: 'search', arguments: '{}' } },
    { type: 'conversation.item.retrieve', item_id: 'item_1' },
    { type: 'conversation.item.truncate', item_id: 'item_2', content_index: 0, audio_end_ms: 1500 },
    { type: 'conversation.item.delete', event_id: 'd1', item_id: 'item_1' },
    { type: 'response.create' },
    {
      type: 'response.create',
      event_id: 'r1',
      response: {
        conversation: 'none',
        metadata: { topic: 'weather' },
        input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Summarise.' }] }],
        instructions: 'One sentence.',
        max_output_tokens: 200,
        output_modalities: ['text'],
        tools: [tool],
        tool_choice: 'none',
        audio: { output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'cedar' } },
        prompt: { id: 'pmpt_1' },
        parallel_tool_calls: false,
        reasoning: { effort: 'minimal' },
      },
    },
    { type: 'response.create', response: { conversation: 'auto', max_output_tokens: 'inf', metadata: null } },
    { type: 'response.cancel' },
    { type: 'response.cancel', response_id: 'resp_1' },
  ];
  for (const ev of events) {
    it(`${ev.type}${'event_id' in ev && ev.event_id ? ` (${ev.event_id})` : ''} ${JSON.stringify(ev).slice(0, 90)}`, () => {
      expect(refusal(ev)).toBeNull();
      // accepted as sent (an append's base64 becomes an AudioChunk, which writes itself back as that base64)
      expect(JSON.parse(JSON.stringify(validateClientEvent(ev)))).toEqual(ev);
    });
  }

  it('response.create input may reference an earlier item', () => {
    expect(refusal({ type: 'response.create', response: { conversation: 'none', input: [{ type: 'item_reference', id: 'item_1' }] } })).toBeNull();
  });

  it('the browser demo’s session.update, in every mode', () => {
    for (const mode of ['vad', 'ptt'] as const) {
      for (const includeVoice of [true, false]) {
        const ev = buildSessionUpdate({ ...DEFAULT_CONTROLS, mode, vadThreshold: 1, silenceMs: 2000, instructions: 'Be brief.' }, { includeVoice });
        expect(refusal(ev), JSON.stringify(ev)).toBeNull();
      }
    }
  });
});

describe('GA fields and ranges (the reference, field by field)', () => {
  const s = (session: Record<string, unknown>): Record<string, unknown> => ({ type: 'session.update', event_id: 'e', session: { type: 'realtime', ...session } });
  const vad = (td: Record<string, unknown>): Record<string, unknown> => s({ audio: { input: { turn_detection: { type: 'server_vad', ...td } } } });
  const out = (o: Record<string, unknown>): Record<string, unknown> => s({ audio: { output: o } });
  const r = (response: Record<string, unknown>): Record<string, unknown> => ({ type: 'response.create', event_id: 'e', response });
  const TD = 'session.audio.input.turn_detection';
  // [what, event, expected code or null (accepted), param]
  const table: Array<[string, Record<string, unknown>, string | null, string | null]> = [
    ['threshold 0', vad({ threshold: 0 }), null, null],
    ['threshold 1', vad({ threshold: 1 }), null, null],
    ['threshold -0.1', vad({ threshold: -0.1 }), 'decimal_below_min_value', `${TD}.threshold`],
    ['threshold 1.1', vad({ threshold: 1.1 }), 'decimal_above_max_value', `${TD}.threshold`],
    ['threshold true', vad({ threshold: true }), 'invalid_type', `${TD}.threshold`],
    ['prefix_padding_ms 0', vad({ prefix_padding_ms: 0 }), null, null],
    ['prefix_padding_ms -1', vad({ prefix_padding_ms: -1 }), 'integer_below_min_value', `${TD}.prefix_padding_ms`],
    ['silence_duration_ms 500.5', vad({ silence_duration_ms: 500.5 }), 'invalid_type', `${TD}.silence_duration_ms`],
    ['idle_timeout_ms null', vad({ idle_timeout_ms: null }), null, null],
    ['idle_timeout_ms 5000', vad({ idle_timeout_ms: 5000 }), null, null],
    ['idle_timeout_ms 30000', vad({ idle_timeout_ms: 30000 }), null, null],
    ['idle_timeout_ms 4999', vad({ idle_timeout_ms: 4999 }), 'integer_below_min_value', `${TD}.idle_timeout_ms`],
    ['idle_timeout_ms 30001', vad({ idle_timeout_ms: 30001 }), 'integer_above_max_value', `${TD}.idle_timeout_ms`],
    ['create_response "true"', vad({ create_response: 'true' }), 'invalid_type', `${TD}.create_response`],
    ['idle_timeout_ms on semantic_vad', s({ audio: { input: { turn_detection: { type: 'semantic_vad', idle_timeout_ms: 5000 } } } }), 'unknown_parameter', `${TD}.idle_timeout_ms`],
    ['eagerness "auto"', s({ audio: { input: { turn_detection: { type: 'semantic_vad', eagerness: 'auto' } } } }), null, null],
    ['eagerness 3', s({ audio: { input: { turn_detection: { type: 'semantic_vad', eagerness: 3 } } } }), 'invalid_type', `${TD}.eagerness`],
    ['turn_detection without type', s({ audio: { input: { turn_detection: { threshold: 0.5 } } } }), 'missing_required_parameter', `${TD}.type`],
    ['speed 0.25', out({ speed: 0.25 }), null, null],
    ['speed 1.5', out({ speed: 1.5 }), null, null],
    ['speed 0.2', out({ speed: 0.2 }), 'decimal_below_min_value', 'session.audio.output.speed'],
    ['speed 1.6', out({ speed: 1.6 }), 'decimal_above_max_value', 'session.audio.output.speed'],
    ['voice 7', out({ voice: 7 }), 'invalid_type', 'session.audio.output.voice'],
    ['voice {}', out({ voice: {} }), 'missing_required_parameter', 'session.audio.output.voice.id'],
    ['format "pcm16" (beta)', out({ format: 'pcm16' }), 'invalid_type', 'session.audio.output.format'],
    ['format rate 16000', out({ format: { type: 'audio/pcm', rate: 16000 } }), 'invalid_value', 'session.audio.output.format.rate'],
    ['format rate on pcmu', out({ format: { type: 'audio/pcmu', rate: 8000 } }), 'unknown_parameter', 'session.audio.output.format.rate'],
    ['transcription null', s({ audio: { input: { transcription: null } } }), null, null],
    ['transcription.language 5', s({ audio: { input: { transcription: { language: 5 } } } }), 'invalid_type', 'session.audio.input.transcription.language'],
    ['noise_reduction null', s({ audio: { input: { noise_reduction: null } } }), null, null],
    ['noise_reduction {type: 1}', s({ audio: { input: { noise_reduction: { type: 1 } } } }), 'invalid_type', 'session.audio.input.noise_reduction.type'],
    ['max_output_tokens 1', s({ max_output_tokens: 1 }), null, null],
    ['max_output_tokens 4096', s({ max_output_tokens: 4096 }), null, null],
    ['max_output_tokens "inf"', s({ max_output_tokens: 'inf' }), null, null],
    ['max_output_tokens 0', s({ max_output_tokens: 0 }), 'integer_below_min_value', 'session.max_output_tokens'],
    ['max_output_tokens 4097', s({ max_output_tokens: 4097 }), 'integer_above_max_value', 'session.max_output_tokens'],
    ['max_output_tokens 10.5', s({ max_output_tokens: 10.5 }), 'invalid_type', 'session.max_output_tokens'],
    ['max_output_tokens "lots"', s({ max_output_tokens: 'lots' }), 'invalid_value', 'session.max_output_tokens'],
    ['output_modalities both', s({ output_modalities: ['audio', 'text'] }), 'array_above_max_length', 'session.output_modalities'],
    ['output_modalities none', s({ output_modalities: [] }), 'array_below_min_length', 'session.output_modalities'],
    ['output_modalities ["video"]', s({ output_modalities: ['video'] }), 'invalid_value', 'session.output_modalities[0]'],
    ['instructions 42', s({ instructions: 42 }), 'invalid_type', 'session.instructions'],
    ['model ""', s({ model: '' }), 'empty_string', 'session.model'],
    ['tools {}', s({ tools: {} }), 'invalid_type', 'session.tools'],
    ['tool type "code"', s({ tools: [{ type: 'code', name: 'x' }] }), 'invalid_value', 'session.tools[0].type'],
    ['tool parameters "x"', s({ tools: [{ type: 'function', name: 'f', parameters: 'x' }] }), 'invalid_type', 'session.tools[0].parameters'],
    ['tool strict (unknown)', s({ tools: [{ type: 'function', name: 'f', strict: true }] }), 'unknown_parameter', 'session.tools[0].strict'],
    ['mcp tunnel_id pattern', s({ tools: [{ type: 'mcp', server_label: 'x', tunnel_id: 'tunnel_X' }] }), 'invalid_value', 'session.tools[0].tunnel_id'],
    ['mcp require_approval "sometimes"', s({ tools: [{ type: 'mcp', server_label: 'x', require_approval: 'sometimes' }] }), 'invalid_value', 'session.tools[0].require_approval'],
    ['mcp headers value 1', s({ tools: [{ type: 'mcp', server_label: 'x', headers: { A: 1 } }] }), 'invalid_type', 'session.tools[0].headers.A'],
    ['tool_choice "auto"', s({ tool_choice: 'auto' }), null, null],
    ['tool_choice {type:"mcp"}', s({ tool_choice: { type: 'mcp' } }), 'missing_required_parameter', 'session.tool_choice.server_label'],
    ['tracing {group_id: 1}', s({ tracing: { group_id: 1 } }), 'invalid_type', 'session.tracing.group_id'],
    ['truncation {type:"retention_ratio"}', s({ truncation: { type: 'retention_ratio' } }), 'missing_required_parameter', 'session.truncation.retention_ratio'],
    ['truncation post_instructions -1', s({ truncation: { type: 'retention_ratio', retention_ratio: 0.5, token_limits: { post_instructions: -1 } } }), 'integer_below_min_value', 'session.truncation.token_limits.post_instructions'],
    ['prompt variables value 5', s({ prompt: { id: 'p', variables: { a: 5 } } }), 'invalid_type', 'session.prompt.variables.a'],
    ['include []', s({ include: [] }), null, null],
    ['reasoning effort "max"', s({ reasoning: { effort: 'max' } }), 'invalid_value', 'session.reasoning.effort'],
    ['parallel_tool_calls "yes"', s({ parallel_tool_calls: 'yes' }), 'invalid_type', 'session.parallel_tool_calls'],
    ['session.type "transcription"', { type: 'session.update', session: { type: 'transcription' } }, 'invalid_value', 'session.type'],
    ['session null', { type: 'session.update', session: null }, 'invalid_type', 'session'],
    ['session.id (server-set)', s({ id: 'sess_1' }), 'unknown_parameter', 'session.id'],
    ['beta voice', s({ voice: 'alloy' }), 'unknown_parameter', 'session.voice'],
    ['response max_output_tokens -5', r({ max_output_tokens: -5 }), 'integer_below_min_value', 'response.max_output_tokens'],
    ['response max_output_tokens "lots"', r({ max_output_tokens: 'lots' }), 'invalid_value', 'response.max_output_tokens'],
    ['response max_output_tokens 1e300', r({ max_output_tokens: 1e300 }), 'integer_above_max_value', 'response.max_output_tokens'],
    ['response conversation "conv_1"', r({ conversation: 'conv_1' }), 'invalid_value', 'response.conversation'],
    ['response metadata 17 pairs', r({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), 'object_above_max_properties', 'response.metadata'],
    ['response metadata key of 65', r({ metadata: { ['k'.repeat(65)]: 'v' } }), 'string_above_max_length', `response.metadata.${'k'.repeat(64)}…`],
    ['response metadata value of 513', r({ metadata: { k: 'v'.repeat(513) } }), 'string_above_max_length', 'response.metadata.k'],
    ['response input "x"', r({ input: 'x' }), 'invalid_type', 'response.input'],
    ['response audio.output.speed (not per response)', r({ audio: { output: { speed: 1 } } }), 'unknown_parameter', 'response.audio.output.speed'],
    ['response modalities (beta)', r({ modalities: ['text'] }), 'unknown_parameter', 'response.modalities'],
    ['response "now"', { type: 'response.create', response: 'now' }, 'invalid_type', 'response'],
    ['item without type', { type: 'conversation.item.create', item: { role: 'user', content: [] } }, 'missing_required_parameter', 'item.type'],
    ['message role "robot"', { type: 'conversation.item.create', item: { type: 'message', role: 'robot', content: [] } }, 'invalid_value', 'item.role'],
    ['message without content', { type: 'conversation.item.create', item: { type: 'message', role: 'user' } }, 'missing_required_parameter', 'item.content'],
    ['system message with audio', { type: 'conversation.item.create', item: { type: 'message', role: 'system', content: [{ type: 'input_audio', audio: 'AAAA' }] } }, 'invalid_value', 'item.content[0].type'],
    ['input_audio not base64', { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_audio', audio: '!!' }] } }, 'invalid_value', 'item.content[0].audio'],
    ['content part without type', { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ text: 'hi' }] } }, 'missing_required_parameter', 'item.content[0].type'],
    ['function_call without arguments', { type: 'conversation.item.create', item: { type: 'function_call', name: 'f' } }, 'missing_required_parameter', 'item.arguments'],
    ['function_call_output output {}', { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'c', output: {} } }, 'invalid_type', 'item.output'],
    ['item status "done"', { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'c', output: '', status: 'done' } }, 'invalid_value', 'item.status'],
    ['previous_item_id 7', { type: 'conversation.item.create', previous_item_id: 7, item: { type: 'function_call_output', call_id: 'c', output: '' } }, 'invalid_type', 'previous_item_id'],
    ['previous_item_id null (treated as unset)', { type: 'conversation.item.create', previous_item_id: null, item: { type: 'function_call_output', call_id: 'c', output: '' } }, null, null],
    ['item_reference in item.create', { type: 'conversation.item.create', item: { type: 'item_reference', id: 'x' } }, 'invalid_value', 'item.type'],
    ['truncate content_index -1', { type: 'conversation.item.truncate', item_id: 'i', content_index: -1, audio_end_ms: 0 }, 'integer_below_min_value', 'content_index'],
    ['truncate audio_end_ms "1"', { type: 'conversation.item.truncate', item_id: 'i', content_index: 0, audio_end_ms: '1' }, 'invalid_type', 'audio_end_ms'],
    ['retrieve item_id ""', { type: 'conversation.item.retrieve', item_id: '' }, 'empty_string', 'item_id'],
    ['delete without item_id', { type: 'conversation.item.delete' }, 'missing_required_parameter', 'item_id'],
    ['cancel response_id 5', { type: 'response.cancel', response_id: 5 }, 'invalid_type', 'response_id'],
    ['commit with audio', { type: 'input_audio_buffer.commit', audio: 'AAAA' }, 'unknown_parameter', 'audio'],
    ['append audio 5', { type: 'input_audio_buffer.append', audio: 5 }, 'invalid_type', 'audio'],
    ['event_id 5', { type: 'response.cancel', event_id: 5 }, 'invalid_type', 'event_id'],
    ['legacy transcription_session.update', { type: 'transcription_session.update', session: { input_audio_format: 'pcm16', turn_detection: { type: 'server_vad', threshold: 2 } } }, 'decimal_above_max_value', 'session.turn_detection.threshold'],
  ];
  for (const [what, ev, code, param] of table) {
    it(`${what}: ${code ?? 'accepted'}${param ? ` at ${param}` : ''}`, () => {
      const got = refusal(ev);
      if (code === null) expect(got).toBeNull();
      else expect(got).toEqual({ code, param, eventId: typeof ev['event_id'] === 'string' ? ev['event_id'] : null });
    });
  }
});

// --- 3. the walk over every table ------------------------------------------------------------------

type Seg = string | number;
type Build = (v: unknown) => Record<string, unknown>;
interface Probe { what: string; event: Record<string, unknown>; code: string | null; param: string | null }

/** Flattens a tagged schema: [tag fields, object schema] per variant (a message's `role` nests under `type`). */
function variants(s: TaggedSchema, tags: Record<string, string> = {}): Array<[Record<string, string>, ObjectSchema]> {
  const out: Array<[Record<string, string>, ObjectSchema]> = [];
  for (const [tag, v] of s.variants) {
    const t = { ...tags, [s.tag]: tag };
    if (v.kind === 'tagged') out.push(...variants(v, t));
    else out.push([t, v]);
  }
  return out;
}

/** The smallest valid value of a schema. */
function minimal(s: Schema): unknown {
  switch (s.kind) {
    case 'string':
      if (s.values) return s.values[0];
      if (s.pattern) return 'tunnel_' + 'a'.repeat(32);
      if (s.base64) return 'AAAA';
      return 'x'.repeat(s.minLength ?? 1);
    case 'integer':
    case 'number':
      return s.values ? s.values[0] : Math.max(s.min, Math.min(s.max, 1));
    case 'boolean':
      return true;
    case 'object':
      return minimalObject(s);
    case 'tagged': {
      const [tags, obj] = variants(s)[0]!;
      return { ...tags, ...minimalObject(obj) };
    }
    case 'map':
      return {};
    case 'array':
      return Array.from({ length: s.minItems }, () => minimal(s.items));
    case 'nullable':
      return minimal(s.schema);
    case 'either':
      return minimal(s.options[0]!);
    case 'json':
      return s.objectOnly ? {} : 1;
  }
}
function minimalObject(s: ObjectSchema): Record<string, unknown> {
  return Object.fromEntries(s.fields.filter((f) => f.required).map((f) => [f.name, minimal(f.schema)]));
}

/** JSON kinds a schema takes. */
function kinds(s: Schema): Set<string> {
  switch (s.kind) {
    case 'string': return new Set(['string']);
    case 'integer': case 'number': return new Set(['number']);
    case 'boolean': return new Set(['boolean']);
    case 'array': return new Set(['array']);
    case 'object': case 'tagged': case 'map': return new Set(['object']);
    case 'json': return s.objectOnly ? new Set(['object']) : new Set(['string', 'number', 'boolean', 'array', 'object', 'null']);
    case 'nullable': return new Set([...kinds(s.schema), 'null']);
    case 'either': return new Set(s.options.flatMap((o) => [...kinds(o)]));
  }
}
const SAMPLES: Array<[string, unknown]> = [['number', 12345], ['string', 'zz-wrong'], ['boolean', true], ['object', { zz: 1 }], ['array', [1]]];

/** Every check at one position: wrong type, ranges, lengths; then into its children. */
function probes(s: Schema, build: Build, path: Seg[], out: Probe[], optionOf: Schema | null = null): void {
  const p = formatParam(path);
  const k = kinds(optionOf ?? s);
  const wrong = SAMPLES.find(([kind]) => !k.has(kind));
  if (wrong) out.push({ what: `${p} = ${JSON.stringify(wrong[1])}`, event: build(wrong[1]), code: 'invalid_type', param: p });
  out.push({ what: `${p} minimal`, event: build(minimal(s)), code: null, param: null });
  switch (s.kind) {
    case 'string':
      if (s.values) out.push({ what: `${p} not one of its values`, event: build('zz-not-a-value'), code: 'invalid_value', param: p });
      else {
        out.push({ what: `${p} too long`, event: build('A'.repeat(s.maxLength + (s.base64 ? 4 : 1))), code: 'string_above_max_length', param: p });
        if (s.minLength) out.push({ what: `${p} empty`, event: build(''), code: 'empty_string', param: p });
        if (s.base64) out.push({ what: `${p} not base64`, event: build('AAA'), code: 'invalid_value', param: p });
      }
      return;
    case 'integer':
    case 'number': {
      const what = s.kind === 'integer' ? 'integer' : 'decimal';
      const step = s.kind === 'integer' ? 1 : 0.5;
      if (s.values) {
        out.push({ what: `${p} not one of its values`, event: build(s.values[0]! + 1), code: 'invalid_value', param: p });
        return;
      }
      out.push({ what: `${p} below min`, event: build(s.min - step), code: `${what}_below_min_value`, param: p });
      out.push({ what: `${p} above max`, event: build(s.max + step), code: `${what}_above_max_value`, param: p });
      if (s.kind === 'integer') out.push({ what: `${p} fraction`, event: build(s.min + 0.5), code: 'invalid_type', param: p });
      return;
    }
    case 'boolean':
    case 'json':
      return;
    case 'nullable':
      out.push({ what: `${p} null`, event: build(null), code: null, param: null });
      probes(s.schema, build, path, out);
      return;
    case 'either':
      for (const o of s.options) probes(o, build, path, out, s);
      return;
    case 'array':
      out.push({ what: `${p} too long`, event: build(Array.from({ length: s.maxItems + 1 }, () => minimal(s.items))), code: 'array_above_max_length', param: p });
      if (s.minItems > 0) out.push({ what: `${p} too short`, event: build([]), code: 'array_below_min_length', param: p });
      probes(s.items, (v) => build([...Array.from({ length: Math.max(0, s.minItems - 1) }, () => minimal(s.items)), v]), [...path, Math.max(0, s.minItems - 1)], out);
      return;
    case 'map':
      out.push({ what: `${p} too many keys`, event: build(Object.fromEntries(Array.from({ length: s.maxKeys + 1 }, (_, i) => [`k${i}`, minimal(s.values)]))), code: 'object_above_max_properties', param: p });
      probes(s.values, (v) => build({ k: v }), [...path, 'k'], out);
      return;
    case 'object':
      objectProbes(s, {}, build, path, out);
      return;
    case 'tagged':
      for (const [tags, obj] of variants(s)) {
        for (const tag of Object.keys(tags)) {
          const rest = { ...tags, ...minimalObject(obj) };
          const tp = formatParam([...path, tag]);
          out.push({ what: `${tp} wrong`, event: build({ ...rest, [tag]: 'zz-no-such-variant' }), code: 'invalid_value', param: tp });
          out.push({ what: `${tp} not a string`, event: build({ ...rest, [tag]: 7 }), code: 'invalid_type', param: tp });
          const { [tag]: _omit, ...without } = rest;
          out.push({ what: `${tp} missing`, event: build(without), code: 'missing_required_parameter', param: tp });
        }
        objectProbes(obj, tags, build, path, out);
      }
      return;
  }
}

function objectProbes(s: ObjectSchema, tags: Record<string, string>, build: Build, path: Seg[], out: Probe[]): void {
  const base = { ...tags, ...minimalObject(s) };
  const unknown = formatParam([...path, 'zz_unknown']);
  out.push({ what: `${unknown} (unknown)`, event: build({ ...base, zz_unknown: 1 }), code: 'unknown_parameter', param: unknown });
  for (const f of s.fields) {
    const fp = [...path, f.name];
    if (f.required) {
      const { [f.name]: _omit, ...without } = base;
      out.push({ what: `${formatParam(fp)} missing`, event: build(without), code: 'missing_required_parameter', param: formatParam(fp) });
    }
    probes(f.schema, (v) => build({ ...base, [f.name]: v }), fp, out);
  }
}

describe('every field of every GA client event is checked (a walk over the tables)', () => {
  const all: Probe[] = [];
  for (const [type, schema] of Object.entries(CLIENT_EVENTS)) {
    objectProbes(schema, {}, (v) => ({ type, event_id: `ev_${type}`, ...(v as Record<string, unknown>) }), [], all);
  }

  it(`covers the tables (${all.length} probes) and every probe gets the expected answer`, () => {
    expect(all.length).toBeGreaterThan(1500);
    const wrong: string[] = [];
    for (const pr of all) {
      const got = refusal(pr.event);
      const want = pr.code === null ? null : { code: pr.code, param: pr.param, eventId: pr.event['event_id'] };
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${String(pr.event['type'])} ${pr.what}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('reaches the fields named in issue 10', () => {
    const params = new Set(all.map((p) => p.param));
    for (const p of [
      'session.audio.input.transcription', 'session.audio.input.noise_reduction', 'session.tool_choice', 'session.tracing', 'session.truncation',
      'session.prompt', 'session.include', 'session.audio.input.turn_detection.create_response', 'session.audio.input.turn_detection.idle_timeout_ms',
      'session.audio.input.turn_detection.eagerness', 'session.audio.output.speed', 'session.audio.input.turn_detection.threshold',
      'response.max_output_tokens', 'response.conversation', 'response.metadata', 'response.input[0].content[0].audio', 'previous_item_id',
    ]) {
      expect(params.has(p), p).toBe(true);
    }
  });
});

// --- 4. bounds ---------------------------------------------------------------------------------------

describe('bounds on nesting, strings and arrays', () => {
  const nested = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const withParams = (params: string): string => `{"type":"session.update","event_id":"d","session":{"type":"realtime","tools":[{"type":"function","name":"f","parameters":${params}}]}}`;
  const code = (raw: string): Refusal | null => {
    try {
      parseClientEvent(raw);
      return null;
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return { code: err.gaCode, param: err.param, eventId: err.eventId };
    }
  };

  it(`free-form JSON may nest up to ${MAX_JSON_DEPTH} levels in all, not one more`, () => {
    // event(1) → session(2) → tools(3) → [0](4) → parameters(5) → …
    const fits = MAX_JSON_DEPTH - 4;
    expect(code(withParams(nested(fits)))).toBeNull();
    const r = code(withParams(nested(fits + 1)));
    expect(r?.code).toBe('object_above_max_depth');
    expect(r?.param).toBe(`session.tools[0].parameters${'.a'.repeat(fits)}`);
    expect(r?.eventId).toBe('d');
  });

  it('a deep unknown field is refused at its top, without walking it (100 000 levels)', () => {
    const raw = `{"type":"session.update","event_id":"x","session":{"type":"realtime","x":${nested(100_000)}}}`;
    expect(code(raw)).toEqual({ code: 'unknown_parameter', param: 'session.x', eventId: 'x' });
    expect(code(withParams(nested(100_000)))?.code).toBe('object_above_max_depth');
  });

  it('strings: event_id ≤ 512, text ≤ 1 MiB; arrays: tools ≤ 128', () => {
    expect(refusal({ type: 'response.cancel', event_id: 'e'.repeat(MAX_ID_CHARS) })).toBeNull();
    expect(refusal({ type: 'response.cancel', event_id: 'e'.repeat(MAX_ID_CHARS + 1) })).toMatchObject({ code: 'string_above_max_length', param: 'event_id', eventId: null });
    expect(refusal({ type: 'session.update', session: { type: 'realtime', instructions: 'x'.repeat(MAX_TEXT_CHARS + 1) } })).toMatchObject({ code: 'string_above_max_length', param: 'session.instructions' });
    const tools = (n: number): unknown[] => Array.from({ length: n }, (_, i) => ({ type: 'function', name: `t${i}` }));
    expect(refusal({ type: 'session.update', session: { type: 'realtime', tools: tools(MAX_TOOLS) } })).toBeNull();
    expect(refusal({ type: 'session.update', session: { type: 'realtime', tools: tools(MAX_TOOLS + 1) } })).toMatchObject({ code: 'array_above_max_length', param: 'session.tools' });
    const bigEnum = { type: 'object', properties: { c: { type: 'string', enum: Array.from({ length: 1025 }, (_, i) => `v${i}`) } } };
    expect(refusal({ type: 'session.update', session: { type: 'realtime', tools: [{ type: 'function', name: 'f', parameters: bigEnum }] } })).toMatchObject({ code: 'array_above_max_length', param: 'session.tools[0].parameters.properties.c.enum' });
  });

  it('the append fast path never accepts an event_id the general path refuses', () => {
    const audio = 'AAAA';
    expect(fastParseAppend(`{"type":"input_audio_buffer.append","event_id":"${'e'.repeat(MAX_ID_CHARS)}","audio":"${audio}"}`)).not.toBeNull();
    const long = `{"type":"input_audio_buffer.append","event_id":"${'e'.repeat(MAX_ID_CHARS + 1)}","audio":"${audio}"}`;
    expect(fastParseAppend(long)).toBeNull();
    expect(code(long)).toMatchObject({ code: 'string_above_max_length', param: 'event_id' });
    const huge = `{"type":"input_audio_buffer.append","audio":"${'A'.repeat(MAX_AUDIO_BASE64_CHARS + 4)}"}`;
    expect(fastParseAppend(huge)).toBeNull();
    expect(() => parseClientEvent(huge, huge.length, huge.length)).toThrow(expect.objectContaining({ gaCode: 'string_above_max_length', param: 'audio' }));
    const ctl = `{"type":"input_audio_buffer.append","event_id":"a\u0001b","audio":"${audio}"}`;
    expect(fastParseAppend(ctl)).toBeNull();
    expect(code(ctl)?.code).toBe('invalid_json');
  });

  it('`__proto__` and other inherited names are unknown fields, not lookups on the prototype', () => {
    expect(code('{"type":"response.cancel","__proto__":{"x":1}}')).toMatchObject({ code: 'unknown_parameter', param: '__proto__' });
    expect(code('{"type":"response.cancel","toString":1}')).toMatchObject({ code: 'unknown_parameter', param: 'toString' });
    expect(code('{"type":"toString"}')).toMatchObject({ code: 'unknown_event' });
  });
});
