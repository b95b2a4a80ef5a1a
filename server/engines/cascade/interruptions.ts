/**
 * "Interruptions that mean it" (docs/notes/turns.md): while the agent speaks, speech from the caller
 * stops it only when it lasts long enough and carries words that are not a backchannel ("yeah",
 * "mm-hm", "okay", "right"), or at once when it says a stop phrase ("wait", "stop", "no", "hold on").
 * Pure decision logic; the input part (input.ts) feeds it the speech heard so far and its transcript.
 *
 * Settings are named after LiveKit Agents' `min_interruption_duration` / `min_interruption_words`.
 */
import type { IgnoredKind } from '../types.ts';

export interface InterruptionRules {
  /** Speech (ms, since the VAD fired) an interruption needs before words can confirm it. */
  minDurationMs: number;
  /** Words besides backchannels an interruption needs (≥ 1). */
  minWords: number;
  /** Backchannel phrases per language (lower case; the key `default` for any other language). */
  backchannels: Readonly<Record<string, readonly string[]>>;
  /** Phrases that stop the agent whatever their length, per language (`default` as above). */
  stopPhrases: Readonly<Record<string, readonly string[]>>;
}

/** What to do with the caller's speech over the agent so far. */
export type InterruptionVerdict = 'wait' | 'interrupt' | 'ignore';

export interface HeardSoFar {
  /** Speech heard since the VAD fired (ms). */
  speechMs: number;
  /** The transcript of the speech so far; null while none is known (none asked yet, or STT failed). */
  text: string | null;
  /** The caller stopped speaking (the transcript, if any, is the final one). */
  ended: boolean;
}

/** With no transcript at all this long past the minimum (an STT that fails), speech alone interrupts. */
export const NO_TRANSCRIPT_GRACE_MS = 2_000;

export const DEFAULT_BACKCHANNELS: Readonly<Record<string, readonly string[]>> = {
  default: ['yeah', 'yes', 'yep', 'yup', 'ya', 'mm', 'mmm', 'mhm', 'mm hm', 'mm hmm', 'hm', 'hmm', 'uh huh', 'huh', 'uh', 'um', 'ah', 'oh', 'er',
    'okay', 'ok', 'right', 'sure', 'alright', 'all right', 'i see', 'got it', 'cool', 'fine', 'good', 'great'],
  fr: ['oui', 'ouais', "d'accord", 'ok', 'okay', 'mm', 'hm', 'ah', 'euh', 'bien', 'voilà', 'je vois'],
  de: ['ja', 'jaja', 'genau', 'okay', 'ok', 'mhm', 'mm', 'hm', 'aha', 'stimmt', 'gut', 'richtig'],
  es: ['sí', 'si', 'vale', 'ok', 'okay', 'claro', 'ajá', 'aja', 'mm', 'hm', 'bueno'],
};

export const DEFAULT_STOP_PHRASES: Readonly<Record<string, readonly string[]>> = {
  default: ['wait', 'stop', 'no', 'hold on', 'hang on', 'excuse me', 'sorry'],
  fr: ['attends', 'attendez', 'stop', 'non', 'arrête', 'arrêtez', 'pardon'],
  de: ['warte', 'warten sie', 'stopp', 'stop', 'nein', 'moment'],
  es: ['espera', 'espere', 'para', 'pare', 'no', 'un momento'],
};

export const DEFAULT_INTERRUPTION_RULES: InterruptionRules = {
  minDurationMs: 500,
  minWords: 1,
  backchannels: DEFAULT_BACKCHANNELS,
  stopPhrases: DEFAULT_STOP_PHRASES,
};

/** Lower-case word tokens: letters, digits and apostrophes; hyphens and punctuation split words. */
export function tokens(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}']+/u).filter((w) => w.length > 0 && w !== "'");
}

function listFor(lists: Readonly<Record<string, readonly string[]>>, language: string | undefined): readonly string[] {
  const base = language?.toLowerCase().split(/[-_]/)[0];
  return (base !== undefined ? lists[base] : undefined) ?? lists['default'] ?? [];
}

/** Whether `phrase` (tokens) occurs in `words` at `i`. */
function at(words: readonly string[], i: number, phrase: readonly string[]): boolean {
  if (phrase.length === 0 || i + phrase.length > words.length) return false;
  for (let k = 0; k < phrase.length; k++) if (words[i + k] !== phrase[k]) return false;
  return true;
}

/** The words of `text` that are not part of a backchannel phrase (longest phrases matched first), nor lone letters. */
export function contentWords(text: string, rules: InterruptionRules, language?: string): string[] {
  const words = tokens(text);
  const phrases = listFor(rules.backchannels, language).map(tokens).sort((a, b) => b.length - a.length);
  const out: string[] = [];
  for (let i = 0; i < words.length;) {
    const p = phrases.find((ph) => at(words, i, ph));
    if (p) { i += p.length; continue; }
    // A lone letter is what an STT makes of a hum ("m h m" for "mhm"), never a word that interrupts.
    if (words[i]!.length === 1 && !/\p{N}/u.test(words[i]!)) { i++; continue; }
    out.push(words[i]!);
    i++;
  }
  return out;
}

/** Whether `text` holds one of the language's stop phrases. */
export function hasStopPhrase(text: string, rules: InterruptionRules, language?: string): boolean {
  const words = tokens(text);
  const phrases = listFor(rules.stopPhrases, language).map(tokens);
  for (let i = 0; i < words.length; i++) if (phrases.some((ph) => at(words, i, ph))) return true;
  return false;
}

/** Whether a and b are at most one edit (insert, delete, substitute) apart. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/**
 * A lone word one edit away from a one-word stop phrase of 4+ letters: what an STT makes of a short
 * "stop" or "wait" on a phone line ("top", "stap", "wit"; docs/notes/turns.md). Only when it is all that was
 * said besides backchannels, and at least 3 letters (never "no" → "so").
 */
export function nearStopWord(text: string, rules: InterruptionRules, language?: string): boolean {
  const words = contentWords(text, rules, language);
  if (words.length !== 1 || words[0]!.length < 3) return false;
  const w = words[0]!;
  return listFor(rules.stopPhrases, language).some((ph) => !ph.includes(' ') && ph.length >= 4 && oneEditApart(w, ph));
}

/** True when the text is only backchannels (or nothing). */
export function isBackchannel(text: string, rules: InterruptionRules, language?: string): boolean {
  return !hasStopPhrase(text, rules, language) && contentWords(text, rules, language).length === 0;
}

/**
 * What ignored speech over the agent was, for the call record: `backchannel` when its transcript holds
 * backchannel words and nothing else that counts ("yeah", "okay", "mm hm"); `false_interruption`
 * otherwise (nothing transcribed, a hum heard as lone letters, a cough, words too short to count).
 */
export function ignoredKind(text: string | null, rules: InterruptionRules, language?: string): IgnoredKind {
  if (text === null || contentWords(text, rules, language).length > 0) return 'false_interruption';
  // no content words: a backchannel when something besides lone letters was heard (a backchannel phrase)
  return tokens(text).some((w) => w.length > 1 || /\p{N}/u.test(w)) ? 'backchannel' : 'false_interruption';
}

/**
 * The verdict on the caller's speech over the agent:
 *  - a stop phrase in the transcript interrupts, however short, and so does a lone word one edit away
 *    from a one-word stop phrase of 4+ letters ("top" for "stop", "wit" for "wait": `nearStopWord`);
 *  - otherwise it needs `minDurationMs` of speech and `minWords` words besides backchannels;
 *  - speech that ended without that (a backchannel, a cough, a short "sorry?") is ignored: the agent goes on;
 *  - speech with no transcript at all `NO_TRANSCRIPT_GRACE_MS` past the minimum interrupts (the STT failed;
 *    better OpenAI's behaviour than an agent that cannot be stopped).
 */
export function decideInterruption(heard: HeardSoFar, rules: InterruptionRules, language?: string): InterruptionVerdict {
  const { speechMs, text, ended } = heard;
  if (text !== null && (hasStopPhrase(text, rules, language) || nearStopWord(text, rules, language))) return 'interrupt';
  const longEnough = speechMs >= rules.minDurationMs;
  if (text !== null && longEnough && contentWords(text, rules, language).length >= Math.max(1, rules.minWords)) return 'interrupt';
  if (text === null && speechMs >= rules.minDurationMs + NO_TRANSCRIPT_GRACE_MS) return 'interrupt';
  if (ended) return 'ignore';
  return 'wait';
}
