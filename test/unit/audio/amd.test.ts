import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMD_BEEP, AMD_DECIDED, AMD_READY, AnsweringMachineDetector, AudioError, resampleWhole } from '../../../audio/index.ts';
import type { AmdOptions } from '../../../audio/index.ts';
import { SHORT_GREETING_MS, SHORT_GREETING_SILENCE_MS } from '../../../audio/amd.ts';
import { AmdCaseMaker, hasFliteAndSox } from '../../support/amd-cases.ts';
import { noise, sine } from './signal.ts';

/** Feed `pcm` in chunks of `chunk` samples until the detector is done; returns the OR of the events. */
function feed(d: AnsweringMachineDetector, pcm: Int16Array, chunk = d.blockSamples): number {
  let ev = 0;
  for (let i = 0; i < pcm.length && !d.done; i += chunk) ev |= d.process(pcm.subarray(i, i + chunk));
  return ev;
}

/** silence-with-noise, then a tone, then silence-with-noise (all at `rate`). */
function toneCall(rate: 8000 | 16000, hz: number, startMs: number, toneMs: number, afterMs = 1000): Int16Array {
  const lead = Math.round((rate * startMs) / 1000);
  const tone = sine(rate, hz, toneMs / 1000, 0.3);
  const total = lead + tone.length + Math.round((rate * afterMs) / 1000);
  const out = noise(total, 0.003, 7);
  for (let i = 0; i < tone.length; i++) out[lead + i] = (out[lead + i] as number) + (tone[i] as number);
  return out;
}

describe('AnsweringMachineDetector: the beep', () => {
  for (const rate of [8000, 16000] as const) {
    for (const startMs of [1000, 1237, 2011]) {
      it(`finds a 1 kHz tone's start within ±40 ms (${rate} Hz, tone at ${startMs} ms)`, () => {
        const d = new AnsweringMachineDetector({ sampleRateHz: rate });
        const ev = feed(d, toneCall(rate, 1000, startMs, 400));
        expect(ev & AMD_BEEP).toBe(AMD_BEEP);
        expect(Math.abs((d.beepAtMs as number) - startMs)).toBeLessThanOrEqual(40);
        expect(Math.abs(d.beepHz - 1000)).toBeLessThanOrEqual(12.5);
        // a tone alone is a machine's beep: the verdict, and the message may start when it ends
        expect(d.result).toMatchObject({ result: 'machine', reason: 'beep', beep_at_ms: d.beepAtMs });
        expect(d.ready).toBe(true);
        expect(Math.abs((d.readyAtMs as number) - (startMs + 400))).toBeLessThanOrEqual(40);
      });
    }
  }

  for (const hz of [440, 850, 1400, 1900]) {
    it(`finds a ${hz} Hz beep of 150 ms (the shortest) wherever it falls in the 20 ms blocks`, () => {
      for (const startMs of [1000, 1005, 1010, 1017]) {
        const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
        feed(d, toneCall(8000, hz, startMs, 150));
        expect(d.beepAtMs, `${hz} Hz at ${startMs} ms`).toBeDefined();
        expect(Math.abs((d.beepAtMs as number) - startMs)).toBeLessThanOrEqual(40);
      }
    });
  }

  it('ignores a tone shorter than 150 ms, a tone outside 400–2000 Hz, and noise', () => {
    const short = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(short, toneCall(8000, 1000, 1000, 90));
    expect(short.beepAtMs).toBeUndefined();
    const low = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(low, toneCall(8000, 300, 1000, 500));
    expect(low.beepAtMs).toBeUndefined();
    const hiss = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(hiss, noise(8000 * 6, 0.2, 3));
    expect(hiss.beepAtMs).toBeUndefined();
  });
});

/** Line noise with voiced bursts (loud noise: speech-like, never tonal) at [startMs, ms] pairs, then `tailMs` of line noise. */
function bursts(parts: ReadonlyArray<readonly [number, number]>, tailMs: number): Int16Array {
  const last = parts[parts.length - 1] as readonly [number, number];
  const total = Math.round((8000 * (last[0] + last[1] + tailMs)) / 1000);
  const out = noise(total, 0.003, 7);
  parts.forEach(([at, ms], k) => {
    const b = noise(Math.round((8000 * ms) / 1000), 0.3, 100 + k);
    out.set(b, Math.round((8000 * at) / 1000));
  });
  return out;
}

describe('AnsweringMachineDetector: a short greeting followed by silence is a human sooner', () => {
  it(`the defaults: a greeting of ≤ ${SHORT_GREETING_MS} ms of speech needs ${SHORT_GREETING_SILENCE_MS} ms of silence after it, a longer one 600 ms`, () => {
    expect(SHORT_GREETING_MS).toBe(900);
    expect(SHORT_GREETING_SILENCE_MS).toBe(440);
  });

  it('"Hello?" (500 ms of speech after 900 ms) then silence: human 440 ms after it ends (not 600), within 2 s of the answer', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(d, bursts([[900, 500]], 3000));
    expect(d.result).toMatchObject({ result: 'human', reason: 'human' });
    expect(d.result?.decided_after_ms).toBe(1400 + 440);
  });

  it('two words with a pause ("Yes, hello?": 300 + 400 ms of speech) then silence: human 440 ms after the second', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(d, bursts([[600, 300], [1200, 400]], 3000));
    expect(d.result).toMatchObject({ result: 'human', reason: 'human' });
    expect(d.result?.decided_after_ms).toBe(1600 + 440);
  });

  it('a longer greeting (1000 ms of speech in two words) still needs 600 ms of silence', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(d, bursts([[300, 500], [900, 500]], 3000));
    expect(d.result).toMatchObject({ result: 'human', reason: 'human' });
    expect(d.result?.decided_after_ms).toBe(1400 + 600);
  });

  it('a machine\'s pause after its first word ("Hi, … you\'ve reached": 200 ms, 400 ms of silence, then more) is no human: long greeting', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(d, bursts([[0, 200], [600, 300], [1000, 300], [1400, 300], [1800, 300]], 3000));
    expect(d.result).toMatchObject({ result: 'machine', reason: 'long_greeting' });
  });

  it('configurable: shortGreetingMs 0 restores 600 ms after any greeting; shortGreetingSilenceMs sets the shorter wait; bad values are refused', () => {
    const off = new AnsweringMachineDetector({ sampleRateHz: 8000, shortGreetingMs: 0 });
    feed(off, bursts([[900, 500]], 3000));
    expect(off.result?.decided_after_ms).toBe(1400 + 600);
    const set = new AnsweringMachineDetector({ sampleRateHz: 8000, shortGreetingMs: 400, shortGreetingSilenceMs: 300 });
    feed(set, bursts([[900, 400]], 3000));
    expect(set.result?.decided_after_ms).toBe(1300 + 300);
    const over = new AnsweringMachineDetector({ sampleRateHz: 8000, shortGreetingMs: 400, shortGreetingSilenceMs: 300 });
    feed(over, bursts([[900, 500]], 3000));
    expect(over.result?.decided_after_ms).toBe(1400 + 600);
    expect(() => new AnsweringMachineDetector({ sampleRateHz: 8000, shortGreetingSilenceMs: -5 })).toThrow(AudioError);
  });
});

describe.skipIf(!hasFliteAndSox())('AnsweringMachineDetector: flite speech on a phone line', () => {
  let maker: AmdCaseMaker;
  beforeAll(() => {
    maker = new AmdCaseMaker();
  });
  afterAll(() => maker.close());

  it('a clear human ("Hello?") is a human, decided within 2 s of the answer, with no beep', () => {
    const c = maker.make({ label: 'human', hard: false, text: 'Hello?', voice: 'slt', speed: 1, leadMs: 400, snrDb: 30, levelDbfs: -20, tailMs: 4000 });
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    const ev = feed(d, c.pcm);
    expect(ev & AMD_DECIDED).toBe(AMD_DECIDED);
    expect(d.result).toMatchObject({ result: 'human', reason: 'human' });
    expect(d.result?.decided_after_ms).toBeLessThanOrEqual(2000);
    expect(d.result?.decided_after_ms).toBeGreaterThan(c.speechEndMs);
    expect(d.result?.beep_at_ms).toBeUndefined();
    expect(d.done).toBe(true);
  });

  it('a clear machine (a long greeting and a beep) is a machine; the beep is found within ±40 ms and the message starts after it', () => {
    const text = "Hi, you've reached the voicemail of John Smith. Please leave a message after the tone.";
    const speechMs = (maker.say('rms', 1, text).length * 1000) / 8000;
    const atMs = Math.round(300 + speechMs + 500);
    const c = maker.make({ label: 'machine', hard: false, text, voice: 'rms', speed: 1, leadMs: 300, snrDb: 20, levelDbfs: -20, tailMs: 2000, beep: { hz: 1000, ms: 400, atMs } });
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    let decidedAt = -1;
    let beepAt = -1;
    let readyAt = -1;
    for (let i = 0; i < c.pcm.length && !d.done; i += 160) {
      const ev = d.process(c.pcm.subarray(i, i + 160));
      if (ev & AMD_DECIDED) decidedAt = d.elapsedMs;
      if (ev & AMD_BEEP) beepAt = d.elapsedMs;
      if (ev & AMD_READY) readyAt = d.elapsedMs;
    }
    expect(d.result?.result).toBe('machine');
    expect(['long_greeting', 'max_words']).toContain(d.result?.reason);
    expect(decidedAt).toBe(d.result?.decided_after_ms);
    expect(decidedAt).toBeLessThan(c.speechEndMs); // decided while the greeting still plays
    expect(Math.abs((d.result?.beep_at_ms as number) - atMs)).toBeLessThanOrEqual(40);
    expect(beepAt).toBeGreaterThan(atMs);
    expect(readyAt).toBeGreaterThanOrEqual(atMs + 400);
    expect(readyAt).toBeLessThanOrEqual(atMs + 400 + 60);
  });

  it('speech alone never makes a beep: a long greeting at each voice gives no beep, and without one the message starts after the greeting', () => {
    const text = 'Hello, this is Sarah. I am not home right now. Leave your name and number and I will call you back.';
    for (const voice of ['slt', 'rms', 'awb', 'kal']) {
      const c = maker.make({ label: 'machine', hard: false, text, voice, speed: 1, leadMs: 200, snrDb: 30, levelDbfs: -18, tailMs: 3500 });
      const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
      feed(d, c.pcm);
      expect(d.beepAtMs, voice).toBeUndefined();
      expect(d.result?.result, voice).toBe('machine');
      expect(d.ready, voice).toBe(true);
      // readySilenceMs (2500) after the last of the greeting loud enough to count as speech
      expect(d.readyAtMs as number, voice).toBeGreaterThanOrEqual(c.speechEndMs + 2000);
      expect(d.readyAtMs as number, voice).toBeLessThanOrEqual(c.speechEndMs + 2600);
    }
  });

  it('short human answers ("Hello?", "Yeah, hello.", "Hi there.", "Yes, hello?") are humans < 500 ms after their speech ends (not 600), so within 2 s of the answer when they end by 1.5 s', () => {
    const texts = ['Hello?', 'Yeah, hello.', 'Hi there.', 'Yes, hello?'];
    let endedBy1500 = 0;
    texts.forEach((text, i) => {
      const voice = ['slt', 'rms', 'awb', 'kal'][i] as string;
      const c = maker.make({ label: 'human', hard: false, text, voice, speed: 1, leadMs: 500, snrDb: 20, levelDbfs: -22, tailMs: 3000 });
      const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
      feed(d, c.pcm);
      const at = `${text} (${voice}), speech ends ${c.speechEndMs} ms`;
      expect(d.result?.result, at).toBe('human');
      expect((d.result?.decided_after_ms as number) - c.speechEndMs, at).toBeLessThan(500);
      if (c.speechEndMs <= 1500) {
        endedBy1500++;
        expect(d.result?.decided_after_ms, at).toBeLessThanOrEqual(2000);
      }
    });
    expect(endedBy1500).toBeGreaterThanOrEqual(3);
  });

  it('greetings that pause after their first words ("Hi, you\'ve reached…", "Hello, this is Sarah.", "You have reached five five five, …") stay machines at every voice and speed', () => {
    const texts = [
      "Hi, you've reached Anna and Tom. We're not home right now, so leave us a message.",
      "Hello, this is Sarah. I can't come to the phone right now. Leave your name and number and I'll call you back.",
      'You have reached five five five, one two three four. Please leave a message.',
      'Thank you for calling Acme Dental. Our office is closed. Please leave a message and we will return your call.',
    ];
    let n = 0;
    for (const voice of ['slt', 'rms', 'awb', 'kal']) {
      for (const speed of [0.9, 1.1]) {
        for (const text of texts) {
          const snrDb = [30, 15, 10][n++ % 3] as number;
          const c = maker.make({ label: 'machine', hard: false, text, voice, speed, leadMs: 300, snrDb, levelDbfs: -22, tailMs: 1000 });
          const d = new AnsweringMachineDetector({ sampleRateHz: 8000, beep: false });
          feed(d, c.pcm);
          expect(d.result?.result, `${text.slice(0, 20)} (${voice} ×${speed}, ${snrDb} dB SNR)`).toBe('machine');
        }
      }
    }
  });

  it('16 kHz input gives the same verdicts', () => {
    const h = maker.make({ label: 'human', hard: false, text: 'Hi, this is Sam.', voice: 'kal', speed: 1, leadMs: 300, snrDb: 30, levelDbfs: -20, tailMs: 3000 });
    const d = new AnsweringMachineDetector({ sampleRateHz: 16000 });
    feed(d, resampleWhole(h.pcm, 8000, 16000), 320);
    expect(d.result?.result).toBe('human');
  });
});

describe('AnsweringMachineDetector: odd input', () => {
  it('silence only is unknown (initial silence), not a machine, and nothing throws', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    const ev = feed(d, new Int16Array(8000 * 6));
    expect(ev).toBe(AMD_DECIDED);
    expect(d.result).toEqual({ result: 'unknown', reason: 'initial_silence', decided_after_ms: 2500 });
    expect(d.done).toBe(true);
    // Asterisk's rule, when asked for
    const a = new AnsweringMachineDetector({ sampleRateHz: 8000, initialSilenceVerdict: 'machine' });
    feed(a, new Int16Array(8000 * 6));
    expect(a.result?.result).toBe('machine');
  });

  it('line noise only (no speech) is unknown', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(d, noise(8000 * 6, 0.05, 11));
    expect(d.result?.result).toBe('unknown');
  });

  it('a single frame, an empty chunk, then the end: unknown (ended)', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    expect(d.process(new Int16Array(0))).toBe(0);
    expect(d.process(noise(160, 0.5, 5))).toBe(0);
    expect(d.result).toBeUndefined();
    expect(d.finish()).toEqual({ result: 'unknown', reason: 'ended', decided_after_ms: 20 });
    expect(d.finish()).toBe(d.result); // the same verdict, once
    const e = new AnsweringMachineDetector({ sampleRateHz: 16000 });
    expect(e.finish()).toEqual({ result: 'unknown', reason: 'ended', decided_after_ms: 0 });
  });

  it('chunks of any size give the same verdict and beep as 20 ms frames; reset() starts over', () => {
    const pcm = toneCall(8000, 1000, 1230, 300);
    const a = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(a, pcm, 160);
    const b = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    feed(b, pcm, 7);
    expect(b.result).toEqual(a.result);
    b.reset();
    expect(b.result).toBeUndefined();
    feed(b, pcm, 1000);
    expect(b.result).toEqual(a.result);
    // a reused buffer with a length: only the first `length` samples count
    const c = new AnsweringMachineDetector({ sampleRateHz: 8000 });
    const buf = new Int16Array(400).fill(12000);
    for (let i = 0; i + 100 <= pcm.length && !c.done; i += 100) {
      buf.set(pcm.subarray(i, i + 100));
      c.process(buf, 100);
    }
    expect(c.result).toEqual(a.result);
  });

  it('with the beep search off, a tone alone is no beep', () => {
    const d = new AnsweringMachineDetector({ sampleRateHz: 8000, beep: false });
    feed(d, toneCall(8000, 1000, 1000, 400, 5000));
    expect(d.beepAtMs).toBeUndefined();
    expect(d.result?.reason).not.toBe('beep');
  });

  it('rejects rates and options it cannot honour with coded errors', () => {
    const bad = (o: Omit<Partial<AmdOptions>, 'sampleRateHz'> & { sampleRateHz: number }): unknown => {
      try {
        new AnsweringMachineDetector(o as unknown as AmdOptions);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(bad({ sampleRateHz: 44100 })).toBeInstanceOf(AudioError);
    expect((bad({ sampleRateHz: 44100 }) as AudioError).code).toBe('AUDIO_ERR_UNSUPPORTED_RATE');
    expect((bad({ sampleRateHz: 8000, greetingMs: -1 }) as AudioError).code).toBe('AUDIO_ERR_BAD_INPUT');
    expect((bad({ sampleRateHz: 8000, beepMaxHz: 4500 }) as AudioError).code).toBe('AUDIO_ERR_BAD_INPUT');
  });
});
