/**
 * Helpers for SIP tests with real peers: run a SIPp scenario from fixtures/sip/, pick free ports,
 * and run baresip headless (WAV as microphone, records what it hears) driven over ctrl_tcp.
 * Every process is started here and killed by PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

export const FIXTURES_SIP = fileURLToPath(new URL('../../fixtures/sip/', import.meta.url));

/** Linux's default ephemeral ports start here (/proc/sys/net/ipv4/ip_local_port_range). */
const EPHEMERAL_FROM = 32768;

export const testLog = pino({ level: process.env.PARLEY_TEST_LOG ?? 'silent' });

/**
 * A port free on both UDP and TCP at 127.0.0.1 (even, so +1 can be RTCP), from a range unlikely to clash;
 * `udpPorts` consecutive UDP ports from it free (SIPp's -mp takes four: audio RTP/RTCP, then video RTP/RTCP).
 * Always below Linux's ephemeral range (32768–60999): a port in it can be taken by any outgoing connection
 * between this probe and the bind (a Parley process got EADDRINUSE on its SIP port that way in a cluster test).
 */
export async function freePort(base = 20000, span = 12000, udpPorts = 2): Promise<number> {
  const top = EPHEMERAL_FROM - udpPorts;
  for (let i = 0; i < 50; i++) {
    const port = Math.min(base + 4 * Math.floor((Math.random() * span) / 4), top - (top % 4));
    const ok = await Promise.all([...Array.from({ length: udpPorts }, (_v, k) => canBindUdp(port + k)), canBindTcp(port)]);
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no free port');
}

function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function canBindTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A random RTP range of 200 ports for one test file, so parallel tests rarely collide (the pool skips taken ports anyway). */
export function rtpRange(): { min: number; max: number } {
  const min = 42000 + 200 * Math.floor(Math.random() * 100);
  return { min, max: min + 199 };
}

export interface SippResult {
  code: number;
  stdout: string;
  stderr: string;
  errors: string;
  messages: string;
}

const children = new Set<ChildProcess>();
// if the test process goes down without its afterAll, do not leave peers running
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
});

/** Kill every process the harness started that is still running (by PID). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  children.clear();
}

export async function runSipp(opts: {
  scenario: string;
  serverPort: number;
  transport?: 'udp' | 'tcp';
  service?: string;
  calls?: number;
  timeoutS?: number;
  extraArgs?: string[];
  /** Run as a UAS listening on this port (no remote host). */
  uasPort?: number;
}): Promise<SippResult> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sipp-'));
  const localPort = opts.uasPort ?? (await freePort(20000, 10000));
  const mediaPort = await freePort(30000, 2700, 4);
  const args = [
    ...(opts.uasPort ? [] : [`127.0.0.1:${opts.serverPort}`]),
    '-sf',
    join(FIXTURES_SIP, opts.scenario),
    '-s',
    opts.service ?? '1000',
    '-i',
    '127.0.0.1',
    '-p',
    String(localPort),
    '-mi',
    '127.0.0.1',
    '-mp',
    String(mediaPort),
    '-m',
    String(opts.calls ?? 1),
    '-l',
    String(opts.calls ?? 1),
    '-t',
    opts.transport === 'tcp' ? 't1' : 'u1',
    '-nostdin',
    '-timeout',
    `${opts.timeoutS ?? 25}s`,
    '-timeout_error',
    '-trace_err',
    '-error_file',
    join(dir, 'errors.log'),
    '-trace_msg',
    '-message_file',
    join(dir, 'messages.log'),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  children.delete(child);
  const read = (f: string): string => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  return { code, stdout, stderr, errors: read('errors.log'), messages: read('messages.log') };
}

/** Wait until `pred` holds (polling), or throw after `timeoutMs`. */
export async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ------------------------------------------------------------------------------------------ baresip

export interface BaresipCall {
  dir: string;
  /** What baresip heard (its sndfile "-dec.wav" dump), after the run. */
  decodedWav(): string | undefined;
  events: Array<{ type: string; param?: string }>;
  log(): string;
  command(command: string, params?: string): void;
  waitEvent(type: string, timeoutMs: number): Promise<{ type: string; param?: string }>;
  quit(): Promise<void>;
}

/**
 * Start baresip with `inputWav` (8 kHz mono s16) as microphone, dial `uri`, record what it hears.
 * `codecs` e.g. 'pcmu' or 'pcma'.
 */
export async function startBaresip(opts: {
  inputWav: string;
  uri: string | null;
  codecs?: string;
  /** answer incoming calls at once (the called phone of an outbound call) */
  autoAnswer?: boolean;
  /** more config lines (e.g. `module srtp.so`, `sip_cafile …`) */
  extraConfig?: string[];
  /** more account parameters (e.g. `;mediaenc=srtp-mand`) */
  accountParams?: string;
}): Promise<BaresipCall & { sipPort: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-baresip-'));
  const bs = join(dir, 'bs');
  mkdirSync(bs);
  mkdirSync(join(dir, 'rec'));
  const sipPort = await freePort(20000, 10000);
  const ctrlPort = await freePort(20000, 10000);
  const rtpMin = 30000 + 2 * Math.floor(Math.random() * 4000);
  writeFileSync(
    join(bs, 'config'),
    [
      'poll_method\t\tepoll',
      `sip_listen\t\t127.0.0.1:${sipPort}`,
      'call_local_timeout\t120',
      'audio_path\t\t/usr/share/baresip',
      `audio_source\t\taufile,${opts.inputWav}`,
      'audio_player\t\taubridge,nil',
      'audio_alert\t\taubridge,nil',
      'audio_level\t\tno',
      'ausrc_format\t\ts16',
      'auplay_format\t\ts16',
      'auenc_format\t\ts16',
      'audec_format\t\ts16',
      'audio_buffer\t\t20-160',
      `rtp_ports\t\t${rtpMin}-${rtpMin + 40}`,
      'rtcp_mux\t\tno',
      'jitter_buffer_delay\t1-4',
      'rtp_stats\t\tyes',
      'net_interface\t\t127.0.0.1',
      'module_path\t\t/usr/lib/baresip/modules',
      'module\t\t\tg711.so',
      'module\t\t\topus.so',
      'module\t\t\taufile.so',
      'module\t\t\taubridge.so',
      'module\t\t\tsndfile.so',
      'module\t\t\tctrl_tcp.so',
      'module_tmp\t\tuuid.so',
      'module_tmp\t\taccount.so',
      'module_app\t\tmenu.so',
      `snd_path\t\t${join(dir, 'rec')}`,
      `ctrl_tcp_listen\t\t127.0.0.1:${ctrlPort}`,
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  writeFileSync(join(bs, 'accounts'), `<sip:caller@127.0.0.1:${sipPort}>;regint=0;audio_codecs=${opts.codecs ?? 'pcmu'};answermode=${opts.autoAnswer ? 'auto' : 'manual'}${opts.accountParams ?? ''}\n`);
  writeFileSync(join(bs, 'contacts'), '');
  const child = spawn('baresip', ['-f', bs], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // connect to ctrl_tcp (netstring-framed JSON)
  let sock: net.Socket | undefined;
  for (let i = 0; i < 100 && !sock; i++) {
    sock = await new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect(ctrlPort, '127.0.0.1');
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (!sock) await new Promise((r) => setTimeout(r, 50));
  }
  if (!sock) {
    if (child.pid) process.kill(child.pid, 'SIGKILL');
    throw new Error(`baresip did not start: ${out}`);
  }
  const events: Array<{ type: string; param?: string }> = [];
  const waiters: Array<{ type: string; resolve: (e: { type: string; param?: string }) => void }> = [];
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const c = buf.indexOf(':');
      if (c < 0) break;
      const n = Number(buf.subarray(0, c).toString());
      if (buf.length < c + 1 + n + 1) break;
      const msg = JSON.parse(buf.subarray(c + 1, c + 1 + n).toString()) as { event?: boolean; type?: string; param?: string };
      buf = buf.subarray(c + 2 + n);
      if (msg.event && msg.type) {
        const e = { type: msg.type, ...(msg.param ? { param: msg.param } : {}) };
        events.push(e);
        const i = waiters.findIndex((w) => w.type === e.type);
        if (i >= 0) waiters.splice(i, 1)[0]?.resolve(e);
      }
    }
  });
  sock.on('error', () => undefined);
  let token = 0;
  const command = (cmd: string, params?: string): void => {
    const j = JSON.stringify({ command: cmd, params, token: String(++token) });
    sock?.write(`${Buffer.byteLength(j)}:${j},`);
  };
  const waitEvent = (type: string, timeoutMs: number): Promise<{ type: string; param?: string }> => {
    const have = events.find((e) => e.type === type);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`baresip: timed out waiting for ${type}; events: ${events.map((e) => e.type).join(',')}\n${out.slice(-3000)}`)), timeoutMs);
      waiters.push({
        type,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
  };
  if (opts.uri !== null) command('dial', opts.uri);
  return {
    sipPort,
    dir,
    events,
    log: () => out,
    command,
    waitEvent,
    decodedWav: () => {
      const f = readdirSync(join(dir, 'rec')).find((x) => x.endsWith('-dec.wav'));
      return f ? join(dir, 'rec', f) : undefined;
    },
    quit: async () => {
      command('quit');
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const t = setTimeout(() => child.exitCode === null && child.pid && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      sock?.destroy();
      children.delete(child);
    },
  };
}
