/** The engine seam (contracts §3): every engine takes GA client events and emits GA server events. */
import type { Logger } from 'pino';
import type { EngineError } from '../errors.ts';
import type { ClientEvent, ConversationItem, RealtimeSession, ServerEvent } from '../protocol/index.ts';
import type { ParleyConfig } from '../config.ts';
import type { Conversation } from '../conversation.ts';
import type { Admission, EngineCapacity } from './admission.ts';
import type { Metrics } from '../metrics.ts';

/** The built-in engines, or any name an embedder registers (server/engines/index.ts). */
export type EngineName = 'openai' | 'cascade' | 'local' | (string & {});

export interface Engine {
  readonly name: EngineName;
  /** Opens one conversation. Rejects with EngineError (code, retryable, fallbackable). */
  open(opts: EngineOpenOptions): Promise<EngineConnection>;
  /** Optional admission control (server/engines/admission.ts): a door asks before it opens a session. */
  admit?(): Admission;
  capacity?(): EngineCapacity;
}

export interface EngineOpenOptions {
  /** The effective GA session object (server defaults + client, enforced fields applied). */
  session: RealtimeSession;
  /** pino child of the session. */
  log: Logger;
  callbacks: EngineCallbacks;
  /** Items to replay as text (fallback, session rotation) into an engine that keeps its own context (an upstream). */
  history?: ConversationItem[];
  /**
   * The session's conversation store (server/conversation.ts). An engine that keeps its items in
   * process (the cascade) uses it instead of a copy of its own; it already holds the history.
   */
  conversation?: Conversation;
  /** Aborted when the session gives up on this open (client gone, shutdown). */
  signal?: AbortSignal;
}

export interface EngineCallbacks {
  /** Every GA server event, in order (audio as AudioChunk: valid during the call only). */
  onEvent(event: ServerEvent): void;
  /** The engine ended; error set when abnormal. Never called after a local close(). */
  onClose(info: EngineCloseInfo): void;
  /**
   * Optional backpressure signal: true when the engine's outbound queue is congested (the
   * session should stop reading from its client), false when it drained.
   */
  onBackpressure?(congested: boolean): void;
  /**
   * Optional: the caller spoke over the agent and it did not interrupt it (docs/notes/turns.md). A
   * server-side fact for observers (the call record marks it); no client event carries it, as on OpenAI.
   */
  onSpeechIgnored?(speech: IgnoredSpeech): void;
}

/**
 * What ignored speech over the agent was: `backchannel` when its words were only backchannels ("yeah",
 * "mm-hm", "okay"); `false_interruption` when it had no words that count (a hum heard as letters, a
 * cough, nothing transcribed, too short). The call record's transcript mark (server/calls/record.ts).
 */
export type IgnoredKind = 'backchannel' | 'false_interruption';

/** Speech over the agent that did not stop it: no event went out, its audio left the input buffer. */
export interface IgnoredSpeech {
  kind: IgnoredKind;
  /** The id the item would have had (never sent to the client). */
  itemId: string;
  /** Its final transcript ('' when none). */
  text: string;
  /** Date.now() when the VAD heard it start. */
  startedAtMs: number;
  /** Speech heard (ms, from the VAD firing to its end). */
  speechMs: number;
}

export interface EngineCloseInfo {
  code: number;
  reason: string;
  error?: EngineError;
}

export interface EngineConnection {
  /** A validated GA client event (audio as AudioChunk: valid during the call only; copy to keep). */
  send(event: ClientEvent): void;
  /** Idempotent; no onClose after a local close. */
  close(reason?: string): void;
  /** Optional: stop / restart reading server events (backpressure from a slow client). */
  pause?(): void;
  resume?(): void;
}

/** What a factory gets to build an engine (one per app; open() is per session). */
export interface EngineDeps {
  config: ParleyConfig;
  log: Logger;
  /** The app's metrics (an engine counts what only it sees, e.g. its upstream retries). */
  metrics?: Metrics;
}

export type EngineFactory = (deps: EngineDeps) => Engine;
