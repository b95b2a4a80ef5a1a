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
import { LineLog, boundedSet } from './lines.ts';

/** Lines kept per call: past this the oldest go (a watcher joining late sees the last ones, and how many were dropped). */
export const LIVE_MAX_LINES_PER_CALL = 500;
/** Characters kept per line (a reply, a tool's arguments or output); the rest is cut with an ellipsis. */
export const LIVE_MAX_LINE_CHARS = 4000;
/** Watchers (open SSE streams) per call. */
export const LIVE_MAX_WATCHERS_PER_CALL = 16;
/** Replies being spoken at once per call whose partial text is kept (one is usual; out-of-band responses add some). */
const MAX_PARTIALS = 8;

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

/** One call in progress. */
class LiveCall {
  answeredAtMs: number | null = null;
  engine: string | null;
  readonly watchers = new Set<LiveListener>();
  /** Reply text so far, per item (bounded). */
  readonly partials = new Map<string, string>();
  readonly log: LineLog;

  constructor(readonly info: SessionInfo, engine: string | null, maxLines: number, maxChars: number) {
    this.engine = engine;
    this.log = new LineLog(maxLines, maxChars, (ev) => this.emit(ev));
  }

  emit(ev: LiveEvent): void {
    for (const w of this.watchers) {
      try {
        w(ev);
      } catch {
        this.watchers.delete(w); // a broken watcher goes; the call does not notice
      }
    }
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
      lines: this.log.seq,
      last_line_at: this.log.lastLineAtMs === null ? null : new Date(this.log.lastLineAtMs).toISOString(),
    };
  }
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
        call = new LiveCall(info, null, this.#maxLines, this.#maxChars);
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
          ensure().log.latency(mark.itemId, mark.sinceSpeechStoppedMs);
        }
      },
      agentAudioTruncated(t) {
        ensure().log.cut(t.itemId, t.audioEndMs);
      },
      toolCall(r: ToolCallReport) {
        ensure().log.tool(self.#now(), r);
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
    const { lines, dropped } = call.log.after(afterSeq);
    const partials: { item_id: string; text: string }[] = [];
    for (const [item_id, text] of call.partials) partials.push({ item_id, text });
    return {
      snapshot: { call: call.summary(), lines, dropped, partials },
      unwatch: () => {
        call.watchers.delete(listener);
      },
    };
  }

  #onEvent(call: LiveCall, ev: ServerEvent): void {
    switch (ev.type) {
      case 'conversation.item.input_audio_transcription.completed':
        call.log.user(this.#now(), ev.transcript, ev.item_id);
        return;
      case 'conversation.item.added': {
        // a typed message (a user `input_text` item); spoken ones arrive as transcripts above
        const item = ev.item;
        if (item.type !== 'message' || item.role !== 'user' || !Array.isArray(item.content)) return;
        let text = '';
        for (const part of item.content) if (part.type === 'input_text' && typeof part['text'] === 'string') text += part['text'];
        call.log.user(this.#now(), text, item.id);
        return;
      }
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta': {
        if (ev.delta === '') return;
        const sofar = call.partials.get(ev.item_id) ?? '';
        if (sofar.length >= this.#maxChars) return; // the line is cut there anyway
        boundedSet(call.partials, ev.item_id, sofar + ev.delta, MAX_PARTIALS);
        call.emit({ type: 'partial', item_id: ev.item_id, delta: ev.delta });
        return;
      }
      case 'response.output_audio_transcript.done':
      case 'response.output_text.done': {
        const text = (ev.type === 'response.output_text.done' ? ev.text : ev.transcript) || call.partials.get(ev.item_id) || '';
        call.partials.delete(ev.item_id);
        call.log.assistant(this.#now(), text, ev.item_id);
        return;
      }
      default:
        return;
    }
  }

  #onClosed(id: string, end: SessionEnd): void {
    const call = this.#calls.get(id);
    this.#calls.delete(id);
    if (!call) return;
    const ev: LiveEvent = { type: 'end', end: { id, end_reason: end.endReason, ended_at: new Date(this.#now()).toISOString(), duration_ms: Math.round(end.durationMs) } };
    call.emit(ev);
    call.watchers.clear();
  }
}
