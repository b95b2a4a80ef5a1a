/**
 * OpenAI Realtime GA wire shapes, as far as Parley reads them (shared/research/realtime.md §1).
 * Reference: openai-node `src/resources/realtime/realtime.ts`. Fields Parley does not read stay
 * open (`[k: string]: unknown`) and are relayed untouched.
 */

/** A validated GA client event. */
export type ClientEvent = { type: string; event_id?: string; [k: string]: unknown };
/** A GA server event (or Parley's one extra event, `parley.engine`). */
export type ServerEvent = { type: string; event_id: string; [k: string]: unknown };

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

/** GA `error` event body. */
export interface ErrorBody {
  type: 'invalid_request_error' | 'server_error' | (string & {});
  code: string | null;
  message: string;
  param: string | null;
  event_id: string | null;
}

/** Parley's one extra server event (contracts §6). */
export interface ParleyEngineEvent extends ServerEvent {
  type: 'parley.engine';
  engine: 'openai' | 'cascade' | 'local';
  reason: 'initial' | 'fallback' | 'rotation';
  detail?: string;
}

/** The 11 GA client event types (+ legacy `transcription_session.update`). */
export const CLIENT_EVENT_TYPES = [
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
] as const;
export type ClientEventType = (typeof CLIENT_EVENT_TYPES)[number];

/** Bytes per ms of audio in a GA format: pcm16 @ 24 kHz = 48, G.711 @ 8 kHz = 8. */
export function bytesPerMs(format: AudioFormat | undefined): number {
  if (format === undefined || format.type === 'audio/pcm') return 48;
  return 8;
}
