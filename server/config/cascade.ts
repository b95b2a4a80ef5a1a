/** Cascade engine settings (STT → chat → TTS). Owned by the cascade work: add fields here. */
import type { ConfigReader } from './reader.ts';

export interface CascadeStageConfig {
  /** Base URL of an OpenAI-compatible server (…/v1). */
  baseUrl: string;
  apiKey: string | null;
  model: string;
}

export interface CascadeConfig {
  /** PARLEY_STT_URL / _KEY / _MODEL (default: OPENAI_BASE_URL, OPENAI_API_KEY, gpt-4o-mini-transcribe). */
  stt: CascadeStageConfig;
  /** PARLEY_CHAT_URL / _KEY / _MODEL (default: OPENAI_BASE_URL, OPENAI_API_KEY, gpt-4o-mini). */
  chat: CascadeStageConfig;
  /** PARLEY_TTS_URL / _KEY / _MODEL / _VOICE (default: OPENAI_BASE_URL, OPENAI_API_KEY, gpt-4o-mini-tts, alloy). */
  tts: CascadeStageConfig & { voice: string };
}

export function readCascadeConfig(r: ConfigReader, openai: { baseUrl: string; apiKey: string | null }): CascadeConfig {
  const stage = (p: string, f: string, model: string): CascadeStageConfig => ({
    baseUrl: r.url(`PARLEY_${p}_URL`, `cascade.${f}.baseUrl`, openai.baseUrl) ?? openai.baseUrl,
    apiKey: r.optStr(`PARLEY_${p}_KEY`, `cascade.${f}.apiKey`) ?? openai.apiKey,
    model: r.str(`PARLEY_${p}_MODEL`, `cascade.${f}.model`, model),
  });
  return {
    stt: stage('STT', 'stt', 'gpt-4o-mini-transcribe'),
    chat: stage('CHAT', 'chat', 'gpt-4o-mini'),
    tts: { ...stage('TTS', 'tts', 'gpt-4o-mini-tts'), voice: r.str('PARLEY_TTS_VOICE', 'cascade.tts.voice', 'alloy') },
  };
}
