/**
 * Parley's one error family (docs/contracts.md §0). `ParleyError` is the base of every coded error in
 * audio/, sip/ and server/; it lives here because audio/ is the bottom layer: audio/ imports nothing of
 * ours, sip/ imports only audio/, and server/ imports both (server/errors.ts re-exports it). Callers branch
 * on `code` (and `retryable`), never on `message`. Each module keeps its codes in a table (code →
 * meaning), like fastify's FST_ERR_* table; docs/contracts.md §0 lists them all (a test keeps it in step).
 *
 * Browser-safe: client-demo bundles the audio core, so nothing here touches Node.
 */

const BRAND = Symbol.for('parley.error');

export interface ParleyErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

export class ParleyError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly [BRAND] = true;

  constructor(code: string, message: string, opts: ParleyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }

  /** True for every error of the family (audio, SIP, server), even across duplicate copies of this module (brand check). */
  static is(err: unknown): err is ParleyError {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The audio core's codes. */
export const AUDIO_ERROR_CODES = {
  AUDIO_ERR_BAD_INPUT: 'malformed argument: odd byte count, bad base64, wrong frame size',
  AUDIO_ERR_UNSUPPORTED_RATE: 'a sample rate this processor does not handle',
  AUDIO_ERR_BAD_WAV: 'bytes that are not a readable WAV file',
  AUDIO_ERR_OPUS_UNAVAILABLE: 'the @discordjs/opus native addon is missing or failed to build',
  AUDIO_ERR_OPUS: 'libopus rejected a packet or a frame',
  AUDIO_ERR_VAD_UNAVAILABLE: 'the Silero model or its runtime could not be loaded',
  AUDIO_ERR_CLOSED: 'use after close()',
} as const;

export type AudioErrorCode = keyof typeof AUDIO_ERROR_CODES;

export class AudioError extends ParleyError {
  declare readonly code: AudioErrorCode;
  constructor(code: AudioErrorCode, message: string, opts: ParleyErrorOptions = {}) {
    super(code, message, opts);
  }
}
