/** The issue-14 turn-taking set (scripts/turns-fixtures.sh) as the turn benches read it. */
import { readFileSync } from 'node:fs';
import { mulawDecode } from '../../audio/index.ts';

/** The μ-law payload of one of the set's WAV files (its `data` chunk). */
export function mulawOf(file: string): Buffer {
  const b = readFileSync(file);
  let at = 12;
  while (at + 8 <= b.length && b.toString('ascii', at, at + 4) !== 'data') at += 8 + b.readUInt32LE(at + 4);
  return b.subarray(at + 8, at + 8 + b.readUInt32LE(at + 4));
}

/** The end of speech (ms): the end of the last 20 ms frame 15 dB above the line's noise floor. */
export function speechEndMs(mu: Buffer): number {
  const pcm = mulawDecode(mu);
  const rms: number[] = [];
  for (let i = 0; i + 160 <= pcm.length; i += 160) {
    let e = 0;
    for (let k = i; k < i + 160; k++) e += pcm[k]! * pcm[k]!;
    rms.push(Math.sqrt(e / 160));
  }
  const floor = [...rms].sort((a, b) => a - b)[Math.floor(rms.length * 0.1)]!;
  for (let f = rms.length - 1; f >= 0; f--) if (rms[f]! > floor * 5.6) return (f + 1) * 20;
  return rms.length * 20;
}
