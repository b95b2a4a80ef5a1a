/**
 * The package as another project gets it (docs/notes/embedding.md): `npm run build`, `npm pack`, the
 * tarball installed into a temporary project holding examples/embed-basic, the example type-checked
 * against the package's .d.ts (every library's .d.ts too: skipLibCheck off), then run on plain Node
 * (no tsx, no TypeScript): a WS client opens a session on the local engine, the example's tool is
 * offered in `session.created`, its incoming-call hook tags the session, its observer sees the session
 * open and close, the browser pages are served from the prebuilt files, and SIGTERM stops it: `close()`
 * drains and the process then exits by itself (nothing left holding the event loop).
 *
 * "Installed" offline, the way npm lays a package out: the tarball unpacked into
 * node_modules/parley, and each of its declared `dependencies` (and the example's devDependencies)
 * linked from this repository's node_modules, which `npm ci` installed from the lockfile. No registry,
 * no native rebuild; a module the package uses at run time without declaring it (a devDependency) is
 * not found, as in a real install.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { until } from '../component/helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'embed-basic');
const KEY = 'pk_test_embed_package_key_0123456789';

function run(cmd: string, args: string[], cwd: string): { stdout: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 64 * 1024 * 1024 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${out}`);
  return { stdout: r.stdout ?? '', ms: Date.now() - t0 };
}

/** Links node_modules/<name> of `app` to this repository's installed copy (scoped names too). */
function linkFromRepo(app: string, name: string): void {
  const from = join(ROOT, 'node_modules', name);
  if (!existsSync(from)) throw new Error(`${name} is not installed in ${ROOT}/node_modules (run npm ci)`);
  const to = join(app, 'node_modules', name);
  mkdirSync(dirname(to), { recursive: true });
  symlinkSync(from, to, 'dir');
}

type Line = Record<string, unknown> & { event?: string };

describe('the packed package, embedded by examples/embed-basic', () => {
  let tmp = '';
  let app = '';
  let files: string[] = [];
  const timings: Record<string, number> = {};

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'parley-embed-'));
    app = join(tmp, 'app');
    timings['build'] = run('npm', ['run', 'build'], ROOT).ms;
    // prepack (typecheck + build) is what a person's `npm pack` runs; the build just ran, the suite typechecks
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
    timings['pack'] = packed.ms;
    const info = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info[0]!.files.map((f) => f.path);
    const tarball = join(tmp, info[0]!.filename);

    mkdirSync(join(app, 'node_modules', 'parley'), { recursive: true });
    run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules', 'parley'), '--strip-components=1'], tmp);
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'parley', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) linkFromRepo(app, dep);
    cpSync(join(EXAMPLE, 'src'), join(app, 'src'), { recursive: true });
    cpSync(join(EXAMPLE, 'tsconfig.json'), join(app, 'tsconfig.json'));
    cpSync(join(EXAMPLE, 'package.json'), join(app, 'package.json'));
    const example = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    for (const dep of Object.keys(example.devDependencies)) if (dep !== 'typescript') linkFromRepo(app, dep);
  }, 240_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    // figures for the log: how long each step took on this machine
    if (Object.keys(timings).length > 0) process.stdout.write(`embed-package: ${JSON.stringify(timings)}\n`);
  });

  it('the tarball holds the built entry, its .d.ts, the workers and the prebuilt demo, and no TypeScript sources', () => {
    expect(files).toContain('dist/server/parley.js');
    expect(files).toContain('dist/server/parley.d.ts');
    expect(files).toContain('dist/server/engines/providers/pocketsphinx/worker.js');
    expect(files).toContain('dist/server/engines/providers/flite/worker.js');
    for (const f of ['demo.prebuilt.json', 'app.js', 'mic-worklet.js', 'index.html', 'calls.prebuilt.json', 'calls.js', 'calls.html']) {
      expect(files).toContain(`dist/client-demo/${f}`);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('bench/'))).toEqual([]);
    // the built JavaScript imports .js files only (rewriteRelativeImportExtensions)
    const entry = readFileSync(join(app, 'node_modules', 'parley', 'dist', 'server', 'parley.js'), 'utf8');
    expect(entry).not.toMatch(/from ['"]\.{1,2}\/[^'"]*\.ts['"]/);
  });

  it('the example type-checks against the package\'s .d.ts and compiles', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    timings['tsc'] = run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], app).ms;
    expect(existsSync(join(app, 'dist', 'index.js'))).toBe(true);
  }, 120_000);

  it('runs on plain Node: a session on the local engine sees the tool and the observer, SIGTERM drains and the process exits by itself', async () => {
    const t0 = Date.now();
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['dist/index.js'], {
      cwd: app,
      env: {
        PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp',
        PARLEY_API_KEYS: KEY, PARLEY_ENGINE: 'local', LOG_LEVEL: 'warn',
        PARLEY_LOCAL_STT_WORKERS: '1', PARLEY_LOCAL_STT_DECODERS: '2', PARLEY_LOCAL_TTS_WORKERS: '1',
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const lines = (): Line[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    const find = (pred: (l: Line) => boolean): Line | undefined => lines().find(pred);
    let ws: WebSocket | null = null;
    try {
      await until(() => find((l) => l.event === 'listening') !== undefined, 30_000, `the example to listen; output:\n${out}`);
      const listening = find((l) => l.event === 'listening')!;
      expect(listening).toMatchObject({ engine: 'local' });
      const port = listening['port'] as number;
      expect(port).toBeGreaterThan(0);
      expect(find((l) => l.event === 'api_key')).toBeUndefined(); // PARLEY_API_KEYS was given

      // the demo page and the calls page come from the prebuilt files (dist/client-demo/: no esbuild, no sources there)
      for (const [path, type] of [['/', 'text/html'], ['/demo/assets/app.js', 'text/javascript'], ['/calls', 'text/html'], ['/calls/assets/calls.js', 'text/javascript']]) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        expect(res.headers.get('content-type')).toContain(type);
        expect((await res.text()).length).toBeGreaterThan(200);
      }

      ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime`, { headers: { Authorization: `Bearer ${KEY}` } });
      const created = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no session.created; output:\n${out}`)), 30_000);
        ws!.on('message', (data) => {
          const ev = JSON.parse(data.toString()) as { type: string; session?: Record<string, unknown> };
          if (ev.type === 'session.created') { clearTimeout(timer); resolve(ev.session!); }
        });
        ws!.once('error', reject);
      });
      const tools = (created['tools'] as Array<{ name: string; type: string }>).map((t) => t.name);
      expect(tools).toContain('get_order_status');
      await until(() => find((l) => l.event === 'call.opened') !== undefined, 10_000, 'the observer to see the session open');
      const opened = find((l) => l.event === 'call.opened')!;
      // a call's id is the session's id: what the client reads in session.created
      expect(opened).toMatchObject({ id: created['id'], leg: 'ws', engine: 'local', metadata: { tagged_by: 'embed-basic', door: 'ws', incoming_call: 'ok' } });

      ws.close();
      await until(() => find((l) => l.event === 'call.closed') !== undefined, 10_000, 'the observer to see the session close');
      expect(find((l) => l.event === 'call.closed')).toMatchObject({ id: opened['id'], endReason: 'caller_hangup' });

      child.kill('SIGTERM');
      const end = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
      // 'hung': close() resolved but something (a worker, a timer, a socket) still holds the event loop
      expect(end, out).toEqual({ code: 0, signal: null });
      expect(lines().map((l) => l.event).filter(Boolean)).toEqual(['listening', 'call.opened', 'call.closed', 'stopping', 'stopped']);
      timings['run'] = Date.now() - t0;
    } finally {
      ws?.terminate();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 90_000);
});
