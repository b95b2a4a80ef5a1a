/**
 * What the round-based benchmarks share (bench/sip.ts, bench/media-stream.ts, bench/call-center.ts,
 * bench/ab.ts): a load generator in a child process that reports on stdout one JSON line per event
 * (`{"event":"start"}` when its media starts, `{"event":"end"}` when it stops, `{"event":"result", …numbers}`
 * last), and the "median [min–max]" of a figure over the rounds.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { spread } from './index.ts';

/** Calls onLine with each whole line the stream gives (a child's JSON-line protocol). */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      onLine(line);
    }
  });
}

/**
 * Runs `node --import tsx <argv…>` (a generator such as `bench/sip.ts --load sip <port> <calls> <seconds> 0`),
 * calls onStart / onEnd around its media window, and resolves with its `result` line.
 */
export function runLoadChild(argv: readonly string[], onStart: () => void, onEnd: () => void, label = 'generator'): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let result: Record<string, number> | undefined;
    onLines(child.stdout, (line) => {
      let msg: { event?: string } & Record<string, number>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.event === 'start') onStart();
      else if (msg.event === 'end') onEnd();
      else if (msg.event === 'result') result = msg;
    });
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`${label} exited ${code}`))));
  });
}

/** "median [min–max]" of a figure over the rounds (and its IQR once there are 8 rounds or more, enough for it to mean something). */
export function fmtRounds(xs: readonly number[], digits: number, unit = ''): string {
  const sp = spread(xs);
  const f = (x: number): string => x.toFixed(digits);
  const iqr = xs.length >= 8 ? `, IQR ${f(sp.p25)}–${f(sp.p75)}` : '';
  return `${f(sp.median)}${unit} [${f(sp.min)}–${f(sp.max)}${iqr}]`;
}
