/**
 * The offline engine: the cascade on embedded parts — Silero VAD, PocketSphinx STT (worker
 * thread), the rule-based demo agent, flite TTS (worker thread; espeak-ng for other languages).
 * Each stage can be swapped for the cascade's OpenAI-compatible HTTP stage in config
 * (`local.stt|chat|tts = http`), e.g. a local Ollama as the brain with offline speech.
 */
import { DemoAgent } from '../../agent/index.ts';
import type { ParleyConfig } from '../../config.ts';
import { CascadeEngine, httpStages } from '../cascade/index.ts';
import type { CascadeStages, TurnTiming } from '../cascade/index.ts';
import type { EngineDeps } from '../types.ts';
import { EspeakTts, FliteTts, LanguageRoutingTts, PocketSphinxStt } from '../providers/index.ts';

export function localStages(config: Pick<ParleyConfig, 'local' | 'cascade'>): CascadeStages {
  const local = config.local;
  const needsHttp = local.stt === 'http' || local.chat === 'http' || local.tts === 'http';
  const http = needsHttp ? httpStages(config.cascade) : null;
  const espeak = new EspeakTts();
  return {
    stt: local.stt === 'http' ? http!.stt : new PocketSphinxStt({ modelDir: local.pocketsphinxModelDir, workers: local.sttWorkers }),
    chat: local.chat === 'http' ? http!.chat : new DemoAgent(),
    tts: local.tts === 'http' ? http!.tts : local.tts === 'espeak-ng' ? espeak : new LanguageRoutingTts(new FliteTts(), espeak),
  };
}

export function createLocalEngine(deps: EngineDeps, extra: { onTurnTiming?: (t: TurnTiming) => void } = {}): CascadeEngine {
  return new CascadeEngine({
    name: 'local',
    stages: localStages(deps.config),
    vad: deps.config.local.vad,
    log: deps.log,
    ...(extra.onTurnTiming ? { onTurnTiming: extra.onTurnTiming } : {}),
  });
}
