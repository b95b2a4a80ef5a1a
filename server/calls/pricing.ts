/**
 * Prices for the estimated cost of a call (USD). Defaults from OpenAI's published price list; every
 * price can be changed, and models added, under `pricing` in the PARLEY_CONFIG file (server/config/store.ts):
 *
 *   "pricing": { "gpt-realtime": { "audioInput": 32, "audioOutput": 64 }, "my-llm": { "textInput": 0.1, "textOutput": 0.4 } }
 *
 * A model name matches the longest key that is a prefix of it (`gpt-realtime-2025-08-28` → `gpt-realtime`).
 * Engines that run on this machine (`local`) cost nothing.
 */

export interface ModelPrice {
  /** USD per 1M tokens. */
  textInput?: number;
  textCachedInput?: number;
  textOutput?: number;
  audioInput?: number;
  audioCachedInput?: number;
  audioOutput?: number;
  /** USD per minute of audio (speech-to-text billed by duration). */
  perMinute?: number;
  /** USD per 1M characters of text (text-to-speech billed by input). */
  perMillionChars?: number;
}

export type Pricing = Record<string, ModelPrice>;

export const PRICE_FIELDS = ['textInput', 'textCachedInput', 'textOutput', 'audioInput', 'audioCachedInput', 'audioOutput', 'perMinute', 'perMillionChars'] as const;

export const DEFAULT_PRICING: Readonly<Pricing> = {
  // realtime speech-to-speech
  'gpt-realtime': { textInput: 4, textCachedInput: 0.4, textOutput: 16, audioInput: 32, audioCachedInput: 0.4, audioOutput: 64 },
  'gpt-realtime-mini': { textInput: 0.6, textCachedInput: 0.06, textOutput: 2.4, audioInput: 10, audioCachedInput: 0.3, audioOutput: 20 },
  'gpt-4o-realtime-preview': { textInput: 5, textCachedInput: 2.5, textOutput: 20, audioInput: 40, audioCachedInput: 2.5, audioOutput: 80 },
  'gpt-4o-mini-realtime-preview': { textInput: 0.6, textCachedInput: 0.3, textOutput: 2.4, audioInput: 10, audioCachedInput: 0.3, audioOutput: 20 },
  'gpt-4o-mini-realtime': { textInput: 0.6, textCachedInput: 0.3, textOutput: 2.4, audioInput: 10, audioCachedInput: 0.3, audioOutput: 20 },
  // speech-to-text: billed by tokens when the usage says tokens, else by the minute
  'gpt-4o-transcribe': { textInput: 2.5, audioInput: 6, textOutput: 10, perMinute: 0.006 },
  'gpt-4o-mini-transcribe': { textInput: 1.25, audioInput: 3, textOutput: 5, perMinute: 0.003 },
  'whisper-1': { perMinute: 0.006 },
  // text-to-speech: gpt-4o-mini-tts is ~$0.015 a minute, ~15 characters a second of speech
  'gpt-4o-mini-tts': { perMillionChars: 16.67 },
  'tts-1': { perMillionChars: 15 },
  'tts-1-hd': { perMillionChars: 30 },
  // chat models (the cascade's brain)
  'gpt-4o-mini': { textInput: 0.15, textCachedInput: 0.075, textOutput: 0.6 },
  'gpt-4o': { textInput: 2.5, textCachedInput: 1.25, textOutput: 10 },
  'gpt-4.1': { textInput: 2, textCachedInput: 0.5, textOutput: 8 },
  'gpt-4.1-mini': { textInput: 0.4, textCachedInput: 0.1, textOutput: 1.6 },
  'gpt-4.1-nano': { textInput: 0.1, textCachedInput: 0.025, textOutput: 0.4 },
  'gpt-5': { textInput: 1.25, textCachedInput: 0.125, textOutput: 10 },
  'gpt-5-mini': { textInput: 0.25, textCachedInput: 0.025, textOutput: 2 },
  'gpt-5-nano': { textInput: 0.05, textCachedInput: 0.005, textOutput: 0.4 },
};

/** The defaults with the overrides merged in, field by field. */
export function mergePricing(overrides: Pricing): Pricing {
  const out: Pricing = {};
  for (const [k, v] of Object.entries(DEFAULT_PRICING)) out[k] = { ...v };
  for (const [k, v] of Object.entries(overrides)) out[k] = { ...(out[k] ?? {}), ...v };
  return out;
}

/** The price entry for a model name: exact, else the longest key that is a prefix of it. */
export function priceOf(pricing: Pricing, model: string | null | undefined): { key: string; price: ModelPrice } | null {
  if (!model) return null;
  const exact = pricing[model];
  if (exact) return { key: model, price: exact };
  let best: string | null = null;
  for (const k of Object.keys(pricing)) if (model.startsWith(k) && (best === null || k.length > best.length)) best = k;
  return best === null ? null : { key: best, price: pricing[best]! };
}
