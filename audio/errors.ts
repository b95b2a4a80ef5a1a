/** Coded errors of the audio core. Match on `code`, never on the message. */
export type AudioErrorCode =
  | 'AUDIO_ERR_BAD_INPUT' // malformed argument: odd byte count, bad base64, wrong frame size
  | 'AUDIO_ERR_UNSUPPORTED_RATE' // a sample rate this processor does not handle
  | 'AUDIO_ERR_BAD_WAV' // bytes that are not a readable WAV file
  | 'AUDIO_ERR_OPUS_UNAVAILABLE' // the @discordjs/opus native addon is missing or failed to build
  | 'AUDIO_ERR_OPUS' // libopus rejected a packet or a frame
  | 'AUDIO_ERR_VAD_UNAVAILABLE' // the Silero model or its runtime could not be loaded
  | 'AUDIO_ERR_CLOSED'; // use after close()

export class AudioError extends Error {
  readonly code: AudioErrorCode;
  readonly retryable: boolean;
  constructor(code: AudioErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AudioError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}
