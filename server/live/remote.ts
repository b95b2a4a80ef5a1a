/**
 * The live view of a call that runs on another instance sharing this PostgreSQL database (issue 13,
 * docs/notes/calls.md "Several instances"). The instance that holds the call writes its record as the
 * call goes (server/calls/observer.ts: `call_events`, committed every 50 ms); here the record is read
 * back: one poller per watched call, every REMOTE_POLL_MS, `call_events` after the last seq seen, turned
 * into the same lines as the local view (server/live/live-calls.ts), until the row says the call ended.
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
import { LIVE_MAX_LINES_PER_CALL, LIVE_MAX_LINE_CHARS, LIVE_MAX_WATCHERS_PER_CALL, type LiveCallSummary, type LiveLine, type LiveListener, type LiveSnapshot } from './live-calls.ts';

/** How often a watched remote call's record is read. */
export const REMOTE_POLL_MS = 1000;
/** Remote calls polled at once (a watcher of one more is refused, 429). */
export const REMOTE_MAX_CALLS = 32;
const REMOTE_BATCH = 200;
const REMOTE_MAX_BATCHES = 10;

const iso = (ms: number): string => new Date(ms).toISOString();
const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
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
  readonly lines: LiveLine[] = [];
  /** Line seq (per watcher stream) and the last call_events seq read. */
  seq = 0;
  eventSeq = 0;
  lastLineAtMs: number | null = null;
  readonly latency = new Map<string, number>();
  readonly cut = new Map<string, number>();
  readonly lineByItem = new Map<string, LiveLine>();
  timer: NodeJS.Timeout | null = null;
  polling = false;
  ended = false;

  constructor(public row: CallRow) {}
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
      return summaryOf(r, c?.seq ?? 0, c?.lastLineAtMs ?? null);
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
        call = new RemoteCall(row);
        this.#calls.set(id, call);
        await this.#poll(call);
        if (call.ended) return null;
        this.#arm(call);
      }
    }
    if (call.watchers.size >= LIVE_MAX_WATCHERS_PER_CALL) return 'full';
    const c = call;
    c.watchers.add(listener);
    const firstKept = c.lines[0]?.seq ?? c.seq + 1;
    return {
      snapshot: { call: summaryOf(c.row, c.seq, c.lastLineAtMs), lines: c.lines.filter((l) => l.seq > afterSeq), dropped: Math.max(0, firstKept - 1), partials: [] },
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
        this.#emit(call, { type: 'end', end: { id: call.row.id, end_reason: row?.endReason ?? 'deleted', ended_at: iso(endedAt), duration_ms: Math.max(0, endedAt - call.row.startedAtMs) } });
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

  #emit(call: RemoteCall, ev: Parameters<LiveListener>[0]): void {
    for (const w of call.watchers) {
      try {
        w(ev);
      } catch {
        call.watchers.delete(w);
      }
    }
  }

  #push(call: RemoteCall, atMs: number, line: Omit<LiveLine, 'seq' | 'at'>): LiveLine {
    const full: LiveLine = { seq: ++call.seq, at: iso(atMs), ...line, text: clip(line.text, LIVE_MAX_LINE_CHARS) };
    call.lines.push(full);
    if (call.lines.length > this.#o.maxLines) {
      const gone = call.lines.shift();
      if (gone?.item_id !== undefined) call.lineByItem.delete(gone.item_id);
    }
    call.lastLineAtMs = atMs;
    this.#emit(call, { type: 'line', line: full });
    return full;
  }

  /** One record event → the line the local view would have shown (server/live/live-calls.ts). */
  #onEvent(call: RemoteCall, ev: CallEventRow): void {
    const b = ev.body;
    switch (ev.kind) {
      case 'transcript': {
        const text = str(b['text']).trim();
        if (text === '') return;
        const itemId = str(b['item_id']);
        if (b['role'] === 'user') {
          this.#push(call, ev.atMs, { role: 'user', text, ...(itemId !== '' ? { item_id: itemId } : {}) });
          return;
        }
        const latency = call.latency.get(itemId);
        call.latency.delete(itemId);
        const heard = call.cut.get(itemId);
        call.cut.delete(itemId);
        const line = this.#push(call, ev.atMs, {
          role: 'assistant', text, item_id: itemId,
          ...(latency !== undefined ? { latency_ms: latency } : {}),
          ...(heard !== undefined ? { interrupted: true, heard_ms: heard } : {}),
        });
        bounded(call.lineByItem, itemId, line);
        return;
      }
      case 'turn': {
        const lat = b['latency_ms'];
        if (typeof lat === 'number') bounded(call.latency, str(b['item_id']), Math.round(lat));
        return;
      }
      case 'truncation': {
        const itemId = str(b['item_id']);
        const heard = typeof b['audio_end_ms'] === 'number' ? b['audio_end_ms'] : 0;
        const line = call.lineByItem.get(itemId);
        if (line) {
          const marked: LiveLine = { ...line, interrupted: true, heard_ms: heard };
          const i = call.lines.lastIndexOf(line);
          if (i >= 0) call.lines[i] = marked;
          call.lineByItem.set(itemId, marked);
          this.#emit(call, { type: 'line', line: marked });
        } else {
          bounded(call.cut, itemId, heard);
        }
        return;
      }
      case 'tool_call': {
        const args = clip(str(b['arguments']), LIVE_MAX_LINE_CHARS);
        const name = str(b['name']);
        this.#push(call, ev.atMs, {
          role: 'tool',
          text: `${name}(${args})`,
          tool: {
            name, call_id: str(b['call_id']), arguments: args, output: clip(str(b['output']), LIVE_MAX_LINE_CHARS), ok: b['ok'] === true,
            duration_ms: Math.round(typeof b['duration_ms'] === 'number' ? b['duration_ms'] : 0),
            ...(typeof b['error_code'] === 'string' ? { error_code: b['error_code'] } : {}),
          },
        });
        return;
      }
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

const MAX_PENDING_FACTS = 32;
function bounded<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (!map.has(key) && map.size >= MAX_PENDING_FACTS) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
