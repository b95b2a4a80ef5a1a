/**
 * The session's server tools: runs each server-side function call the engine makes (once per
 * call_id), reports it to observers, hands the output back to the engine as a
 * `function_call_output` item and, once every call of a response has its output, asks for the
 * next response — only when the calling response completed (a cancelled or failed response's calls
 * still get their outputs, but no new response is asked for).
 */
import type { Logger } from 'pino';
import { newEventId, type ClientEvent, type ConversationItem } from '../protocol/index.ts';
import type { ToolCallFacts, ToolRegistry } from '../tools/index.ts';
import type { ObserverSet, SessionInfo } from './observer.ts';

interface ToolBatch {
  pending: number;
  /** The response that called the tools completed: ask for the next one when the outputs are in. */
  respond: boolean;
  /** Its response.done has arrived. */
  done: boolean;
}

export interface ToolRunnerDeps {
  sessionId: string;
  callId: string | undefined;
  log: Logger;
  signal: AbortSignal;
  tools: ToolRegistry;
  /** Who the session is: tools see it as ToolContext.call (an HTTP tool sends it to the backend). */
  info?: SessionInfo;
  observers: ObserverSet;
  /** The engine connection's generation: an output goes only to the connection whose response called the tool. */
  generation: () => number;
  closed: () => boolean;
  /** Hands a client event to the engine. */
  send: (ev: ClientEvent) => void;
  /** Asks for the next response (the calls' outputs are in). */
  respond: () => void;
}

/** The response a `response.done` ended, as the runner must settle it. */
export type SettleToken = ToolBatch | undefined;

export class ToolRunner {
  readonly #d: ToolRunnerDeps;
  /** response id → the server tool calls of that response still running. */
  readonly #batches = new Map<string, ToolBatch>();
  readonly #seen = new Set<string>();
  #facts: ToolCallFacts | undefined;

  constructor(deps: ToolRunnerDeps) {
    this.#d = deps;
  }

  /** Is `name` a server tool. */
  has(name: string): boolean {
    return this.#d.tools.has(name);
  }

  /** Has this call been run by the server. */
  ran(callId: string): boolean {
    return this.#seen.has(callId);
  }

  /** Some response's tool calls are still running or waiting for their response to end. */
  get busy(): boolean {
    return this.#batches.size > 0;
  }

  /** The engine changed: the old connection's batches are forgotten (their outputs are dropped). */
  clear(): void {
    this.#batches.clear();
  }

  /** An output item is done: run it if it is a server tool's call not run before. */
  itemDone(item: ConversationItem, responseId: string): void {
    if (item.type !== 'function_call' || typeof item.name !== 'string' || typeof item.call_id !== 'string') return;
    if (!this.#d.tools.has(item.name) || this.#seen.has(item.call_id)) return;
    this.#seen.add(item.call_id);
    let batch = this.#batches.get(responseId);
    if (!batch) {
      batch = { pending: 0, respond: false, done: false };
      this.#batches.set(responseId, batch);
    }
    batch.pending++;
    void this.#run(item.name, item.call_id, item.arguments ?? '', responseId, batch);
  }

  /** The response ended (`status`): marks its batch; call `settle` with the token once the bookkeeping is done. */
  responseDone(responseId: string, status: string): SettleToken {
    const batch = this.#batches.get(responseId);
    if (batch) {
      batch.done = true;
      // cancelled/failed responses: their calls still get outputs, but no new response is asked for
      batch.respond = status === 'completed';
    }
    return batch;
  }

  /** Asks for the next response if the batch's outputs are all in and its response completed. */
  settle(responseId: string, token: SettleToken): void {
    if (token) this.#maybeRespond(responseId, token);
  }

  async #run(name: string, callId: string, args: string, responseId: string, batch: ToolBatch): Promise<void> {
    const d = this.#d;
    const gen = d.generation();
    const ctx: Parameters<ToolRegistry['run']>[2] = { sessionId: d.sessionId, log: d.log, signal: d.signal };
    if (d.callId !== undefined) ctx.callId = d.callId;
    const facts = this.#callFacts();
    if (facts !== undefined) ctx.call = facts;
    const result = await d.tools.run(name, args, ctx);
    d.observers.emit('toolCall', {
      name,
      callId,
      arguments: args,
      output: result.output,
      ok: result.ok,
      durationMs: result.durationMs,
      ...(result.errorCode ? { errorCode: result.errorCode } : {}),
    });
    d.log.info({ tool: name, ok: result.ok, durationMs: Math.round(result.durationMs), ...(result.errorCode ? { errorCode: result.errorCode } : {}) }, 'server tool ran');
    if (d.closed() || gen !== d.generation()) return;
    d.send({ type: 'conversation.item.create', event_id: newEventId(), item: { type: 'function_call_output', call_id: callId, output: result.output } });
    batch.pending--;
    this.#maybeRespond(responseId, batch);
  }

  #callFacts(): ToolCallFacts | undefined {
    const s = this.#d.info;
    if (s === undefined) return undefined;
    this.#facts ??= {
      id: s.id,
      door: s.leg,
      from: s.call.from ?? null,
      to: s.call.to ?? null,
      dialled: s.call.dialled ?? null,
      sipCallId: s.call.sipCallId ?? null,
      profile: s.profile,
      metadata: { ...s.metadata },
    };
    return this.#facts;
  }

  #maybeRespond(responseId: string, batch: ToolBatch): void {
    if (batch.pending > 0 || !batch.done) return;
    if (this.#batches.get(responseId) !== batch) return;
    this.#batches.delete(responseId);
    if (batch.respond) this.#d.respond();
  }
}
