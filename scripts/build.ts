/**
 * `npm run build` (and `prepack`): the package that `import { createParley } from 'parley'` loads
 * (docs/notes/embedding.md).
 *
 * 1. dist/ is emptied (a deleted source leaves no stale .js behind);
 * 2. tsc (tsconfig.build.json) emits server/, audio/ and sip/ as JavaScript with .d.ts next to each
 *    file; `rewriteRelativeImportExtensions` turns the sources' `./x.ts` imports into `./x.js`. It
 *    emits with `--noCheck` (half the CPU): the same sources are type-checked by `npm run typecheck`,
 *    which `prepack` runs first, and the example's type check against the emitted .d.ts
 *    (test/e2e/embed-package.test.ts) fails on a declaration that went wrong;
 * 3. run-time files that are not TypeScript (server/store/sqlite-worker.mjs) are copied as they are;
 * 4. the browser pages (the demo, the calls page) are bundled now (server/routes/page-assets.ts
 *    `compilePage`, the same esbuild build the server runs from source) into dist/client-demo/ with a
 *    manifest each, where the built server looks first: the built package needs no esbuild and no
 *    TypeScript at run time.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_PAGE } from '../server/routes/demo.ts';
import { CALLS_PAGE } from '../server/routes/calls-page.ts';
import { compilePage, prebuiltManifest } from '../server/routes/page-assets.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const t0 = Date.now();
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--noCheck'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal})\n`);
  process.exit(1);
}

// files the emitted code loads at run time that tsc does not emit (the SQLite worker, server/store/sqlite-worker.mjs)
let copied = 0;
for (const top of ['server', 'audio', 'sip']) {
  for (const e of readdirSync(join(root, top), { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.(mjs|cjs|js|json)$/.test(e.name)) continue;
    const from = join(e.parentPath, e.name);
    const to = join(dist, from.slice(root.length + 1));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
    copied++;
  }
}

const pagesDir = join(dist, 'client-demo');
mkdirSync(pagesDir, { recursive: true });
let files = 0;
for (const page of [DEMO_PAGE, CALLS_PAGE]) {
  const manifest: Record<string, string> = {};
  for (const [name, asset] of await compilePage(page)) {
    writeFileSync(join(pagesDir, name), asset.body);
    manifest[name] = asset.type;
    files++;
  }
  writeFileSync(join(pagesDir, prebuiltManifest(page)), JSON.stringify(manifest, null, 2) + '\n');
}
process.stdout.write(`build: dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s (${files} page files prebuilt, ${copied} run-time files copied)\n`);
