/**
 * A Kamailio (Debian 5.6) for the cluster tests and benches: the shipped deploy/kamailio/kamailio.cfg with
 * its KAMAILIO_DIR pointed at a temp dir holding a dispatcher.list of the test's Parley instances, started
 * in the foreground (`kamailio -DD -E -f <cfg> -A SIP_PORT=… -A DS_PING_INTERVAL=…`) on a free loopback
 * port, logging to stderr (kept with arrival times), stopped by its PID. Never the system service.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../fakes/sip-harness.ts';
import { sipProbe } from './sip-probe.ts';

export const KAMAILIO_CFG = fileURLToPath(new URL('../../deploy/kamailio/kamailio.cfg', import.meta.url));

export interface KamailioOptions {
  /** SIP ports of the Parley instances on 127.0.0.1 (dispatcher set 1, in this order). */
  backends: number[];
  /** ds_ping_interval (s): default 1. */
  pingIntervalS?: number;
  /** tm fr_timer (ms): default 2000. */
  frTimerMs?: number;
  /** ds_select_dst algorithm: default 4 (round robin). */
  alg?: number;
}

export interface KamailioLine {
  at: number;
  text: string;
}

export interface Kamailio {
  pid: number;
  port: number;
  dir: string;
  child: ChildProcess;
  /** Every stderr line so far, with Date.now() at arrival. */
  lines: KamailioLine[];
  out(): string;
  /** The INVITEs it routed: when, the call, the instance port (failovers included). */
  routed(): Array<{ at: number; callId: string; port: number; failover: boolean }>;
  /** When the dispatcher marked an instance down/up (its probe got a non-200 / a 200 again). */
  stateChanges(): Array<{ at: number; port: number; up: boolean }>;
  /** `kamcmd dispatcher.list`: each instance's port and dispatcher flags (AP active+probing, IP inactive+probing…). */
  destinations(): Promise<Array<{ port: number; flags: string }>>;
  stop(): Promise<void>;
}

/** The shipped config with KAMAILIO_DIR set to `dir` (the one text substitution the file asks to edit). */
export function kamailioConfig(dir: string): string {
  const cfg = readFileSync(KAMAILIO_CFG, 'utf8');
  const line = '#!substdef "!KAMAILIO_DIR!/etc/kamailio!g"';
  if (!cfg.includes(line)) throw new Error(`${KAMAILIO_CFG} has no ${line}`);
  return cfg.replace(line, `#!substdef "!KAMAILIO_DIR!${dir}!g"`);
}

export async function startKamailio(opts: KamailioOptions): Promise<Kamailio> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-kamailio-'));
  writeFileSync(join(dir, 'dispatcher.list'), opts.backends.map((p, i) => `1 sip:127.0.0.1:${p} 0 0 duid=parley-${i}\n`).join(''));
  const cfgPath = join(dir, 'kamailio.cfg');
  writeFileSync(cfgPath, kamailioConfig(dir));
  const port = await freePort();
  const args = [
    '-DD', '-E', '-f', cfgPath,
    '-m', '64', '-M', '8',
    '-A', `SIP_PORT=${port}`,
    '-A', `DS_PING_INTERVAL=${opts.pingIntervalS ?? 1}`,
    '-A', `FR_TIMER_MS=${opts.frTimerMs ?? 2000}`,
    '-A', `DS_ALG=${opts.alg ?? 4}`,
  ];
  const child = spawn('kamailio', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: KamailioLine[] = [];
  let partial = '';
  const onData = (d: Buffer): void => {
    const now = Date.now();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ at: now, text });
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const out = (): string => lines.map((l) => l.text).join('\n') + partial;
  const stop = async (): Promise<void> => {
    if (alive() && child.pid) {
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (alive() && child.pid) process.kill(child.pid, 'SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // up when it answers a keepalive OPTIONS to itself
  const t0 = Date.now();
  for (;;) {
    if (!alive()) throw new Error(`kamailio exited (${child.exitCode ?? child.signalCode}):\n${out()}`);
    const ok = await sipProbe(port, 'OPTIONS', 300).then((a) => a.status === 200, () => false);
    if (ok) break;
    if (Date.now() - t0 > 15_000) {
      await stop();
      throw new Error(`kamailio did not answer OPTIONS within 15 s:\n${out()}`);
    }
  }
  return {
    pid: child.pid ?? 0,
    port,
    dir,
    child,
    lines,
    out,
    routed: () =>
      lines.flatMap((l) => {
        const m = /INVITE (\S+) -> sip:127\.0\.0\.1:(\d+)( \(failover\))?/.exec(l.text);
        return m ? [{ at: l.at, callId: m[1] ?? '', port: Number(m[2]), failover: m[3] !== undefined }] : [];
      }),
    stateChanges: () =>
      lines.flatMap((l) => {
        const m = /instance (down|up): sip:127\.0\.0\.1:(\d+)/.exec(l.text);
        return m ? [{ at: l.at, port: Number(m[2]), up: m[1] === 'up' }] : [];
      }),
    destinations: () =>
      new Promise((resolve, reject) => {
        execFile('kamcmd', ['-s', `unix:${join(dir, 'kamailio_ctl')}`, 'dispatcher.list'], { timeout: 5000 }, (err, stdout) => {
          if (err) return reject(err);
          const out: Array<{ port: number; flags: string }> = [];
          for (const m of stdout.matchAll(/URI: sip:127\.0\.0\.1:(\d+)\s+FLAGS: (\w+)/g)) out.push({ port: Number(m[1]), flags: m[2] ?? '' });
          resolve(out);
        });
      }),
    stop,
  };
}
