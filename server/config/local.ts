/** Offline (`local`) engine settings. Owned by the local-engine work: add fields here. */
import type { ConfigReader } from './reader.ts';

export interface LocalConfig {
  /** PARLEY_LOCAL_VAD: silero|energy (default silero). */
  vad: 'silero' | 'energy';
  /** PARLEY_LOCAL_TTS: flite|espeak-ng (default flite). */
  tts: 'flite' | 'espeak-ng';
}

export function readLocalConfig(r: ConfigReader): LocalConfig {
  return {
    vad: r.oneOf('PARLEY_LOCAL_VAD', 'local.vad', ['silero', 'energy'] as const, 'silero'),
    tts: r.oneOf('PARLEY_LOCAL_TTS', 'local.tts', ['flite', 'espeak-ng'] as const, 'flite'),
  };
}
