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
import type { SttProvider, TtsProvider } from '../providers/index.ts';

/**
 * The worker-backed providers are shared by every local engine in the process (one set of
 * PocketSphinx decoders and one flite voice, loaded once), so apps built again and again — tests,
 * embedders — do not pile up worker threads. Their workers are unref'd and end with the process.
 */
const sharedStt = new Map<string, PocketSphinxStt>();
let sharedFlite: FliteTts | null = null;

function pocketSphinx(modelDir: string, workers: number): PocketSphinxStt {
  const key = `${modelDir}|${workers}`;
  let stt = sharedStt.get(key);
  if (!stt) { stt = new PocketSphinxStt({ modelDir, workers }); sharedStt.set(key, stt); }
  return stt;
}

/** Shared providers are not closed by one engine (the process owns them): delegate all but close. */
function sharedSttView(p: PocketSphinxStt): SttProvider {
  return { name: p.name, open: () => p.open(), warm: () => p.warm() };
}
function sharedTtsView(p: FliteTts): TtsProvider {
  return { name: p.name, synthesize: (r) => p.synthesize(r), warm: () => p.warm() };
}

export function localStages(config: Pick<ParleyConfig, 'local' | 'cascade'>): CascadeStages {
  const local = config.local;
  const needsHttp = local.stt === 'http' || local.chat === 'http' || local.tts === 'http';
  const http = needsHttp ? httpStages(config.cascade) : null;
  const espeak = new EspeakTts();
  sharedFlite ??= new FliteTts();
  return {
    stt: local.stt === 'http' ? http!.stt : sharedSttView(pocketSphinx(local.pocketsphinxModelDir, local.sttWorkers)),
    chat: local.chat === 'http' ? http!.chat : new DemoAgent(),
    tts: local.tts === 'http' ? http!.tts : local.tts === 'espeak-ng' ? espeak : new LanguageRoutingTts(sharedTtsView(sharedFlite), espeak),
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
