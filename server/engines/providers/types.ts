/**
 * Stage providers of the cascade engine: speech-to-text, chat (the "brain") and text-to-speech.
 * Each stage has a local implementation (PocketSphinx, the demo agent, flite) and an
 * OpenAI-compatible HTTP one (/v1/audio/transcriptions, /v1/chat/completions, /v1/audio/speech).
 */

import { ParleyError } from '../../errors.ts';

/** Error raised by a provider. Matched by `code`, never by message. */
export class ProviderError extends ParleyError {
  readonly status?: number;
  constructor(code: string, message: string, opts: { retryable?: boolean; status?: number; cause?: unknown } = {}) {
    super(code, message, { retryable: opts.retryable ?? false, cause: opts.cause });
    if (opts.status !== undefined) this.status = opts.status;
  }
}

// ───────────────────────────── speech-to-text ─────────────────────────────

/** Sample rate every STT provider is fed with (PocketSphinx's only English model is 16 kHz). */
export const STT_SAMPLE_RATE_HZ = 16_000;

export interface SttResult {
  text: string;
  /** Duration of the audio that was recognised. */
  audioMs: number;
  /** Time from finish() to the result. */
  finaliseMs: number;
  /** Decoder time spent on this utterance in total (local providers), for the real-time factor. */
  processMs?: number;
  /** CPU time the decoder's thread spent on this utterance (local providers): its cost on a core of its own. */
  cpuMs?: number;
  /** Audio still undecoded when finish() reached the decoder (local providers): the backlog the final waited for. */
  backlogMs?: number;
}

/** One utterance being recognised. Audio is mono pcm16 at 16 kHz, any chunk size. */
export interface SttStream {
  push(pcm16k: Int16Array): void;
  /** No more audio: returns the transcript. Rejects with ProviderError. */
  finish(): Promise<SttResult>;
  /** Drop the utterance; idempotent. */
  abort(): void;
  /**
   * The words heard so far, without ending the utterance (a streaming STT's partial result), or
   * absent when the provider has none. Resolves '' once the stream is finished or aborted.
   */
  partial?(): Promise<string>;
}

export interface SttOpenOptions {
  /** ISO-639-1 language hint (`audio.input.transcription.language`). */
  language?: string;
  /** Model override (`audio.input.transcription.model`), for HTTP providers. */
  model?: string;
  prompt?: string;
}

export interface SttProvider {
  readonly name: string;
  open(opts?: SttOpenOptions): SttStream;
  /** Load models ahead of the first utterance (optional). */
  warm?(): Promise<void>;
  close?(): Promise<void>;
}

// ───────────────────────────── chat ─────────────────────────────

/** OpenAI Chat Completions message shapes (the subset the cascade produces). */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatTool {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export type ChatToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; name: string };

export interface ChatRequest {
  messages: ChatMessage[];
  tools: ChatTool[];
  toolChoice?: ChatToolChoice;
  /** `max_output_tokens`; undefined = unlimited ("inf"). */
  maxOutputTokens?: number;
  signal: AbortSignal;
}

export type ChatChunk =
  | { type: 'text'; delta: string }
  /** A tool call begins; `index` identifies it in later argument deltas. */
  | { type: 'tool_call'; index: number; callId: string; name: string }
  | { type: 'tool_arguments'; index: number; delta: string }
  | { type: 'done'; finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter'; usage?: ChatUsage };

export interface ChatUsage { inputTokens: number; outputTokens: number }

export interface ChatProvider {
  readonly name: string;
  /** Streams the reply. Rejects/throws ProviderError; ends early (no error) when `signal` aborts. */
  stream(req: ChatRequest): AsyncIterable<ChatChunk>;
}

// ───────────────────────────── text-to-speech ─────────────────────────────

export interface TtsRequest {
  text: string;
  voice?: string;
  /** 0.25–1.5 (`audio.output.speed`). */
  speed?: number;
  /** BCP-47/ISO language hint; the local provider picks espeak-ng for non-English. */
  language?: string;
  signal: AbortSignal;
}

export interface TtsProvider {
  readonly name: string;
  /** Synthesises one sentence (or more); yields mono pcm16 chunks at `chunk.sampleRateHz`. */
  synthesize(req: TtsRequest): AsyncIterable<TtsChunk>;
  warm?(): Promise<void>;
  close?(): Promise<void>;
}

export interface TtsChunk { pcm: Int16Array; sampleRateHz: number }
