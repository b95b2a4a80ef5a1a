/**
 * A live call's transcript lines as they are made, for both live views: a call in this process
 * (server/live/live-calls.ts, from its session events) and a call on another instance (server/live/remote.ts,
 * from its record's events). One place decides what a line is: the caller's words, the agent's reply with
 * its turn latency and what the caller heard of it when they barged in (a cut that comes after the line
 * sends the line again, same seq, marked), a tool call. Bounded: the last `maxLines` lines, each clipped
 * to `maxChars`, at most MAX_PENDING_FACTS facts waiting for their line.
 */
import type { LiveEvent, LiveLine, LiveToolCall } from './live-calls.ts';

/** Per-item facts waiting for their line (turn latency, barge-in), at most this many per call. */
export const MAX_PENDING_FACTS = 32;

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function boundedSet<K, V>(map: Map<K, V>, key: K, value: V, max: number = MAX_PENDING_FACTS): void {
  if (!map.has(key) && map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

export interface ToolLineInput {
  name: string;
  callId: string;
  arguments: string;
  output: string;
  ok: boolean;
  durationMs: number;
  errorCode?: string;
}

export class LineLog {
  readonly lines: LiveLine[] = [];
  seq = 0;
  lastLineAtMs: number | null = null;
  readonly #latency = new Map<string, number>();
  readonly #cut = new Map<string, number>();
  readonly #lineByItem = new Map<string, LiveLine>();

  constructor(
    private readonly maxLines: number,
    private readonly maxChars: number,
    private readonly emit: (ev: LiveEvent) => void,
  ) {}

  #push(atMs: number, line: Omit<LiveLine, 'seq' | 'at'>): LiveLine {
    const full: LiveLine = { seq: ++this.seq, at: new Date(atMs).toISOString(), ...line, text: clip(line.text, this.maxChars) };
    this.lines.push(full);
    if (this.lines.length > this.maxLines) {
      const gone = this.lines.shift();
      if (gone?.item_id !== undefined) this.#lineByItem.delete(gone.item_id);
    }
    this.lastLineAtMs = atMs;
    this.emit({ type: 'line', line: full });
    return full;
  }

  /** The caller's words (a transcript, or a typed message). */
  user(atMs: number, text: string, itemId?: string): void {
    const t = text.trim();
    if (t !== '') this.#push(atMs, { role: 'user', text: t, ...(itemId !== undefined && itemId !== '' ? { item_id: itemId } : {}) });
  }

  /** The agent's complete reply, with its turn latency and barge-in if they came first. */
  assistant(atMs: number, text: string, itemId: string): void {
    const t = text.trim();
    if (t === '') return;
    const latency = this.#latency.get(itemId);
    this.#latency.delete(itemId);
    const heard = this.#cut.get(itemId);
    this.#cut.delete(itemId);
    const line = this.#push(atMs, {
      role: 'assistant',
      text: t,
      item_id: itemId,
      ...(latency !== undefined ? { latency_ms: latency } : {}),
      ...(heard !== undefined ? { interrupted: true, heard_ms: heard } : {}),
    });
    boundedSet(this.#lineByItem, itemId, line);
  }

  /** Speech stopped → the reply's first audio, for the reply's line. */
  latency(itemId: string, ms: number): void {
    boundedSet(this.#latency, itemId, Math.round(ms));
  }

  /** The caller cut reply `itemId` after `heardMs` of its audio. */
  cut(itemId: string, heardMs: number): void {
    const line = this.#lineByItem.get(itemId);
    if (line) {
      // the reply's text was complete before the caller cut it: send the line again (same seq), marked
      const marked: LiveLine = { ...line, interrupted: true, heard_ms: heardMs };
      const i = this.lines.lastIndexOf(line);
      if (i >= 0) this.lines[i] = marked;
      this.#lineByItem.set(itemId, marked);
      this.emit({ type: 'line', line: marked });
    } else {
      boundedSet(this.#cut, itemId, heardMs);
    }
  }

  tool(atMs: number, r: ToolLineInput): void {
    const tool: LiveToolCall = {
      name: r.name,
      call_id: r.callId,
      arguments: clip(r.arguments, this.maxChars),
      output: clip(r.output, this.maxChars),
      ok: r.ok,
      duration_ms: Math.round(r.durationMs),
      ...(r.errorCode !== undefined ? { error_code: r.errorCode } : {}),
    };
    this.#push(atMs, { role: 'tool', text: `${r.name}(${tool.arguments})`, tool });
  }

  /** Lines still kept after `afterSeq`, and how many are no longer kept. */
  after(afterSeq: number): { lines: LiveLine[]; dropped: number } {
    const firstKept = this.lines[0]?.seq ?? this.seq + 1;
    return { lines: this.lines.filter((l) => l.seq > afterSeq), dropped: Math.max(0, firstKept - 1) };
  }
}
