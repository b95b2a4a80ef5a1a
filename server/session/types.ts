/** The session seam (contracts §4). */
import type { ClientEvent, ServerEvent, SessionPatch } from '../protocol/index.ts';
import type { ToolDefinition } from '../tools/index.ts';
import type { EngineName } from '../engines/index.ts';
import type { SessionObserver } from './observer.ts';

export type Leg = 'ws' | 'sip' | 'media-stream';

/**
 * Why a session ended, as call records and webhooks report it. `interrupted` is written only by the
 * call store, for records a crash left open.
 */
export type EndReason = 'caller_hangup' | 'agent_ended' | 'transferred' | 'max_duration' | 'rtp_timeout' | 'error' | 'shutdown' | 'rejected';

/** Recording of a call (server/recording/): none, both sides mixed, or caller left / agent right. */
export type RecordingMode = 'off' | 'mono' | 'stereo';

/** Who called whom, as the door knows it (SIP: From/To user parts, the dialled Request-URI user, the Call-ID). */
export interface CallFacts {
  from?: string;
  to?: string;
  dialled?: string;
  sipCallId?: string;
  /** The trunk (SIP source) the call came in on, when the door can tell. */
  trunk?: string;
}

/** Implemented by the door (WS route, SIP bridge, media-stream door). */
export interface SessionClient {
  /** Deliver one server event to the client (audio as AudioChunk: valid during the call only). */
  send(event: ServerEvent): void;
  /** The session ended. */
  close(code: number, reason: string): void;
  /** Optional backpressure: the engine cannot take more; stop reading from the client. */
  pause?(): void;
  resume?(): void;
}

export interface SessionOpenOptions {
  /** The session's id (= its call record's), when the door made it before: an outbound call's (POST /v1/calls). Default: a new `sess_…`. */
  id?: string;
  leg: Leg;
  client: SessionClient;
  /** Initial config (from an ephemeral key, or the SIP door's audio/pcmu). */
  session?: SessionPatch;
  /** Extra server-side tools for this session only (call control). */
  tools?: ToolDefinition[];
  /** Offer only the server tools of these names (global and per-session): an agent profile's tool list. Unset: all. */
  toolNames?: readonly string[];
  /** Logged with every line of this session. */
  callId?: string;
  metadata?: Record<string, string>;
  /** The agent profile chosen for this call (server/profiles/), for records and webhooks. */
  profile?: string;
  /** Who called whom (SIP door; a media-stream door). */
  call?: CallFacts;
  /** Record this call (default: config `recording`, PARLEY_RECORDING). */
  recording?: RecordingMode;
  /** Start on this engine instead of the configured one. */
  engine?: EngineName;
  /** Observers of this session only (besides the app-wide ones). */
  observers?: SessionObserver[];
  /** The door gave up (e.g. a SIP CANCEL while the engine opens): the open is abandoned and the session closed. */
  signal?: AbortSignal;
}

export interface Session {
  readonly id: string;
  readonly leg: Leg;
  readonly callId: string | undefined;
  /** The engine serving the session now (null before the first one is open). */
  readonly engineName: EngineName | null;
  /** Validated GA client event from the door (an append's AudioChunk may be reused after the call). */
  handleClientEvent(event: ClientEvent): void;
  /** Ends the session (closes the engine, aborts tools). Idempotent. `endReason` defaults to caller_hangup. */
  close(reason: string, endReason?: EndReason): void;
}

export type { ServerEvent, ClientEvent };
