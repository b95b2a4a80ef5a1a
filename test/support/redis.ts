/**
 * A throwaway Redis for tests and benches: Debian's `redis-server` (scripts/setup.sh) on 127.0.0.1 at a
 * free port, nothing saved (`--save '' --appendonly no`), its dir a temp dir. Never the system service.
 * `stop()` kills it by PID (SIGKILL: a crash, as a test of "Redis down" wants); `restart()` starts a new
 * one, empty, on the same port (a Redis that came back after losing its memory).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freeTcpPort } from './parley-process.ts';

export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  pid(): number;
  running(): boolean;
  /** SIGKILL by PID, wait for the exit. */
  stop(): Promise<void>;
  /** A new, empty server on the same port. */
  restart(): Promise<void>;
  /** Stop and remove the dir. */
  close(): Promise<void>;
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const REDIS_AVAILABLE = hasRedisServer();

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
  });
}

export async function startRedis(opts: { port?: number } = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freeTcpPort());
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'));
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const start = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    child = c;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`redis-server exited before it answered:\n${out}`);
      if (await answers(port)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`redis-server did not answer on ${port}:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const running = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (running()) child!.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child?.pid ?? 0,
    running,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
