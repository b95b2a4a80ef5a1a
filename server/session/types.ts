/** The session seam (contracts §4). */
import type { ClientEvent, ServerEvent, SessionPatch } from '../protocol/index.ts';
import type { ToolDefinition } from '../tools/index.ts';
import type { EngineName } from '../engines/index.ts';
import type { SessionObserver } from './observer.ts';

export type Leg = 'ws' | 'sip' | 'media-stream';

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
  leg: Leg;
  client: SessionClient;
  /** Initial config (from an ephemeral key, or the SIP door's audio/pcmu). */
  session?: SessionPatch;
  /** Extra server-side tools for this session only (call control). */
  tools?: ToolDefinition[];
  /** Logged with every line of this session. */
  callId?: string;
  metadata?: Record<string, string>;
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
  /** Ends the session (closes the engine, aborts tools). Idempotent. */
  close(reason: string): void;
}

export type { ServerEvent, ClientEvent };
