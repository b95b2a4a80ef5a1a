/**
 * One active response at a time in the default conversation (docs/protocol.md §1.12).
 * `response.create` is held while a response is active and sent at its `response.done`;
 * `conversation_already_has_active_response` for one we sent is retried, not surfaced.
 * Out-of-band responses (`response.conversation: "none"`) bypass the queue, up to
 * MAX_OUT_OF_BAND_RESPONSES at once.
 */
import type { ResponseCreateEvent } from '../protocol/index.ts';
import { newEventId } from '../protocol/index.ts';

export type ResponseOrigin = 'client' | 'server';

interface Pending {
  event: ResponseCreateEvent & { event_id: string };
  origin: ResponseOrigin;
  attempts: number;
}

export const MAX_RESPONSE_CREATE_ATTEMPTS = 5;
/** When a collision is reported but no response is known active, retry after this long. */
export const RETRY_DELAY_MS = 250;
/** A response.create the engine never answered (no response.created, no error): stop waiting. */
export const CREATED_WATCHDOG_MS = 15_000;
const RECENT_MAX = 32;
/** Out-of-band responses running at once on one session; beyond, response.create is refused. */
export const MAX_OUT_OF_BAND_RESPONSES = 4;
/** Client response.create events waiting behind the active response; beyond, refused. */
export const MAX_QUEUED_RESPONSES = 16;

export type EnqueueResult = 'sent' | 'queued' | 'too_many_out_of_band' | 'queue_full';

export class ResponseSequencer {
  #active: string | null = null;
  /** A response.create sent and not yet answered by response.created. */
  #awaitingCreated = 0;
  readonly #queue: Pending[] = [];
  /** Sent response.create events by event_id (bounded), to recognise collision errors. */
  readonly #recent = new Map<string, Pending>();
  readonly #send: (ev: ResponseCreateEvent) => void;
  #retryTimer: NodeJS.Timeout | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  /** Out-of-band responses asked for and not yet done. */
  #outOfBand = 0;
  /** The last response.create sent (answered or not: #awaitingCreated says). */
  #inFlight: Pending | null = null;

  constructor(send: (ev: ResponseCreateEvent) => void) {
    this.#send = send;
  }

  get activeResponseId(): string | null {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** No response active, none asked for and not yet begun, none waiting. */
  get idle(): boolean {
    return this.#active === null && this.#awaitingCreated === 0 && this.#queue.length === 0;
  }

  /** Out-of-band responses running now. */
  get outOfBand(): number {
    return this.#outOfBand;
  }

  /** A response.create from the client or from Parley (after server tools). */
  enqueue(event: ResponseCreateEvent, origin: ResponseOrigin): EnqueueResult {
    if (event.response?.conversation === 'none') {
      if (this.#outOfBand >= MAX_OUT_OF_BAND_RESPONSES) return 'too_many_out_of_band';
      this.#outOfBand++;
      this.#send(event);
      return 'sent';
    }
    if (origin === 'client' && this.#queue.length >= MAX_QUEUED_RESPONSES) return 'queue_full';
    const withId = { ...event, event_id: event.event_id ?? newEventId() };
    this.#queue.push({ event: withId, origin, attempts: 0 });
    this.#pump();
    return 'queued';
  }

  /** An out-of-band response ended (response.done with no conversation), or its create failed. */
  onOutOfBandDone(): void {
    if (this.#outOfBand > 0) this.#outOfBand--;
  }

  /**
   * The response.create with this event_id could not be handed to the engine (it threw): forget it,
   * free the slot (and the active response it may have started), and go on with the queue.
   */
  abandon(eventId: string | undefined, startedResponseId: string | null): void {
    if (eventId !== undefined && this.#recent.delete(eventId) && this.#awaitingCreated > 0) this.#awaitingCreated--;
    if (startedResponseId !== null && this.#active === startedResponseId) this.#active = null;
    this.#disarmWatchdog();
    this.#pump();
  }

  /**
   * The engine is going away: the client's response.create events it has not started (queued, or sent and
   * not yet answered by response.created), to hand the next engine. Call before reset().
   */
  unanswered(): ResponseCreateEvent[] {
    const out: ResponseCreateEvent[] = [];
    if (this.#inFlight !== null && this.#inFlight.origin === 'client' && this.#awaitingCreated > 0) out.push(this.#inFlight.event);
    for (const p of this.#queue) if (p.origin === 'client') out.push(p.event);
    return out;
  }

  #pump(): void {
    if (this.#active !== null || this.#awaitingCreated > 0) return;
    const next = this.#queue.shift();
    if (!next) return;
    next.attempts++;
    this.#inFlight = next;
    this.#awaitingCreated++;
    this.#armWatchdog();
    this.#recent.set(next.event.event_id, next);
    if (this.#recent.size > RECENT_MAX) {
      const oldest = this.#recent.keys().next();
      if (!oldest.done) this.#recent.delete(oldest.value);
    }
    this.#send(next.event);
  }

  #armWatchdog(): void {
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => {
      this.#watchdog = null;
      if (this.#active === null && this.#awaitingCreated > 0) {
        this.#awaitingCreated = 0;
        this.#pump();
      }
    }, CREATED_WATCHDOG_MS);
    this.#watchdog.unref();
  }

  #disarmWatchdog(): void {
    if (this.#awaitingCreated === 0 && this.#watchdog) {
      clearTimeout(this.#watchdog);
      this.#watchdog = null;
    }
  }

  /** `response.created` (in the default conversation). */
  onCreated(responseId: string): void {
    this.#active = responseId;
    if (this.#awaitingCreated > 0) this.#awaitingCreated--;
    this.#disarmWatchdog();
  }

  /** `response.done`. */
  onDone(responseId: string): void {
    if (this.#active === responseId || this.#active === null) this.#active = null;
    this.#pump();
  }

  /**
   * An `error` event. Returns true when it was a collision on a response.create we sent and
   * it has been queued again (the caller then does not forward it).
   */
  onError(code: string | null, eventId: string | null): boolean {
    if (eventId === null) return false;
    const p = this.#recent.get(eventId);
    if (!p) return false;
    this.#recent.delete(eventId);
    if (this.#awaitingCreated > 0) this.#awaitingCreated--;
    this.#disarmWatchdog();
    if (code !== 'conversation_already_has_active_response') {
      this.#pump();
      return false;
    }
    if (p.attempts >= MAX_RESPONSE_CREATE_ATTEMPTS) {
      this.#pump();
      return false;
    }
    this.#queue.unshift(p);
    if (this.#active === null && this.#retryTimer === null) {
      // the active response is not visible to us yet: try again shortly
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null;
        this.#pump();
      }, RETRY_DELAY_MS);
    }
    return true;
  }

  /** The engine changed or ended: forget active state; keep nothing queued from the old engine. */
  reset(): void {
    this.#active = null;
    this.#awaitingCreated = 0;
    this.#queue.length = 0;
    this.#recent.clear();
    this.#outOfBand = 0;
    this.#inFlight = null;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }
}
