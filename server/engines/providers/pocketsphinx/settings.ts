/**
 * PocketSphinx decoder settings → its command-line arguments (ps_init through cmd_ln_parse_r).
 * Measured with bench/local-stt-settings.ts (docs/notes/local-engine.md).
 */
export interface DecoderSettings {
  /** The second (fwdflat) search pass over the whole utterance at its end. */
  secondPass: boolean;
  /** The lattice best-path search at the end of an utterance (PocketSphinx default yes). */
  bestpath?: boolean;
  /** Gaussians scored per frame (PocketSphinx default 4). */
  topn?: number;
  /** Score the acoustic model every `ds` frames (PocketSphinx default 1). */
  ds?: number;
  /** Most HMMs searched per frame (PocketSphinx default 30000). */
  maxhmmpf?: number;
  /** Phone lookahead window in frames (PocketSphinx default 5; 0 = off). */
  plWindow?: number;
  /** Beam widths of the search (PocketSphinx defaults 1e-48 and 7e-29): narrower is faster. */
  beam?: number;
  wbeam?: number;
}

export function decoderArgs(modelDir: string, s: DecoderSettings): string[] {
  const argv = ['parley', '-hmm', `${modelDir}/en-us`, '-lm', `${modelDir}/en-us.lm.bin`,
    '-dict', `${modelDir}/cmudict-en-us.dict`, '-fwdflat', s.secondPass ? 'yes' : 'no'];
  if (s.bestpath !== undefined) argv.push('-bestpath', s.bestpath ? 'yes' : 'no');
  if (s.topn !== undefined) argv.push('-topn', String(s.topn));
  if (s.ds !== undefined) argv.push('-ds', String(s.ds));
  if (s.maxhmmpf !== undefined) argv.push('-maxhmmpf', String(s.maxhmmpf));
  if (s.plWindow !== undefined) argv.push('-pl_window', String(s.plWindow));
  if (s.beam !== undefined) argv.push('-beam', s.beam.toExponential());
  if (s.wbeam !== undefined) argv.push('-wbeam', s.wbeam.toExponential());
  return argv;
}
