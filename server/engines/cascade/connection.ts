/**
 * One cascade conversation: GA client events in, GA server events out (docs/protocol.md §1.10, docs/notes/cascade.md).
 * This module wires the three parts and routes each client event to its part:
 *
 *   input (input.ts)       — buffer, VAD turns, STT, idle timer, turn and transcription events
 *   items (items.ts)       — item create / retrieve / delete / truncate on the session's conversation
 *   generation (generation.ts, speech.ts) — responses: chat stream, sentences, TTS, audio deltas, timing
 *
 * Events arrive validated by the door (server/protocol/validate.ts); nothing is checked twice here.
 */
import type { Logger } from 'pino';
import type { VoiceActivityDetector } from '../../../audio/index.ts';
import { newConversationId, newItemId, newSessionId } from '../../protocol/index.ts';
import type { ClientEvent, ConversationItem, RealtimeSession } from '../../protocol/index.ts';
import type { SessionUpdateEvent } from '../../protocol/types.ts';
import { Conversation } from '../../conversation.ts';
import type { EngineCallbacks, EngineConnection } from '../types.ts';
import type { Upsample8kMethod } from './audio-io.ts';
import { CascadeContext } from './context.ts';
import type { CascadeStages, TurnTiming } from './context.ts';
import { CascadeGeneration } from './generation.ts';
import { CascadeInput } from './input.ts';
import type { InterruptionSettings } from './input.ts';
import { CascadeItems } from './items.ts';

export type { CascadeStages, TurnTiming } from './context.ts';
export { heardText } from './items.ts';

export interface CascadeConnectionOptions {
  stages: CascadeStages;
  session: RealtimeSession;
  callbacks: EngineCallbacks;
  log: Logger;
  vad: VoiceActivityDetector;
  upsample8k: Upsample8kMethod;
  /** The session's conversation store (it already holds any history). */
  conversation?: Conversation;
  /** Items to start from when no store is given (bench, tests). */
  history?: ConversationItem[];
  /** Per-turn stage timings (benchmarks, metrics). */
  onTurnTiming?: (t: TurnTiming) => void;
  /** Which speech over the agent interrupts it (docs/notes/turns.md); absent: any speech (OpenAI's semantics). */
  interruptions?: InterruptionSettings;
}

/** A store of the cascade's own, holding `history` (when opened without the session's store). */
function ownConversation(history: ConversationItem[] | undefined): Conversation {
  const conv = new Conversation();
  for (const h of history ?? []) conv.insert({ ...h, id: h.id ?? newItemId(), object: 'realtime.item' });
  return conv;
}

export class CascadeConnection implements EngineConnection {
  readonly #ctx: CascadeContext;
  readonly #items: CascadeItems;
  readonly #input: CascadeInput;
  readonly #generation: CascadeGeneration;
  #started = false;

  constructor(o: CascadeConnectionOptions) {
    const ctx = new CascadeContext({
      stages: o.stages,
      log: o.log,
      conversation: o.conversation ?? ownConversation(o.history),
      conversationId: newConversationId(),
      sessionId: typeof o.session.id === 'string' ? o.session.id : newSessionId(),
      session: o.session,
      // the echo reference (docs/notes/turns.md "Echo"): what goes out to play, and when the door flushes it
      callbacks: o.interruptions?.echo ? {
        ...o.callbacks,
        onEvent: (e) => {
          if (e.type === 'response.output_audio.delta') this.#input.played(e.delta);
          else if (e.type === 'input_audio_buffer.speech_started' || e.type === 'output_audio_buffer.cleared') this.#input.playoutFlushed();
          o.callbacks.onEvent(e);
        },
      } : o.callbacks,
    });
    this.#ctx = ctx;
    this.#items = new CascadeItems(ctx, {
      transcribe: (itemId, audio) => this.#input.transcribeItem(itemId, audio),
      truncating: (itemId) => this.#generation.truncating(itemId),
    });
    this.#input = new CascadeInput(ctx, this.#items, o.vad, o.upsample8k, {
      bargeIn: () => this.#generation.bargeIn(),
      respond: (marks) => this.#generation.respond(marks),
      busy: () => this.#generation.busy,
      speaking: () => this.#generation.speaking,
    }, o.interruptions ?? null);
    this.#generation = new CascadeGeneration(ctx, this.#items, {
      armIdle: (ms) => this.#input.armIdle(ms),
      disarmIdle: () => this.#input.disarmIdle(),
      ...(o.onTurnTiming ? { onTurnTiming: o.onTurnTiming } : {}),
    });
  }

  /** Emits session.created and conversation.created, once (after open resolves, or before the first event's answer). */
  start(): void {
    if (this.#ctx.closed || this.#started) return;
    this.#started = true;
    try {
      this.#ctx.emit({ type: 'session.created', session: this.#ctx.sessionObject() });
      this.#ctx.emit({ type: 'conversation.created', conversation: { id: this.#ctx.conversationId, object: 'realtime.conversation' } });
    } catch (err) {
      this.#ctx.log.error({ err }, 'cascade: session.created failed');
    }
  }

  send(event: ClientEvent): void {
    if (this.#ctx.closed) return;
    // session.created / conversation.created always come first, even when the caller sends
    // events before the deferred start() ran.
    this.start();
    try {
      this.#dispatch(event);
    } catch (err) {
      // A response this event started has already ended as failed (generation.ts); this answers the event.
      this.#ctx.log.error({ err, type: event.type }, 'cascade: client event failed');
      this.#ctx.error('internal_error', `The server could not handle ${event.type}.`, event.event_id, undefined, 'server_error');
    }
  }

  close(_reason?: string): void {
    if (this.#ctx.closed) return;
    this.#generation.close();
    this.#ctx.closed = true;
    this.#input.close();
  }

  #dispatch(ev: ClientEvent): void {
    switch (ev.type) {
      case 'session.update': return this.#updateSession(ev);
      case 'input_audio_buffer.append': return this.#input.append(ev);
      case 'input_audio_buffer.commit': return this.#input.commit(ev);
      case 'input_audio_buffer.clear': return this.#input.clear();
      case 'output_audio_buffer.clear':
        // WebRTC/SIP-only on OpenAI; over a WebSocket there is no server-side playout buffer.
        return this.#ctx.emit({ type: 'output_audio_buffer.cleared', response_id: this.#generation.currentId });
      case 'conversation.item.create': return this.#items.create(ev);
      case 'conversation.item.retrieve': return this.#items.retrieve(ev);
      case 'conversation.item.truncate': return this.#items.truncate(ev);
      case 'conversation.item.delete': return this.#items.remove(ev);
      case 'response.create': return this.#generation.create(ev.response ?? {}, ev.event_id);
      case 'response.cancel': return this.#generation.cancel(ev.response_id, ev.event_id);
      default:
        return this.#ctx.error('unknown_event', `The '${ev.type}' event is not supported by the ${this.#ctx.stages.chat.name} cascade.`, ev.event_id, 'type');
    }
  }

  #updateSession(ev: SessionUpdateEvent): void {
    const before = this.#ctx.session;
    this.#ctx.session = { ...before, ...ev.session, type: 'realtime' };
    this.#input.sessionChanged(before);
    this.#ctx.emit({ type: 'session.updated', session: this.#ctx.sessionObject() });
  }
}
