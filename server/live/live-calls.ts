/**
 * The live view of calls in progress (docs/notes/calls-page.md): an app-wide session observer that keeps,
 * for each call, its transcript as it grows — the caller's words (`conversation.item.input_audio_transcription.completed`,
 * or a typed `input_text` message), the agent's (`response.output_audio_transcript.delta/done`, or
 * `response.output_text.*` for a text reply) and the tool calls — and hands each new line to whoever
 * watches (`GET /v1/calls/{id}/live`, server/live/routes.ts). Memory is bounded per call (lines, line
 * length, partial replies, watchers) and everything is dropped when the call ends: the call's record
 * (server/calls/, `GET /v1/calls/{id}`) is what stays.
 *
 * It is called on the session's own path, so every hook is quick: a switch on the event type, no
 * work for audio events, no I/O (watchers write to their own sockets and are dropped when slow).
 */
import type { ServerEvent } from '../protocol/index.ts';
import type { SessionEnd, SessionInfo, SessionObserver, ToolCallReport, TurnMark } from '../session/index.ts';

/** Lines kept per call: past this the oldest go (a watcher joining late sees the last ones, and how many were dropped). */
export const LIVE_MAX_LINES_PER_CALL = 500;
/** Characters kept per line (a reply, a tool's arguments or output); the rest is cut with an ellipsis. */
export const LIVE_MAX_LINE_CHARS = 4000;
/** Watchers (open SSE streams) per call. */
export const LIVE_MAX_WATCHERS_PER_CALL = 16;
/** Replies being spoken at once per call whose partial text is kept (one is usual; out-of-band responses add some). */
const MAX_PARTIALS = 8;
/** Per-item facts waiting for their line (turn latency, barge-in), at most this many per call. */
const MAX_PENDING_FACTS = 32;

export type LiveRole = 'user' | 'assistant' | 'tool';

export interface LiveToolCall {
  name: string;
  call_id: string;
  arguments: string;
  output: string;
  ok: boolean;
  error_code?: string;
  duration_ms: number;
}

/** One line of a live transcript. A line sent again with the same `seq` replaces the earlier one. */
export interface LiveLine {
  /** 1, 2, 3… per call (also the SSE event id). */
  seq: number;
  role: LiveRole;
  text: string;
  /** ISO-8601, when the line was complete. */
  at: string;
  item_id?: string;
  /** Assistant: speech stopped → first audio of this reply (ms), when the turn had a speech_stopped. */
  latency_ms?: number;
  /** Assistant: the caller barged in; audio past `heard_ms` was never played. */
  interrupted?: boolean;
  heard_ms?: number;
  tool?: LiveToolCall;
}

export interface LiveCallSummary {
  id: string;
  door: string;
  started_at: string;
  answered_at: string | null;
  profile: string | null;
  from: string | null;
  to: string | null;
  engine: string | null;
  /** Lines so far (including any dropped from memory). */
  lines: number;
  last_line_at: string | null;
  /** The instance the call runs on (PARLEY_INSTANCE_ID), when several share one database. */
  instance?: string;
}

export interface LiveEnd {
  id: string;
  end_reason: string;
  ended_at: string;
  duration_ms: number;
}

/** What a watcher is told, in order. */
export type LiveEvent =
  | { type: 'line'; line: LiveLine }
  /** A reply being spoken: `delta` is the new text of item `item_id` (append it). */
  | { type: 'partial'; item_id: string; delta: string }
  | { type: 'end'; end: LiveEnd };

export type LiveListener = (ev: LiveEvent) => void;

export interface LiveSnapshot {
  call: LiveCallSummary;
  /** Lines still in memory (seq > afterSeq), oldest first. */
  lines: LiveLine[];
  /** Lines no longer in memory (seq below the first kept one). */
  dropped: number;
  /** Replies in progress: item id → text so far. */
  partials: { item_id: string; text: string }[];
}

export interface LiveCallsOptions {
  maxLinesPerCall?: number;
  maxLineChars?: number;
  maxWatchersPerCall?: number;
  /** Clock (tests). */
  now?: () => number;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** One call in progress. */
class LiveCall {
  readonly lines: LiveLine[] = [];
  seq = 0;
  lastLineAtMs: number | null = null;
  answeredAtMs: number | null = null;
  engine: string | null;
  readonly watchers = new Set<LiveListener>();
  /** Reply text so far, per item (bounded). */
  readonly partials = new Map<string, string>();
  /** Turn latency by assistant item, until its line is written. */
  readonly latency = new Map<string, number>();
  /** Items the caller cut: where the audio heard stopped. */
  readonly cut = new Map<string, number>();
  /** Assistant lines already written, by item (to mark a barge-in that comes after the line). */
  readonly lineByItem = new Map<string, LiveLine>();

  constructor(readonly info: SessionInfo, engine: string | null) {
    this.engine = engine;
  }

  summary(): LiveCallSummary {
    const c = this.info.call;
    return {
      id: this.info.id,
      door: this.info.leg,
      started_at: new Date(this.info.startedAt).toISOString(),
      answered_at: this.answeredAtMs === null ? null : new Date(this.answeredAtMs).toISOString(),
      profile: this.info.profile,
      from: c.from ?? null,
      to: c.to ?? c.dialled ?? null,
      engine: this.engine,
      lines: this.seq,
      last_line_at: this.lastLineAtMs === null ? null : new Date(this.lastLineAtMs).toISOString(),
    };
  }
}

function boundedSet<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.has(key) && map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** The in-memory live view of every call in progress in this process. */
export class LiveCalls {
  readonly #calls = new Map<string, LiveCall>();
  readonly #maxLines: number;
  readonly #maxChars: number;
  readonly #maxWatchers: number;
  readonly #now: () => number;

  constructor(opts: LiveCallsOptions = {}) {
    this.#maxLines = opts.maxLinesPerCall ?? LIVE_MAX_LINES_PER_CALL;
    this.#maxChars = opts.maxLineChars ?? LIVE_MAX_LINE_CHARS;
    this.#maxWatchers = opts.maxWatchersPerCall ?? LIVE_MAX_WATCHERS_PER_CALL;
    this.#now = opts.now ?? (() => Date.now());
  }

  /** The observer factory: `sessions.observe(live.observer)`. */
  readonly observer = (info: SessionInfo): SessionObserver => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    let call: LiveCall | null = null;
    const ensure = (): LiveCall => {
      if (call === null) {
        call = new LiveCall(info, null);
        this.#calls.set(info.id, call);
      }
      return call;
    };
    return {
      opened(_s, engine) {
        ensure().engine = engine;
      },
      answered(atMs) {
        ensure().answeredAtMs = atMs;
      },
      engineSwitch(r) {
        ensure().engine = r.to;
      },
      serverEvent(ev) {
        // per event, audio deltas included: only transcript and item events do any work
        switch (ev.type) {
          case 'conversation.item.input_audio_transcription.completed':
          case 'conversation.item.added':
          case 'response.output_audio_transcript.delta':
          case 'response.output_text.delta':
          case 'response.output_audio_transcript.done':
          case 'response.output_text.done':
            self.#onEvent(ensure(), ev);
            break;
          default:
            break;
        }
      },
      turn(mark: TurnMark) {
        if (mark.kind === 'first_audio' && mark.sinceSpeechStoppedMs !== null) {
          boundedSet(ensure().latency, mark.itemId, Math.round(mark.sinceSpeechStoppedMs), MAX_PENDING_FACTS);
        }
      },
      agentAudioTruncated(t) {
        self.#onCut(ensure(), t.itemId, t.audioEndMs);
      },
      toolCall(r: ToolCallReport) {
        self.#onTool(ensure(), r);
      },
      closed(_s, end: SessionEnd) {
        self.#onClosed(info.id, end);
      },
    };
  };

  /** Calls in progress now, newest first. */
  list(): LiveCallSummary[] {
    const out: LiveCallSummary[] = [];
    for (const c of this.#calls.values()) out.push(c.summary());
    return out.reverse();
  }

  get size(): number {
    return this.#calls.size;
  }

  has(id: string): boolean {
    return this.#calls.has(id);
  }

  /**
   * Watch a call: the transcript so far (lines after `afterSeq`) and every event from now on, in order,
   * until `end` (then the watcher is dropped). Null when the call is not in progress here; 'full' when
   * it already has its maximum of watchers.
   */
  watch(id: string, listener: LiveListener, afterSeq = 0): { snapshot: LiveSnapshot; unwatch: () => void } | null | 'full' {
    const call = this.#calls.get(id);
    if (!call) return null;
    if (call.watchers.size >= this.#maxWatchers) return 'full';
    call.watchers.add(listener);
    const firstKept = call.lines[0]?.seq ?? call.seq + 1;
    const lines = call.lines.filter((l) => l.seq > afterSeq);
    const partials: { item_id: string; text: string }[] = [];
    for (const [item_id, text] of call.partials) partials.push({ item_id, text });
    return {
      snapshot: { call: call.summary(), lines, dropped: Math.max(0, firstKept - 1), partials },
      unwatch: () => {
        call.watchers.delete(listener);
      },
    };
  }

  #emit(call: LiveCall, ev: LiveEvent): void {
    for (const w of call.watchers) {
      try {
        w(ev);
      } catch {
        call.watchers.delete(w); // a broken watcher goes; the call does not notice
      }
    }
  }

  #push(call: LiveCall, line: Omit<LiveLine, 'seq' | 'at'>): LiveLine {
    const nowMs = this.#now();
    const full: LiveLine = { seq: ++call.seq, at: new Date(nowMs).toISOString(), ...line, text: clip(line.text, this.#maxChars) };
    call.lines.push(full);
    if (call.lines.length > this.#maxLines) {
      const gone = call.lines.shift();
      if (gone?.item_id !== undefined) call.lineByItem.delete(gone.item_id);
    }
    call.lastLineAtMs = nowMs;
    this.#emit(call, { type: 'line', line: full });
    return full;
  }

  #onEvent(call: LiveCall, ev: ServerEvent): void {
    switch (ev.type) {
      case 'conversation.item.input_audio_transcription.completed': {
        const text = ev.transcript.trim();
        if (text !== '') this.#push(call, { role: 'user', text, item_id: ev.item_id });
        return;
      }
      case 'conversation.item.added': {
        // a typed message (a user `input_text` item); spoken ones arrive as transcripts above
        const item = ev.item;
        if (item.type !== 'message' || item.role !== 'user' || !Array.isArray(item.content)) return;
        let text = '';
        for (const part of item.content) if (part.type === 'input_text' && typeof part['text'] === 'string') text += part['text'];
        text = text.trim();
        if (text !== '') this.#push(call, { role: 'user', text, ...(item.id !== undefined ? { item_id: item.id } : {}) });
        return;
      }
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta': {
        if (ev.delta === '') return;
        const sofar = call.partials.get(ev.item_id) ?? '';
        if (sofar.length >= this.#maxChars) return; // the line is cut there anyway
        boundedSet(call.partials, ev.item_id, sofar + ev.delta, MAX_PARTIALS);
        this.#emit(call, { type: 'partial', item_id: ev.item_id, delta: ev.delta });
        return;
      }
      case 'response.output_audio_transcript.done':
      case 'response.output_text.done': {
        const text = (ev.type === 'response.output_text.done' ? ev.text : ev.transcript) || call.partials.get(ev.item_id) || '';
        call.partials.delete(ev.item_id);
        if (text.trim() === '') return;
        const latency = call.latency.get(ev.item_id);
        call.latency.delete(ev.item_id);
        const heard = call.cut.get(ev.item_id);
        call.cut.delete(ev.item_id);
        const line = this.#push(call, {
          role: 'assistant',
          text: text.trim(),
          item_id: ev.item_id,
          ...(latency !== undefined ? { latency_ms: latency } : {}),
          ...(heard !== undefined ? { interrupted: true, heard_ms: heard } : {}),
        });
        boundedSet(call.lineByItem, ev.item_id, line, MAX_PENDING_FACTS);
        return;
      }
      default:
        return;
    }
  }

  #onCut(call: LiveCall, itemId: string, audioEndMs: number): void {
    const line = call.lineByItem.get(itemId);
    if (line) {
      // the reply's text was complete before the caller cut it: send the line again (same seq), marked
      const marked: LiveLine = { ...line, interrupted: true, heard_ms: audioEndMs };
      const i = call.lines.lastIndexOf(line);
      if (i >= 0) call.lines[i] = marked;
      call.lineByItem.set(itemId, marked);
      this.#emit(call, { type: 'line', line: marked });
    } else {
      boundedSet(call.cut, itemId, audioEndMs, MAX_PENDING_FACTS);
    }
  }

  #onTool(call: LiveCall, r: ToolCallReport): void {
    const tool: LiveToolCall = {
      name: r.name,
      call_id: r.callId,
      arguments: clip(r.arguments, this.#maxChars),
      output: clip(r.output, this.#maxChars),
      ok: r.ok,
      duration_ms: Math.round(r.durationMs),
      ...(r.errorCode !== undefined ? { error_code: r.errorCode } : {}),
    };
    this.#push(call, { role: 'tool', text: `${r.name}(${tool.arguments})`, tool });
  }

  #onClosed(id: string, end: SessionEnd): void {
    const call = this.#calls.get(id);
    this.#calls.delete(id);
    if (!call) return;
    const ev: LiveEvent = { type: 'end', end: { id, end_reason: end.endReason, ended_at: new Date(this.#now()).toISOString(), duration_ms: Math.round(end.durationMs) } };
    this.#emit(call, ev);
    call.watchers.clear();
  }
}
