/**
 * The live view of a call that runs on another instance sharing this PostgreSQL database (issue 13,
 * docs/notes/calls.md "Several instances"). The instance that holds the call writes its record as the
 * call goes (server/calls/observer.ts: `call_events`, committed every 50 ms); here the record is read
 * back: one poller per watched call, every REMOTE_POLL_MS, `call_events` after the last seq seen, turned
 * into the same lines as the local view by the same LineLog (server/live/lines.ts), until the row says the call ended.
 *
 * Why polling the record and not LISTEN/NOTIFY: the record is already written, in order, with a seq a
 * reconnecting watcher can resume from; NOTIFY would add a round trip per line on the owning instance's
 * write path, a dedicated connection per instance, an 8000-byte payload cap, and events lost while a
 * listener reconnects. The price is up to REMOTE_POLL_MS (+ the 50 ms write batch) of delay and no
 * partial replies (a reply appears when it is complete). Bounded: at most REMOTE_MAX_CALLS calls polled
 * at once (each two small indexed reads per second, whatever the number of watchers), LIVE_MAX_WATCHERS_PER_CALL
 * watchers each, the last maxLines lines kept per call, at most REMOTE_MAX_BATCHES × REMOTE_BATCH
 * events read per poll.
 */
import type { CallEventRow, CallRow, Store } from '../store/index.ts';
import { LIVE_MAX_LINES_PER_CALL, LIVE_MAX_LINE_CHARS, LIVE_MAX_WATCHERS_PER_CALL, type LiveCallSummary, type LiveEvent, type LiveListener, type LiveSnapshot } from './live-calls.ts';
import { LineLog } from './lines.ts';

/** How often a watched remote call's record is read. */
export const REMOTE_POLL_MS = 1000;
/** Remote calls polled at once (a watcher of one more is refused, 429). */
export const REMOTE_MAX_CALLS = 32;
const REMOTE_BATCH = 200;
const REMOTE_MAX_BATCHES = 10;

const iso = (ms: number): string => new Date(ms).toISOString();
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A call row as the live list shows it. */
export function summaryOf(row: CallRow, lines = 0, lastLineAtMs: number | null = null): LiveCallSummary {
  return {
    id: row.id,
    door: row.door,
    started_at: iso(row.startedAtMs),
    answered_at: row.answeredAtMs === null ? null : iso(row.answeredAtMs),
    profile: row.profile,
    from: row.from,
    to: row.to ?? row.dialled,
    engine: row.engines.at(-1) ?? null,
    lines,
    last_line_at: lastLineAtMs === null ? null : iso(lastLineAtMs),
    ...(row.instance !== null ? { instance: row.instance } : {}),
  };
}

class RemoteCall {
  readonly watchers = new Set<LiveListener>();
  /** The last call_events seq read. */
  eventSeq = 0;
  readonly log: LineLog;
  timer: NodeJS.Timeout | null = null;
  polling = false;
  ended = false;

  constructor(public row: CallRow, maxLines: number) {
    this.log = new LineLog(maxLines, LIVE_MAX_LINE_CHARS, (ev) => this.emit(ev));
  }

  emit(ev: LiveEvent): void {
    for (const w of this.watchers) {
      try {
        w(ev);
      } catch {
        this.watchers.delete(w);
      }
    }
  }
}

export interface RemoteLiveOptions {
  store: Store;
  /** This instance (its own calls are in the local view). */
  instance: string;
  pollMs?: number;
  maxCalls?: number;
  maxLines?: number;
}

export class RemoteLive {
  readonly #o: Required<RemoteLiveOptions>;
  readonly #calls = new Map<string, RemoteCall>();
  #closed = false;

  constructor(o: RemoteLiveOptions) {
    this.#o = { pollMs: REMOTE_POLL_MS, maxCalls: REMOTE_MAX_CALLS, maxLines: LIVE_MAX_LINES_PER_CALL, ...o };
  }

  /** Calls polled now (tests, metrics). */
  get polling(): number {
    return this.#calls.size;
  }

  /** Calls in progress on the other live instances, newest first. */
  async list(limit = 100): Promise<LiveCallSummary[]> {
    const rows = await this.#o.store.calls.openElsewhere(this.#o.instance, limit);
    return rows.map((r) => {
      const c = this.#calls.get(r.id);
      return summaryOf(r, c?.log.seq ?? 0, c?.log.lastLineAtMs ?? null);
    });
  }

  /**
   * Watch a call open on another instance: its lines so far (after `afterSeq`), then each new one, then
   * `end`. Null when there is no such open call elsewhere; 'full' when the call has its maximum of
   * watchers or REMOTE_MAX_CALLS calls are polled already.
   */
  async watch(id: string, listener: LiveListener, afterSeq = 0): Promise<{ snapshot: LiveSnapshot; unwatch: () => void } | null | 'full'> {
    if (this.#closed) return null;
    let call = this.#calls.get(id);
    if (call === undefined) {
      const row = await this.#o.store.calls.get(id);
      if (row === null || row.endedAtMs !== null || row.instance === this.#o.instance) return null;
      call = this.#calls.get(id); // another watcher may have started it meanwhile
      if (call === undefined) {
        if (this.#calls.size >= this.#o.maxCalls) return 'full';
        call = new RemoteCall(row, this.#o.maxLines);
        this.#calls.set(id, call);
        await this.#poll(call);
        if (call.ended) return null;
        this.#arm(call);
      }
    }
    if (call.watchers.size >= LIVE_MAX_WATCHERS_PER_CALL) return 'full';
    const c = call;
    c.watchers.add(listener);
    const { lines, dropped } = c.log.after(afterSeq);
    return {
      snapshot: { call: summaryOf(c.row, c.log.seq, c.log.lastLineAtMs), lines, dropped, partials: [] },
      unwatch: () => {
        c.watchers.delete(listener);
        if (c.watchers.size === 0) this.#drop(c);
      },
    };
  }

  #arm(call: RemoteCall): void {
    if (call.ended || this.#closed) return;
    call.timer = setTimeout(() => {
      call.timer = null;
      void this.#poll(call).then(() => this.#arm(call));
    }, this.#o.pollMs);
    call.timer.unref();
  }

  #drop(call: RemoteCall): void {
    if (call.timer !== null) clearTimeout(call.timer);
    call.timer = null;
    call.ended = true;
    if (this.#calls.get(call.row.id) === call) this.#calls.delete(call.row.id);
  }

  async #poll(call: RemoteCall): Promise<void> {
    if (call.polling || call.ended) return;
    call.polling = true;
    try {
      for (let i = 0; i < REMOTE_MAX_BATCHES; i++) {
        const evs = await this.#o.store.calls.eventsAfter(call.row.id, call.eventSeq, REMOTE_BATCH);
        for (const ev of evs) this.#onEvent(call, ev);
        if (evs.length > 0) call.eventSeq = evs[evs.length - 1]!.seq;
        if (evs.length < REMOTE_BATCH) break;
      }
      const row = await this.#o.store.calls.get(call.row.id);
      if (row === null || row.endedAtMs !== null) {
        const endedAt = row?.endedAtMs ?? Date.now();
        call.emit({ type: 'end', end: { id: call.row.id, end_reason: row?.endReason ?? 'deleted', ended_at: iso(endedAt), duration_ms: Math.max(0, endedAt - call.row.startedAtMs) } });
        call.watchers.clear();
        this.#drop(call);
        return;
      }
      call.row = row;
    } catch {
      // the database is away: try again at the next poll (the watchers keep their stream)
    } finally {
      call.polling = false;
    }
  }

  /** One record event → the line the local view would have shown (server/live/lines.ts). */
  #onEvent(call: RemoteCall, ev: CallEventRow): void {
    const b = ev.body;
    switch (ev.kind) {
      case 'transcript':
        if (b['role'] === 'user') call.log.user(ev.atMs, str(b['text']), str(b['item_id']));
        else call.log.assistant(ev.atMs, str(b['text']), str(b['item_id']));
        return;
      case 'turn':
        if (typeof b['latency_ms'] === 'number') call.log.latency(str(b['item_id']), b['latency_ms']);
        return;
      case 'truncation':
        call.log.cut(str(b['item_id']), typeof b['audio_end_ms'] === 'number' ? b['audio_end_ms'] : 0);
        return;
      case 'tool_call':
        call.log.tool(ev.atMs, {
          name: str(b['name']), callId: str(b['call_id']), arguments: str(b['arguments']), output: str(b['output']), ok: b['ok'] === true,
          durationMs: typeof b['duration_ms'] === 'number' ? b['duration_ms'] : 0,
          ...(typeof b['error_code'] === 'string' ? { errorCode: b['error_code'] } : {}),
        });
        return;
      default:
        return;
    }
  }

  /** Stops every poller (the app closes). */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#calls.values()]) {
      c.watchers.clear();
      this.#drop(c);
    }
  }
}
