/**
 * The first message: phone calls start with the agent speaking. When the call is answered the door asks the
 * engine for one response whose instructions make it say exactly the profile's text (GA `response.create`
 * with `instructions`, which replace the session's for that response only; no tools). Every engine honours it:
 * OpenAI's model follows the instructions; the cascade hands them to its chat model as the system message,
 * and the local engine's rule-based demo agent (server/agent/demo-agent.ts) recognises this phrasing and
 * speaks the quoted text. The reply is an ordinary assistant item: it is in the conversation, the transcript
 * and the recording like any other turn.
 */
import type { ResponseCreateEvent } from '../protocol/index.ts';

/** The response instructions that make the agent say `text` to `to` (the caller; warm transfer's target). */
export function firstMessageInstructions(text: string, to = 'the caller'): string {
  return `Say exactly the following to ${to}, word for word, and nothing else: "${text}"`;
}

/** The `response.create` a door sends when the call is answered (and warm transfer, to the target). */
export function firstMessageEvent(text: string, to?: string): ResponseCreateEvent {
  return { type: 'response.create', response: { instructions: firstMessageInstructions(text, to), tool_choice: 'none' } };
}
