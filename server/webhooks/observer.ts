/**
 * The webhook observer (server/session/observer.ts): turns what happens on a call into webhook
 * events and pushes them to the outbox writer. It never blocks and never awaits: each hook builds
 * one small JSON body and pushes it (synchronous, no I/O). Hooks of event types that are off are not
 * installed at all (with `turn.completed` off, nothing runs per frame).
 */
import type { SessionEnd, SessionInfo, SessionObserver, SessionObserverFactory, TurnMark } from '../session/index.ts';
import type { ConversationItem, ServerEvent } from '../protocol/index.ts';
import type { WebhookEventType } from '../config/webhooks.ts';
import { callEndedEventId, encodeEvent, iso, makeEvent } from './events.ts';
import type { OutboxRowInput } from './outbox.ts';

export interface WebhookSink {
  push(row: OutboxRowInput): void;
}

export interface WebhookObserverOptions {
  events: ReadonlySet<WebhookEventType>;
  sink: WebhookSink;
  /**
   * true: `call.ended` comes from the call records (their final record, {@link WebhookEvents.ended});
   * false (default): the observer sends it at the session's close with what the session knew
   * ({@link sessionEndData}).
   */
  fromRecords?: boolean;
  /** Makes a record's relative `recording_url` absolute (`webhooks.publicUrl`); null: left as it is. */
  publicUrl?: string | null;
  /** How long `turn.completed` waits for the caller's transcript after the response is done (default 2000 ms). */
  transcriptWaitMs?: number;
}

/** The call's facts as every `call.*` event carries them (record field names). */
export function callFacts(s: SessionInfo): Record<string, unknown> {
  return {
    call_id: s.id,
    door: s.leg,
    profile: s.profile,
    from: s.call.from ?? null,
    to: s.call.to ?? null,
    dialled: s.call.dialled ?? null,
    sip_call_id: s.call.sipCallId ?? null,
    trunk: s.call.trunk ?? null,
    metadata: s.metadata,
  };
}

/** `call.ended` data from the session alone (no call store). */
export function sessionEndData(s: SessionInfo, end: SessionEnd): Record<string, unknown> {
  const endedAt = s.startedAt + end.durationMs;
  return { ...callFacts(s), started_at: iso(s.startedAt), ended_at: iso(endedAt), end_reason: end.endReason, duration_ms: end.durationMs, engine: end.engine };
}

function row(s: SessionInfo, type: WebhookEventType, atMs: number, data: Record<string, unknown>): OutboxRowInput {
  const ev = makeEvent(type, atMs, data, type === 'call.ended' ? callEndedEventId(s.id) : undefined);
  return { id: ev.id, callId: s.id, type, body: encodeEvent(ev), createdAtMs: atMs };
}

/** The text of an item as the caller or the agent said it (transcripts of audio, or text). */
function itemText(item: ConversationItem): string {
  let text = '';
  for (const part of item.content ?? []) {
    const c = part as Record<string, unknown>;
    const t = typeof c['transcript'] === 'string' ? c['transcript'] : typeof c['text'] === 'string' ? c['text'] : '';
    if (t !== '') text += text === '' ? t : ` ${t}`;
  }
  return text;
}

/**
 * Builds `turn.completed`: one per response, with the caller's words that led to it (when the
 * response followed speech), the agent's words, the turn latency and the usage.
 */
class TurnTracker {
  readonly #s: SessionInfo;
  readonly #push: (r: OutboxRowInput) => void;
  readonly #waitMs: number;
  #turn = 0;
  /** The caller's last speech item (speech_stopped) not yet reported in a turn. */
  #userItem: string | null = null;
  readonly #transcripts = new Map<string, string | null>();
  #latencyMs: number | null = null;
  /** A turn waiting for its caller transcript. */
  #pending: { atMs: number; data: Record<string, unknown>; userItem: string; timer: NodeJS.Timeout } | null = null;

  constructor(s: SessionInfo, push: (r: OutboxRowInput) => void, waitMs: number) {
    this.#s = s;
    this.#push = push;
    this.#waitMs = waitMs;
  }

  mark(m: TurnMark): void {
    if (m.kind === 'speech_stopped') this.#userItem = m.itemId;
    else if (m.kind === 'first_audio') this.#latencyMs = m.sinceSpeechStoppedMs;
  }

  serverEvent(ev: ServerEvent): void {
    // per frame: one string compare for the deltas, which match neither
    if (ev.type === 'response.done') this.#done(ev.response.id, ev.response.status, ev.response.output ?? [], ev.response.usage ?? null);
    else if (ev.type === 'conversation.item.input_audio_transcription.completed') this.#heard(ev.item_id, ev.transcript);
    else if (ev.type === 'conversation.item.input_audio_transcription.failed') this.#heard(ev.item_id, null);
  }

  #heard(itemId: string, text: string | null): void {
    this.#transcripts.set(itemId, text);
    const p = this.#pending;
    if (p !== null && p.userItem === itemId) this.#flushPending();
  }

  #done(responseId: string, status: string, output: ConversationItem[], usage: unknown): void {
    this.#flushPending();
    const now = Date.now();
    let text = '';
    const itemIds: string[] = [];
    for (const item of output) {
      if (item.type !== 'message' || item.role !== 'assistant') continue;
      if (item.id !== undefined) itemIds.push(item.id);
      const t = itemText(item);
      if (t !== '') text += text === '' ? t : ` ${t}`;
    }
    const toolCalls = output.filter((i) => i.type === 'function_call').map((i) => ({ name: i.name ?? null, call_id: i.call_id ?? null, arguments: i.arguments ?? null }));
    const userItem = this.#userItem;
    this.#userItem = null;
    const data: Record<string, unknown> = {
      call_id: this.#s.id,
      turn: ++this.#turn,
      response_id: responseId,
      status,
      user: null,
      assistant: { item_ids: itemIds, text },
      tool_calls: toolCalls,
      latency_ms: this.#latencyMs,
      usage: usage ?? null,
      completed_at: iso(now),
    };
    this.#latencyMs = null;
    if (userItem === null) {
      this.#push(row(this.#s, 'turn.completed', now, data));
      return;
    }
    data['user'] = { item_id: userItem, text: null };
    if (this.#transcripts.has(userItem)) {
      (data['user'] as Record<string, unknown>)['text'] = this.#transcripts.get(userItem) ?? null;
      this.#transcripts.delete(userItem);
      this.#push(row(this.#s, 'turn.completed', now, data));
      return;
    }
    // the caller's transcript often lands after the reply started: wait a little for it
    const timer = setTimeout(() => this.#flushPending(), this.#waitMs);
    timer.unref();
    this.#pending = { atMs: now, data, userItem, timer };
  }

  #flushPending(): void {
    const p = this.#pending;
    if (p === null) return;
    this.#pending = null;
    clearTimeout(p.timer);
    const text = this.#transcripts.get(p.userItem);
    this.#transcripts.delete(p.userItem);
    (p.data['user'] as Record<string, unknown>)['text'] = text ?? null;
    this.#push(row(this.#s, 'turn.completed', p.atMs, p.data));
  }

  /** The call ended: a turn still waiting goes now, before call.ended. */
  close(): void {
    this.#flushPending();
    this.#transcripts.clear();
  }
}

/** A call's final record, as the call records hand it over (server/calls/, `GET /v1/calls/{id}`'s shape). */
export interface FinalRecord {
  readonly id: string;
}

/**
 * The events of every call: `observer` is the app-wide session observer factory; `ended(record)`
 * sends a call's `call.ended` from its final record (records: `onEnded`), after any turn of the call
 * still waiting for its transcript (a call's events stay in order whichever observer hears the end first).
 */
export class WebhookEvents {
  readonly #o: WebhookObserverOptions;
  /** Calls with a turn tracker, by id (dropped at the end). */
  readonly #turns = new Map<string, TurnTracker>();

  constructor(o: WebhookObserverOptions) {
    this.#o = o;
  }

  #push(r: OutboxRowInput): void {
    this.#o.sink.push(r);
  }

  /** The `call.ended` row of a final record (null when `call.ended` is off): pure, no push. */
  endedRow(record: FinalRecord): OutboxRowInput | null {
    if (!this.#o.events.has('call.ended')) return null;
    const rec = record as unknown as Record<string, unknown>;
    const url = rec['recording_url'];
    const base = this.#o.publicUrl ?? null;
    const data: Record<string, unknown> = { call_id: record.id, ...rec, recording_url: typeof url === 'string' ? (base !== null && url.startsWith('/') ? base + url : url) : null };
    const endedAt = typeof rec['ended_at'] === 'string' ? Date.parse(rec['ended_at']) : NaN;
    const atMs = Number.isFinite(endedAt) ? endedAt : Date.now();
    const ev = makeEvent('call.ended', atMs, data, callEndedEventId(record.id));
    return { id: ev.id, callId: record.id, type: 'call.ended', body: encodeEvent(ev), createdAtMs: atMs };
  }

  /**
   * The end-of-call report from the final record: the whole record, `call_id`, an absolute
   * `recording_url`. `outboxWritten`: the row ({@link endedRow}) was committed with the record's close
   * (a dead instance's call closed by a sweep): only the call's turn tracker is dropped.
   */
  ended(record: FinalRecord, info: { outboxWritten?: boolean } = {}): void {
    const t = this.#turns.get(record.id);
    if (t) {
      t.close();
      this.#turns.delete(record.id);
    }
    if (info.outboxWritten === true) return;
    const row = this.endedRow(record);
    if (row !== null) this.#push(row);
  }

  readonly observer: SessionObserverFactory = (s: SessionInfo): SessionObserver => {
    const on = this.#o.events;
    const push = (r: OutboxRowInput): void => this.#push(r);
    const obs: SessionObserver = {};
    const turns = on.has('turn.completed') ? new TurnTracker(s, push, this.#o.transcriptWaitMs ?? 2000) : null;
    if (turns !== null) this.#turns.set(s.id, turns);
    if (on.has('call.started')) {
      obs.opened = (info) => push(row(s, 'call.started', info.startedAt, { ...callFacts(info), started_at: iso(info.startedAt), recording: info.recording }));
    }
    if (on.has('call.answered')) {
      obs.answered = (atMs) => push(row(s, 'call.answered', atMs, { call_id: s.id, door: s.leg, answered_at: iso(atMs) }));
    }
    if (on.has('call.dtmf')) {
      obs.dtmf = (d) => push(row(s, 'call.dtmf', d.atMs, { call_id: s.id, digit: d.digit, pressed_at: iso(d.atMs) }));
    }
    if (on.has('call.transferred')) {
      obs.transferred = (t) => push(row(s, 'call.transferred', t.atMs, { call_id: s.id, target: t.target, transferred_at: iso(t.atMs) }));
    }
    if (turns !== null) {
      obs.turn = (m) => turns.mark(m);
      obs.serverEvent = (ev) => turns.serverEvent(ev);
    }
    obs.closed = (info, end) => {
      if (turns !== null) {
        turns.close();
        this.#turns.delete(s.id);
      }
      if (this.#o.fromRecords !== true && on.has('call.ended')) push(row(s, 'call.ended', info.startedAt + end.durationMs, sessionEndData(info, end)));
    };
    return obs;
  };
}

/** The observer factory alone (call.ended from the session: no call records). */
export function webhookObserver(o: WebhookObserverOptions): SessionObserverFactory {
  return new WebhookEvents({ ...o, fromRecords: false }).observer;
}
