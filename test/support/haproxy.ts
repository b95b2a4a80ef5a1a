/**
 * HAProxy for tests and `npm run cluster`: Debian's `haproxy` (scripts/setup.sh) in the foreground
 * (`-db`) with the shipped config (deploy/haproxy/haproxy.cfg), bound to a free loopback port, its two
 * servers given by PARLEY_A / PARLEY_B. Never the system service; stopped by PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freeTcpPort } from './parley-process.ts';

export const HAPROXY_CFG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

function hasHaproxy(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const HAPROXY_AVAILABLE = hasHaproxy();

export interface HaproxyProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** What HAProxy wrote (its request log goes to stdout). */
  out(): string;
  stop(): Promise<void>;
}

/** Starts HAProxy in front of `a` and `b` (host:port each); resolves once it accepts connections. */
export async function startHaproxy(servers: { a: string; b: string }, opts: { port?: number; cfg?: string } = {}): Promise<HaproxyProcess> {
  const port = opts.port ?? (await freeTcpPort());
  const child = spawn('haproxy', ['-f', opts.cfg ?? HAPROXY_CFG, '-db'], {
    env: { PATH: process.env['PATH'] ?? '', PARLEY_HAPROXY_BIND: `127.0.0.1:${port}`, PARLEY_A: servers.a, PARLEY_B: servers.b },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!alive()) throw new Error(`haproxy exited before it listened:\n${out}`);
    // any HTTP answer (even 503 before the first health check) means it listens
    const ok = await fetch(`${url}/healthz`).then(() => true, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not listen on ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    pid: child.pid ?? 0,
    child,
    out: () => out,
    stop: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}
