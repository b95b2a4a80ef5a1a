import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** True when this module runs as the built package's JavaScript (dist/, `npm run build`), not from source. */
const BUILT = import.meta.url.endsWith('.js');

/**
 * Starts a worker thread from a module URL. TypeScript worker files (run from source by tsx or
 * vitest) are started through tsx's ESM loader, registered inside the worker; `.js` files start
 * directly. Callers name their worker `./worker.ts`; in the built package tsc emitted `./worker.js`
 * next to it, which starts directly (no tsx).
 */
export function startWorker(entry: URL, workerData?: unknown): Worker {
  if (BUILT && entry.pathname.endsWith('.ts')) entry = new URL(entry.href.replace(/\.ts$/, '.js'));
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const require = createRequire(import.meta.url);
  // tsx/esm/api resolves to its CJS build through `require`; the ESM build sits next to it.
  const tsxApi = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** Asks a worker to stop between two jobs (message `{ t: 'close' }`); the worker answers with `process.exit`. */
export const WORKER_CLOSE = { t: 'close' } as const;

/**
 * Stops a worker that runs native code (koffi): it is asked to exit between two jobs, and terminated
 * only if it has not within `graceMs`. `Worker.terminate()` lands while a native call may be running;
 * a koffi call that then makes its JS result on the terminating isolate aborts the whole process
 * ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw", seen when a test closed the local
 * engine with decodes in flight), so terminating is the last resort.
 */
export function stopWorker(w: Worker, graceMs = 5000): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      void w.terminate().then(finish, finish);
    }, graceMs);
    // the caller awaits this: keep the process alive until the worker is gone
    w.ref();
    w.once('exit', finish);
    try {
      w.postMessage(WORKER_CLOSE);
    } catch {
      void w.terminate().then(finish, finish);
    }
  });
}
