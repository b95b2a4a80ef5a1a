import type { Logger } from 'pino';

/** A JSON Schema object (draft 2020-12 subset the Realtime API accepts for `parameters`). */
export type JSONSchema = { type?: string; properties?: Record<string, unknown>; required?: string[]; [k: string]: unknown };

/** What a tool may know of the call it runs in (an HTTP tool sends it to the backend as `call`). */
export interface ToolCallFacts {
  /** The call's id: the session id. */
  id: string;
  door: 'ws' | 'sip' | 'media-stream';
  from: string | null;
  to: string | null;
  /** The number dialled (SIP), when the door knows it. */
  dialled: string | null;
  /** The SIP Call-ID of a SIP call. */
  sipCallId: string | null;
  /** The agent profile serving the call (null: the server defaults). */
  profile: string | null;
  metadata: Record<string, string>;
}

export interface ToolContext {
  sessionId: string;
  callId?: string;
  /** The call's facts (set when the session runs the tool; absent when a tool is run outside a session). */
  call?: ToolCallFacts;
  log: Logger;
  /** Aborted on timeout or when the session ends: stop work and return. */
  signal: AbortSignal;
}

/** A server-side tool: the model calls it, Parley runs it, the model gets its result. */
export interface ToolDefinition {
  name: string;
  description: string;
  parameters: JSONSchema;
  /** Per-call timeout (default: config tools.timeoutMs). */
  timeoutMs?: number;
  /** The result is JSON.stringify'd unless it is a string. Throw to report a failure to the model. */
  handler(args: unknown, ctx: ToolContext): Promise<unknown> | unknown;
}

/** What running a tool produced: always a string for `function_call_output.output`. */
export interface ToolRunResult {
  output: string;
  ok: boolean;
  /** Set when !ok: TOOL_BAD_ARGUMENTS | TOOL_FAILED | TOOL_TIMEOUT | TOOL_UNKNOWN. */
  errorCode?: string;
  durationMs: number;
}
