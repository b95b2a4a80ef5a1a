/**
 * flite 2.2 (Debian libflite1) in a worker thread, through koffi. One call to
 * flite_text_to_wave per sentence (~50 ms for a short sentence), so the synthesis never blocks
 * the event loop that paces media.
 *
 * C API: flite_init(); register_cmu_us_<voice>(NULL) → cst_voice*; flite_text_to_wave(text, voice)
 * → cst_wave* { const char *type; int sample_rate; int num_samples; int num_channels; short *samples };
 * delete_wave(w).
 */
import { parentPort } from 'node:worker_threads';
import koffi from 'koffi';
import type { FromFliteWorker, ToFliteWorker } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('flite worker started outside a worker thread');
const post = (m: FromFliteWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

const cstWave = koffi.struct('cst_wave', {
  type: 'const char *', sample_rate: 'int', num_samples: 'int', num_channels: 'int', samples: 'int16_t *',
});
type Fn = ReturnType<ReturnType<typeof koffi.load>['func']>;
/**
 * Every loaded library stays referenced for the life of the worker: koffi unloads a library whose
 * handle is garbage-collected, and a registered voice points into its library's static data
 * (a collected voice handle crashed flite in strcmp at a later GC).
 */
const libraries: unknown[] = [];
let flite: { textToWave: Fn; deleteWave: Fn } | null = null;
let loadError: string | null = null;
try {
  const lib = koffi.load('libflite.so.1');
  libraries.push(lib);
  lib.func('int flite_init()')();
  flite = {
    textToWave: lib.func('void *flite_text_to_wave(const char *text, void *voice)'),
    deleteWave: lib.func('void delete_wave(void *w)'),
  };
} catch (err) {
  loadError = err instanceof Error ? err.message : String(err);
}

/** Voice name → cst_voice*. */
const voices = new Map<string, unknown>();

function voice(name: string): unknown {
  const known = voices.get(name);
  if (known) return known;
  if (!flite) throw new Error(loadError ?? 'flite not loaded');
  const lib = koffi.load(`libflite_cmu_us_${name}.so.1`);
  libraries.push(lib);
  const v = lib.func(`void *register_cmu_us_${name}(const char *voxdir)`)(null);
  if (!v) throw new Error(`flite voice ${name} did not register`);
  voices.set(name, v);
  return v;
}

port.on('message', (m: ToFliteWorker) => {
  if (m.t === 'close') {
    // between two native calls: exiting here never interrupts flite
    process.exit(0);
  }
  if (m.t === 'warm') {
    try { for (const v of m.voices) voice(v); post({ t: 'warmed' }); } catch (err) {
      post({ t: 'error', id: null, code: 'TTS_UNAVAILABLE', message: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  try {
    const t0 = performance.now();
    const v = voice(m.voice);
    const wp = flite!.textToWave(m.text, v);
    if (!wp) throw new Error('flite_text_to_wave returned NULL');
    const w = koffi.decode(wp, cstWave) as { sample_rate: number; num_samples: number; samples: unknown };
    const pcm = new Int16Array(w.num_samples);
    if (w.num_samples > 0) pcm.set(new Int16Array(koffi.view(w.samples, w.num_samples * 2)));
    flite!.deleteWave(wp);
    post({ t: 'audio', id: m.id, pcm, sampleRateHz: w.sample_rate, synthMs: performance.now() - t0 }, [pcm.buffer]);
  } catch (err) {
    post({ t: 'error', id: m.id, code: 'TTS_FAILED', message: err instanceof Error ? err.message : String(err) });
  }
});

post({ t: 'ready' });
