/**
 * The answering-machine detection test set (docs/notes/amd.md), generated on demand into a temp dir:
 * flite speech at several voices and speeds, as a phone line carries it.
 *
 * - `human`: a short answer ("Hello?", "Hi, this is Sam.") after 0.1–0.9 s, then the silence of
 *   someone waiting for the other side to speak.
 * - `machine`: a voicemail greeting (3–7 s) after 0–1.5 s, then most of the time a beep (440–1900 Hz,
 *   0.2–1 s, 0.3–0.8 s after the greeting), then the silence of the recording.
 * - `hard` (reported apart): a machine that opens with "Hello?" and a pause, and a human who answers
 *   like a switchboard — the cases cadence rules get wrong by design.
 *
 * The line: the speech at −16/−22/−28 dBFS, white noise at 30/20/15/10 dB SNR, band-limited to
 * 300–3400 Hz and μ-law encoded by sox (`sinc 300-3400`, `-e u-law`), decoded back to 8 kHz pcm16.
 * Deterministic (seeded noise, cycled parameters). Needs flite and sox (Debian: flite, sox).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWavFile, writeWavFile } from '../../audio/index.ts';

export type AmdLabel = 'human' | 'machine';
export interface AmdCase {
  name: string;
  label: AmdLabel;
  /** `hard`: the tricky subset, reported apart. */
  hard: boolean;
  text: string;
  voice: string;
  speed: number;
  leadMs: number;
  snrDb: number;
  levelDbfs: number;
  /** Speech ends, ms after the answer. */
  speechEndMs: number;
  beep?: { hz: number; ms: number; atMs: number };
  /** 8 kHz pcm16 as the line delivers it. */
  pcm: Int16Array;
}

export const HUMAN_TEXTS = ['Hello?', 'Hi, this is Sam.', 'Yeah, hello.', "Hello, who's this?", 'Hello, Sam speaking.', 'Yes, hello?', 'Hi there.', 'Good morning.'];
export const MACHINE_TEXTS = [
  "Hi, you've reached the voicemail of John Smith. Please leave a message after the tone.",
  "Hello, this is Sarah. I can't come to the phone right now. Leave your name and number and I'll call you back.",
  'The person you are trying to reach is not available. Please leave a message after the beep.',
  'Thank you for calling Acme Dental. Our office is closed. Please leave a message and we will return your call.',
  "Hey, it's Mike. Leave a message.",
  'You have reached five five five, one two three four. Please leave a message.',
  "Hi, you've reached Anna and Tom. We're not home right now, so leave us a message.",
  "Sorry I missed your call. Leave a message and I'll get back to you.",
];
/** Machine: "Hello?" then a pause, then the rest. Human: a long, switchboard-like answer. */
const HARD_MACHINE = ["Hello?|Sorry, I can't take your call right now. Leave a message.", "Hi, this is Dan.|I'm not here right now, leave a message after the beep."];
const HARD_HUMAN = ['Good afternoon, thank you for calling the billing department, this is Sam, how can I help you today?'];

/** The held-out set: texts, voices and speeds the defaults were not chosen on. */
export const HOLDOUT_HUMAN_TEXTS = ['Hello, yes?', 'Hey.', 'Speaking.', 'Hi, who is calling?', 'Hello, this is Maria.', 'Yeah?', 'Hello, good evening.', 'Yes, this is he.'];
export const HOLDOUT_MACHINE_TEXTS = [
  'Hi, this is Robert. I am away from my desk. Please leave a message and I will return your call as soon as possible.',
  'Your call has been forwarded to an automatic voice message system. Nine one two, four four five is not available.',
  "Hey, you've got Jess. You know what to do.",
  'Welcome to the mailbox of Doctor Patel. The office is open Monday to Friday, nine to five.',
];
const HOLDOUT_VOICES = ['kal16', 'slt', 'rms'];
const HOLDOUT_SPEEDS = [0.8, 1.0, 1.25];

export const VOICES = ['slt', 'rms', 'awb', 'kal'];
export const SPEEDS = [0.9, 1.1];
const SNRS = [30, 20, 15, 10];
const LEVELS = [-16, -22, -28];
const HUMAN_LEADS = [100, 300, 500, 700, 900];
const MACHINE_LEADS = [0, 300, 800, 1500];
const BEEP_HZ = [1000, 440, 850, 1400, 1900, 620];
const BEEP_MS = [200, 400, 800, 1000, 250];
const BEEP_GAP_MS = [300, 500, 800];
const RATE = 8000;

export function hasFliteAndSox(): boolean {
  try {
    execFileSync('flite', ['-lv'], { stdio: 'ignore' });
    execFileSync('sox', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Gaussian noise, seeded (LCG + Box–Muller), standard deviation `sigma`. */
function gaussian(n: number, sigma: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let x = seed >>> 0 || 1;
  const u = (): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x + 1) / 4294967297;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t) * sigma;
    if (i + 1 < n) out[i + 1] = r * Math.sin(t) * sigma;
  }
  return out;
}

function rms(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) ** 2;
  return Math.sqrt(s / Math.max(1, x.length));
}

/** Drop flite's leading and trailing near-silence (below 1 % of the peak). */
function trim(x: Int16Array): Int16Array {
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  const lim = peak * 0.01;
  let a = 0;
  let b = x.length;
  while (a < b && Math.abs(x[a] as number) <= lim) a++;
  while (b > a && Math.abs(x[b - 1] as number) <= lim) b--;
  return x.slice(a, b);
}

export class AmdCaseMaker {
  readonly dir: string;
  private readonly speech = new Map<string, Int16Array>();
  private n = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'parley-amd-'));
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** flite speech at 8 kHz, trimmed; '|' in the text is a 1 s pause. */
  say(voice: string, speed: number, text: string): Int16Array {
    const key = `${voice}|${speed}|${text}`;
    const hit = this.speech.get(key);
    if (hit) return hit;
    const parts = text.split('|').map((t) => {
      const f = join(this.dir, 'flite.wav');
      execFileSync('flite', ['-voice', voice, '--setf', `duration_stretch=${speed}`, '-t', t, '-o', f]);
      return trim(readWavFile(f, { sampleRateHz: RATE }).samples);
    });
    const pause = RATE;
    const len = parts.reduce((a, p) => a + p.length, 0) + pause * (parts.length - 1);
    const out = new Int16Array(len);
    let at = 0;
    parts.forEach((p, i) => {
      out.set(p, at);
      at += p.length + (i < parts.length - 1 ? pause : 0);
    });
    this.speech.set(key, out);
    return out;
  }

  /** One case through the phone line. */
  make(c: Omit<AmdCase, 'pcm' | 'speechEndMs' | 'name'> & { tailMs: number; name?: string }): AmdCase {
    const speech = this.say(c.voice, c.speed, c.text);
    const lead = Math.round((c.leadMs * RATE) / 1000);
    const gain = (32768 * 10 ** (c.levelDbfs / 20)) / Math.max(1, rms(speech));
    const speechEnd = lead + speech.length;
    let end = speechEnd;
    let beepAt = 0;
    let beepLen = 0;
    if (c.beep) {
      beepAt = Math.round(((c.beep.atMs) * RATE) / 1000);
      beepLen = Math.round((c.beep.ms * RATE) / 1000);
      end = beepAt + beepLen;
    }
    const total = end + Math.round((c.tailMs * RATE) / 1000);
    const sig = new Float64Array(total);
    for (let i = 0; i < speech.length; i++) sig[lead + i] = (speech[i] as number) * gain;
    const speechRms = 32768 * 10 ** (c.levelDbfs / 20);
    if (c.beep) {
      const amp = speechRms * Math.SQRT2;
      const ramp = RATE * 0.005;
      for (let i = 0; i < beepLen; i++) {
        const env = Math.min(1, i / ramp, (beepLen - 1 - i) / ramp);
        sig[beepAt + i] = (sig[beepAt + i] as number) + amp * env * Math.sin((2 * Math.PI * c.beep.hz * i) / RATE);
      }
    }
    const noise = gaussian(total, speechRms / 10 ** (c.snrDb / 20), 1000 + this.n);
    const pcm = new Int16Array(total);
    for (let i = 0; i < total; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round((sig[i] as number) + (noise[i] as number))));
    const n = this.n++;
    const clean = join(this.dir, `c${n}.wav`);
    const line = join(this.dir, `l${n}.wav`);
    writeWavFile(clean, pcm, RATE);
    execFileSync('sox', ['-q', clean, '-r', '8000', '-e', 'u-law', '-b', '8', line, 'sinc', '300-3400']);
    const out = readWavFile(line).samples;
    rmSync(clean);
    rmSync(line);
    const { tailMs: _t, name, ...rest } = c;
    return {
      ...rest,
      name: name ?? `${c.label}-${c.voice}-${c.speed}-${n}`,
      speechEndMs: Math.round((speechEnd * 1000) / RATE),
      pcm: out,
    };
  }

  /** The bench set (the defaults were chosen on it): 64 humans, 64 machines (52 with a beep), and the hard subset. */
  benchSet(): AmdCase[] {
    const out: AmdCase[] = [];
    let i = 0;
    for (const voice of VOICES) {
      for (const speed of SPEEDS) {
        for (const text of HUMAN_TEXTS) {
          out.push(this.make({ label: 'human', hard: false, text, voice, speed, leadMs: pick(HUMAN_LEADS, i), snrDb: pick(SNRS, i), levelDbfs: pick(LEVELS, i), tailMs: 4000 }));
          i++;
        }
        for (const text of MACHINE_TEXTS) {
          out.push(this.machine(text, voice, speed, i, false));
          i++;
        }
      }
    }
    for (const voice of VOICES) {
      for (const text of HARD_MACHINE) out.push(this.machine(text, voice, 1.0, i++, true));
      for (const text of HARD_HUMAN) out.push(this.make({ label: 'human', hard: true, text, voice, speed: 1.0, leadMs: pick(HUMAN_LEADS, i), snrDb: pick(SNRS, i), levelDbfs: pick(LEVELS, i++), tailMs: 4000 }));
    }
    return out;
  }

  /** The held-out set: 72 humans, 36 machines, other texts, voices and speeds, the line cycled differently. */
  holdoutSet(): AmdCase[] {
    const out: AmdCase[] = [];
    let i = 7;
    for (const voice of HOLDOUT_VOICES) {
      for (const speed of HOLDOUT_SPEEDS) {
        for (const text of HOLDOUT_HUMAN_TEXTS) {
          out.push(this.make({ label: 'human', hard: false, text, voice, speed, leadMs: pick(HUMAN_LEADS, i + 2), snrDb: pick(SNRS, i + 3), levelDbfs: pick(LEVELS, i + 1), tailMs: 4000 }));
          i++;
        }
        for (const text of HOLDOUT_MACHINE_TEXTS) {
          out.push(this.machine(text, voice, speed, i, false));
          i++;
        }
      }
    }
    return out;
  }

  private machine(text: string, voice: string, speed: number, i: number, hard: boolean): AmdCase {
    const leadMs = pick(MACHINE_LEADS, i);
    const speechMs = (this.say(voice, speed, text).length * 1000) / RATE;
    const withBeep = i % 5 !== 3;
    const beep = withBeep ? { hz: pick(BEEP_HZ, i), ms: pick(BEEP_MS, i), atMs: Math.round(leadMs + speechMs + pick(BEEP_GAP_MS, i)) } : undefined;
    // without a beep the recording's silence outlasts readySilenceMs (2.5 s), so the message has its moment
    return this.make({ label: 'machine', hard, text, voice, speed, leadMs, snrDb: pick(SNRS, i + 1), levelDbfs: pick(LEVELS, i + 2), tailMs: beep ? 2000 : 3500, ...(beep ? { beep } : {}) });
  }
}

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length] as T;
}
