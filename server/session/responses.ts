/**
 * The session's responses: response.create enforced and serialised through the sequencer (one
 * active response in the default conversation, the rest queued; docs/protocol.md §1.12),
 * out-of-band responses (conversation: "none") kept out of the conversation, and a response that
 * will not run ended with a failed `response.done`, so neither the client nor the queue waits on it.
 */
import type { Logger } from 'pino';
import { errorEvent, newEventId, type RealtimeResponse, type ResponseCreateEvent, type ServerEvent } from '../protocol/index.ts';
import type { EngineConnection } from '../engines/index.ts';
import { enforceResponse, type SessionPolicy } from './config-merge.ts';
import { ResponseSequencer } from './sequencer.ts';

export interface ResponsesDeps {
  log: Logger;
  policy: SessionPolicy;
  /** To the client (and observers). */
  emit: (ev: ServerEvent) => void;
  /** Hands a response.create to the engine by the session's path (queued while no engine is open). */
  send: (ev: ResponseCreateEvent) => void;
}

export function logInternalError(log: Logger, err: unknown, type: string): void {
  log.error({ type, err: { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined } }, 'internal error handing an event to the engine');
}

export class Responses {
  readonly #d: ResponsesDeps;
  readonly #sequencer: ResponseSequencer;
  /** While a response.create is being handed to the engine: the response it started, if any. */
  #sendingCreate: { started: string | null } | null = null;
  /** Out-of-band responses running (conversation: "none"): their items stay out of the conversation. */
  readonly #outOfBand = new Set<string>();

  constructor(deps: ResponsesDeps) {
    this.#d = deps;
    this.#sequencer = new ResponseSequencer((ev) => deps.send(ev));
  }

  /** The response being generated now (default conversation), or null. */
  get activeResponseId(): string | null {
    return this.#sequencer.activeResponseId;
  }

  /** No response active, asked for or waiting. */
  get idle(): boolean {
    return this.#sequencer.idle;
  }

  /** The client's response.create events the engine leaving never started (for the next engine). */
  unanswered(): ResponseCreateEvent[] {
    return this.#sequencer.unanswered();
  }

  /** Forget the active and queued responses (a new engine, or the session closed). */
  reset(): void {
    this.#sequencer.reset();
  }

  /** A client's response.create: enforced, then sent or queued behind the active response. */
  create(ev: ResponseCreateEvent): void {
    const enforced: ResponseCreateEvent = ev.response ? { ...ev, response: enforceResponse(ev.response, this.#d.policy) } : { ...ev };
    const r = this.#sequencer.enqueue(enforced, 'client');
    if (r === 'too_many_out_of_band') {
      this.#d.emit(errorEvent({ code: 'too_many_out_of_band_responses', message: 'Too many out-of-band responses (conversation: "none") are running on this session; wait for one to finish.', param: 'response.conversation', event_id: ev.event_id ?? null }));
    } else if (r === 'queue_full') {
      this.#d.emit(errorEvent({ code: 'too_many_queued_responses', message: 'Too many response.create events are waiting behind the active response.', param: null, event_id: ev.event_id ?? null }));
    }
  }

  /** The server asks for the next response (its tools' outputs are in). */
  request(): void {
    this.#sequencer.enqueue({ type: 'response.create', event_id: newEventId() }, 'server');
  }

  /** Hands a response.create to the open engine connection. */
  send(conn: EngineConnection, event: ResponseCreateEvent): void {
    const sending: { started: string | null } = { started: null };
    this.#sendingCreate = sending;
    try {
      conn.send(event);
    } catch (err) {
      // Never leave a response marked active that will not run: end it (or report the event), free the queue.
      logInternalError(this.#d.log, err, event.type);
      if (event.response?.conversation === 'none') this.#sequencer.onOutOfBandDone();
      if (sending.started !== null) this.#emitFailed(sending.started, 'internal_error', 'The server failed while starting this response.');
      else this.#d.emit(errorEvent({ type: 'server_error', code: 'internal_error', message: 'The server failed to start this response.', event_id: event.event_id ?? null }));
      this.#sequencer.abandon(event.event_id, sending.started);
    } finally {
      this.#sendingCreate = null;
    }
  }

  /** An engine error: true when it was a collision of our response.create, retried (not for the client). */
  onError(code: string | null, eventId: string | null): boolean {
    return this.#sequencer.onError(code, eventId);
  }

  /** response.created. */
  created(r: RealtimeResponse): void {
    if (r.conversation_id === null) this.#outOfBand.add(r.id);
    else {
      this.#sequencer.onCreated(r.id);
      if (this.#sendingCreate !== null) this.#sendingCreate.started = r.id;
    }
  }

  /** Is this response out-of-band (its items stay out of the conversation). */
  outOfBand(responseId: string): boolean {
    return this.#outOfBand.has(responseId);
  }

  /** response.done of an out-of-band response: it frees its place. */
  outOfBandDone(responseId: string): void {
    this.#outOfBand.delete(responseId);
    this.#sequencer.onOutOfBandDone();
  }

  /** response.done, after the session's bookkeeping: the next queued response.create may go. */
  settled(responseId: string): void {
    this.#sequencer.onDone(responseId);
  }

  /** The engine goes away mid-response: the active response ends with a failed response.done. */
  failActive(code: string, detail: string): void {
    const id = this.#sequencer.activeResponseId;
    if (id === null) return;
    this.#emitFailed(id, code, detail);
    this.#sequencer.reset();
  }

  #emitFailed(id: string, code: string, message: string): void {
    this.#d.emit({
      type: 'response.done',
      event_id: newEventId(),
      response: { id, object: 'realtime.response', status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code, message } }, output: [] },
    });
  }
}
