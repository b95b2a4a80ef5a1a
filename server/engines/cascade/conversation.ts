/**
 * The cascade's conversation: an ordered list of GA items, and its translation into chat messages
 * for an OpenAI-compatible chat model (the history the brain sees, as text).
 */
import type { ChatMessage, ChatTool, ChatToolChoice } from '../providers/index.ts';
import type { ContentPart, ConversationItem, RealtimeTool } from '../../protocol/index.ts';

export interface StoredItem {
  item: ConversationItem;
  /** Resolves when a user audio item's transcript is known (the transcript gates the brain). */
  transcript?: Promise<void>;
  /** Assistant audio: ms generated, and where each spoken piece starts (for truncate). */
  audioMs?: number;
  pieces?: { startMs: number; text: string }[];
}

export class Conversation {
  readonly items: StoredItem[] = [];

  find(id: string): StoredItem | undefined {
    return this.items.find((s) => s.item.id === id);
  }

  lastId(): string | null {
    return this.items.at(-1)?.item.id ?? null;
  }

  /** Inserts after `previousId` ('root' = first, undefined = last); returns the previous item's id or null. */
  insert(stored: StoredItem, previousId?: string | null): string | null {
    if (previousId === undefined || previousId === null) {
      const prev = this.lastId();
      this.items.push(stored);
      return prev;
    }
    if (previousId === 'root') {
      this.items.unshift(stored);
      return null;
    }
    const at = this.items.findIndex((s) => s.item.id === previousId);
    if (at < 0) throw new Error(`no item ${previousId}`);
    this.items.splice(at + 1, 0, stored);
    return previousId;
  }

  delete(id: string): boolean {
    const at = this.items.findIndex((s) => s.item.id === id);
    if (at < 0) return false;
    this.items.splice(at, 1);
    return true;
  }
}

export function partText(p: ContentPart): string {
  const r = p as { type: string; text?: unknown; transcript?: unknown };
  if (typeof r.text === 'string') return r.text;
  if (typeof r.transcript === 'string') return r.transcript;
  return '';
}

export function itemText(item: ConversationItem): string {
  return (item.content ?? []).map(partText).filter(Boolean).join(' ');
}

/** GA items → chat messages. Function calls without an output yet are left out (chat APIs reject them). */
export function toChatMessages(items: ConversationItem[], instructions: string | undefined): ChatMessage[] {
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
      out.push({ role: 'tool', tool_call_id: item.call_id ?? '', content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? '') });
    }
  }
  return out;
}

export function toChatTools(tools: RealtimeTool[] | undefined): ChatTool[] {
  const out: ChatTool[] = [];
  for (const t of tools ?? []) {
    if (t.type !== 'function' || typeof t.name !== 'string') continue;
    const tool: ChatTool = { name: t.name };
    if (typeof t.description === 'string') tool.description = t.description;
    if (t.parameters && typeof t.parameters === 'object') tool.parameters = t.parameters as Record<string, unknown>;
    out.push(tool);
  }
  return out;
}

export function toChatToolChoice(choice: unknown): ChatToolChoice | undefined {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (choice && typeof choice === 'object' && (choice as { type?: unknown }).type === 'function') {
    const name = (choice as { name?: unknown }).name;
    if (typeof name === 'string') return { type: 'function', name };
  }
  return undefined;
}
