/**
 * Coded errors. Callers branch on `code` (and `retryable`), never on `message`.
 * Every error thrown across a module boundary is a ParleyError or a subclass.
 */

export type ParleyErrorCode =
  // configuration (start-up)
  | 'CONFIG_INVALID'
  // protocol (a client event that is not acceptable)
  | 'PROTOCOL_INVALID_JSON'
  | 'PROTOCOL_INVALID_EVENT'
  | 'PROTOCOL_UNKNOWN_EVENT'
  | 'PROTOCOL_MESSAGE_TOO_LARGE'
  // auth
  | 'AUTH_MISSING'
  | 'AUTH_INVALID'
  | 'AUTH_EXPIRED'
  // engines
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_CONNECT_FAILED'
  | 'ENGINE_REJECTED'
  | 'ENGINE_DROPPED'
  | 'ENGINE_CLOSED'
  | 'ENGINE_SESSION_EXPIRED'
  | 'ENGINE_PROTOCOL'
  // sessions
  | 'SESSION_LIMIT'
  | 'SESSION_CLOSED'
  | 'SERVER_SHUTTING_DOWN'
  // tools
  | 'TOOL_DUPLICATE'
  | 'TOOL_INVALID'
  | 'TOOL_UNKNOWN'
  | 'TOOL_TIMEOUT'
  | 'TOOL_FAILED'
  | 'TOOL_BAD_ARGUMENTS'
  // anything else
  | 'INTERNAL';

const BRAND = Symbol.for('parley.error');

export interface ParleyErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

export class ParleyError extends Error {
  readonly code: ParleyErrorCode | (string & {});
  readonly retryable: boolean;
  readonly [BRAND] = true;

  constructor(code: ParleyErrorCode | (string & {}), message: string, opts: ParleyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }

  /** Works across duplicate copies of this module (brand check). */
  static is(err: unknown): err is ParleyError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
  }
}

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

export class AuthError extends ParleyError {}
