/**
 * PocketSphinx decoders in a worker thread (the calls are synchronous and the end-of-utterance
 * search takes tens to hundreds of ms, so they must not run on the event loop). One worker holds a
 * pool of decoders, loaded ahead of use when the client asks (`load`, one per message so that
 * utterances already running are never held up by more than one load); an utterance takes a free
 * decoder and gives it back when it ends. Loading one costs ~0.4–0.6 s and ~100 MB (mostly the
 * 133k-word dictionary and the language model), so it is kept off the serving path.
 *
 * C API (pocketsphinx 5prealpha, Debian libpocketsphinx3): ps_init(cmd_ln_parse_r(...)),
 * ps_start_utt, ps_process_raw(ps, int16 *data, n_samples, no_search, full_utt), ps_end_utt,
 * ps_get_hyp(ps, &score). Audio: 16 kHz mono pcm16.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import type { FromWorker, PocketSphinxWorkerData, ToWorker } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('pocketsphinx worker started outside a worker thread');
const { modelDir, secondPass } = workerData as PocketSphinxWorkerData;

const post = (m: FromWorker): void => port.postMessage(m);

/** Library handles stay referenced for the life of the worker (koffi unloads collected ones). */
const libraries: unknown[] = [];
let api: ReturnType<typeof loadApi> | null = null;
let loadError: string | null = null;
try {
  api = loadApi();
} catch (err) {
  loadError = err instanceof Error ? err.message : String(err);
}

function loadApi() {
  const sb = koffi.load('libsphinxbase.so.3');
  const ps = koffi.load('libpocketsphinx.so.3');
  libraries.push(sb, ps);
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

interface Utterance { decoder: unknown; samples: number; processMs: number; loadMs: number }
const free: unknown[] = [];
const active = new Map<number, Utterance>();
let decoders = 0;

function newDecoder(): unknown {
  if (!api) throw new Error(loadError ?? 'pocketsphinx not loaded');
  // -fwdflat no: no second search pass over the whole utterance at its end (measured in
  // docs/notes/local-engine.md: end-of-utterance time ÷ 2.7, word accuracy −2.5 points at 16 kHz).
  const argv = ['parley', '-hmm', `${modelDir}/en-us`, '-lm', `${modelDir}/en-us.lm.bin`,
    '-dict', `${modelDir}/cmudict-en-us.dict`, '-fwdflat', secondPass ? 'yes' : 'no'];
  const cfg = api.cmd_ln_parse_r(null, api.ps_args(), argv.length, argv, 1);
  if (!cfg) throw new Error(`pocketsphinx: bad arguments (model dir ${modelDir})`);
  const decoder = api.ps_init(cfg);
  if (!decoder) throw new Error(`pocketsphinx: cannot load the model from ${modelDir}`);
  decoders++;
  return decoder;
}

function fail(id: number | null, code: string, err: unknown): void {
  post({ t: 'error', id, code, message: err instanceof Error ? err.message : String(err) });
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'close':
      // between two native calls: exiting here never interrupts PocketSphinx
      process.exit(0);
      return;
    case 'load': {
      const t0 = performance.now();
      try {
        free.push(newDecoder());
        post({ t: 'warmed', decoders, loadMs: performance.now() - t0 });
      } catch (err) {
        fail(null, 'STT_MODEL_UNAVAILABLE', err);
      }
      return;
    }
    case 'start': {
      try {
        let decoder = free.pop();
        let loadMs = 0;
        if (decoder === undefined) {
          // the pool is empty: this utterance (and every other on this worker) waits for a load
          const t0 = performance.now();
          decoder = newDecoder();
          loadMs = performance.now() - t0;
        }
        if (api!.ps_start_utt(decoder) < 0) throw new Error('ps_start_utt failed');
        active.set(m.id, { decoder, samples: 0, processMs: 0, loadMs });
      } catch (err) {
        fail(m.id, 'STT_MODEL_UNAVAILABLE', err);
      }
      return;
    }
    case 'audio': {
      const u = active.get(m.id);
      if (!u) return;
      const t0 = performance.now();
      api!.ps_process_raw(u.decoder, m.pcm, m.pcm.length, 0, 0);
      u.processMs += performance.now() - t0;
      u.samples += m.pcm.length;
      return;
    }
    case 'hyp': {
      // the first pass's hypothesis so far (the turn detector's partial result, docs/notes/turns.md)
      const u = active.get(m.id);
      const text = u ? (api!.ps_get_hyp(u.decoder, [0]) as string | null) ?? '' : '';
      post({ t: 'partial', id: m.id, seq: m.seq, text });
      return;
    }
    case 'end':
    case 'abort': {
      const u = active.get(m.id);
      if (!u) return;
      active.delete(m.id);
      const t0 = performance.now();
      api!.ps_end_utt(u.decoder);
      let text = '';
      if (m.t === 'end') text = (api!.ps_get_hyp(u.decoder, [0]) as string | null) ?? '';
      free.push(u.decoder);
      if (m.t === 'end') {
        const finaliseMs = performance.now() - t0;
        post({ t: 'result', id: m.id, text, audioMs: (u.samples / 16_000) * 1000, finaliseMs, processMs: u.processMs + finaliseMs, loadMs: u.loadMs, decoders });
      }
      return;
    }
  }
});

post({ t: 'ready' });
