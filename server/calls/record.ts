/**
 * A call's record as the API (`GET /v1/calls/{id}`) and the end-of-call webhook show it, assembled
 * from the `calls` row and the call's append-only events (server/store/, docs/notes/calls.md). Pure:
 * the same function serves a live call's in-memory events and a stored call's rows.
 *
 * Times are ISO-8601 strings (`*_at`), durations numbers in ms (`*_ms`).
 */
import type { CallEventRow, CallRow } from '../store/index.ts';
import type { IgnoredKind } from '../engines/index.ts';
import { priceOf, type ModelPrice, type Pricing } from './pricing.ts';

// ---- event bodies (call_events.body), by kind --------------------------------------------------------

export interface TranscriptBody {
  role: 'user' | 'assistant';
  item_id: string;
  text: string;
  response_id?: string;
  /** Assistant: ms of audio generated for the item (the base of the heard share). */
  audio_ms?: number;
  /** User: speech over the agent that did not stop it (docs/notes/turns.md); absent for a turn. */
  mark?: TranscriptMark;
}
/** Speech over the agent that the agent carried on through (IgnoredKind, server/engines/types.ts). */
export type TranscriptMark = IgnoredKind;
export interface TruncationBody { item_id: string; content_index: number; audio_end_ms: number; audio_ms: number }
export interface ToolCallBody { name: string; call_id: string; arguments: string; output: string; ok: boolean; error_code?: string; duration_ms: number }
export interface TurnBody { item_id: string; response_id: string; speech_stopped_at_ms: number | null; first_audio_at_ms: number; latency_ms: number | null }
export interface SpeechBody { item_id: string; audio_start_ms: number; audio_end_ms: number; duration_ms: number }
/** One response's usage: the engine and the models that served it. */
export interface UsageBody { response_id: string; status: string; engine: string; model: string | null; usage: Record<string, unknown> | null }
/** One caller utterance transcribed: engine, model, and the transcription usage when the engine gave one. */
export interface SttBody { item_id: string; engine: string; model: string | null; usage: Record<string, unknown> | null; speech_ms: number | null }
/** Text an engine turned into speech on this machine's bill (cascade TTS). */
export interface TtsBody { item_id: string; engine: string; model: string | null; characters: number }
export interface EngineBody { from: string; to: string; reason: string; detail?: string }

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/**
 * What the caller heard of a reply cut by barge-in, estimated by the share of its audio that was played:
 * the first `heard/total` of the text, cut back to a word boundary.
 */
export function heardText(text: string, audioEndMs: number, audioMs: number): string {
  if (audioMs <= 0) return '';
  const share = Math.max(0, Math.min(1, audioEndMs / audioMs));
  if (share >= 1) return text;
  let cut = Math.round(text.length * share);
  if (cut >= text.length) return text;
  // back to the end of the last whole word
  while (cut > 0 && !/\s/.test(text[cut]!)) cut--;
  return text.slice(0, cut).trimEnd();
}

// ---- usage and cost ------------------------------------------------------------------------------------

export interface CallUsage {
  responses: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_text_tokens: number;
  input_audio_tokens: number;
  cached_input_tokens: number;
  output_text_tokens: number;
  output_audio_tokens: number;
  /** Caller speech transcribed (s), by duration reported or measured. */
  stt_seconds: number;
  /** Characters of agent text turned into speech by a TTS stage (cascade). */
  tts_characters: number;
}

export interface CostItem { engine: string; model: string; kind: 'realtime' | 'chat' | 'stt' | 'tts'; quantity: number; unit: 'tokens' | 'seconds' | 'characters'; usd: number }
export interface CallCost { total_usd: number; currency: 'USD'; estimated: true; items: CostItem[]; unpriced: string[] }

/** Tokens of a GA usage object by kind (missing details: input as text, output as text). */
function tokens(u: Record<string, unknown>): { inText: number; inAudio: number; cachedText: number; cachedAudio: number; outText: number; outAudio: number } {
  const inD = obj(u['input_token_details']);
  const outD = obj(u['output_token_details']);
  const cachedD = obj(inD['cached_tokens_details']);
  const input = num(u['input_tokens']);
  const output = num(u['output_tokens']);
  const inAudio = num(inD['audio_tokens']);
  const inText = inD['text_tokens'] !== undefined ? num(inD['text_tokens']) : Math.max(0, input - inAudio);
  const cachedAudio = num(cachedD['audio_tokens']);
  const cachedText = cachedD['text_tokens'] !== undefined ? num(cachedD['text_tokens']) : Math.max(0, num(inD['cached_tokens']) - cachedAudio);
  const outAudio = num(outD['audio_tokens']);
  const outText = outD['text_tokens'] !== undefined ? num(outD['text_tokens']) : Math.max(0, output - outAudio);
  return { inText, inAudio, cachedText, cachedAudio, outText, outAudio };
}

function tokenUsd(p: ModelPrice, t: ReturnType<typeof tokens>): number {
  const r = (n: number, price: number | undefined): number => (n > 0 && price !== undefined ? (n * price) / 1e6 : 0);
  return (
    r(Math.max(0, t.inText - t.cachedText), p.textInput) + r(t.cachedText, p.textCachedInput ?? p.textInput) +
    r(Math.max(0, t.inAudio - t.cachedAudio), p.audioInput) + r(t.cachedAudio, p.audioCachedInput ?? p.audioInput) +
    r(t.outText, p.textOutput) + r(t.outAudio, p.audioOutput)
  );
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Usage summed over a call's events, and its estimated cost with `pricing` (engines on this machine: 0). */
export function usageAndCost(events: readonly CallEventRow[], pricing: Pricing): { usage: CallUsage; cost: CallCost } {
  const usage: CallUsage = {
    responses: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0, input_text_tokens: 0, input_audio_tokens: 0,
    cached_input_tokens: 0, output_text_tokens: 0, output_audio_tokens: 0, stt_seconds: 0, tts_characters: 0,
  };
  const items = new Map<string, CostItem>();
  const unpriced = new Set<string>();
  const add = (engine: string, model: string | null, kind: CostItem['kind'], quantity: number, unit: CostItem['unit'], usd: number | null): void => {
    const m = model ?? 'unknown';
    if (usd === null) {
      if (engine !== 'local' && quantity > 0) unpriced.add(m);
      usd = 0;
    }
    const key = `${engine}|${m}|${kind}`;
    const it = items.get(key) ?? { engine, model: m, kind, quantity: 0, unit, usd: 0 };
    it.quantity += quantity;
    it.usd += usd;
    items.set(key, it);
  };
  for (const ev of events) {
    if (ev.kind === 'usage') {
      const b = ev.body as unknown as UsageBody;
      const u = obj(b.usage);
      usage.responses++;
      if (b.usage === null) continue;
      const t = tokens(u);
      const input = num(u['input_tokens']) || t.inText + t.inAudio;
      const output = num(u['output_tokens']) || t.outText + t.outAudio;
      usage.input_tokens += input;
      usage.output_tokens += output;
      usage.total_tokens += num(u['total_tokens']) || input + output;
      usage.input_text_tokens += t.inText;
      usage.input_audio_tokens += t.inAudio;
      usage.cached_input_tokens += t.cachedText + t.cachedAudio;
      usage.output_text_tokens += t.outText;
      usage.output_audio_tokens += t.outAudio;
      const kind = b.engine === 'openai' ? 'realtime' : 'chat';
      const price = b.engine === 'local' ? null : priceOf(pricing, b.model);
      add(b.engine, b.model, kind, input + output, 'tokens', b.engine === 'local' ? 0 : price ? tokenUsd(price.price, t) : null);
    } else if (ev.kind === 'stt') {
      const b = ev.body as unknown as SttBody;
      const u = obj(b.usage);
      const seconds = u['type'] === 'duration' ? num(u['seconds']) : (b.speech_ms ?? 0) / 1000;
      usage.stt_seconds += seconds;
      if (b.engine === 'local') {
        add(b.engine, b.model, 'stt', seconds, 'seconds', 0);
        continue;
      }
      const price = priceOf(pricing, b.model)?.price;
      if (u['type'] === 'tokens' && price && (price.audioInput !== undefined || price.textInput !== undefined)) {
        const t = tokens(u);
        add(b.engine, b.model, 'stt', seconds, 'seconds', tokenUsd(price, t));
      } else {
        add(b.engine, b.model, 'stt', seconds, 'seconds', price?.perMinute !== undefined ? (seconds / 60) * price.perMinute : null);
      }
    } else if (ev.kind === 'tts') {
      const b = ev.body as unknown as TtsBody;
      usage.tts_characters += b.characters;
      const price = b.engine === 'local' ? undefined : priceOf(pricing, b.model)?.price;
      add(b.engine, b.model, 'tts', b.characters, 'characters', b.engine === 'local' ? 0 : price?.perMillionChars !== undefined ? (b.characters * price.perMillionChars) / 1e6 : null);
    }
  }
  usage.stt_seconds = Math.round(usage.stt_seconds * 1000) / 1000;
  const list = [...items.values()].map((i) => ({ ...i, quantity: Math.round(i.quantity * 1000) / 1000, usd: round6(i.usd) }));
  return { usage, cost: { total_usd: round6(list.reduce((s, i) => s + i.usd, 0)), currency: 'USD', estimated: true, items: list, unpriced: [...unpriced] } };
}

// ---- the record ------------------------------------------------------------------------------------------

export interface TranscriptEntry {
  role: 'user' | 'assistant';
  text: string;
  at: string;
  item_id: string;
  response_id?: string;
  /** Assistant: the caller barged in; `heard_text` is what was played (estimated by the audio's share). */
  truncated?: boolean;
  heard_text?: string;
  audio_ms?: number;
  heard_ms?: number;
  /** User: speech over the agent that did not interrupt it (not a turn: no reply followed). */
  mark?: TranscriptMark;
}

export interface CallRecord {
  id: string;
  door: string;
  from: string | null;
  to: string | null;
  dialled: string | null;
  sip_call_id: string | null;
  trunk: string | null;
  profile: string | null;
  metadata: Record<string, string>;
  started_at: string;
  answered_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  end_reason: string | null;
  engines: string[];
  engine_switches: Array<EngineBody & { at: string }>;
  transcript: TranscriptEntry[];
  tool_calls: Array<ToolCallBody & { at: string }>;
  turns: Array<{ item_id: string; response_id: string; speech_stopped_at: string | null; first_audio_at: string; latency_ms: number | null }>;
  dtmf: Array<{ digit: string; at: string }>;
  transfers: Array<{ target: string; at: string }>;
  usage: CallUsage;
  cost: CallCost;
  recording: string | null;
  recording_url: string | null;
}

export interface AssembleOptions {
  pricing: Pricing;
  /** The recording's URL when its file exists. */
  recordingUrl?: string | null;
}

/**
 * Moves each marked entry (speech over the agent, written when its final transcript came) to its place
 * by time among the others: after the reply it was said over began, before anything that started later.
 */
function placeMarked(transcript: TranscriptEntry[]): void {
  if (!transcript.some((e) => e.mark !== undefined)) return;
  const marked = transcript.filter((e) => e.mark !== undefined);
  const rest = transcript.filter((e) => e.mark === undefined);
  for (const m of marked) {
    const i = rest.findIndex((e) => e.mark === undefined && e.at > m.at);
    rest.splice(i < 0 ? rest.length : i, 0, m);
  }
  transcript.splice(0, transcript.length, ...rest);
}

/** The record from its row and its events (ordered by seq). Usage and cost: stored at the end, else summed now. */
export function assembleRecord(row: CallRow, events: readonly CallEventRow[], opts: AssembleOptions): CallRecord {
  const transcript: TranscriptEntry[] = [];
  const byItem = new Map<string, TranscriptEntry>();
  const cuts = new Map<string, TruncationBody>();
  const rec: CallRecord = {
    id: row.id, door: row.door, from: row.from, to: row.to, dialled: row.dialled, sip_call_id: row.sipCallId, trunk: row.trunk,
    profile: row.profile, metadata: row.metadata,
    started_at: iso(row.startedAtMs)!, answered_at: iso(row.answeredAtMs), ended_at: iso(row.endedAtMs),
    duration_ms: row.endedAtMs === null ? null : row.endedAtMs - row.startedAtMs, end_reason: row.endReason,
    engines: row.engines, engine_switches: [], transcript, tool_calls: [], turns: [], dtmf: [], transfers: [],
    usage: null as unknown as CallUsage, cost: null as unknown as CallCost, recording: row.recording, recording_url: opts.recordingUrl ?? null,
  };
  for (const ev of events) {
    const at = iso(ev.atMs)!;
    switch (ev.kind) {
      case 'transcript': {
        const b = ev.body as unknown as TranscriptBody;
        const e: TranscriptEntry = { role: b.role, text: b.text, at, item_id: b.item_id };
        if (b.response_id !== undefined) e.response_id = b.response_id;
        if (b.audio_ms !== undefined) e.audio_ms = b.audio_ms;
        if (b.mark !== undefined) e.mark = b.mark;
        transcript.push(e);
        byItem.set(b.item_id, e);
        break;
      }
      case 'truncation': {
        const b = ev.body as unknown as TruncationBody;
        cuts.set(b.item_id, b);
        break;
      }
      case 'tool_call':
        rec.tool_calls.push({ ...(ev.body as unknown as ToolCallBody), at });
        break;
      case 'turn': {
        const b = ev.body as unknown as TurnBody;
        rec.turns.push({ item_id: b.item_id, response_id: b.response_id, speech_stopped_at: iso(b.speech_stopped_at_ms), first_audio_at: iso(b.first_audio_at_ms)!, latency_ms: b.latency_ms });
        break;
      }
      case 'dtmf':
        rec.dtmf.push({ digit: String(ev.body['digit']), at });
        break;
      case 'transfer':
        rec.transfers.push({ target: String(ev.body['target']), at });
        break;
      case 'engine':
        rec.engine_switches.push({ ...(ev.body as unknown as EngineBody), at });
        break;
      default:
        break;
    }
  }
  // speech over the agent (marked) is written once decided, after the reply it was said over: put it in time order
  placeMarked(transcript);
  // barge-in: what the caller did not hear of each cut reply
  for (const [itemId, cut] of cuts) {
    const e = byItem.get(itemId);
    if (!e || e.role !== 'assistant') continue;
    const total = Math.max(cut.audio_ms, e.audio_ms ?? 0);
    if (total <= 0 || cut.audio_end_ms >= total) continue;
    e.truncated = true;
    e.audio_ms = total;
    e.heard_ms = cut.audio_end_ms;
    e.heard_text = heardText(e.text, cut.audio_end_ms, total);
  }
  if (row.usage !== null && row.cost !== null) {
    rec.usage = row.usage as unknown as CallUsage;
    rec.cost = row.cost as unknown as CallCost;
  } else {
    const uc = usageAndCost(events, opts.pricing);
    rec.usage = uc.usage;
    rec.cost = uc.cost;
  }
  return rec;
}
