/**
 * What a PocketSphinx worker does next. A worker decodes one thing at a time (the native calls are
 * synchronous), and with several callers on it the work queues up. In arrival order, the end of
 * an utterance whose caller stopped speaking waits behind every other caller's audio that arrived
 * before it; here it does not: **finals first**.
 *
 * 1. Utterances that have ended (their caller waits for the transcript), oldest end first: their
 *    remaining audio, then their end-of-utterance search.
 * 2. Questions for the hypothesis so far (partial(), the turn detector's when a silence begins),
 *    oldest first: the utterance's audio queued before the question, then the answer.
 * 3. Audio of utterances still open, oldest chunk first (every caller advances evenly).
 * 4. Loading a decoder for the pool (nothing else to do).
 *
 * Audio of one utterance that has piled up is handed out in pieces of at most OPEN_STEP_SAMPLES
 * (one native call each): an end that arrives meanwhile waits for one such step at most, and an
 * abort (a caller who hung up, a transcript that timed out) lands between two steps.
 * Pure bookkeeping: the worker (worker.ts) runs the steps; test/unit/engines/local-scheduler.test.ts.
 */
export type Step =
  | { t: 'audio'; id: number; pcm: Int16Array }
  | { t: 'end'; id: number }
  | { t: 'hyp'; id: number; seq: number }
  | { t: 'load' };

/** 300 ms of 16 kHz audio: the most of an utterance's audio decoded in one step (~70 ms of CPU). */
export const OPEN_STEP_SAMPLES = 4800;

interface Utterance { id: number; chunks: Int16Array[]; samples: number; ended: boolean }

export class DecodeScheduler {
  private readonly open = new Map<number, Utterance>();
  /** Ended utterances, in the order their ends arrived. */
  private readonly ended: Utterance[] = [];
  /** Open utterances' chunks in arrival order (id per chunk; stale entries are skipped). */
  private readonly arrivals: number[] = [];
  private loads = 0;
  private readonly questions: { id: number; seq: number }[] = [];

  start(id: number): void {
    this.open.set(id, { id, chunks: [], samples: 0, ended: false });
  }

  audio(id: number, pcm: Int16Array): void {
    const u = this.open.get(id);
    if (!u || u.ended) return;
    u.chunks.push(pcm);
    u.samples += pcm.length;
    this.arrivals.push(id);
  }

  end(id: number): void {
    const u = this.open.get(id);
    if (!u || u.ended) return;
    u.ended = true;
    this.ended.push(u);
  }

  /** Forgets an utterance (aborted): its queued audio is dropped. True if it was known. */
  abort(id: number): boolean {
    const u = this.open.get(id);
    if (!u) return false;
    this.open.delete(id);
    const i = this.ended.indexOf(u);
    if (i >= 0) this.ended.splice(i, 1);
    return true;
  }

  /** A question for the hypothesis so far: answered once the audio queued before it is decoded. */
  hyp(id: number, seq: number): void {
    this.questions.push({ id, seq });
  }

  /** A decoder load for the pool, done when nothing else waits. */
  load(): void {
    this.loads++;
  }

  /** Audio samples waiting, all utterances (backlog). */
  get queuedSamples(): number {
    let n = 0;
    for (const u of this.open.values()) n += u.samples;
    return n;
  }

  get idle(): boolean {
    return this.ended.length === 0 && this.questions.length === 0 && this.loads === 0 && this.queuedSamples === 0;
  }

  next(): Step | null {
    const fin = this.ended[0];
    if (fin) {
      if (fin.samples > 0) return { t: 'audio', id: fin.id, pcm: this.take(fin, OPEN_STEP_SAMPLES) };
      this.ended.shift();
      this.open.delete(fin.id);
      return { t: 'end', id: fin.id };
    }
    const q = this.questions[0];
    if (q) {
      const u = this.open.get(q.id);
      if (u && !u.ended && u.samples > 0) return { t: 'audio', id: u.id, pcm: this.take(u, OPEN_STEP_SAMPLES) };
      this.questions.shift();
      // an utterance that ended or was aborted meanwhile: answered (the worker says '' for one it no longer has)
      return { t: 'hyp', id: q.id, seq: q.seq };
    }
    while (this.arrivals.length > 0) {
      const id = this.arrivals.shift()!;
      const u = this.open.get(id);
      if (u && !u.ended && u.samples > 0) return { t: 'audio', id, pcm: this.take(u, OPEN_STEP_SAMPLES) };
    }
    if (this.loads > 0) { this.loads--; return { t: 'load' }; }
    return null;
  }

  /** An utterance's queued audio as one piece: whole chunks, oldest first, at least one, up to `max` samples. */
  private take(u: Utterance, max: number): Int16Array {
    let n = 0;
    let total = 0;
    while (n < u.chunks.length && (n === 0 || total + u.chunks[n]!.length <= max)) total += u.chunks[n++]!.length;
    const taken = u.chunks.splice(0, n);
    u.samples -= total;
    if (taken.length === 1) return taken[0]!;
    const pcm = new Int16Array(total);
    let off = 0;
    for (const c of taken) { pcm.set(c, off); off += c.length; }
    return pcm;
  }
}
