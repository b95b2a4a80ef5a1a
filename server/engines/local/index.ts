/**
 * The offline engine: the cascade on embedded parts — Silero VAD, PocketSphinx STT (worker
 * threads, each with a pool of decoders loaded ahead of use), the rule-based demo agent, flite TTS
 * (worker threads; espeak-ng for other languages). Each stage can be swapped for the cascade's
 * OpenAI-compatible HTTP stage in config (`local.stt|chat|tts = http`), e.g. a local Ollama as the
 * brain with offline speech.
 *
 * It serves as many concurrent sessions as the machine's cores hold within the latency target
 * (`local.maxSessions`) and says so before a door opens one (`admit()`, server/engines/admission.ts).
 */
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { DemoAgent } from '../../agent/index.ts';
import type { ParleyConfig } from '../../config.ts';
import { CascadeEngine, httpStages } from '../cascade/index.ts';
import type { CascadeStages, InterruptionSettings, TurnTiming } from '../cascade/index.ts';
import type { Engine, EngineConnection, EngineDeps, EngineOpenOptions } from '../types.ts';
import type { VadKind } from '../../../audio/index.ts';
import { AdmissionGate } from '../admission.ts';
import { localCapacity } from './capacity.ts';
import type { Admission, AdmissionControl, EngineCapacity } from '../admission.ts';
import { EspeakTts, FliteTts, LanguageRoutingTts, PocketSphinxStt } from '../providers/index.ts';
import type { MeasuredDecoderCost, PocketSphinxStats, SttOpenOptions, SttProvider, TtsProvider } from '../providers/index.ts';

export { FINALS_BUDGET_MS, PRIOR_COST, STT_CORE_SHARE, localCapacity, sessionsPerWorker } from './capacity.ts';
export type { DecoderCost } from './capacity.ts';

/**
 * The worker-backed providers are shared by every local engine in the process (one pool of
 * PocketSphinx decoders and one set of flite voices, loaded once), so apps built again and again —
 * tests, embedders — do not pile up worker threads. Their workers are unref'd and end with the process.
 */
const sharedStt = new Map<string, PocketSphinxStt>();
const sharedFlite = new Map<number, FliteTts>();

function pocketSphinx(local: ParleyConfig['local']): PocketSphinxStt {
  const key = [local.pocketsphinxModelDir, local.sttWorkers, local.sttDecoders, local.sttMaxDecoders, local.sttSecondPass].join('|');
  let stt = sharedStt.get(key);
  if (!stt) {
    stt = new PocketSphinxStt({ modelDir: local.pocketsphinxModelDir, workers: local.sttWorkers, decoders: local.sttDecoders, maxDecoders: local.sttMaxDecoders, secondPass: local.sttSecondPass });
    sharedStt.set(key, stt);
  }
  return stt;
}

function flite(workers: number): FliteTts {
  let tts = sharedFlite.get(workers);
  if (!tts) { tts = new FliteTts({ workers }); sharedFlite.set(workers, tts); }
  return tts;
}

/** A provider shared by the process, seen by one engine: everything but close (the process owns it). */
export class SharedStt implements SttProvider {
  readonly name: string;
  constructor(readonly provider: PocketSphinxStt) { this.name = provider.name; }
  open(opts?: SttOpenOptions): ReturnType<SttProvider['open']> { return this.provider.open(opts); }
  recentFinishMs(windowMs?: number): number | null { return this.provider.recentFinishMs(windowMs); }
  cost(): MeasuredDecoderCost | null { return this.provider.cost(); }
  warm(): Promise<void> { return this.provider.warm(); }
}
function sharedTtsView(p: FliteTts): TtsProvider {
  return { name: p.name, synthesize: (r) => p.synthesize(r), warm: () => p.warm() };
}

export function localStages(config: Pick<ParleyConfig, 'local' | 'cascade'>): CascadeStages {
  const local = config.local;
  const needsHttp = local.stt === 'http' || local.chat === 'http' || local.tts === 'http';
  const http = needsHttp ? httpStages(config.cascade) : null;
  const espeak = new EspeakTts();
  return {
    stt: local.stt === 'http' ? http!.stt : new SharedStt(pocketSphinx(local)),
    chat: local.chat === 'http' ? http!.chat : new DemoAgent(),
    tts: local.tts === 'http' ? http!.tts : local.tts === 'espeak-ng' ? espeak : new LanguageRoutingTts(sharedTtsView(flite(local.ttsWorkers)), espeak),
  };
}

export interface LocalEngineOptions {
  stages: CascadeStages;
  vad?: VadKind;
  log?: Logger;
  /** Sessions admitted at once (0 or null: no limit). */
  maxSessions: number | null;
  /**
   * Compute the sessions admitted from the STT decoders' measured cost instead (capacity.ts): the
   * STT workers and the machine's cores. `maxSessions` stands until the cost has been measured.
   */
  autoCapacity?: { workers: number; cores: number };
  /** What a refused caller is told to wait. */
  retryAfterS: number;
  /**
   * Refuse new sessions while utterances wait longer than this for their transcript (the STT
   * workers are behind: too many speakers, or other tenants taking the cores); 0 = never.
   */
  overloadFinishMs?: number;
  onTurnTiming?: (t: TurnTiming) => void;
  /** Which speech over the agent interrupts it (config `interruptions`, docs/notes/turns.md). */
  interruptions?: InterruptionSettings;
}

/** An STT stage that can say how long transcripts take lately (PocketSphinxStt, SharedStt). */
export interface FinishLagReporting { recentFinishMs(windowMs?: number): number | null }

/** The cascade on the offline stages, with admission control. */
export class LocalEngine implements Engine, AdmissionControl {
  readonly name = 'local' as const;
  readonly cascade: CascadeEngine;
  readonly gate: AdmissionGate;
  readonly stages: CascadeStages;
  private readonly overloadFinishMs: number;
  private readonly autoCapacity: { workers: number; cores: number } | null;

  constructor(opts: LocalEngineOptions) {
    this.stages = opts.stages;
    this.autoCapacity = opts.autoCapacity ?? null;
    this.overloadFinishMs = opts.overloadFinishMs ?? 0;
    this.cascade = new CascadeEngine({
      name: 'local',
      stages: opts.stages,
      ...(opts.vad ? { vad: opts.vad } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.onTurnTiming ? { onTurnTiming: opts.onTurnTiming } : {}),
      ...(opts.interruptions ? { interruptions: opts.interruptions } : {}),
    });
    this.gate = new AdmissionGate({ max: opts.maxSessions, retryAfterS: opts.retryAfterS, label: 'offline (local) engine' });
  }

  /** The decoders' measured cost (null with an HTTP STT, or before enough utterances). */
  decoderCost(): MeasuredDecoderCost | null {
    return (this.stages.stt as Partial<{ cost(): MeasuredDecoderCost | null }>).cost?.() ?? null;
  }

  /** With autoCapacity: the gate's maximum from the decoders' measured cost (capacity.ts). */
  private recompute(): void {
    const auto = this.autoCapacity;
    if (!auto) return;
    const cost = this.decoderCost();
    if (cost) this.gate.setMax(localCapacity(cost, auto.workers, auto.cores));
  }

  admit(): Admission {
    this.recompute();
    const lag = this.overloadFinishMs > 0 ? (this.stages.stt as Partial<FinishLagReporting>).recentFinishMs?.() : null;
    if (lag != null && lag > this.overloadFinishMs) {
      return { ok: false, code: 'engine_at_capacity', retryAfterS: this.gate.retryAfterS, reason: `The offline (local) engine is overloaded (speech-to-text answers in ${Math.round(lag)} ms); retry in ${this.gate.retryAfterS} s.` };
    }
    return this.gate.admit();
  }
  capacity(): EngineCapacity { this.recompute(); return this.gate.capacity(); }

  /** One decoder per STT worker and the TTS voice loaded; the rest of the decoder pool follows in the background. */
  warm(): Promise<void> { return this.cascade.warm(); }

  /** Resolves when the whole PocketSphinx decoder pool is loaded (nothing left to load on the serving path). */
  async ready(): Promise<void> {
    await this.warm();
    const stt = this.stages.stt;
    if (stt instanceof SharedStt) await stt.provider.ready();
    else if (stt instanceof PocketSphinxStt) await stt.ready();
  }

  /** The STT decoder pool's figures (null with an HTTP STT). */
  sttStats(): PocketSphinxStats | null {
    const stt = this.stages.stt;
    if (stt instanceof SharedStt) return stt.provider.stats();
    return stt instanceof PocketSphinxStt ? stt.stats() : null;
  }

  async open(o: EngineOpenOptions): Promise<EngineConnection> {
    const leave = this.gate.enter();
    let conn: EngineConnection;
    try {
      conn = await this.cascade.open({ ...o, callbacks: { ...o.callbacks, onClose: (info) => { leave(); o.callbacks.onClose(info); } } });
    } catch (err) {
      leave();
      throw err;
    }
    const counted: EngineConnection = {
      send: (event) => conn.send(event),
      close: (reason) => { leave(); conn.close(reason); },
    };
    if (conn.pause) counted.pause = () => conn.pause!();
    if (conn.resume) counted.resume = () => conn.resume!();
    return counted;
  }

  close(): Promise<void> { return this.cascade.close(); }
}

export function createLocalEngine(deps: EngineDeps, extra: { onTurnTiming?: (t: TurnTiming) => void } = {}): LocalEngine {
  const local = deps.config.local;
  const engine = new LocalEngine({
    stages: localStages(deps.config),
    vad: local.vad,
    log: deps.log,
    maxSessions: local.maxSessions,
    ...(local.maxSessionsAuto ? { autoCapacity: { workers: local.sttWorkers, cores: availableParallelism() } } : {}),
    retryAfterS: local.retryAfterS,
    overloadFinishMs: local.overloadFinishMs,
    ...(deps.config.interruptions ? { interruptions: deps.config.interruptions } : {}),
    ...(extra.onTurnTiming ? { onTurnTiming: extra.onTurnTiming } : {}),
  });
  // Load the models now (the registry builds an engine when it is first asked for), not on the first caller's turn.
  const t0 = performance.now();
  engine.ready().then(
    () => deps.log.info({ sttDecoders: engine.sttStats()?.decoders ?? 0, sttWorkers: local.stt === 'pocketsphinx' ? local.sttWorkers : 0, ms: Math.round(performance.now() - t0) }, 'local engine: models loaded'),
    (err: unknown) => deps.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'local engine: models not loaded'),
  );
  return engine;
}
