/**
 * PARLEY_SERVER_TOOL_EVENTS=hide: the calls of server tools and their outputs never reach the client
 * (for clients that fail on calls to tools they did not declare). Decides per server event.
 */
import type { ConversationItem, ResponseDoneEvent, ServerEvent } from '../protocol/index.ts';

export class HiddenToolEvents {
  /** Item ids of server-tool calls and their outputs. */
  readonly #items = new Set<string>();
  readonly #isServerTool: (name: string) => boolean;
  readonly #isServerCall: (callId: string) => boolean;

  constructor(isServerTool: (name: string) => boolean, isServerCall: (callId: string) => boolean) {
    this.#isServerTool = isServerTool;
    this.#isServerCall = isServerCall;
  }

  #hideItem(item: ConversationItem): boolean {
    if (typeof item.id !== 'string') return false;
    if (this.#items.has(item.id)) return true;
    const serverCall = item.type === 'function_call' && typeof item.name === 'string' && this.#isServerTool(item.name);
    const serverOutput = item.type === 'function_call_output' && typeof item.call_id === 'string' && this.#isServerCall(item.call_id);
    if (!serverCall && !serverOutput) return false;
    this.#items.add(item.id);
    return true;
  }

  /** True when this event is about a server tool's call/output and must not reach the client. */
  hides(ev: ServerEvent): boolean {
    switch (ev.type) {
      case 'response.output_item.added':
      case 'response.output_item.done':
      case 'conversation.item.added':
      case 'conversation.item.done':
      case 'conversation.item.created':
        return this.#hideItem(ev.item);
      case 'response.function_call_arguments.delta':
      case 'response.function_call_arguments.done':
        return this.#items.has(ev.item_id);
      default:
        return false;
    }
  }

  /** `response.done` without the hidden items in `response.output`. */
  strip(ev: ResponseDoneEvent): ResponseDoneEvent {
    const out = ev.response.output;
    if (!out) return ev;
    const kept = out.filter((i) => typeof i.id !== 'string' || !this.#items.has(i.id));
    return kept.length === out.length ? ev : { ...ev, response: { ...ev.response, output: kept } };
  }
}
