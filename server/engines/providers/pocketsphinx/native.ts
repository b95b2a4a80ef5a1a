/**
 * PocketSphinx's C API through koffi (pocketsphinx 5prealpha, Debian libpocketsphinx3): the functions the
 * worker (worker.ts) and bench/local-stt-settings.ts call. Audio: 16 kHz mono pcm16.
 */
import koffi from 'koffi';

/**
 * Loads libsphinxbase and libpocketsphinx and binds the calls. The library handles go into `keep`, which the
 * caller holds for as long as it decodes (koffi unloads collected ones).
 */
export function loadPocketSphinx(keep: unknown[]) {
  const sb = koffi.load('libsphinxbase.so.3');
  const ps = koffi.load('libpocketsphinx.so.3');
  keep.push(sb, ps);
  // Logging off for the whole process, and never through `-logfn`: sphinxbase keeps one global log
  // FILE, and ps_init with -logfn opens a new one and fcloses the old one, which decoders in other
  // worker threads may be writing to at that moment. err_set_logfp(NULL) only marks the global
  // "disabled" (no fclose), so setting it again from another worker is harmless.
  sb.func('void err_set_logfp(void *stream)')(null);
  return {
    ps_args: ps.func('void *ps_args()'),
    cmd_ln_parse_r: sb.func('void *cmd_ln_parse_r(void *inout, void *defn, int argc, const char **argv, int strict)'),
    ps_init: ps.func('void *ps_init(void *config)'),
    ps_start_utt: ps.func('int ps_start_utt(void *ps)'),
    ps_process_raw: ps.func('int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
    ps_end_utt: ps.func('int ps_end_utt(void *ps)'),
    ps_get_hyp: ps.func('const char *ps_get_hyp(void *ps, _Out_ int *score)'),
  };
}
