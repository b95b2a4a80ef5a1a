/** Offline (`local`) engine settings. Owned by the local-engine work: add fields here. */
import type { ConfigReader } from './reader.ts';

export interface LocalConfig {
  /** PARLEY_LOCAL_VAD: silero|energy (default silero). */
  vad: 'silero' | 'energy';
  /**
   * PARLEY_LOCAL_TTS: flite|espeak-ng|http (default flite; flite speaks English and espeak-ng
   * any other transcription language; http = the cascade's PARLEY_TTS_* server).
   */
  tts: 'flite' | 'espeak-ng' | 'http';
  /** PARLEY_LOCAL_STT: pocketsphinx|http (default pocketsphinx; http = PARLEY_STT_* server). */
  stt: 'pocketsphinx' | 'http';
  /** PARLEY_LOCAL_CHAT: demo|http (default demo = the rule-based demo agent; http = PARLEY_CHAT_* server, e.g. Ollama). */
  chat: 'demo' | 'http';
  /** PARLEY_POCKETSPHINX_MODEL_DIR (default /usr/share/pocketsphinx/model/en-us, Debian pocketsphinx-en-us). */
  pocketsphinxModelDir: string;
  /** PARLEY_LOCAL_STT_WORKERS: PocketSphinx worker threads (default 1). */
  sttWorkers: number;
}

export function readLocalConfig(r: ConfigReader): LocalConfig {
  return {
    vad: r.oneOf('PARLEY_LOCAL_VAD', 'local.vad', ['silero', 'energy'] as const, 'silero'),
    tts: r.oneOf('PARLEY_LOCAL_TTS', 'local.tts', ['flite', 'espeak-ng', 'http'] as const, 'flite'),
    stt: r.oneOf('PARLEY_LOCAL_STT', 'local.stt', ['pocketsphinx', 'http'] as const, 'pocketsphinx'),
    chat: r.oneOf('PARLEY_LOCAL_CHAT', 'local.chat', ['demo', 'http'] as const, 'demo'),
    pocketsphinxModelDir: r.str('PARLEY_POCKETSPHINX_MODEL_DIR', 'local.pocketsphinxModelDir', '/usr/share/pocketsphinx/model/en-us'),
    sttWorkers: r.int('PARLEY_LOCAL_STT_WORKERS', 'local.sttWorkers', 1, { min: 1, max: 16 }),
  };
}
