/**
 * A throwaway PostgreSQL server for tests and benches: Debian's `postgresql` package (scripts/setup.sh),
 * `initdb` into a temp dir and `postgres` on 127.0.0.1 at a free port, run as an unprivileged user
 * (PostgreSQL refuses to run as root: the package's `postgres` user when there is one, else `nobody`).
 * One cluster per test file: `const pg = await startPostgres()` in beforeAll, `await pg.stop()` in
 * afterAll (stops the server by its PID, removes the dir). `pg.createDatabase()` gives each test a
 * fresh database.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** postgres://parley@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  pid: number;
  dir: string;
  /** A new empty database; its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown) but keeps its data dir and port: `startServer()` brings it back (the outage tests). */
  stopServer(): Promise<void>;
  /** Starts the server again on the same data dir and port; resolves once it answers. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

/** The newest installed server's bin dir (/usr/lib/postgresql/<major>/bin), or null. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root).filter((d) => existsSync(join(root, d, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(root, majors[0], 'bin') : null;
}

export const POSTGRES_AVAILABLE = postgresBinDir() !== null;

function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && uid > 0) return { uid, gid };
    } catch {
      // no such user
    }
  }
  throw new Error('postgres: running as root and no unprivileged user (postgres, nobody) to run the server as');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}) before it was ready:\n${log()}`);
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return;
    } catch {
      await c.end().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error(`postgres not ready after ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StartPostgresOptions {
  /**
   * false (default): fsync, synchronous_commit and full_page_writes off — fast, and a test never
   * loses power. true: PostgreSQL's durable defaults (benches compare against them).
   */
  durable?: boolean;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error('postgres: no /usr/lib/postgresql/*/bin/initdb (install the Debian package postgresql: scripts/setup.sh)');
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'parley', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], { ...asUser, cwd: dir, stdio: 'pipe' });
  const port = await freePort();
  const settings = opts.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'max_connections=50', ...settings];
  let log = '';
  const launch = (): ChildProcess => {
    const c = spawn(join(bin, 'postgres'), args, { ...asUser, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log = (log + d).slice(-8000);
    });
    return c;
  };
  let child = launch();
  const kill = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const url = `postgres://parley@127.0.0.1:${port}/postgres`;
  try {
    await waitReady(url, child, () => log, 30_000);
  } catch (err) {
    kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const stopServer = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGINT'); // fast shutdown
    const t = setTimeout(kill, 10_000);
    await exited;
    clearTimeout(t);
  };
  let dbs = 0;
  return {
    url,
    port,
    get pid() {
      return child.pid!;
    },
    dir,
    async createDatabase(name = `t${process.pid}_${++dbs}_${Date.now() % 100000}`): Promise<string> {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return `postgres://parley@127.0.0.1:${port}/${name}`;
    },
    stopServer,
    async startServer(): Promise<void> {
      if (child.exitCode === null && child.signalCode === null) return;
      child = launch();
      await waitReady(url, child, () => log, 30_000);
    },
    async stop(): Promise<void> {
      process.removeListener('exit', kill);
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
