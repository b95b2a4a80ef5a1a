/**
 * The calls page's pure logic (no DOM): a call record (GET /v1/calls, docs/notes/calls-page.md) →
 * chat entries with tool calls and per-turn latency; a live stream's events (GET /v1/calls/{id}/live)
 * → the transcript as it grows; and the formatting of durations, costs and end reasons.
 * Records are read tolerantly: fields the store does not fill are simply not shown.
 */

export type Role = 'user' | 'assistant' | 'tool';

export interface ToolInfo {
  name: string;
  arguments: string;
  output?: string;
  ok?: boolean;
  durationMs?: number;
}

/** One bubble of the chat. */
export interface ChatLine {
  key: string;
  role: Role;
  text: string;
  /** ms since the epoch, when known. */
  atMs?: number;
  latencyMs?: number;
  interrupted?: boolean;
  /** What the caller heard of an interrupted reply, when the record has it. */
  heardText?: string;
  /** The caller spoke over the agent and it carried on: a backchannel ("yeah") or a false interruption (a hum, a cough). */
  mark?: 'backchannel' | 'false_interruption';
  tool?: ToolInfo;
  /** A reply still being spoken (live view). */
  pending?: boolean;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** ISO string or epoch ms → epoch ms. */
export function timeMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** A record entry's time: `at`, `started_at`, `created_at`, or ms offsets from the call's start. */
function entryTime(e: Obj, callStartMs: number | undefined): number | undefined {
  const t = timeMs(e['at']) ?? timeMs(e['started_at']) ?? timeMs(e['created_at']) ?? timeMs(e['ended_at']);
  if (t !== undefined) return t;
  const off = num(e['at_ms']) ?? num(e['offset_ms']) ?? num(e['start_ms']);
  return off !== undefined && callStartMs !== undefined ? callStartMs + off : undefined;
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** Latency of a turn entry, whatever the store names it. */
function turnLatency(t: Obj): number | undefined {
  return num(t['latency_ms']) ?? num(t['first_audio_ms']) ?? num(t['since_speech_stopped_ms']) ?? num(t['response_latency_ms']);
}

/** The per-turn latencies of a record (ms), in order. */
export function turnLatencies(record: Obj): number[] {
  const turns = Array.isArray(record['turns']) ? record['turns'] : [];
  const out: number[] = [];
  for (const t of turns) {
    if (!isObj(t)) continue;
    const l = turnLatency(t);
    if (l !== undefined) out.push(l);
  }
  return out;
}

/** A record's transcript and tool calls as one chat, in time order (stable: same time keeps record order). */
export function recordChat(record: Obj): ChatLine[] {
  const startMs = timeMs(record['started_at']);
  const lines: ChatLine[] = [];
  const transcript = Array.isArray(record['transcript']) ? record['transcript'] : [];
  transcript.forEach((e, i) => {
    if (!isObj(e)) return;
    const role = e['role'] === 'assistant' ? 'assistant' : e['role'] === 'user' ? 'user' : null;
    if (role === null) return;
    const text = str(e['text']) ?? str(e['transcript']) ?? '';
    const heard = str(e['heard_text']) ?? str(e['text_heard']);
    const interrupted = e['interrupted'] === true || e['truncated'] === true || heard !== undefined;
    const line: ChatLine = { key: `t${i}`, role, text };
    const at = entryTime(e, startMs);
    if (at !== undefined) line.atMs = at;
    const latency = num(e['latency_ms']);
    if (latency !== undefined) line.latencyMs = latency;
    if (interrupted) line.interrupted = true;
    if (heard !== undefined && heard !== text) line.heardText = heard;
    if (e['mark'] === 'backchannel' || e['mark'] === 'false_interruption') line.mark = e['mark'];
    if (str(e['item_id']) !== undefined) line.key = `t${i}:${str(e['item_id'])}`;
    lines.push(line);
  });
  // per-turn latency onto the replies: by item id when the turns name it, else in order
  const turns = (Array.isArray(record['turns']) ? record['turns'] : []).filter(isObj);
  const replies = lines.filter((l) => l.role === 'assistant' && l.latencyMs === undefined);
  const byItem = new Map<string, number>();
  for (const t of turns) {
    const id = str(t['item_id']);
    const l = turnLatency(t);
    if (id !== undefined && l !== undefined) byItem.set(id, l);
  }
  if (byItem.size > 0) {
    transcript.forEach((e, i) => {
      const id = isObj(e) ? str(e['item_id']) : undefined;
      const line = lines.find((l) => l.key === `t${i}:${id}`);
      if (id !== undefined && line && line.latencyMs === undefined && byItem.has(id)) line.latencyMs = byItem.get(id)!;
    });
  } else {
    const latencies = turnLatencies(record);
    // a turn's latency is the wait before the reply that answered speech: one per turn, in order
    for (let i = 0; i < replies.length && i < latencies.length; i++) replies[i]!.latencyMs = latencies[i]!;
  }
  const tools = Array.isArray(record['tool_calls']) ? record['tool_calls'] : [];
  tools.forEach((e, i) => {
    if (!isObj(e)) return;
    const name = str(e['name']) ?? 'tool';
    const args = asText(e['arguments'] ?? e['args']);
    const output = e['output'] ?? e['result'];
    const tool: ToolInfo = { name, arguments: args };
    if (output !== undefined) tool.output = asText(output);
    const err = str(e['error']) ?? str(e['error_code']);
    if (typeof e['ok'] === 'boolean') tool.ok = e['ok'];
    else if (err !== undefined) tool.ok = false;
    if (err !== undefined && tool.output === undefined) tool.output = err;
    const d = num(e['duration_ms']) ?? num(e['latency_ms']);
    if (d !== undefined) tool.durationMs = d;
    const line: ChatLine = { key: `c${i}`, role: 'tool', text: `${name}(${args})`, tool };
    const at = entryTime(e, startMs);
    if (at !== undefined) line.atMs = at;
    lines.push(line);
  });
  // time order; a line without a time keeps its place after the line before it
  const order = lines.map((l, i) => ({ l, i, t: l.atMs }));
  let last = -Infinity;
  for (const o of order) {
    if (o.t === undefined) o.t = last;
    else last = Math.max(last, o.t);
  }
  order.sort((a, b) => (a.t! === b.t! ? a.i - b.i : a.t! - b.t!));
  return order.map((o) => o.l);
}

/** `1.5 s`, `2 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A call's duration from its record (duration_ms, or ended_at − started_at). */
export function callDurationMs(record: Obj): number | undefined {
  const d = num(record['duration_ms']);
  if (d !== undefined) return d;
  const a = timeMs(record['started_at']);
  const b = timeMs(record['ended_at']);
  return a !== undefined && b !== undefined ? b - a : undefined;
}

/** The cost of a call, as the store gives it: a number (USD), or `{ total_usd | total | usd, currency? }`. */
export function formatCost(cost: unknown): string {
  let amount: number | undefined;
  let currency = 'USD';
  if (typeof cost === 'number') amount = cost;
  else if (isObj(cost)) {
    amount = num(cost['total_usd']) ?? num(cost['total']) ?? num(cost['usd']) ?? num(cost['amount']);
    currency = str(cost['currency'])?.toUpperCase() ?? currency;
  }
  if (amount === undefined) return '–';
  const digits = amount !== 0 && Math.abs(amount) < 1 ? 4 : 2; // a call costs cents: show them
  return currency === 'USD' ? `$${amount.toFixed(digits)}` : `${amount.toFixed(digits)} ${currency}`;
}

/** The cost fact: the amount, `(estimated)` when the store says so, and the models it had no price for. */
export function describeCost(cost: unknown): string {
  let text = formatCost(cost);
  if (text === '–' || !isObj(cost)) return text;
  if (cost['estimated'] === true) text += ' (estimated)';
  const unpriced = Array.isArray(cost['unpriced']) ? cost['unpriced'].filter((m): m is string => typeof m === 'string') : [];
  if (unpriced.length > 0) text += ` · no price for ${unpriced.join(', ')}`;
  return text;
}

const END_REASONS: Record<string, string> = {
  caller_hangup: 'caller hung up',
  agent_ended: 'agent ended',
  transferred: 'transferred',
  max_duration: 'max length reached',
  rtp_timeout: 'audio stopped (RTP timeout)',
  error: 'error',
  shutdown: 'server shutdown',
  rejected: 'rejected',
  interrupted: 'interrupted (server restart)',
};

export function describeEndReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason === '') return 'in progress';
  return END_REASONS[reason] ?? reason.replace(/_/g, ' ');
}

/** Token usage in a short line: `in 1234 · out 567 tokens`, plus cascade STT seconds / TTS characters. */
export function formatUsage(usage: unknown): string {
  if (!isObj(usage)) return '–';
  const bits: string[] = [];
  const input = num(usage['input_tokens']);
  const output = num(usage['output_tokens']);
  const total = num(usage['total_tokens']);
  if (input !== undefined) bits.push(`in ${input}`);
  if (output !== undefined) bits.push(`out ${output}`);
  if (bits.length > 0) bits[bits.length - 1] += ' tokens';
  else if (total !== undefined) bits.push(`${total} tokens`);
  const stt = num(usage['stt_seconds']);
  const tts = num(usage['tts_characters']);
  if (stt !== undefined) bits.push(`STT ${stt.toFixed(1)} s`);
  if (tts !== undefined) bits.push(`TTS ${tts} chars`);
  return bits.length > 0 ? bits.join(' · ') : '–';
}

/** Median and maximum of a list (ms), for the timings line. */
export function latencySummary(list: readonly number[]): { median: number; max: number } | null {
  if (list.length === 0) return null;
  const s = [...list].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, max: s[s.length - 1]! };
}

/** The recording's URL for a record: `recording_url` when it is on this origin or relative, else the API path. */
export function recordingUrl(record: Obj, pageOrigin: string): string | null {
  const id = str(record['id']);
  const given = str(record['recording_url']);
  if (given === undefined || given === '') return null;
  try {
    const u = new URL(given, pageOrigin);
    if (u.origin === pageOrigin) return `${u.pathname.replace(/^\//, '')}${u.search}`;
  } catch {
    /* not a URL: fall through */
  }
  return id !== undefined ? `v1/calls/${encodeURIComponent(id)}/recording` : null;
}

// ------------------------------------------------------------------------------ the live transcript

export interface LiveLineData {
  seq: number;
  role: Role;
  text: string;
  at?: string;
  item_id?: string;
  latency_ms?: number;
  interrupted?: boolean;
  heard_ms?: number;
  tool?: { name: string; arguments: string; output: string; ok: boolean; duration_ms: number; error_code?: string };
}

/** A live call's transcript as it grows: lines by seq, replies in progress by item. */
export class LiveTranscript {
  readonly #lines = new Map<number, LiveLineData>();
  readonly #partials = new Map<string, string>();
  lastSeq = 0;
  dropped = 0;
  ended: { end_reason: string; ended_at: string; duration_ms: number } | null = null;

  line(l: LiveLineData): void {
    this.#lines.set(l.seq, l);
    if (l.seq > this.lastSeq) this.lastSeq = l.seq;
    if (l.item_id !== undefined) this.#partials.delete(l.item_id);
  }

  partial(itemId: string, delta: string): void {
    // a reply whose line is already here is complete: late pieces are ignored
    for (const l of this.#lines.values()) if (l.item_id === itemId && l.role === 'assistant') return;
    this.#partials.set(itemId, (this.#partials.get(itemId) ?? '') + delta);
  }

  end(e: { end_reason: string; ended_at: string; duration_ms: number }): void {
    this.ended = e;
    this.#partials.clear();
  }

  /** Lines in order, then replies in progress. */
  chat(): ChatLine[] {
    const out: ChatLine[] = [];
    const seqs = [...this.#lines.keys()].sort((a, b) => a - b);
    for (const seq of seqs) {
      const l = this.#lines.get(seq)!;
      const line: ChatLine = { key: `s${seq}`, role: l.role, text: l.text };
      const at = timeMs(l.at);
      if (at !== undefined) line.atMs = at;
      if (l.latency_ms !== undefined) line.latencyMs = l.latency_ms;
      if (l.interrupted) line.interrupted = true;
      if (l.tool) {
        line.tool = { name: l.tool.name, arguments: l.tool.arguments, output: l.tool.output, ok: l.tool.ok, durationMs: l.tool.duration_ms };
      }
      out.push(line);
    }
    for (const [itemId, text] of this.#partials) out.push({ key: `p${itemId}`, role: 'assistant', text, pending: true });
    return out;
  }
}
