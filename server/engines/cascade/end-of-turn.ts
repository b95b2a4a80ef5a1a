/**
 * Adaptive end of turn (docs/notes/turns.md): how much silence ends the caller's turn depends on the
 * words heard so far (the streaming STT's partial result). Short after words that form a complete
 * question or answer, long after words that trail off ("and…", "so um", "my name is", "a table for"),
 * always between a minimum and a maximum. Pure functions; the input part (input.ts) asks the STT for
 * the partial when a silence begins and moves the turn detector's window with `endOfTurnSilenceMs`.
 *
 * No end-of-turn model can be had here (LiveKit's turn detector, pipecat's Smart Turn): a word-class
 * rule on the last words stands in for one, per language (English by default; other languages fall
 * back to `unknown`, the eagerness's middle window).
 */
import { tokens } from './interruptions.ts';

export type Eagerness = 'low' | 'medium' | 'high' | 'auto';

/** What the words so far say about the turn. */
export type Completeness = 'complete' | 'incomplete' | 'unknown';

export interface EndOfTurnSettings {
  /** Silence that ends a turn whose words look complete (ms), at eagerness `medium`/`auto`. */
  minMs: number;
  /** Silence that ends a turn whose words trail off (ms), at eagerness `medium`/`auto`. */
  maxMs: number;
}

export const DEFAULT_END_OF_TURN: EndOfTurnSettings = { minMs: 200, maxMs: 1_200 };

/**
 * Words after which an English sentence is not finished: conjunctions, articles and determiners,
 * prepositions, fillers, auxiliaries and copulas, subject pronouns, verbs that want an object.
 */
const TRAILING_EN = new Set([
  'and', 'but', 'or', 'so', 'because', 'cause', 'if', 'then', 'that', 'which', 'who', 'whose', 'when', 'while', 'although', 'though', 'unless', 'until', 'since', 'whether', 'where',
  'a', 'an', 'the', 'my', 'your', 'his', 'her', 'our', 'their', 'its', 'this', 'these', 'those', 'some', 'any', 'every', 'each',
  'to', 'for', 'of', 'in', 'on', 'at', 'with', 'from', 'about', 'by', 'into', 'onto', 'than', 'as', 'over', 'under', 'between', 'through', 'after', 'before', 'around',
  'um', 'uh', 'er', 'erm', 'ah', 'hmm', 'mm', 'well', 'like', 'basically', 'actually',
  'is', 'are', 'was', 'were', 'am', 'be', 'been', 'being', 'have', 'has', 'had', 'do', 'does', 'did', 'will', 'would', 'can', 'could', 'should', 'shall', 'may', 'might', 'must',
  "i'm", "it's", "that's", "there's", "i'd", "i'll", "we're", "you're", "they're", "i've", "we've", "let's", "what's",
  'i', 'we', 'they', 'he', 'she',
  'think', 'mean', 'want', 'need', 'guess', 'wanted', 'wondering', 'trying', 'going', 'gonna', 'wanna', 'just', 'also', 'very', 'really', 'more', 'less', 'most',
]);

/** Trailing words per language (lower case; `en` for English, the default). Other languages: `unknown`. */
export const TRAILING_WORDS: Readonly<Record<string, ReadonlySet<string>>> = { en: TRAILING_EN };

/** Classifies the words heard so far. Empty: `unknown` (nothing heard, or a hum). */
export function completeness(text: string | null, language?: string): Completeness {
  if (text === null) return 'unknown';
  const words = tokens(text);
  if (words.length === 0) return 'unknown';
  const base = (language ?? 'en').toLowerCase().split(/[-_]/)[0] ?? 'en';
  const trailing = TRAILING_WORDS[base];
  if (!trailing) return 'unknown';
  const last = words[words.length - 1]!;
  if (trailing.has(last)) return 'incomplete';
  return 'complete';
}

/** The window bounds for an eagerness: `high` halves them, `low` doubles them (the minimum capped at the maximum). */
export function eagernessBounds(settings: EndOfTurnSettings, eagerness: Eagerness | undefined): EndOfTurnSettings {
  const k = eagerness === 'high' ? 0.5 : eagerness === 'low' ? 2 : 1;
  const maxMs = Math.round(settings.maxMs * k);
  return { minMs: Math.min(maxMs, Math.round(settings.minMs * k)), maxMs };
}

/** The silence (ms) that ends the turn now: min for complete words, max for trailing ones, the middle otherwise. */
export function endOfTurnSilenceMs(c: Completeness, bounds: EndOfTurnSettings): number {
  if (c === 'complete') return bounds.minMs;
  if (c === 'incomplete') return bounds.maxMs;
  return Math.round((bounds.minMs + bounds.maxMs) / 2);
}
