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
 * 3. the browser demo is bundled now (server/routes/demo.ts `compileDemoAssets`, the same esbuild
 *    build the server runs from source) into dist/client-demo/ with its manifest, where the built
 *    server/routes/demo.js looks first: the built package needs no esbuild and no TypeScript at run time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREBUILT_MANIFEST, compileDemoAssets } from '../server/routes/demo.ts';

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

const demoDir = join(dist, 'client-demo');
mkdirSync(demoDir, { recursive: true });
const manifest: Record<string, string> = {};
for (const [name, asset] of await compileDemoAssets()) {
  writeFileSync(join(demoDir, name), asset.body);
  manifest[name] = asset.type;
}
writeFileSync(join(demoDir, PREBUILT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
process.stdout.write(`build: dist/ in ${((Date.now() - t0) / 1000).toFixed(1)} s (${Object.keys(manifest).length} demo files prebuilt)\n`);
