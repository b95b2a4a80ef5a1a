/**
 * The GA client events, field by field: one table per event or object, each field with its type
 * and range. Source: the official `openai` package's types (`resources/realtime/realtime.d.ts`,
 * `client-secrets.d.ts`, `responses/responses.d.ts` for prompts and tool choice) and OpenAI's
 * published OpenAPI description for the ranges it states (idle_timeout_ms 5000–30000, speed
 * 0.25–1.5, event_id ≤ 512 characters, metadata 16 pairs of 64/512 characters). Where the
 * reference states no range, the bound is ours and named (server/protocol/schema.ts). Every
 * object is closed: a field not listed here is refused with `unknown_parameter`.
 */
import type { ClientEventType } from './types.ts';
import {
  MAX_AUDIO_BASE64_CHARS,
  MAX_ID_CHARS,
  MAX_JSON_ARRAY_ITEMS,
  MAX_TEXT_CHARS,
  array,
  bool,
  either,
  extend,
  int,
  intOneOf,
  json,
  jsonObject,
  map,
  nullable,
  num,
  object,
  oneOf,
  required,
  str,
  tagged,
  type ObjectSchema,
} from './schema.ts';

/** Tools in one session or response (OpenAI's function-calling limit). */
export const MAX_TOOLS = 128;
/** Content parts in one message item. */
export const MAX_CONTENT_PARTS = 64;
/** Items in a `response.create` `input`. */
export const MAX_RESPONSE_INPUT_ITEMS = 1024;
/** A URL (MCP server, file); data URLs of images go under the audio bound. */
export const MAX_URL_CHARS = 8192;
/** An HTTP header value or an OAuth token for an MCP server. */
export const MAX_HEADER_CHARS = 8192;
/** `max_output_tokens`: an integer 1–4096 or 'inf' (GA reference). */
export const MAX_OUTPUT_TOKENS = 4096;
/** VAD windows (prefix padding, silence): the reference gives defaults (300, 500 ms), no range. */
export const MAX_VAD_WINDOW_MS = 60_000;
/** `conversation.item.truncate` `audio_end_ms`: an hour of audio (a GA session lasts at most 60 minutes). */
export const MAX_AUDIO_MS = 60 * 60 * 1000;
/** Token counts a client may set (truncation `post_instructions`). */
export const MAX_TOKEN_LIMIT = 10_000_000;

const id = str(MAX_ID_CHARS);
const text = str(MAX_TEXT_CHARS);
const name = str(MAX_ID_CHARS, { minLength: 1 });
const audioB64 = str(MAX_AUDIO_BASE64_CHARS, { base64: true });
const url = str(MAX_URL_CHARS);

// --- audio -------------------------------------------------------------------------------------

/** `{type:"audio/pcm", rate:24000}` (24 kHz only), `{type:"audio/pcmu"}`, `{type:"audio/pcma"}`. */
export const AUDIO_FORMAT = tagged('type', {
  'audio/pcm': object({ rate: intOneOf(24000) }),
  'audio/pcmu': object({}),
  'audio/pcma': object({}),
});

export const NOISE_REDUCTION = nullable(object({ type: oneOf('near_field', 'far_field') }));

/** `AudioTranscription` (plus `languages` and `keywords` from the OpenAPI description). */
export const TRANSCRIPTION = nullable(object({
  model: id,
  language: id,
  languages: array(id, 64, 1),
  keywords: array(id, MAX_JSON_ARRAY_ITEMS),
  prompt: text,
  delay: oneOf('minimal', 'low', 'medium', 'high', 'xhigh'),
}));

export const TURN_DETECTION = nullable(tagged('type', {
  server_vad: object({
    threshold: num(0, 1),
    prefix_padding_ms: int(0, MAX_VAD_WINDOW_MS),
    silence_duration_ms: int(0, MAX_VAD_WINDOW_MS),
    idle_timeout_ms: nullable(int(5000, 30000)),
    create_response: bool,
    interrupt_response: bool,
  }),
  semantic_vad: object({
    eagerness: oneOf('low', 'medium', 'high', 'auto'),
    create_response: bool,
    interrupt_response: bool,
  }),
}));

/** A built-in voice name (or a custom voice name), or `{ id: "voice_…" }`. */
export const VOICE = either(str(MAX_ID_CHARS, { minLength: 1 }), object({ id: required(name) }));

export const AUDIO_INPUT = object({
  format: AUDIO_FORMAT,
  noise_reduction: NOISE_REDUCTION,
  transcription: TRANSCRIPTION,
  turn_detection: TURN_DETECTION,
});

export const AUDIO_OUTPUT = object({
  format: AUDIO_FORMAT,
  voice: VOICE,
  speed: num(0.25, 1.5),
});

// --- tools -------------------------------------------------------------------------------------

export const FUNCTION_TOOL = object({
  name: required(name),
  description: text,
  /** A JSON schema: free-form, nested as deep as MAX_JSON_DEPTH allows. */
  parameters: jsonObject,
});

const MCP_TOOL_FILTER = object({ tool_names: array(name, MAX_JSON_ARRAY_ITEMS), read_only: bool });

export const MCP_TOOL = object({
  server_label: required(name),
  server_url: url,
  connector_id: oneOf('connector_dropbox', 'connector_gmail', 'connector_googlecalendar', 'connector_googledrive', 'connector_microsoftteams', 'connector_outlookcalendar', 'connector_outlookemail', 'connector_sharepoint'),
  tunnel_id: str(64, { pattern: /^tunnel_[a-z0-9]{32}$/ }),
  authorization: str(MAX_HEADER_CHARS),
  server_description: text,
  headers: nullable(map(str(MAX_HEADER_CHARS), 64, 256)),
  allowed_tools: nullable(either(array(name, MAX_JSON_ARRAY_ITEMS), MCP_TOOL_FILTER)),
  allowed_callers: nullable(array(oneOf('direct', 'programmatic'), 2, 1)),
  require_approval: nullable(either(oneOf('always', 'never'), object({ always: MCP_TOOL_FILTER, never: MCP_TOOL_FILTER }))),
  defer_loading: bool,
});

export const TOOLS = array(tagged('type', { function: FUNCTION_TOOL, mcp: MCP_TOOL }), MAX_TOOLS);

/** `'none' | 'auto' | 'required'`, or force one function / MCP tool. */
export const TOOL_CHOICE = either(
  oneOf('none', 'auto', 'required'),
  tagged('type', {
    function: object({ name: required(name) }),
    mcp: object({ server_label: required(name), name: nullable(name) }),
  }),
);

// --- session-level settings ----------------------------------------------------------------------

export const OUTPUT_MODALITIES = array(oneOf('audio', 'text'), 1, 1);
export const MAX_OUTPUT_TOKENS_FIELD = either(int(1, MAX_OUTPUT_TOKENS), oneOf('inf'));
export const INCLUDE = array(oneOf('item.input_audio_transcription.logprobs'), 1);
export const REASONING = object({ effort: oneOf('minimal', 'low', 'medium', 'high', 'xhigh') });

export const TRACING = nullable(either(
  oneOf('auto'),
  object({ workflow_name: id, group_id: id, metadata: json }),
));

export const TRUNCATION = either(
  oneOf('auto', 'disabled'),
  tagged('type', {
    retention_ratio: object({
      retention_ratio: required(num(0, 1)),
      token_limits: object({ post_instructions: int(0, MAX_TOKEN_LIMIT) }),
    }),
  }),
);

const CACHE_BREAKPOINT = object({ mode: required(oneOf('explicit')) });

/** `ResponsePrompt`: a stored prompt template and its variables (strings or input parts). */
export const PROMPT = nullable(object({
  id: required(name),
  version: nullable(id),
  variables: nullable(map(
    either(text, tagged('type', {
      input_text: object({ text: required(text), prompt_cache_breakpoint: CACHE_BREAKPOINT }),
      input_image: object({
        detail: required(oneOf('low', 'high', 'auto', 'original')),
        image_url: nullable(str(MAX_AUDIO_BASE64_CHARS)),
        file_id: nullable(id),
        prompt_cache_breakpoint: CACHE_BREAKPOINT,
      }),
      input_file: object({
        file_id: nullable(id),
        filename: id,
        file_data: str(MAX_AUDIO_BASE64_CHARS),
        file_url: url,
        detail: oneOf('auto', 'low', 'high'),
        prompt_cache_breakpoint: CACHE_BREAKPOINT,
      }),
    })),
    64,
    MAX_ID_CHARS,
  )),
}));

/** `Metadata`: up to 16 pairs, keys ≤ 64 characters, values ≤ 512. */
export const METADATA = nullable(map(str(512), 16, 64));

/** The GA realtime session (`RealtimeSessionCreateRequest`): what `session.update` may set. */
export const SESSION = object({
  type: required(oneOf('realtime')),
  model: name,
  instructions: text,
  output_modalities: OUTPUT_MODALITIES,
  audio: object({ input: AUDIO_INPUT, output: AUDIO_OUTPUT }),
  include: INCLUDE,
  tracing: TRACING,
  tools: TOOLS,
  tool_choice: TOOL_CHOICE,
  parallel_tool_calls: bool,
  reasoning: REASONING,
  max_output_tokens: MAX_OUTPUT_TOKENS_FIELD,
  truncation: TRUNCATION,
  prompt: PROMPT,
});

/** Beta-API session fields: refused like any unknown field, with a pointer to the GA shape. */
export const BETA_SESSION_FIELDS: ReadonlySet<string> = new Set([
  'modalities',
  'voice',
  'input_audio_format',
  'output_audio_format',
  'turn_detection',
  'input_audio_transcription',
  'input_audio_noise_reduction',
  'temperature',
  'max_response_output_tokens',
]);

// --- conversation items --------------------------------------------------------------------------

const ITEM_COMMON = object({
  id,
  object: oneOf('realtime.item'),
  status: oneOf('completed', 'incomplete', 'in_progress'),
});

const message = (content: ObjectSchema): ObjectSchema => extend(ITEM_COMMON, { content: required(array(content, MAX_CONTENT_PARTS)) });

/** A conversation item (`ConversationItem`): messages by role, function calls and outputs, MCP items. */
export const ITEM = tagged('type', {
  message: tagged('role', {
    system: message(object({ type: required(oneOf('input_text')), text })),
    user: message(object({
      type: required(oneOf('input_text', 'input_audio', 'input_image')),
      text,
      audio: audioB64,
      transcript: text,
      image_url: str(MAX_AUDIO_BASE64_CHARS),
      detail: oneOf('auto', 'low', 'high'),
    })),
    assistant: message(object({
      type: required(oneOf('output_text', 'output_audio')),
      text,
      audio: audioB64,
      transcript: text,
    })),
  }),
  function_call: extend(ITEM_COMMON, { call_id: id, name: required(name), arguments: required(text) }),
  function_call_output: extend(ITEM_COMMON, { call_id: required(name), output: required(text) }),
  mcp_approval_response: object({ id: required(name), approval_request_id: required(name), approve: required(bool), reason: nullable(text) }),
  mcp_list_tools: object({
    id,
    server_label: required(name),
    tools: required(array(object({ name: required(name), input_schema: required(json), annotations: json, description: nullable(text) }), MAX_JSON_ARRAY_ITEMS)),
  }),
  mcp_call: object({
    id: required(name),
    server_label: required(name),
    name: required(name),
    arguments: required(text),
    approval_request_id: nullable(id),
    output: nullable(text),
    error: nullable(tagged('type', {
      protocol_error: object({ code: required(int(-1e9, 1e9)), message: required(text) }),
      tool_execution_error: object({ message: required(text) }),
      http_error: object({ code: required(int(0, 999)), message: required(text) }),
    })),
  }),
  mcp_approval_request: object({ id: required(name), server_label: required(name), name: required(name), arguments: required(text) }),
});

/** `response.create`'s `input` may also point at an earlier item: `{type:"item_reference", id}`. */
const RESPONSE_INPUT_ITEM = tagged('type', {
  ...Object.fromEntries(ITEM.variants),
  item_reference: object({ id: required(name) }),
});

/** `RealtimeResponseCreateParams`: per-response overrides. */
export const RESPONSE = object({
  audio: object({ output: object({ format: AUDIO_FORMAT, voice: VOICE }) }),
  conversation: oneOf('auto', 'none'),
  input: array(RESPONSE_INPUT_ITEM, MAX_RESPONSE_INPUT_ITEMS),
  instructions: text,
  max_output_tokens: MAX_OUTPUT_TOKENS_FIELD,
  metadata: METADATA,
  output_modalities: OUTPUT_MODALITIES,
  parallel_tool_calls: bool,
  prompt: PROMPT,
  reasoning: REASONING,
  tool_choice: TOOL_CHOICE,
  tools: TOOLS,
});

/** Legacy `transcription_session.update` (`TranscriptionSessionUpdate.Session`). */
const LEGACY_TRANSCRIPTION_SESSION = object({
  include: INCLUDE,
  input_audio_format: oneOf('pcm16', 'g711_ulaw', 'g711_alaw'),
  input_audio_noise_reduction: object({ type: oneOf('near_field', 'far_field') }),
  input_audio_transcription: TRANSCRIPTION,
  turn_detection: object({
    type: oneOf('server_vad'),
    threshold: num(0, 1),
    prefix_padding_ms: int(0, MAX_VAD_WINDOW_MS),
    silence_duration_ms: int(0, MAX_VAD_WINDOW_MS),
  }),
});

// --- the events ------------------------------------------------------------------------------------

/**
 * Each client event's fields besides `type` and `event_id` (checked for every event).
 * `session.update`'s `session` is checked against SESSION by the caller (for the beta hint).
 */
export const CLIENT_EVENTS: Readonly<Record<ClientEventType, ObjectSchema>> = {
  'session.update': object({ session: required(SESSION) }),
  'input_audio_buffer.append': object({ audio: required(audioB64) }),
  'input_audio_buffer.commit': object({}),
  'input_audio_buffer.clear': object({}),
  'output_audio_buffer.clear': object({}),
  'conversation.item.create': object({
    item: required(ITEM),
    /** GA: a string (`root` = first). null is taken as "not set" (some clients send it). */
    previous_item_id: nullable(id),
  }),
  'conversation.item.retrieve': object({ item_id: required(name) }),
  'conversation.item.truncate': object({
    item_id: required(name),
    content_index: required(int(0, MAX_CONTENT_PARTS - 1)),
    audio_end_ms: required(int(0, MAX_AUDIO_MS)),
  }),
  'conversation.item.delete': object({ item_id: required(name) }),
  'response.create': object({ response: RESPONSE }),
  'response.cancel': object({ response_id: id }),
  'transcription_session.update': object({ session: required(LEGACY_TRANSCRIPTION_SESSION) }),
};
