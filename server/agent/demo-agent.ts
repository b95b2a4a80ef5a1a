import { randomBytes } from 'node:crypto';
import type { ChatChunk, ChatMessage, ChatProvider, ChatRequest, ChatTool } from '../engines/providers/index.ts';

/**
 * The offline "brain": a small deterministic, rule-based agent. It exists so that the whole voice
 * path (VAD → STT → brain → TTS, tools included) works offline and in tests. It is not a language
 * model and does not pretend to be one.
 *
 * A response whose instructions say `Say exactly the following … : "<text>"` (a profile's first message,
 * server/profiles/first-message.ts) speaks that text, whatever was said before.
 * Rules, checked on the last user message:
 * - the time ("what time is it") → calls `get_current_time` when the session has it;
 * - goodbye / hang up / end the call → says goodbye and calls `end_call` when available;
 * - transfer / operator / human → calls `transfer_call` (target taken from "to the …"), or `warm_transfer` when
 *   the session has it and not transfer_call (no target: the configured default; the summary is what the caller said);
 * - a greeting → greets back; thanks → "You're welcome"; nothing heard → "Sorry, I didn't catch
 *   that." (or "Are you still there?" once it has spoken, e.g. after an idle timeout);
 * - anything else → "You said: …".
 * After a tool result it speaks the result (the time) or acknowledges it.
 */
export class DemoAgent implements ChatProvider {
  readonly name = 'demo-agent';

  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    const reply = decide(req);
    if (reply.text) {
      for (const piece of reply.text.match(/\S+\s*/g) ?? []) {
        if (req.signal.aborted) return;
        yield { type: 'text', delta: piece };
      }
    }
    let index = 0;
    for (const call of reply.calls) {
      if (req.signal.aborted) return;
      yield { type: 'tool_call', index, callId: `call_${randomBytes(8).toString('hex')}`, name: call.name };
      const args = JSON.stringify(call.args);
      // Stream the arguments in a few pieces, as a model would.
      const step = Math.max(1, Math.ceil(args.length / 3));
      for (let i = 0; i < args.length; i += step) yield { type: 'tool_arguments', index, delta: args.slice(i, i + step) };
      index++;
    }
    yield { type: 'done', finishReason: reply.calls.length > 0 ? 'tool_calls' : 'stop' };
  }
}

interface Reply { text: string; calls: { name: string; args: Record<string, unknown> }[] }

const GREETING = /\b(hello|hi|hey|hiya|good (morning|afternoon|evening))\b/;
const TIME = /\b(time|clock)\b/;
const GOODBYE = /\b(goodbye|good bye|bye|hang up|end (the|this) call)\b/;
const TRANSFER = /\b(transfer|operator|human|representative|put me through)\b/;
const THANKS = /\b(thanks|thank you)\b/;

/** Instructions asking for exact words (the first message): `Say exactly the following …: "<text>"`. */
const SAY_EXACTLY = /^Say exactly the following[^:"]*: "([\s\S]*)"$/;

function decide(req: ChatRequest): Reply {
  const last = req.messages[req.messages.length - 1];
  if (last?.role === 'tool') return afterTools(req.messages);
  const system = req.messages[0]?.role === 'system' ? SAY_EXACTLY.exec(req.messages[0].content) : null;
  if (system) return { text: system[1]!, calls: [] };
  const tools = req.toolChoice === 'none' ? [] : req.tools;
  const has = (name: string): ChatTool | undefined => tools.find((t) => t.name === name);

  const forced = typeof req.toolChoice === 'object' ? has(req.toolChoice.name) : undefined;
  const userText = lastUserText(req.messages);
  const words = normalise(userText);
  if (forced) return { text: '', calls: [{ name: forced.name, args: argsFor(forced, words) }] };

  if (!userText) {
    if (!req.messages.some((m) => m.role === 'user')) return { text: 'Hello! How can I help you today?', calls: [] };
    // nothing heard: after the agent has spoken (e.g. an idle timeout), prompt the caller
    if (req.messages.some((m) => m.role === 'assistant')) return { text: 'Are you still there?', calls: [] };
    return { text: "Sorry, I didn't catch that.", calls: [] };
  }
  const time = has('get_current_time');
  if (TIME.test(words) && time) return { text: '', calls: [{ name: time.name, args: argsFor(time, words) }] };
  const end = has('end_call');
  if (GOODBYE.test(words)) {
    return end ? { text: 'Goodbye!', calls: [{ name: end.name, args: argsFor(end, words) }] } : { text: 'Goodbye!', calls: [] };
  }
  const transfer = has('transfer_call');
  if (TRANSFER.test(words) && transfer) return { text: 'Let me transfer you.', calls: [{ name: transfer.name, args: argsFor(transfer, words) }] };
  const warm = has('warm_transfer');
  if (TRANSFER.test(words) && warm) {
    return { text: 'Please hold while I connect you.', calls: [{ name: warm.name, args: { summary: `The caller asked: ${userText.trim().replace(/[.!?]+$/, '')}.` } }] };
  }
  if (req.toolChoice === 'required' && tools[0]) return { text: '', calls: [{ name: tools[0].name, args: argsFor(tools[0], words) }] };
  if (GREETING.test(words)) return { text: 'Hello! How can I help you today?', calls: [] };
  if (THANKS.test(words)) return { text: "You're welcome.", calls: [] };
  return { text: `You said: ${userText.trim().replace(/[.!?]+$/, '')}.`, calls: [] };
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') return m.content;
    if (m.role === 'assistant') return '';
  }
  return '';
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The reply after tool results: speaks the time, acknowledges a transfer, stays quiet after end_call. */
function afterTools(messages: ChatMessage[]): Reply {
  const results: { name: string; output: string }[] = [];
  let i = messages.length - 1;
  for (; i >= 0 && messages[i]!.role === 'tool'; i--) {
    const m = messages[i] as Extract<ChatMessage, { role: 'tool' }>;
    results.unshift({ name: '', output: m.content });
    const call = findCall(messages, m.tool_call_id);
    results[0]!.name = call ?? '';
  }
  const parts: string[] = [];
  for (const r of results) {
    if (/^\s*\{?\s*"?error/i.test(r.output)) { parts.push("Sorry, that didn't work."); continue; }
    if (r.name === 'get_current_time') parts.push(`It is ${spokenTime(r.output)}.`);
    else if (r.name === 'transfer_call') parts.push(/^Transfer failed/.test(r.output) ? 'Sorry, the transfer did not work.' : 'Transferring you now.');
    else if (r.name === 'warm_transfer') {
      if (/^Warm transfer failed/.test(r.output)) parts.push('Sorry, nobody could take your call right now. I am back with you. How else can I help?');
    }
    else if (r.name === 'end_call') continue;
    else parts.push('Done.');
  }
  return { text: parts.join(' '), calls: [] };
}

function findCall(messages: ChatMessage[], callId: string): string | undefined {
  for (const m of messages) {
    if (m.role !== 'assistant' || !m.tool_calls) continue;
    const c = m.tool_calls.find((x) => x.id === callId);
    if (c) return c.function.name;
  }
  return undefined;
}

/** "2026-11-26T01:02:03Z", {"time": …}, {"iso": …}, or free text → "1:02 AM UTC" (or the text). */
export function spokenTime(output: string): string {
  let value: unknown = output;
  try { value = JSON.parse(output); } catch { /* plain text */ }
  let tz: string | undefined;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.timezone === 'string') tz = o.timezone;
    if (typeof o.timeZone === 'string') tz = o.timeZone;
    value = o.iso ?? o.time ?? o.now ?? o.datetime ?? o.utc ?? output;
  }
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value))) {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) {
      try {
        return d.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', timeZone: tz ?? 'UTC', timeZoneName: 'short' });
      } catch {
        return d.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' });
      }
    }
  }
  return String(value).slice(0, 200);
}

/** Arguments that satisfy the tool's JSON schema: required properties filled with sensible values. */
function argsFor(tool: ChatTool, words: string): Record<string, unknown> {
  const params = tool.parameters ?? {};
  const props = (params.properties ?? {}) as Record<string, { type?: string; enum?: unknown[] }>;
  const required = new Set(Array.isArray(params.required) ? (params.required as string[]) : []);
  const args: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(props)) {
    const isTarget = /target|destination|department|extension|number|uri|^to$/i.test(name);
    if (!required.has(name) && !(isTarget && tool.name === 'transfer_call')) continue;
    if (schema.enum && schema.enum.length > 0) { args[name] = schema.enum[0]; continue; }
    switch (schema.type) {
      case 'number': case 'integer': args[name] = 0; break;
      case 'boolean': args[name] = false; break;
      case 'array': args[name] = []; break;
      case 'object': args[name] = {}; break;
      default:
        if (isTarget) args[name] = transferTarget(words);
        else if (/reason/i.test(name)) args[name] = tool.name === 'end_call' ? 'caller said goodbye' : 'caller asked';
        else if (/zone/i.test(name)) args[name] = 'UTC';
        else args[name] = words;
    }
  }
  return args;
}

/** "please transfer me to the billing department" → "billing department"; default "operator". */
function transferTarget(words: string): string {
  const m = /\bto (?:the |a |an )?([a-z0-9' ]+)$/.exec(words);
  return m?.[1]?.trim() || 'operator';
}
