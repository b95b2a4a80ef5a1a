/**
 * Cuts streamed chat text into speakable pieces, so TTS can start on the first sentence while the
 * model is still writing. A piece ends at . ! ? ; or a newline followed by whitespace (not after a
 * common abbreviation or a single initial), or at a comma once the piece is long.
 */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'st', 'vs', 'etc', 'e.g', 'i.e', 'no', 'jr', 'sr', 'prof']);
const LONG_PIECE_CHARS = 80;

export class SentenceSplitter {
  private pending = '';

  /** Adds text; returns the pieces completed by it (trimmed, non-empty). */
  push(delta: string): string[] {
    this.pending += delta;
    const out: string[] = [];
    let from = 0;
    for (let i = 0; i < this.pending.length - 1; i++) {
      const c = this.pending[i]!;
      const next = this.pending[i + 1]!;
      if (!/\s/.test(next)) continue;
      let cut = false;
      if (c === '\n') cut = true;
      else if (c === '!' || c === '?' || c === ';') cut = true;
      else if (c === '.') cut = !this.isAbbreviation(this.pending.slice(from, i));
      else if (c === ',' || c === ':') cut = i - from >= LONG_PIECE_CHARS;
      if (cut) {
        const piece = this.pending.slice(from, i + 1).trim();
        if (piece) out.push(piece);
        from = i + 1;
      }
    }
    this.pending = this.pending.slice(from);
    return out;
  }

  /** The rest, at the end of the text. */
  flush(): string | null {
    const rest = this.pending.trim();
    this.pending = '';
    return rest || null;
  }

  private isAbbreviation(piece: string): boolean {
    const word = /([A-Za-z.]+)$/.exec(piece)?.[1] ?? '';
    if (word.length === 1 && /[A-Z]/.test(word)) return true;   // an initial: "J. Smith"
    if (/^\d/.test(piece.slice(-1))) return false;
    return ABBREVIATIONS.has(word.toLowerCase());
  }
}
