export { HttpStt, pcm16Wav } from './stt.ts';
export { HttpChat } from './chat.ts';
export { HttpTts, HTTP_TTS_SAMPLE_RATE_HZ } from './tts.ts';
export type { HttpStageOptions } from './common.ts';
