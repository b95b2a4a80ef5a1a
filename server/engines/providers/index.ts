export * from './types.ts';
export { PocketSphinxStt, DEFAULT_POCKETSPHINX_MODEL_DIR } from './pocketsphinx/index.ts';
export type { PocketSphinxOptions, PocketSphinxStats, MeasuredDecoderCost } from './pocketsphinx/index.ts';
export { FliteTts, fliteVoiceFor, FLITE_VOICES } from './flite/index.ts';
export type { FliteVoice } from './flite/index.ts';
export { HttpStt, HttpChat, HttpTts, HTTP_TTS_SAMPLE_RATE_HZ, pcm16Wav } from './http/index.ts';
export type { HttpStageOptions } from './http/index.ts';
export { EspeakTts, LanguageRoutingTts } from './espeak/index.ts';
