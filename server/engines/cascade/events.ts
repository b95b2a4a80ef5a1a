/** The GA response object and usage as the cascade reports them (event shapes: server/protocol/types.ts). */
import type { AudioFormat, RealtimeResponse, ResponseStatus } from '../../protocol/index.ts';
import type { ChatUsage } from '../providers/index.ts';
import { snapshot } from './context.ts';
import type { Run } from './generation.ts';

export type StatusDetails = Exclude<RealtimeResponse['status_details'], undefined>;

const PCM24K: AudioFormat = { type: 'audio/pcm', rate: 24_000 };

export type GaUsage = {
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  input_token_details: {
    text_tokens: number; audio_tokens: number; image_tokens: number; cached_tokens: number;
    cached_tokens_details: { text_tokens: number; audio_tokens: number; image_tokens: number };
  };
  output_token_details: { text_tokens: number; audio_tokens: number };
};

/** Usage in GA shape; audio tokens are 0 (the cascade has no audio tokens), unknown counts 0. */
export function gaUsage(u: ChatUsage | undefined): GaUsage {
  const input = u?.inputTokens ?? 0;
  const output = u?.outputTokens ?? 0;
  return {
    total_tokens: input + output,
    input_tokens: input,
    output_tokens: output,
    input_token_details: { text_tokens: input, audio_tokens: 0, image_tokens: 0, cached_tokens: 0, cached_tokens_details: { text_tokens: 0, audio_tokens: 0, image_tokens: 0 } },
    output_token_details: { text_tokens: output, audio_tokens: 0 },
  };
}

/** The response object of `response.created` / `response.done`. */
export function responseObject(run: Run, status: ResponseStatus, details: StatusDetails, conversationId: string): RealtimeResponse {
  const audio: { format: AudioFormat; voice?: string } = { format: run.format ?? PCM24K };
  if (run.voice !== undefined) audio.voice = run.voice;
  return {
    id: run.id,
    object: 'realtime.response',
    status,
    status_details: details,
    output: run.output.map(snapshot),
    conversation_id: run.conversation ? conversationId : null,
    output_modalities: run.modalities,
    audio: { output: audio },
    max_output_tokens: run.maxOutputTokens,
    metadata: run.params.metadata ?? null,
    usage: status === 'in_progress' ? null : gaUsage(run.usage),
  };
}
