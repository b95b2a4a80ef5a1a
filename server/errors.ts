/**
 * Coded errors. Callers branch on `code` (and `retryable`), never on `message`.
 * Every error thrown across a module boundary is a ParleyError or a subclass: the base class lives in
 * audio/errors.ts (the bottom layer, so that audio/ and sip/ can extend it) and is re-exported here.
 * All codes and their meanings: PARLEY_ERROR_CODES below, listed in docs/contracts.md §0.
 */

// errors.ts files are leaves (no imports but each other): imported directly, not through index.ts, so that
// loading the error family does not load the audio core or the SIP stack.
import { ParleyError, AUDIO_ERROR_CODES, type AudioErrorCode, type ParleyErrorOptions } from '../audio/errors.ts';
import { SIP_ERROR_CODES, type SipErrorCode } from '../sip/errors.ts';

export { ParleyError, AudioError } from '../audio/errors.ts';
export type { ParleyErrorOptions, AudioErrorCode } from '../audio/errors.ts';
export { SipError } from '../sip/errors.ts';
export type { SipErrorCode } from '../sip/errors.ts';

/** The server's codes (the audio core's and the SIP door's are in audio/errors.ts and sip/errors.ts). */
export const SERVER_ERROR_CODES = {
  // configuration (start-up)
  CONFIG_INVALID: 'a setting is missing or invalid (ConfigError.setting names it)',
  // protocol (a client event that is not acceptable)
  PROTOCOL_INVALID_JSON: 'a client message is not JSON',
  PROTOCOL_INVALID_EVENT: 'a client event has a bad or missing field',
  PROTOCOL_UNKNOWN_EVENT: 'a client event type Parley does not know',
  PROTOCOL_MESSAGE_TOO_LARGE: 'a client message over the size limit',
  // engines
  ENGINE_UNAVAILABLE: 'the engine asked for is not registered or cannot run here',
  ENGINE_CONNECT_FAILED: 'the engine (upstream) could not be reached',
  ENGINE_REJECTED: 'the upstream refused the connection (HTTP status at upgrade)',
  ENGINE_DROPPED: 'the upstream connection dropped mid-session',
  ENGINE_CLOSED: 'the engine connection has closed',
  ENGINE_SESSION_EXPIRED: 'the upstream session hit its time cap',
  ENGINE_PROTOCOL: 'the upstream sent something that breaks the protocol',
  ENGINE_AT_CAPACITY: 'the engine serves as many sessions as it can; retry after retryAfterS (retryable)',
  // sessions
  SESSION_LIMIT: 'the server is at its session limit (retryable)',
  SESSION_CLOSED: 'the session closed while an operation was under way',
  SERVER_SHUTTING_DOWN: 'the server is draining and takes no new sessions (retryable)',
  // tools
  TOOL_DUPLICATE: 'two tools with one name',
  TOOL_INVALID: 'a tool definition is malformed',
  TOOL_UNKNOWN: 'the model called a tool that is not registered',
  TOOL_TIMEOUT: 'a tool ran past its timeoutMs',
  TOOL_FAILED: 'a tool handler threw',
  TOOL_BAD_ARGUMENTS: 'the model passed arguments that are not valid JSON',
  // cascade stage providers (ProviderError, server/engines/providers/)
  HTTP_TIMEOUT: 'an OpenAI-compatible HTTP stage gave no answer in time (retryable)',
  HTTP_UNREACHABLE: 'an HTTP stage could not be reached (retryable)',
  HTTP_RATE_LIMITED: 'an HTTP stage answered 429 (retryable)',
  HTTP_SERVER_ERROR: 'an HTTP stage answered 5xx or streamed an error (retryable)',
  HTTP_REJECTED: 'an HTTP stage answered 4xx',
  HTTP_BAD_RESPONSE: 'an HTTP stage answered something unreadable',
  HTTP_STREAM_BROKEN: 'an HTTP stage stream broke mid-way (retryable)',
  STT_MODEL_UNAVAILABLE: 'the local speech-to-text model could not be loaded',
  STT_WORKER_FAILED: 'the speech-to-text worker died (retryable)',
  STT_TIMEOUT: 'speech-to-text gave no result in time (retryable)',
  STT_STREAM_CLOSED: 'audio pushed to an utterance already finished',
  STT_ABORTED: 'the utterance was aborted',
  STT_LANGUAGE_UNSUPPORTED: 'the local speech-to-text model does not speak the transcription language',
  TTS_UNAVAILABLE: 'the local text-to-speech voice could not be loaded',
  TTS_FAILED: 'text-to-speech failed on a sentence',
  TTS_WORKER_FAILED: 'the text-to-speech worker died (retryable)',
  TTS_TIMEOUT: 'text-to-speech gave no audio in time (retryable)',
  // the database of call records and the webhook outbox (server/store/)
  STORE_UNAVAILABLE: 'the database could not be opened or reached (retryable)',
  STORE_SCHEMA_TOO_NEW: 'the database schema is newer than this Parley knows (a newer version migrated it)',
  STORE_FAILED: 'a database statement failed',
  STORE_CLOSED: 'the store was used after close()',
  // anything else
  INTERNAL: 'a bug: anything not covered above',
} as const;

export type ServerErrorCode = keyof typeof SERVER_ERROR_CODES;

/** Every code of the family, with its meaning: the table docs/contracts.md §0 shows. */
export const PARLEY_ERROR_CODES: Readonly<Record<ParleyErrorCode, string>> = { ...SERVER_ERROR_CODES, ...AUDIO_ERROR_CODES, ...SIP_ERROR_CODES };

export type ParleyErrorCode = ServerErrorCode | AudioErrorCode | SipErrorCode;

/** A bad setting: `setting` names it (env var name, or dotted path in the JSON file). */
export class ConfigError extends ParleyError {
  readonly setting: string;
  constructor(setting: string, why: string, opts: ParleyErrorOptions = {}) {
    super('CONFIG_INVALID', `${setting}: ${why}`, opts);
    this.setting = setting;
  }
}

/**
 * A client event that cannot be accepted. Maps to a GA `error` event:
 * `{ type: 'invalid_request_error', code, message, param, event_id }`.
 */
export class ProtocolError extends ParleyError {
  /** GA error code sent to the client (`invalid_json`, `invalid_event`, `unknown_event`, `invalid_value`, `missing_required_parameter`, `message_too_large`). */
  readonly gaCode: string;
  readonly param: string | null;
  readonly eventId: string | null;
  constructor(
    code: ParleyErrorCode,
    gaCode: string,
    message: string,
    opts: { param?: string | null; eventId?: string | null; cause?: unknown } = {},
  ) {
    super(code, message, { retryable: false, cause: opts.cause });
    this.gaCode = gaCode;
    this.param = opts.param ?? null;
    this.eventId = opts.eventId ?? null;
  }
}

export interface EngineErrorOptions extends ParleyErrorOptions {
  /** The session may carry on with another engine (cascade) for the next turns. */
  fallbackable?: boolean;
  /** HTTP status at upgrade, when the upstream refused the connection. */
  status?: number;
  /** The upstream's own error code (e.g. `rate_limit_exceeded`, `session_expired`). */
  upstreamCode?: string;
}

export class EngineError extends ParleyError {
  readonly fallbackable: boolean;
  readonly status?: number;
  readonly upstreamCode?: string;
  constructor(code: ParleyErrorCode, message: string, opts: EngineErrorOptions = {}) {
    super(code, message, opts);
    this.fallbackable = opts.fallbackable ?? false;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.upstreamCode !== undefined) this.upstreamCode = opts.upstreamCode;
  }
}

export class ToolError extends ParleyError {}

/** A database failure (server/store/): STORE_UNAVAILABLE, STORE_SCHEMA_TOO_NEW, STORE_FAILED, STORE_CLOSED. */
export class StoreError extends ParleyError {}
