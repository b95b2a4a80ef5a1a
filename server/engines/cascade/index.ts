/**
 * The cascade engine: server VAD → STT → chat (with tools) → TTS, speaking the GA protocol.
 * `createCascadeEngine` builds it on OpenAI-compatible HTTP stages (config `cascade`);
 * `server/engines/local` builds the same engine on the embedded offline stages.
 */
import type { Logger } from 'pino';
import { createVad } from '../../../audio/index.ts';
import type { VadKind } from '../../../audio/index.ts';
import { EngineError } from '../../errors.ts';
import type { Engine, EngineConnection, EngineDeps, EngineName, EngineOpenOptions } from '../types.ts';
import { HttpChat, HttpStt, HttpTts } from '../providers/index.ts';
import type { CascadeConfig } from '../../config.ts';
import { CascadeConnection } from './connection.ts';
import type { CascadeStages, TurnTiming } from './context.ts';
import type { Upsample8kMethod } from './audio-io.ts';
import type { InterruptionSettings } from './input.ts';

export type { InterruptionSettings } from './input.ts';
export { STT_TRAIL_MS } from './input.ts';
export { DEFAULT_INTERRUPTION_RULES, decideInterruption, isBackchannel } from './interruptions.ts';
export type { InterruptionRules, InterruptionVerdict } from './interruptions.ts';
export { CascadeConnection } from './connection.ts';
export { heardText } from './items.ts';
export type { CascadeStages, TurnTiming } from './context.ts';
export { SentenceSplitter } from './sentences.ts';
export { InputDecoder, OutputEncoder, zeroInsertUpsample, PIPELINE_RATE_HZ } from './audio-io.ts';
export type { Upsample8kMethod } from './audio-io.ts';
export { toChatMessages } from './conversation.ts';

export interface CascadeEngineOptions {
  name: Extract<EngineName, 'cascade' | 'local'>;
  stages: CascadeStages;
  vad?: VadKind;
  /** 8 kHz (G.711) input → 16 kHz for STT. Default 'zero-insert' (measured, docs/notes/cascade.md). */
  upsample8k?: Upsample8kMethod;
  log?: Logger;
  /** Per-turn stage timings (benchmark). */
  onTurnTiming?: (t: TurnTiming) => void;
  /** Which speech over the agent interrupts it (config `interruptions`, docs/notes/turns.md). */
  interruptions?: InterruptionSettings;
}

export class CascadeEngine implements Engine {
  readonly name: Extract<EngineName, 'cascade' | 'local'>;
  readonly stages: CascadeStages;
  private readonly opts: CascadeEngineOptions;
  private warming: Promise<void> | null = null;

  constructor(opts: CascadeEngineOptions) {
    this.name = opts.name;
    this.stages = opts.stages;
    this.opts = opts;
  }

  /** Loads the local models once (PocketSphinx decoder, flite voice); HTTP stages have nothing to load. */
  warm(): Promise<void> {
    this.warming ??= Promise.all([this.stages.stt.warm?.(), this.stages.tts.warm?.()]).then(() => undefined, (err: unknown) => {
      this.warming = null;
      throw err;
    });
    return this.warming;
  }

  async open(o: EngineOpenOptions): Promise<EngineConnection> {
    try {
      await this.warm();
    } catch (err) {
      throw new EngineError('ENGINE_UNAVAILABLE', `The ${this.name} engine cannot start: ${err instanceof Error ? err.message : String(err)}`, { cause: err, fallbackable: false });
    }
    if (o.signal?.aborted) throw new EngineError('ENGINE_CLOSED', 'open aborted', { fallbackable: false });
    const vad = await createVad({ kind: this.opts.vad ?? 'silero', sampleRateHz: 16_000, log: o.log });
    const conn = new CascadeConnection({
      stages: this.stages,
      session: o.session,
      callbacks: o.callbacks,
      log: o.log,
      vad,
      upsample8k: this.opts.upsample8k ?? 'zero-insert',
      ...(o.conversation ? { conversation: o.conversation } : o.history ? { history: o.history } : {}),
      ...(this.opts.onTurnTiming ? { onTurnTiming: this.opts.onTurnTiming } : {}),
      ...(this.opts.interruptions ? { interruptions: this.opts.interruptions } : {}),
    });
    // session.created / conversation.created once the caller holds the connection.
    setImmediate(() => conn.start());
    return conn;
  }

  async close(): Promise<void> {
    await Promise.all([this.stages.stt.close?.(), this.stages.tts.close?.()]);
  }
}

/** HTTP stages from the `cascade` config section. */
export function httpStages(cfg: CascadeConfig): CascadeStages {
  const stage = (s: { baseUrl: string; apiKey: string | null; model: string }): { baseUrl: string; model: string; apiKey?: string } =>
    s.apiKey ? { baseUrl: s.baseUrl, model: s.model, apiKey: s.apiKey } : { baseUrl: s.baseUrl, model: s.model };
  return {
    stt: new HttpStt(stage(cfg.stt)),
    chat: new HttpChat(stage(cfg.chat)),
    tts: new HttpTts({ ...stage(cfg.tts), voice: cfg.tts.voice }),
  };
}

/** Engine factory (server/engines registry): the cascade on OpenAI-compatible HTTP stages. */
export function createCascadeEngine(deps: EngineDeps): CascadeEngine {
  const interruptions = deps.config.interruptions;
  return new CascadeEngine({ name: 'cascade', stages: httpStages(deps.config.cascade), vad: deps.config.local.vad, log: deps.log, ...(interruptions ? { interruptions } : {}) });
}
