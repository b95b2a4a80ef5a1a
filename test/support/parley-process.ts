/**
 * A real Parley process (`node --import tsx server/main.ts`) for the tests that need more than one
 * instance, a signal or a crash (drain, kill -9, restarts; issue 13). The environment is exactly what the
 * caller gives (plus PATH and HOME), so nothing leaks in from the test runner's own env. The process
 * listens on 127.0.0.1 on the port given (or a free one), and is killed by `stop()` if still alive.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';

export interface ParleyProcess {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  out(): string;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if alive, then wait for the exit. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface MainProcess {
  child: ChildProcessWithoutNullStreams;
  /** Everything the process wrote to stdout and stderr so far. */
  out(): string;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node --import tsx server/main.ts` with exactly `env` (plus PATH and HOME), its output collected: for the
 * tests of the process itself (start-up, signals, bad configuration, crash and restart). The caller kills it.
 */
export function spawnMain(env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, out: () => out, exited };
}

export async function startParleyProcess(env: Record<string, string>, opts: { port?: number; readyTimeoutMs?: number } = {}): Promise<ParleyProcess> {
  const port = opts.port ?? (await freeTcpPort());
  const { child, out, exited } = spawnMain({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (!alive()) throw new Error(`parley exited (${child.exitCode ?? child.signalCode}) before it listened:\n${out()}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`parley did not answer /healthz within ${opts.readyTimeoutMs ?? 30_000} ms:\n${out()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    pid: child.pid ?? 0,
    port,
    url,
    out,
    exited,
    alive,
    signal: (sig) => {
      if (alive()) child.kill(sig);
    },
    stop: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}
