import { ProviderError } from '../types.ts';
import type { ChatChunk, ChatProvider, ChatRequest } from '../types.ts';
import { isAbort, postJsonStream } from './common.ts';
import type { HttpStageOptions } from './common.ts';

interface SseDelta {
  choices?: {
    delta?: { content?: string | null; tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[] };
    finish_reason?: string | null;
  }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

/**
 * Chat through `POST {baseUrl}/chat/completions` with `stream: true` and tools (OpenAI, Ollama,
 * vLLM, llama.cpp server…). Server-sent events, one JSON chunk per `data:` line, `[DONE]` last.
 */
export class HttpChat implements ChatProvider {
  readonly name = 'http-chat';
  constructor(private readonly opts: HttpStageOptions) {}

  async *stream(req: ChatRequest): AsyncIterable<ChatChunk> {
    const body: Record<string, unknown> = {
      model: this.opts.model,
      messages: req.messages,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (req.tools.length > 0) {
      body.tools = req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } } }));
      if (req.toolChoice) body.tool_choice = typeof req.toolChoice === 'string' ? req.toolChoice : { type: 'function', function: { name: req.toolChoice.name } };
    }
    if (req.maxOutputTokens !== undefined) body.max_tokens = req.maxOutputTokens;
    const stream = await postJsonStream('chat', this.opts, 'chat/completions', body, req.signal, 'text/event-stream');
    if (!stream) return;

    const calls = new Map<number, { started: boolean }>();
    let finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter' = 'stop';
    let usage: { inputTokens: number; outputTokens: number } | undefined;
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const bytes of stream) {
        pending += decoder.decode(bytes as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).replace(/\r$/, '');
          pending = pending.slice(nl + 1);
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') { yield done(); return; }
          let ev: SseDelta;
          try { ev = JSON.parse(data) as SseDelta; } catch { throw new ProviderError('HTTP_BAD_RESPONSE', 'chat: malformed SSE data'); }
          if (ev.error) throw new ProviderError('HTTP_SERVER_ERROR', `chat: ${ev.error.message ?? 'stream error'}`, { retryable: true });
          if (ev.usage) usage = { inputTokens: ev.usage.prompt_tokens ?? 0, outputTokens: ev.usage.completion_tokens ?? 0 };
          const choice = ev.choices?.[0];
          if (!choice) continue;
          const d = choice.delta;
          if (d?.content) yield { type: 'text', delta: d.content };
          for (const tc of d?.tool_calls ?? []) {
            const index = tc.index ?? 0;
            let call = calls.get(index);
            if (!call) { call = { started: false }; calls.set(index, call); }
            if (!call.started && tc.function?.name) {
              call.started = true;
              yield { type: 'tool_call', index, callId: tc.id ?? `call_${index}`, name: tc.function.name };
            }
            if (tc.function?.arguments) yield { type: 'tool_arguments', index, delta: tc.function.arguments };
          }
          if (choice.finish_reason) {
            const r = choice.finish_reason;
            finishReason = r === 'length' || r === 'tool_calls' || r === 'content_filter' ? r : r === 'function_call' ? 'tool_calls' : 'stop';
          }
        }
      }
    } catch (err) {
      if (req.signal.aborted && isAbort(err)) return;
      if (err instanceof ProviderError) throw err;
      throw new ProviderError('HTTP_STREAM_BROKEN', `chat: stream broke: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    if (req.signal.aborted) return;
    yield done();

    function done(): ChatChunk {
      if (calls.size > 0 && finishReason === 'stop') finishReason = 'tool_calls';
      return usage ? { type: 'done', finishReason, usage } : { type: 'done', finishReason };
    }
  }
}
