/**
 * The cascade's generation part: the response lifecycle (created → output items → done), the chat
 * stream and its function calls. Spoken / written messages are `MessageOutput` (speech.ts).
 *
 * The session's sequencer (server/session/sequencer.ts) sends one conversation response.create at a
 * time; one that arrives while a response is active anyway is answered with
 * `conversation_already_has_active_response`, which the sequencer retries. Any exception on a
 * response's way out ends it with `response.done` (failed): no response stays active without running.
 */
import { newResponseId, newItemId } from '../../protocol/index.ts';
import type { AudioFormat, ConversationItem, ResponseParams, ResponseStatus } from '../../protocol/index.ts';
import type { ChatRequest, ChatUsage } from '../providers/index.ts';
import { OutputEncoder } from './audio-io.ts';
import { errorInfo, snapshot } from './context.ts';
import type { CascadeContext, TurnMarks, TurnTiming } from './context.ts';
import { toChatMessages, toChatToolChoice, toChatTools } from './conversation.ts';
import { responseObject } from './events.ts';
import type { StatusDetails } from './events.ts';
import type { CascadeItems, StoredItem } from './items.ts';
import { MessageOutput } from './speech.ts';

export type EndStatus = Exclude<ResponseStatus, 'in_progress'>;

export interface GenerationHooks {
  /** A conversation response ended normally: arm the idle timer for the audio still playing (ms). */
  armIdle(playingMs: number): void;
  /** A conversation response started: no idle prompt meanwhile. */
  disarmIdle(): void;
  onTurnTiming?: (t: TurnTiming) => void;
}

interface CallState { item: StoredItem; callId: string; outputIndex: number; args: string }

/** One response. */
export interface Run {
  id: string;
  params: ResponseParams;
  /** In the default conversation (else out of band, `conversation: "none"`). */
  conversation: boolean;
  ctrl: AbortController;
  finished: boolean;
  output: ConversationItem[];
  modalities: Array<'audio' | 'text'>;
  format: AudioFormat | undefined;
  voice: string | undefined;
  encoder: OutputEncoder | null;
  maxOutputTokens: number | 'inf';
  msg: MessageOutput | null;
  call: CallState | null;
  usage: ChatUsage | undefined;
  finishReason: string;
  /** When the first audio delta went out, and how much audio the response generated (ms). */
  firstAudioAt: number | null;
  audioMs: number;
  marks: TurnMarks | null;   // a VAD turn's response: timing marks
}

export class CascadeGeneration {
  readonly #ctx: CascadeContext;
  readonly #items: CascadeItems;
  readonly #hooks: GenerationHooks;
  #active: Run | null = null;
  readonly #outOfBand = new Set<Run>();
  /** A VAD turn ended while a response was active: its automatic response starts after that one. */
  #pendingTurn: TurnMarks | null = null;
  #lastId: string | null = null;
  /** When the last finished reply's audio ends playing (performance.now(), estimated at real time). */
  #playoutEndsAt = 0;

  constructor(ctx: CascadeContext, items: CascadeItems, hooks: GenerationHooks) {
    this.#ctx = ctx;
    this.#items = items;
    this.#hooks = hooks;
  }

  get busy(): boolean {
    return this.#active !== null;
  }

  /** The agent's voice is going out: an active conversation response has sent audio, or a reply's audio is still playing (estimated). */
  get speaking(): boolean {
    const run = this.#active;
    if (run && run.firstAudioAt !== null) return true;
    return performance.now() < this.#playoutEndsAt;
  }

  /** The active response, else the last one (whose audio may still be playing). */
  get currentId(): string {
    return this.#active?.id ?? this.#lastId ?? '';
  }

  /** response.create (client), or a turn's automatic response (`marks`). */
  create(params: ResponseParams, eventId: string | undefined, marks: TurnMarks | null = null): void {
    const conversation = params.conversation !== 'none';
    if (conversation && this.#active) {
      return this.#ctx.error('conversation_already_has_active_response',
        `Conversation already has an active response in progress: ${this.#active.id}. Wait until the response is finished before creating a new one.`, eventId);
    }
    const run = this.#newRun(params, conversation, marks);
    this.#lastId = run.id;
    if (conversation) { this.#active = run; this.#hooks.disarmIdle(); } else this.#outOfBand.add(run);
    try {
      this.#ctx.emit({ type: 'response.created', response: responseObject(run, 'in_progress', null, this.#ctx.conversationId) });
    } catch (err) {
      return this.fail(run, err);
    }
    void this.#run(run);
  }

  /** A turn ended: answer it now, or after the active response. */
  respond(marks: TurnMarks | null): void {
    if (this.#active) {
      if (marks) this.#pendingTurn = marks;
      return;
    }
    this.create({}, undefined, marks);
  }

  /** response.cancel: the named response, else the active one. */
  cancel(responseId: string | undefined, eventId: string | undefined): void {
    const run = responseId === undefined ? this.#active : [this.#active, ...this.#outOfBand].find((r) => r?.id === responseId);
    if (!run) return this.#ctx.error('response_cancel_not_active', 'Cancellation failed: no active response found.', eventId);
    this.finalize(run, 'cancelled', { type: 'cancelled', reason: 'client_cancelled' });
  }

  /** The caller spoke over the reply. */
  bargeIn(): void {
    if (this.#active) this.finalize(this.#active, 'cancelled', { type: 'cancelled', reason: 'turn_detected' });
  }

  /** A truncate of the item the active response is still speaking cancels the response. */
  truncating(itemId: string): void {
    const run = this.#active;
    if (run && run.msg?.item.id === itemId) this.finalize(run, 'cancelled', { type: 'cancelled', reason: 'client_cancelled' });
  }

  close(): void {
    for (const run of [this.#active, ...this.#outOfBand]) if (run) { run.ctrl.abort(); run.finished = true; }
    this.#active = null;
    this.#outOfBand.clear();
  }

  /** Ends a response as failed (an exception on its way). */
  fail(run: Run, err: unknown): void {
    if (run.finished) return;
    const { code, message } = errorInfo(err, 'internal_error');
    this.#ctx.log.warn({ err, responseId: run.id }, 'cascade: response failed');
    this.finalize(run, 'failed', { type: 'failed', error: { type: 'server_error', code, message } });
  }

  /**
   * Ends a response now (idempotent): it stops being active first, then its open items are closed
   * and response.done goes out. An exception while emitting is logged, never leaves it active.
   */
  finalize(run: Run, status: EndStatus, details: StatusDetails): void {
    if (run.finished) return;
    run.finished = true;
    if (status !== 'completed' && status !== 'incomplete') run.ctrl.abort();
    if (this.#active === run) this.#active = null;
    this.#outOfBand.delete(run);
    if (run.conversation) this.#playoutEndsAt = status === 'completed' && run.firstAudioAt !== null ? run.firstAudioAt + run.audioMs : 0;
    try {
      this.#endMessage(run, status === 'completed' ? 'completed' : 'incomplete');
      this.#closeCall(run, status === 'completed' ? 'completed' : 'incomplete');
    } catch (err) {
      this.#ctx.log.error({ err, responseId: run.id }, 'cascade: closing output items failed');
    }
    try {
      this.#ctx.emit({ type: 'response.done', response: responseObject(run, status, details, this.#ctx.conversationId) });
    } catch (err) {
      this.#ctx.log.error({ err, responseId: run.id }, 'cascade: response.done failed');
    }
    if (status !== 'completed') this.#ctx.log.debug({ responseId: run.id, status, details }, 'cascade: response ended');
    if (this.#ctx.closed) return;
    const pending = this.#pendingTurn;
    if (pending && !this.#active) {
      this.#pendingTurn = null;
      try {
        this.create({}, undefined, pending);
      } catch (err) {
        this.#ctx.log.error({ err }, 'cascade: turn response failed to start');
      }
    } else if (run.conversation && status === 'completed') {
      // idle prompt after the reply has played (estimated from the audio generated, at real time)
      this.#hooks.armIdle(run.firstAudioAt === null ? 0 : Math.max(0, run.audioMs - (performance.now() - run.firstAudioAt)));
    }
  }

  #newRun(params: ResponseParams, conversation: boolean, marks: TurnMarks | null): Run {
    const s = this.#ctx.session;
    const audioOut = params.audio?.output;
    const format = audioOut?.format ?? s.audio?.output?.format;
    const voice = audioOut?.voice ?? s.audio?.output?.voice;
    const modalities = params.output_modalities ?? s.output_modalities ?? ['audio'];
    return {
      id: newResponseId(),
      params,
      conversation,
      ctrl: new AbortController(),
      finished: false,
      output: [],
      modalities,
      format,
      voice: typeof voice === 'string' ? voice : voice?.id,
      encoder: modalities.includes('audio') ? new OutputEncoder(format) : null,
      maxOutputTokens: params.max_output_tokens ?? s.max_output_tokens ?? 'inf',
      msg: null,
      call: null,
      usage: undefined,
      finishReason: 'stop',
      firstAudioAt: null,
      audioMs: 0,
      marks,
    };
  }

  /** The items the model sees: the conversation, or the response's own `input` (item references resolved). */
  #contextItems(params: ResponseParams): readonly ConversationItem[] {
    if (!params.input) return this.#items.items;
    const out: ConversationItem[] = [];
    for (const x of params.input) {
      if (x.type !== 'item_reference') out.push(x);
      else if (typeof x.id === 'string') {
        const found = this.#items.find(x.id);
        if (found) out.push(found);
      }
    }
    return out;
  }

  async #run(run: Run): Promise<void> {
    try {
      await Promise.all(this.#items.pendingTranscripts());
      if (run.finished) return;
      if (run.marks) run.marks.sttAt = performance.now();
      const p = run.params;
      const s = this.#ctx.session;
      const req: ChatRequest = {
        messages: toChatMessages(this.#contextItems(p), p.instructions ?? s.instructions),
        tools: toChatTools(p.tools ?? s.tools),
        signal: run.ctrl.signal,
      };
      const toolChoice = toChatToolChoice(p.tool_choice ?? s.tool_choice);
      if (toolChoice) req.toolChoice = toolChoice;
      if (typeof run.maxOutputTokens === 'number') req.maxOutputTokens = run.maxOutputTokens;
      for await (const chunk of this.#ctx.stages.chat.stream(req)) {
        if (run.finished) return;
        switch (chunk.type) {
          case 'text': this.#text(run, chunk.delta); break;
          case 'tool_call':
            await this.#closeMessage(run);
            if (run.finished) return;
            this.#closeCall(run);
            this.#openCall(run, chunk.callId, chunk.name);
            break;
          case 'tool_arguments': this.#callArguments(run, chunk.delta); break;
          case 'done':
            run.finishReason = chunk.finishReason;
            if (chunk.usage) run.usage = chunk.usage;
            break;
        }
      }
      if (run.finished) return;
      await this.#closeMessage(run);
      if (run.finished) return;
      this.#closeCall(run);
      if (run.finishReason === 'length') this.finalize(run, 'incomplete', { type: 'incomplete', reason: 'max_output_tokens' });
      else if (run.finishReason === 'content_filter') this.finalize(run, 'incomplete', { type: 'incomplete', reason: 'content_filter' });
      else this.finalize(run, 'completed', null);
    } catch (err) {
      this.fail(run, err);
    }
  }

  /** Adds an output item (and to the conversation); returns its output index. */
  #addOutput(run: Run, item: StoredItem): number {
    const outputIndex = run.output.length;
    run.output.push(item);
    this.#ctx.emit({ type: 'response.output_item.added', response_id: run.id, output_index: outputIndex, item: snapshot(item) });
    if (run.conversation) this.#items.added(item, this.#items.insert(item));
    return outputIndex;
  }

  #itemDone(run: Run, item: StoredItem, outputIndex: number): void {
    this.#ctx.emit({ type: 'response.output_item.done', response_id: run.id, output_index: outputIndex, item: snapshot(item) });
    if (run.conversation) this.#items.done(item.id);
  }

  #text(run: Run, delta: string): void {
    if (!run.msg) {
      if (run.call) this.#closeCall(run);   // text after a call: the call item ends first
      const item: StoredItem = { id: newItemId(), object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] };
      const outputIndex = this.#addOutput(run, item);
      run.msg = new MessageOutput(this.#ctx, run, item, outputIndex, {
        fail: (err) => this.fail(run, err),
        speaking: (spoken) => { if (run.conversation) this.#items.speaking(item.id, spoken); },
        ...(this.#hooks.onTurnTiming ? { onTurnTiming: this.#hooks.onTurnTiming } : {}),
      });
    }
    run.msg.push(delta);
  }

  /** Ends the current message item normally: waits for its speech, then the done events. */
  async #closeMessage(run: Run): Promise<void> {
    const msg = run.msg;
    if (!msg) return;
    await msg.finish();
    if (run.finished) return;
    this.#endMessage(run, 'completed');
  }

  #endMessage(run: Run, status: 'completed' | 'incomplete'): void {
    const msg = run.msg;
    if (!msg) return;
    run.msg = null;
    msg.end(status);
    this.#itemDone(run, msg.item, msg.outputIndex);
  }

  #openCall(run: Run, callId: string, name: string): void {
    const item: StoredItem = { id: newItemId(), object: 'realtime.item', type: 'function_call', status: 'in_progress', call_id: callId, name, arguments: '' };
    const outputIndex = this.#addOutput(run, item);
    run.call = { item, callId, outputIndex, args: '' };
  }

  #callArguments(run: Run, delta: string): void {
    const call = run.call;
    if (!call) return;
    call.args += delta;
    this.#ctx.emit({ type: 'response.function_call_arguments.delta', response_id: run.id, item_id: call.item.id, output_index: call.outputIndex, call_id: call.callId, delta });
  }

  #closeCall(run: Run, status: 'completed' | 'incomplete' = 'completed'): void {
    const call = run.call;
    if (!call) return;
    run.call = null;
    const args = call.args || '{}';
    call.item.arguments = args;
    call.item.status = status;
    if (status === 'completed') {
      this.#ctx.emit({ type: 'response.function_call_arguments.done', response_id: run.id, item_id: call.item.id, output_index: call.outputIndex, call_id: call.callId, name: call.item.name ?? '', arguments: args });
    }
    this.#itemDone(run, call.item, call.outputIndex);
  }
}
