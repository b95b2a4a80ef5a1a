/**
 * How many speakers the offline engine holds within its latency target, computed from what a
 * PocketSphinx decoder costs (docs/notes/local-engine.md "Capacity"):
 *
 * - **Streaming**: every admitted caller may speak at once; a worker keeps up with k of them while
 *   k × (CPU per second of speech) stays within STT_CORE_SHARE of its core (the rest absorbs the
 *   end-of-utterance searches, and the event loop and flite get their turn).
 * - **Ends**: callers whose turns end together each need an end-of-utterance search on their
 *   worker, one after the other (finals first, scheduler.ts); the last of k waits k searches, which
 *   must fit in FINALS_BUDGET_MS: the 400 ms target (speech_stopped → first audio) minus flite's
 *   first sentence and the event path.
 *
 * Per worker k = min(⌊STT_CORE_SHARE / rtf⌋, ⌊FINALS_BUDGET_MS / endMs⌋), at least 1; workers beyond
 * the cores add nothing. The cost is measured: PocketSphinxStt reports each utterance's CPU time
 * on its worker thread (clock_gettime CLOCK_THREAD_CPUTIME_ID), and until enough utterances have
 * been seen the figures measured on this project's machine (PRIOR_COST) stand in.
 */

/** A decoder's cost: CPU time per ms of speech while streaming, and CPU ms of one end-of-utterance search. */
export interface DecoderCost { rtf: number; endMs: number }

/** Share of a worker's core that streaming decoding may take. */
export const STT_CORE_SHARE = 0.75;
/** The 400 ms target minus flite's first sentence (~100 ms) and the event path (~50 ms). */
export const FINALS_BUDGET_MS = 250;
/**
 * One search pass, measured on this project's 2-core machine with bench/local-engine.ts (worker
 * thread CPU time, lower quartile of 50 utterances, docs/notes/local-engine.md): 0.24 CPU s per s
 * of speech, end-of-utterance search 20 ms of CPU.
 */
export const PRIOR_COST: DecoderCost = { rtf: 0.24, endMs: 20 };

export function sessionsPerWorker(cost: DecoderCost): number {
  const streaming = Math.floor(STT_CORE_SHARE / Math.max(cost.rtf, 1e-3));
  const ends = Math.floor(FINALS_BUDGET_MS / Math.max(cost.endMs, 1));
  return Math.max(1, Math.min(streaming, ends));
}

export function localCapacity(cost: DecoderCost, workers: number, cores: number): number {
  return sessionsPerWorker(cost) * Math.max(1, Math.min(workers, cores));
}
