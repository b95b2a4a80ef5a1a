/**
 * What the cascade's parts (input, items, generation) share: the stages, the session object, the
 * session's conversation store, and the one way out (typed GA server events, event_id stamped here).
 */
import type { Logger } from 'pino';
import { ParleyError } from '../../errors.ts';
import { errorEvent, newEventId } from '../../protocol/index.ts';
import type { ConversationItem, RealtimeSession, ServerEvent, ServerEventBody, TurnDetection } from '../../protocol/index.ts';
import type { Conversation } from '../../conversation.ts';
import type { EngineCallbacks, IgnoredSpeech } from '../types.ts';
import type { ChatProvider, SttProvider, TtsProvider } from '../providers/index.ts';

export interface CascadeStages { stt: SttProvider; chat: ChatProvider; tts: TtsProvider }

/** Where the time went between speech_stopped and the first audio delta of the reply. */
export interface TurnTiming {
  responseId: string;
  /** speech_stopped → transcript known. */
  sttMs: number;
  /** transcript known → first sentence ready from the chat stage. */
  chatMs: number;
  /** first sentence ready → first output_audio.delta emitted. */
  ttsMs: number;
  /** speech_stopped → first output_audio.delta. */
  totalMs: number;
}

/** Timing marks (performance.now()) of a response created by a VAD turn. */
export interface TurnMarks { stoppedAt: number; sttAt?: number; sentenceAt?: number; firstAudioAt?: number }

/** A GA error body's code and message from anything thrown (provider errors are coded). */
export function errorInfo(err: unknown, fallbackCode: string): { code: string; message: string } {
  if (ParleyError.is(err)) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: fallbackCode, message: err.message };
  return { code: fallbackCode, message: String(err) };
}

/** A copy of an item and its content parts, for an event (the stored item keeps changing). */
export function snapshot(item: ConversationItem): ConversationItem {
  const copy: ConversationItem = { ...item };
  if (item.content) copy.content = item.content.map((p) => ({ ...p }));
  return copy;
}

export class CascadeContext {
  readonly stages: CascadeStages;
  readonly log: Logger;
  /** The session's store (or the cascade's own when opened without one): one copy of the items. */
  readonly conversation: Conversation;
  readonly conversationId: string;
  readonly sessionId: string;
  session: RealtimeSession;
  closed = false;
  readonly #cb: EngineCallbacks;

  constructor(o: { stages: CascadeStages; log: Logger; conversation: Conversation; conversationId: string; sessionId: string; session: RealtimeSession; callbacks: EngineCallbacks }) {
    this.stages = o.stages;
    this.log = o.log;
    this.conversation = o.conversation;
    this.conversationId = o.conversationId;
    this.sessionId = o.sessionId;
    this.session = o.session;
    this.#cb = o.callbacks;
  }

  /** The session's turn detection (absent = server_vad defaults, null = manual turns). */
  get turnDetection(): TurnDetection | null {
    const td = this.session.audio?.input?.turn_detection;
    return td === undefined ? { type: 'server_vad' } : td;
  }

  /** Emits a server event (event_id stamped). May throw: whatever the receiver throws. */
  emit(body: ServerEventBody): void {
    if (this.closed) return;
    const event: ServerEvent = { ...body, event_id: newEventId() };
    this.#cb.onEvent(event);
  }

  /** Speech over the agent that did not interrupt it: to the session's observers only (never throws). */
  speechIgnored(speech: IgnoredSpeech): void {
    if (this.closed) return;
    try {
      this.#cb.onSpeechIgnored?.(speech);
    } catch (err) {
      this.log.error({ err }, 'cascade: speech-ignored report failed');
    }
  }

  /** A GA `error` event (never throws: an error about an error is logged). */
  error(code: string, message: string, eventId: string | undefined, param?: string, type = 'invalid_request_error'): void {
    if (this.closed) return;
    try {
      this.#cb.onEvent(errorEvent({ type, code, message, event_id: eventId ?? null, param: param ?? null }));
    } catch (err) {
      this.log.error({ err, code }, 'cascade: error event failed');
    }
  }

  /** The GA session object as session.created / session.updated carry it. */
  sessionObject(): RealtimeSession {
    return { ...this.session, id: this.sessionId, object: 'realtime.session', type: 'realtime' };
  }
}
