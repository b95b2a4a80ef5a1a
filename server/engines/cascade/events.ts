/** GA usage as the cascade reports it in `response.done` (the event shapes: server/protocol/types.ts). */
import type { ChatUsage } from '../providers/index.ts';

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
