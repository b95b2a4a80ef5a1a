/**
 * Echo suppression (audio/echo.ts, docs/notes/turns.md): flite speech as the agent's reply, its echo on
 * a phone line (delayed, −20 / −10 dB, a noise floor, μ-law both ways), the caller speaking over it.
 * The echo alone is explained by the reference; the caller is not; Silero behind the gate hears no
 * turn in the echo where Silero alone does, and still hears the caller over it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoDetector, EchoGatedVad, TurnDetector, createVad, mulawDecode, mulawEncode, readWavFile, resampleWhole } from '../../../audio/index.ts';
import type { VoiceActivityDetector } from '../../../audio/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'parley-echo-'));
function say(voice: string, text: string): Int16Array {
  const f = join(dir, `${voice}-${text.replace(/\W+/g, '_')}.wav`);
  execFileSync('flite', ['-voice', voice, '-t', text, '-o', f]);
  return readWavFile(f, { sampleRateHz: 8_000 }).samples;
}
/** What the caller's line carries: a·x delayed by `delay` + b·y + noise, through μ-law. Deterministic noise. */
function line(len: number, parts: { pcm: Int16Array; gain: number; at: number }[], noise = 100): Int16Array {
  const out = new Int16Array(len);
  let seed = 12345;
  for (let i = 0; i < len; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    let v = ((seed / 0x7fffffff) * 2 - 1) * noise;
    for (const p of parts) { const k = i - p.at; if (k >= 0 && k < p.pcm.length) v += p.gain * p.pcm[k]!; }
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return mulawDecode(mulawEncode(out));
}
const energy = (x: Int16Array, from: number, n: number): number => { let e = 0; for (let i = from; i < from + n && i < x.length; i++) e += x[i]! * x[i]!; return e / n; };

describe('EchoDetector', () => {
  let agent: Int16Array; let caller: Int16Array;
  beforeAll(() => {
    agent = mulawDecode(mulawEncode(say('kal', 'Our store opens at nine in the morning and closes at eight in the evening, every day except Sunday.')));
    caller = say('slt', 'Wait, stop, I have a question about my order.');
  });

  /** Share of the frames with sound (8 kHz, 32 ms) the detector calls echo (explained ≥ 0.6). */
  function echoShare(mic: Int16Array, active: (frameStart: number) => boolean): { share: number; delays: number[] } {
    const d = new EchoDetector();
    d.played(agent, 0);
    let n = 0; let echo = 0; const delays: number[] = [];
    for (let i = 0; i + 256 <= mic.length; i += 256) {
      d.pushMic(mic.subarray(i, i + 256));
      if (!active(i)) continue;
      n++;
      if (d.measure() >= 0.6) { echo++; delays.push(d.delay); }
    }
    return { share: echo / Math.max(1, n), delays };
  }

  it.each([[20, 296], [10, 1600]])('the echo alone at −%i dB (delay %i samples) is explained', (db, delay) => {
    const mic = line(agent.length + 2_000, [{ pcm: agent, gain: 10 ** (-db / 20), at: delay }]);
    const { share, delays } = echoShare(mic, (i) => energy(agent, i - delay, 256) > 1e5);
    expect(share).toBeGreaterThan(0.9);
    // the delay found is the one put in (±1 sample)
    delays.sort((a, b) => a - b);
    expect(Math.abs(delays[delays.length >> 1]! - delay)).toBeLessThanOrEqual(1);
  });

  it('the caller speaking over the echo is not explained', () => {
    const at = 4_000;
    const mic = line(agent.length + 2_000, [{ pcm: agent, gain: 0.1, at: 296 }, { pcm: caller, gain: 0.7, at }]);
    const { share } = echoShare(mic, (i) => energy(caller, i - at, 256) > 1e6);
    expect(share).toBeLessThan(0.1);
  });

  it('no reference, no echo: the caller alone is never explained', () => {
    const d = new EchoDetector();
    const mic = line(caller.length, [{ pcm: caller, gain: 1, at: 0 }]);
    for (let i = 0; i + 256 <= mic.length; i += 256) { d.pushMic(mic.subarray(i, i + 256)); expect(d.measure()).toBe(0); }
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('EchoGatedVad with Silero', () => {
  let silero: VoiceActivityDetector;
  beforeAll(async () => { silero = await createVad({ kind: 'silero', sampleRateHz: 16_000, strict: true }); });
  afterAll(() => silero.close());

  function turns(vad: VoiceActivityDetector, mic16k: Int16Array): number {
    const td = new TurnDetector({ vad, silenceDurationMs: 500 });
    let started = 0;
    for (let i = 0; i < mic16k.length; i += 320) for (const t of td.push(mic16k.subarray(i, i + 320))) if (t.type === 'speech_started') started++;
    return started;
  }

  it('the echo at −10 dB starts a turn for Silero alone, none behind the gate; the caller over it still does', () => {
    const agent = mulawDecode(mulawEncode(say('kal', 'I have booked a table for two people tomorrow evening at seven.')));
    const caller = say('rms', 'No, that is wrong, I said Tuesday.');
    const echoOnly = resampleWhole(line(agent.length + 4_000, [{ pcm: agent, gain: 0.316, at: 480 }]), 8_000, 16_000);
    silero.reset();
    expect(turns(silero, echoOnly)).toBeGreaterThan(0);
    const gated = new EchoGatedVad(silero, new EchoDetector());
    gated.echo.played(agent, 0);
    silero.reset();
    expect(turns(gated, echoOnly)).toBe(0);
    expect(gated.suppressed).toBeGreaterThan(10);

    const both = resampleWhole(line(agent.length + 4_000, [{ pcm: agent, gain: 0.316, at: 480 }, { pcm: caller, gain: 0.8, at: 8_000 }]), 8_000, 16_000);
    const gated2 = new EchoGatedVad(silero, new EchoDetector());
    gated2.echo.played(agent, 0);
    silero.reset();
    expect(turns(gated2, both)).toBeGreaterThan(0);
  });
});
