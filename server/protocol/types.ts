/**
 * OpenAI Realtime GA shapes: the session object, items, and every client and server event Parley
 * reads or writes, as discriminated unions on `type` (docs/contracts.md §2).
 * Reference: the official `openai` package's `resources/realtime/realtime.d.ts`; these are Parley's
 * own types (the runtime does not depend on the SDK). Each shape is open (`[k: string]: unknown`):
 * fields Parley does not read are kept and relayed untouched. Audio is an `AudioChunk` (bytes with
 * their format; base64 only on the wires: server/protocol/audio.ts).
 */
import type { AudioChunk } from './audio.ts';

export type AudioFormat =
  | { type: 'audio/pcm'; rate?: number }
  | { type: 'audio/pcmu' }
  | { type: 'audio/pcma' };

export type TurnDetection =
  | {
      type: 'server_vad';
      threshold?: number;
      prefix_padding_ms?: number;
      silence_duration_ms?: number;
      create_response?: boolean;
      interrupt_response?: boolean;
      idle_timeout_ms?: number | null;
    }
  | { type: 'semantic_vad'; eagerness?: 'low' | 'medium' | 'high' | 'auto'; create_response?: boolean; interrupt_response?: boolean };

export interface TranscriptionConfig {
  model?: string;
  language?: string;
  prompt?: string;
  [k: string]: unknown;
}

export interface FunctionTool {
  type: 'function';
  name: string;
  description?: string;
  parameters?: unknown;
}
/** `function` tools, or anything else (`mcp`) relayed as is. */
export type RealtimeTool = FunctionTool | { type: string; [k: string]: unknown };

export interface AudioInputConfig {
  format?: AudioFormat;
  noise_reduction?: { type: 'near_field' | 'far_field' } | null;
  transcription?: TranscriptionConfig | null;
  turn_detection?: TurnDetection | null;
  [k: string]: unknown;
}
export interface AudioOutputConfig {
  format?: AudioFormat;
  voice?: string | { id: string };
  speed?: number;
  [k: string]: unknown;
}

/** The GA session object (`session.update.session`, `session.created.session`). */
export interface RealtimeSession {
  type: 'realtime';
  id?: string;
  object?: string;
  model?: string;
  instructions?: string;
  output_modalities?: Array<'audio' | 'text'>;
  audio?: { input?: AudioInputConfig; output?: AudioOutputConfig };
  tools?: RealtimeTool[];
  tool_choice?: unknown;
  max_output_tokens?: number | 'inf';
  expires_at?: number;
  [k: string]: unknown;
}

/** A partial session, as a client sends it in `session.update` (only present fields change). */
export interface SessionPatch {
  type?: 'realtime';
  model?: string;
  instructions?: string;
  output_modalities?: Array<'audio' | 'text'>;
  audio?: { input?: Partial<AudioInputConfig>; output?: Partial<AudioOutputConfig> };
  tools?: RealtimeTool[];
  tool_choice?: unknown;
  max_output_tokens?: number | 'inf';
  [k: string]: unknown;
}

export type ContentPart =
  | { type: 'input_text'; text: string }
  | { type: 'output_text'; text: string }
  | { type: 'input_audio'; audio?: string; transcript?: string | null }
  | { type: 'output_audio'; audio?: string; transcript?: string | null }
  | { type: string; [k: string]: unknown };

/** A conversation item (GA `RealtimeConversationItem*`). */
export interface ConversationItem {
  id?: string;
  object?: 'realtime.item';
  type: 'message' | 'function_call' | 'function_call_output' | (string & {});
  status?: 'completed' | 'in_progress' | 'incomplete';
  role?: 'user' | 'assistant' | 'system';
  content?: ContentPart[];
  call_id?: string;
  name?: string;
  arguments?: string;
  output?: string;
  [k: string]: unknown;
}

export interface Usage {
  total_tokens?: number;
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: Record<string, unknown>;
  output_token_details?: Record<string, unknown>;
  [k: string]: unknown;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'incomplete';

/** The GA response object (`response.created` / `response.done`). */
export interface RealtimeResponse {
  id: string;
  object?: 'realtime.response';
  status: ResponseStatus;
  status_details?: { type?: string; reason?: string; error?: { type?: string; code?: string; message?: string } | null; [k: string]: unknown } | null;
  output?: ConversationItem[];
  conversation_id?: string | null;
  usage?: Usage | null;
  metadata?: Record<string, string> | null;
  [k: string]: unknown;
}

/** The `response` parameter of `response.create`. */
export interface ResponseParams {
  conversation?: 'auto' | 'none' | (string & {});
  instructions?: string;
  tools?: RealtimeTool[];
  tool_choice?: unknown;
  max_output_tokens?: number | 'inf';
  output_modalities?: Array<'audio' | 'text'>;
  metadata?: Record<string, string> | null;
  input?: ConversationItem[];
  audio?: { output?: Partial<AudioOutputConfig> };
  [k: string]: unknown;
}

/** GA `error` event body. */
export interface ErrorBody {
  type: 'invalid_request_error' | 'server_error' | (string & {});
  code: string | null;
  message: string;
  param: string | null;
  event_id: string | null;
}

// ------------------------------------------------------------------------------------ client events

interface ClientBase {
  event_id?: string;
  [k: string]: unknown;
}
export interface SessionUpdateEvent extends ClientBase { type: 'session.update'; session: SessionPatch }
/** Legacy name still accepted; handled as session.update. */
export interface TranscriptionSessionUpdateEvent extends ClientBase { type: 'transcription_session.update'; session: SessionPatch }
export interface InputAudioBufferAppendEvent extends ClientBase { type: 'input_audio_buffer.append'; audio: AudioChunk }
export interface InputAudioBufferCommitEvent extends ClientBase { type: 'input_audio_buffer.commit' }
export interface InputAudioBufferClearEvent extends ClientBase { type: 'input_audio_buffer.clear' }
export interface OutputAudioBufferClearEvent extends ClientBase { type: 'output_audio_buffer.clear' }
export interface ConversationItemCreateEvent extends ClientBase { type: 'conversation.item.create'; item: ConversationItem; previous_item_id?: string | null }
export interface ConversationItemRetrieveEvent extends ClientBase { type: 'conversation.item.retrieve'; item_id: string }
export interface ConversationItemTruncateEvent extends ClientBase { type: 'conversation.item.truncate'; item_id: string; content_index: number; audio_end_ms: number }
export interface ConversationItemDeleteEvent extends ClientBase { type: 'conversation.item.delete'; item_id: string }
export interface ResponseCreateEvent extends ClientBase { type: 'response.create'; response?: ResponseParams }
export interface ResponseCancelEvent extends ClientBase { type: 'response.cancel'; response_id?: string }

/** A validated GA client event. */
export type ClientEvent =
  | SessionUpdateEvent
  | TranscriptionSessionUpdateEvent
  | InputAudioBufferAppendEvent
  | InputAudioBufferCommitEvent
  | InputAudioBufferClearEvent
  | OutputAudioBufferClearEvent
  | ConversationItemCreateEvent
  | ConversationItemRetrieveEvent
  | ConversationItemTruncateEvent
  | ConversationItemDeleteEvent
  | ResponseCreateEvent
  | ResponseCancelEvent;

export type ClientEventType = ClientEvent['type'];

/** The 11 GA client event types (+ legacy `transcription_session.update`). */
export const CLIENT_EVENT_TYPES: readonly ClientEventType[] = [
  'session.update',
  'input_audio_buffer.append',
  'input_audio_buffer.commit',
  'input_audio_buffer.clear',
  'output_audio_buffer.clear',
  'conversation.item.create',
  'conversation.item.retrieve',
  'conversation.item.truncate',
  'conversation.item.delete',
  'response.create',
  'response.cancel',
  'transcription_session.update',
];

// ------------------------------------------------------------------------------------ server events

interface ServerBase {
  event_id: string;
  [k: string]: unknown;
}
interface ItemRef extends ServerBase { item_id: string }
interface ResponsePart extends ServerBase { response_id: string; item_id: string; output_index: number; content_index: number }

export interface ErrorEvent extends ServerBase { type: 'error'; error: ErrorBody }
export interface SessionCreatedEvent extends ServerBase { type: 'session.created'; session: RealtimeSession }
export interface SessionUpdatedEvent extends ServerBase { type: 'session.updated'; session: RealtimeSession }
export interface ConversationCreatedEvent extends ServerBase { type: 'conversation.created'; conversation: { id: string; object?: string; [k: string]: unknown } }
export interface ConversationItemAddedEvent extends ServerBase { type: 'conversation.item.added'; item: ConversationItem; previous_item_id?: string | null }
export interface ConversationItemDoneEvent extends ServerBase { type: 'conversation.item.done'; item: ConversationItem; previous_item_id?: string | null }
export interface ConversationItemCreatedEvent extends ServerBase { type: 'conversation.item.created'; item: ConversationItem; previous_item_id?: string | null }
export interface ConversationItemRetrievedEvent extends ServerBase { type: 'conversation.item.retrieved'; item: ConversationItem }
export interface ConversationItemDeletedEvent extends ItemRef { type: 'conversation.item.deleted' }
export interface ConversationItemTruncatedEvent extends ItemRef { type: 'conversation.item.truncated'; content_index: number; audio_end_ms: number }
export interface TranscriptionCompletedEvent extends ItemRef { type: 'conversation.item.input_audio_transcription.completed'; content_index: number; transcript: string; usage?: unknown }
export interface TranscriptionDeltaEvent extends ItemRef { type: 'conversation.item.input_audio_transcription.delta'; content_index?: number; delta: string }
export interface TranscriptionFailedEvent extends ItemRef { type: 'conversation.item.input_audio_transcription.failed'; content_index: number; error: { type?: string; code?: string; message?: string; param?: string } }
export interface InputAudioBufferCommittedEvent extends ItemRef { type: 'input_audio_buffer.committed'; previous_item_id?: string | null }
export interface InputAudioBufferClearedEvent extends ServerBase { type: 'input_audio_buffer.cleared' }
export interface SpeechStartedEvent extends ItemRef { type: 'input_audio_buffer.speech_started'; audio_start_ms: number }
export interface SpeechStoppedEvent extends ItemRef { type: 'input_audio_buffer.speech_stopped'; audio_end_ms: number }
export interface InputAudioBufferTimeoutEvent extends ItemRef { type: 'input_audio_buffer.timeout_triggered'; audio_start_ms: number; audio_end_ms: number }
export interface OutputAudioBufferEvent extends ServerBase { type: 'output_audio_buffer.started' | 'output_audio_buffer.stopped' | 'output_audio_buffer.cleared'; response_id: string }
export interface ResponseCreatedEvent extends ServerBase { type: 'response.created'; response: RealtimeResponse }
export interface ResponseDoneEvent extends ServerBase { type: 'response.done'; response: RealtimeResponse }
export interface ResponseOutputItemAddedEvent extends ServerBase { type: 'response.output_item.added'; response_id: string; output_index: number; item: ConversationItem }
export interface ResponseOutputItemDoneEvent extends ServerBase { type: 'response.output_item.done'; response_id: string; output_index: number; item: ConversationItem }
export interface ResponseContentPartEvent extends ResponsePart { type: 'response.content_part.added' | 'response.content_part.done'; part: ContentPart }
export interface ResponseTextDeltaEvent extends ResponsePart { type: 'response.output_text.delta' | 'response.output_audio_transcript.delta'; delta: string }
export interface ResponseTextDoneEvent extends ResponsePart { type: 'response.output_text.done'; text: string }
export interface ResponseTranscriptDoneEvent extends ResponsePart { type: 'response.output_audio_transcript.done'; transcript: string }
export interface ResponseAudioDeltaEvent extends ResponsePart { type: 'response.output_audio.delta'; delta: AudioChunk }
export interface ResponseAudioDoneEvent extends ResponsePart { type: 'response.output_audio.done' }
export interface FunctionCallArgumentsDeltaEvent extends ServerBase { type: 'response.function_call_arguments.delta'; response_id: string; item_id: string; output_index: number; call_id: string; delta: string }
export interface FunctionCallArgumentsDoneEvent extends ServerBase { type: 'response.function_call_arguments.done'; response_id: string; item_id: string; output_index: number; call_id: string; arguments: string; name?: string }
export interface RateLimitsUpdatedEvent extends ServerBase { type: 'rate_limits.updated'; rate_limits: unknown[] }

/** Parley's one extra server event (contracts §6). */
export interface ParleyEngineEvent extends ServerBase {
  type: 'parley.engine';
  engine: string;
  reason: 'initial' | 'fallback' | 'rotation';
  detail?: string;
}

/**
 * A server event of a type Parley does not know (a newer upstream): relayed to WS clients as it
 * came (`event`), never interpreted.
 */
export interface PassthroughEvent extends ServerBase {
  type: 'parley.passthrough';
  event: { type: string; [k: string]: unknown };
}

/** A GA server event, Parley's `parley.engine`, or an unknown event carried through untouched. */
export type ServerEvent =
  | ErrorEvent
  | SessionCreatedEvent
  | SessionUpdatedEvent
  | ConversationCreatedEvent
  | ConversationItemAddedEvent
  | ConversationItemDoneEvent
  | ConversationItemCreatedEvent
  | ConversationItemRetrievedEvent
  | ConversationItemDeletedEvent
  | ConversationItemTruncatedEvent
  | TranscriptionCompletedEvent
  | TranscriptionDeltaEvent
  | TranscriptionFailedEvent
  | InputAudioBufferCommittedEvent
  | InputAudioBufferClearedEvent
  | SpeechStartedEvent
  | SpeechStoppedEvent
  | InputAudioBufferTimeoutEvent
  | OutputAudioBufferEvent
  | ResponseCreatedEvent
  | ResponseDoneEvent
  | ResponseOutputItemAddedEvent
  | ResponseOutputItemDoneEvent
  | ResponseContentPartEvent
  | ResponseTextDeltaEvent
  | ResponseTextDoneEvent
  | ResponseTranscriptDoneEvent
  | ResponseAudioDeltaEvent
  | ResponseAudioDoneEvent
  | FunctionCallArgumentsDeltaEvent
  | FunctionCallArgumentsDoneEvent
  | RateLimitsUpdatedEvent
  | ParleyEngineEvent
  | PassthroughEvent;

export type ServerEventType = ServerEvent['type'];

/** A server event of one type. */
export type ServerEventOf<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;

/** Every server event type above (except the passthrough wrapper): what a parser may type directly. */
export const SERVER_EVENT_TYPES: ReadonlySet<string> = new Set<Exclude<ServerEventType, 'parley.passthrough'>>([
  'error', 'session.created', 'session.updated', 'conversation.created',
  'conversation.item.added', 'conversation.item.done', 'conversation.item.created', 'conversation.item.retrieved',
  'conversation.item.deleted', 'conversation.item.truncated',
  'conversation.item.input_audio_transcription.completed', 'conversation.item.input_audio_transcription.delta',
  'conversation.item.input_audio_transcription.failed',
  'input_audio_buffer.committed', 'input_audio_buffer.cleared', 'input_audio_buffer.speech_started',
  'input_audio_buffer.speech_stopped', 'input_audio_buffer.timeout_triggered',
  'output_audio_buffer.started', 'output_audio_buffer.stopped', 'output_audio_buffer.cleared',
  'response.created', 'response.done', 'response.output_item.added', 'response.output_item.done',
  'response.content_part.added', 'response.content_part.done',
  'response.output_text.delta', 'response.output_text.done',
  'response.output_audio_transcript.delta', 'response.output_audio_transcript.done',
  'response.output_audio.delta', 'response.output_audio.done',
  'response.function_call_arguments.delta', 'response.function_call_arguments.done',
  'rate_limits.updated', 'parley.engine',
]);

/**
 * The payload of a GA event without its event_id, for emitters that stamp ids themselves
 * (`Omit` over a union, distributed).
 */
export type ServerEventBody = WithoutEventId<ServerEvent>;
type WithoutEventId<T> = T extends unknown ? { [K in keyof T as K extends 'event_id' ? never : K]: T[K] } : never;
