/** GA server event shapes the cascade emits (openai-node `resources/realtime/realtime.ts`). */
import { newEventId } from '../../protocol/index.ts';
import type { ChatUsage } from '../providers/index.ts';

export interface GaUsage {
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  input_token_details: {
    text_tokens: number; audio_tokens: number; image_tokens: number; cached_tokens: number;
    cached_tokens_details: { text_tokens: number; audio_tokens: number; image_tokens: number };
  };
  output_token_details: { text_tokens: number; audio_tokens: number };
}

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

/**
 * The hot event, built without JSON.stringify (ids and base64 need no escaping).
 * Returns the object and its JSON.
 */
export function audioDeltaEvent(responseId: string, itemId: string, outputIndex: number, b64: string): { event: { type: string; event_id: string; [k: string]: unknown }; raw: string } {
  const eventId = newEventId();
  const raw = `{"type":"response.output_audio.delta","event_id":"${eventId}","response_id":"${responseId}","item_id":"${itemId}","output_index":${outputIndex},"content_index":0,"delta":"${b64}"}`;
  return {
    event: { type: 'response.output_audio.delta', event_id: eventId, response_id: responseId, item_id: itemId, output_index: outputIndex, content_index: 0, delta: b64 },
    raw,
  };
}
