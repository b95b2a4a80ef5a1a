/**
 * `interruptions` (PARLEY_CONFIG) and its env keys: which speech over the agent stops it on the
 * cascade and local engines (server/engines/cascade/interruptions.ts, docs/notes/turns.md). Named after
 * LiveKit Agents' `min_interruption_duration` / `min_interruption_words`.
 *
 *   PARLEY_MIN_INTERRUPTION_DURATION_MS  interruptions.minDurationMs  default 500 (0..10000)
 *   PARLEY_MIN_INTERRUPTION_WORDS        interruptions.minWords       default 1 (1..20), backchannels not counted
 *   PARLEY_BACKCHANNELS                  interruptions.backchannels   env: a list for every language;
 *                                                                      file: a list, or { "<lang>": [...], "default": [...] }
 *   PARLEY_INTERRUPTION_PHRASES          interruptions.stopPhrases    as backchannels ("wait", "stop", "no", "hold on")
 *   PARLEY_INTERRUPTION_SERVER_VAD       interruptions.serverVad      default off: server_vad keeps OpenAI's semantics
 *   PARLEY_END_OF_TURN_MIN_MS            interruptions.endOfTurnMinMs default 200 (50..5000): semantic_vad's silence after complete words
 *   PARLEY_END_OF_TURN_MAX_MS            interruptions.endOfTurnMaxMs default 1200 (100..10000): after trailing words ("and…", "my name is")
 *   PARLEY_ADAPTIVE_END_OF_TURN          interruptions.adaptiveEndOfTurn default on (off: semantic_vad's fixed 300/600/1000 ms)
 *   PARLEY_ECHO_SUPPRESSION              interruptions.echo           default on: the agent's own audio coming back on the line is not speech (audio/echo.ts)
 */
import { ConfigError } from '../errors.ts';
import { DEFAULT_BACKCHANNELS, DEFAULT_STOP_PHRASES } from '../engines/cascade/interruptions.ts';
import type { ConfigReader } from './reader.ts';

export interface InterruptionsConfig {
  minDurationMs: number;
  minWords: number;
  backchannels: Readonly<Record<string, readonly string[]>>;
  stopPhrases: Readonly<Record<string, readonly string[]>>;
  serverVad: boolean;
  /** semantic_vad's adaptive end of turn (server/engines/cascade/end-of-turn.ts), absent when off. */
  endOfTurn?: { minMs: number; maxMs: number };
  /** Echo suppression on the cascade's VAD (audio/echo.ts). */
  echo: boolean;
}

function phrases(r: ConfigReader, envName: string, filePath: string, def: Readonly<Record<string, readonly string[]>>): Readonly<Record<string, readonly string[]>> {
  const raw = r.raw(envName, filePath);
  if (raw === undefined) return def;
  const norm = (xs: string[]): string[] => xs.map((x) => x.trim().toLowerCase()).filter((x) => x !== '');
  if (typeof raw.value === 'string' || Array.isArray(raw.value)) return { default: norm(r.list(envName, filePath, [])) };
  if (typeof raw.value === 'object' && raw.value !== null) {
    const out: Record<string, string[]> = {};
    for (const [lang, xs] of Object.entries(raw.value as Record<string, unknown>)) {
      if (!Array.isArray(xs) || !xs.every((x) => typeof x === 'string')) throw new ConfigError(raw.setting, `${lang} must be a list of phrases`);
      out[lang.toLowerCase()] = norm(xs as string[]);
    }
    return out;
  }
  throw new ConfigError(raw.setting, `must be a list of phrases, or an object of lists by language (got ${JSON.stringify(raw.value)})`);
}

export function readInterruptionsConfig(r: ConfigReader): InterruptionsConfig {
  return {
    minDurationMs: r.int('PARLEY_MIN_INTERRUPTION_DURATION_MS', 'interruptions.minDurationMs', 500, { min: 0, max: 10_000 }),
    minWords: r.int('PARLEY_MIN_INTERRUPTION_WORDS', 'interruptions.minWords', 1, { min: 1, max: 20 }),
    backchannels: phrases(r, 'PARLEY_BACKCHANNELS', 'interruptions.backchannels', DEFAULT_BACKCHANNELS),
    stopPhrases: phrases(r, 'PARLEY_INTERRUPTION_PHRASES', 'interruptions.stopPhrases', DEFAULT_STOP_PHRASES),
    serverVad: r.bool('PARLEY_INTERRUPTION_SERVER_VAD', 'interruptions.serverVad', false),
    echo: r.bool('PARLEY_ECHO_SUPPRESSION', 'interruptions.echo', true),
    ...endOfTurn(r),
  };
}

function endOfTurn(r: ConfigReader): Pick<InterruptionsConfig, 'endOfTurn'> {
  if (!r.bool('PARLEY_ADAPTIVE_END_OF_TURN', 'interruptions.adaptiveEndOfTurn', true)) return {};
  const minMs = r.int('PARLEY_END_OF_TURN_MIN_MS', 'interruptions.endOfTurnMinMs', 200, { min: 50, max: 5_000 });
  const maxMs = r.int('PARLEY_END_OF_TURN_MAX_MS', 'interruptions.endOfTurnMaxMs', 1_200, { min: 100, max: 10_000 });
  if (maxMs < minMs) throw new ConfigError('PARLEY_END_OF_TURN_MAX_MS', `must be ≥ PARLEY_END_OF_TURN_MIN_MS (${minMs}), got ${maxMs}`);
  return { endOfTurn: { minMs, maxMs } };
}
