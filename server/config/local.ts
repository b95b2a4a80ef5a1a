/** Offline (`local`) engine settings. Owned by the local-engine work: add fields here. */
import { availableParallelism } from 'node:os';
import type { ConfigReader } from './reader.ts';
import { PRIOR_COST, localCapacity, sessionsPerWorker } from '../engines/local/capacity.ts';

/**
 * Concurrent speakers one PocketSphinx worker serves before the decoders' cost has been measured:
 * computed from the cost measured on this project's machine (server/engines/local/capacity.ts,
 * docs/notes/local-engine.md). At run time the local engine recomputes it from the measured cost.
 */
export const LOCAL_SESSIONS_PER_WORKER = sessionsPerWorker(PRIOR_COST);

/**
 * PocketSphinx workers by default: one per core on up to 2 cores, else one per core but one, which
 * stays for the event loop (VAD, media, events) and flite. Measured on 2 quiet cores with one search
 * pass (bench/local-engine.ts, docs/notes/local-engine.md): two workers against one, 4 speakers p95
 * 493 against 1825 ms, 6 speakers 1211 against 2955 ms. (Session 9 measured two workers slower, with
 * two search passes on a machine shared with other engineers' tests.)
 */
export function defaultSttWorkers(cores: number): number {
  return Math.min(16, Math.max(1, cores <= 2 ? cores : cores - 1));
}

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
  /** PARLEY_LOCAL_STT_WORKERS: PocketSphinx worker threads (default: os.availableParallelism() − 1, at least 1). */
  sttWorkers: number;
  /**
   * PARLEY_LOCAL_STT_DECODERS: PocketSphinx decoders kept loaded (~100 MB and ~0.5 s of loading
   * each, done at start and in the background), default one per admitted session.
   */
  sttDecoders: number;
  /**
   * PARLEY_LOCAL_STT_MAX_DECODERS: the most PocketSphinx decoders loaded in all (default
   * `sttDecoders` + one per worker). An utterance that finds every decoder in use loads another up
   * to this bound, then waits for one to come free: memory stays bounded whatever clients send.
   */
  sttMaxDecoders: number;
  /**
   * PARLEY_POCKETSPHINX_SECOND_PASS: run PocketSphinx's second (fwdflat) pass at the end of each
   * utterance (default false). Measured on 164 words (bench/local-stt-settings.ts) the second pass
   * heard no more words right and made each end-of-utterance search ~6× longer, the time every
   * caller whose turn ends with others' waits for (docs/notes/local-engine.md). The memory growth
   * once blamed on one pass was the decoder pool growing without bound, now capped
   * (PARLEY_LOCAL_STT_MAX_DECODERS).
   */
  sttSecondPass: boolean;
  /** PARLEY_LOCAL_TTS_WORKERS: flite worker threads (default: os.availableParallelism(), at most 4). */
  ttsWorkers: number;
  /**
   * PARLEY_LOCAL_MAX_SESSIONS: sessions the local engine admits at once; the doors refuse more
   * (SIP 503 + Retry-After, WS `error` engine_at_capacity). 0 = no limit. Default with PocketSphinx:
   * computed from the decoder cost measured on this project's machine (server/engines/local/capacity.ts:
   * LOCAL_SESSIONS_PER_WORKER × the PocketSphinx workers that have a core); with an HTTP STT: no limit.
   */
  maxSessions: number;
  /**
   * PARLEY_LOCAL_MAX_SESSIONS=auto (PocketSphinx only): the engine recomputes its capacity from the
   * decoders' cost as measured while serving (server/engines/local/capacity.ts), `maxSessions` until
   * then. Not the default: a machine whose other tenants slow the decoders (a CI box) then admits
   * fewer sessions than its tests open.
   */
  maxSessionsAuto: boolean;
  /** PARLEY_LOCAL_RETRY_AFTER_S: what a refused caller is told to wait (SIP Retry-After), default 5. */
  retryAfterS: number;
  /**
   * PARLEY_LOCAL_OVERLOAD_MS: also refuse new sessions while utterances wait longer than this for
   * their transcript (smoothed over the last 30 s): the cores are not keeping up, whatever the
   * session count (other tenants, long utterances). Default 0 = off (it refused sessions of the project's own
   * e2e tests on a busy CI machine); 2000 (twice the 6-speaker target) is a sensible value for a cluster.
   */
  overloadFinishMs: number;
}

export function readLocalConfig(r: ConfigReader, cores: number = availableParallelism()): LocalConfig {
  const stt = r.oneOf('PARLEY_LOCAL_STT', 'local.stt', ['pocketsphinx', 'http'] as const, 'pocketsphinx');
  const sttWorkers = r.int('PARLEY_LOCAL_STT_WORKERS', 'local.sttWorkers', defaultSttWorkers(cores), { min: 1, max: 16 });
  // 'auto': computed from the decoders' cost as measured while serving (server/engines/local/capacity.ts)
  const autoAsked = r.raw('PARLEY_LOCAL_MAX_SESSIONS', 'local.maxSessions')?.value === 'auto';
  const maxAuto = stt === 'pocketsphinx' && autoAsked;
  const computed = localCapacity(PRIOR_COST, sttWorkers, cores);
  const maxSessions = autoAsked ? (maxAuto ? computed : 0) : r.int('PARLEY_LOCAL_MAX_SESSIONS', 'local.maxSessions', stt === 'pocketsphinx' ? computed : 0, { min: 0, max: 100_000 });
  const sttDecoders = r.int('PARLEY_LOCAL_STT_DECODERS', 'local.sttDecoders', Math.min(256, Math.max(sttWorkers, maxSessions)), { min: 1, max: 256 });
  return {
    vad: r.oneOf('PARLEY_LOCAL_VAD', 'local.vad', ['silero', 'energy'] as const, 'silero'),
    tts: r.oneOf('PARLEY_LOCAL_TTS', 'local.tts', ['flite', 'espeak-ng', 'http'] as const, 'flite'),
    stt,
    chat: r.oneOf('PARLEY_LOCAL_CHAT', 'local.chat', ['demo', 'http'] as const, 'demo'),
    pocketsphinxModelDir: r.str('PARLEY_POCKETSPHINX_MODEL_DIR', 'local.pocketsphinxModelDir', '/usr/share/pocketsphinx/model/en-us'),
    sttWorkers,
    sttDecoders,
    sttMaxDecoders: r.int('PARLEY_LOCAL_STT_MAX_DECODERS', 'local.sttMaxDecoders', sttDecoders + sttWorkers, { min: sttDecoders, max: 512 }),
    sttSecondPass: r.bool('PARLEY_POCKETSPHINX_SECOND_PASS', 'local.sttSecondPass', false),
    ttsWorkers: r.int('PARLEY_LOCAL_TTS_WORKERS', 'local.ttsWorkers', Math.min(4, Math.max(1, cores)), { min: 1, max: 16 }),
    maxSessions,
    maxSessionsAuto: maxAuto,
    retryAfterS: r.int('PARLEY_LOCAL_RETRY_AFTER_S', 'local.retryAfterS', 5, { min: 1, max: 3600 }),
    overloadFinishMs: r.int('PARLEY_LOCAL_OVERLOAD_MS', 'local.overloadFinishMs', 0, { min: 0, max: 60_000 }),
  };
}
