/**
 * GA items → chat messages for an OpenAI-compatible chat model (the history the brain sees, as
 * text). The items themselves live in the session's store (server/conversation.ts).
 */
import type { ChatMessage, ChatTool, ChatToolChoice } from '../providers/index.ts';
import type { ConversationItem, FunctionTool, RealtimeTool } from '../../protocol/index.ts';
import { itemText } from '../../conversation.ts';

export { itemText };

/** GA items → chat messages. Function calls without an output yet are left out (chat APIs reject them). */
export function toChatMessages(items: readonly ConversationItem[], instructions: string | undefined): ChatMessage[] {
  const answered = new Set(items.filter((i) => i.type === 'function_call_output').map((i) => i.call_id));
  const out: ChatMessage[] = [];
  if (instructions) out.push({ role: 'system', content: instructions });
  for (const item of items) {
    if (item.type === 'message') {
      const text = itemText(item);
      if (item.role === 'system') out.push({ role: 'system', content: text });
      else if (item.role === 'assistant') out.push({ role: 'assistant', content: text });
      else out.push({ role: 'user', content: text });
    } else if (item.type === 'function_call') {
      if (!item.call_id || !answered.has(item.call_id)) continue;
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name ?? '', arguments: item.arguments ?? '{}' } };
      const last = out.at(-1);
      if (last?.role === 'assistant') (last.tool_calls ??= []).push(call);
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (item.type === 'function_call_output') {
      out.push({ role: 'tool', tool_call_id: item.call_id ?? '', content: item.output ?? '' });
    }
  }
  return out;
}

function isFunctionTool(t: RealtimeTool): t is FunctionTool {
  return t.type === 'function' && typeof t.name === 'string';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function toChatTools(tools: readonly RealtimeTool[] | undefined): ChatTool[] {
  const out: ChatTool[] = [];
  for (const t of tools ?? []) {
    if (!isFunctionTool(t)) continue;
    const tool: ChatTool = { name: t.name };
    if (typeof t.description === 'string') tool.description = t.description;
    if (isRecord(t.parameters)) tool.parameters = t.parameters;
    out.push(tool);
  }
  return out;
}

export function toChatToolChoice(choice: unknown): ChatToolChoice | undefined {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isRecord(choice) && choice['type'] === 'function' && typeof choice['name'] === 'string') return { type: 'function', name: choice['name'] };
  return undefined;
}
