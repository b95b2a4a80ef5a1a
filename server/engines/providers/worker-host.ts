import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Starts a worker thread from a module URL. TypeScript worker files (run from source by tsx or
 * vitest) are started through tsx's ESM loader, registered inside the worker; `.js` files start
 * directly.
 */
export function startWorker(entry: URL, workerData?: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const require = createRequire(import.meta.url);
  // tsx/esm/api resolves to its CJS build through `require`; the ESM build sits next to it.
  const tsxApi = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}
