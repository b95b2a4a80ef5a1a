import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { AudioError, createVad, EnergyVad, mulawDecode, mulawEncode, readWavFile, TurnDetector } from '../../../audio/index.ts';
import type { TurnEvent, VoiceActivityDetector } from '../../../audio/index.ts';

const SPEECH = join(import.meta.dirname, '../../../fixtures/speech');
const SPEECH_FILES = ['hello', 'book-table', 'goodbye', 'transfer', 'hello-padded'];

function load(name: string, rateHz: 8000 | 16000): Int16Array {
  return readWavFile(join(SPEECH, `${name}.wav`), { sampleRateHz: rateHz }).samples;
}

/** Frame probabilities over a whole file. */
function probabilities(vad: VoiceActivityDetector, x: Int16Array): number[] {
  const out: number[] = [];
  for (let o = 0; o + vad.frameSamples <= x.length; o += vad.frameSamples) out.push(vad.process(x.subarray(o, o + vad.frameSamples)));
  return out;
}

/** Push a file in 20 ms chunks, then 1 s of silence; collect the turn events. */
function turns(vad: VoiceActivityDetector, x: Int16Array): TurnEvent[] {
  const td = new TurnDetector({ vad });
  const chunk = vad.sampleRateHz / 50;
  const ev: TurnEvent[] = [];
  for (let o = 0; o < x.length; o += chunk) ev.push(...td.push(x.subarray(o, o + chunk)));
  ev.push(...td.push(new Int16Array(vad.sampleRateHz)));
  return ev;
}

describe.each([16000, 8000] as const)('Silero VAD at %i Hz', (rateHz) => {
  it('loads the real model (no fallback) with 32 ms frames', async () => {
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    expect(vad.kind).toBe('silero');
    expect(vad.frameSamples).toBe(rateHz === 16000 ? 512 : 256);
    vad.close();
    expect(() => vad.process(new Int16Array(vad.frameSamples))).toThrow(AudioError);
  });

  it.each(SPEECH_FILES)('hears speech in %s.wav: one turn that starts and stops', async (name) => {
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    const x = load(name, rateHz);
    const p = probabilities(vad, x);
    expect(Math.max(...p)).toBeGreaterThan(0.9);
    vad.reset();
    const ev = turns(vad, x);
    expect(ev.length).toBeGreaterThanOrEqual(2);
    expect(ev[0]?.type).toBe('speech_started');
    expect(ev.at(-1)?.type).toBe('speech_stopped');
    for (let i = 0; i < ev.length; i++) expect(ev[i]?.type).toBe(i % 2 === 0 ? 'speech_started' : 'speech_stopped');
  });

  it.each(['noise', 'tone'])('reports no speech at all in %s.wav', async (name) => {
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    const x = load(name, rateHz);
    const p = probabilities(vad, x);
    expect(p.length).toBeGreaterThan(80);
    expect(Math.max(...p)).toBeLessThan(0.5);
    vad.reset();
    expect(turns(vad, x)).toEqual([]);
  });

  it('places the turn of hello-padded.wav where the speech is (server_vad offsets)', async () => {
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    const x = load('hello-padded', rateHz);
    // ground truth from the samples: 1 s of digital silence, then speech, then 1 s of silence
    let first = -1;
    let last = -1;
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i] as number) > 300) {
        if (first < 0) first = i;
        last = i;
      }
    }
    const onsetMs = (first * 1000) / rateHz;
    const endMs = (last * 1000) / rateHz;
    expect(onsetMs).toBeGreaterThan(1000);
    const ev = turns(vad, x);
    const started = ev[0] as Extract<TurnEvent, { type: 'speech_started' }>;
    const stopped = ev.at(-1) as Extract<TurnEvent, { type: 'speech_stopped' }>;
    // start = detection frame − 300 ms prefix padding; detection within 1 frame before / 150 ms after onset
    expect(started.audioStartMs).toBeGreaterThanOrEqual(onsetMs - 300 - 32);
    expect(started.audioStartMs).toBeLessThanOrEqual(onsetMs - 300 + 150);
    // end = where the silence began (not + silence_duration_ms)
    expect(stopped.audioEndMs).toBeGreaterThanOrEqual(endMs - 150);
    expect(stopped.audioEndMs).toBeLessThanOrEqual(endMs + 200);
  });

  it('costs well under a millisecond per 32 ms frame', async () => {
    const vad = await createVad({ sampleRateHz: rateHz, strict: true });
    const x = load('book-table', rateHz);
    probabilities(vad, x); // warm
    const t0 = performance.now();
    const n = probabilities(vad, x).length;
    const msPerFrame = (performance.now() - t0) / n;
    expect(msPerFrame).toBeLessThan(3); // ~0.1 ms measured; generous for a loaded 2-core box
  });
});

describe('Silero on telephone audio', () => {
  it('finds the turns in G.711 μ-law speech at 8 kHz (the SIP path) and none in μ-law noise', async () => {
    const vad = await createVad({ sampleRateHz: 8000, strict: true });
    for (const name of ['book-table', 'transfer', 'goodbye']) {
      const phone = mulawDecode(mulawEncode(load(name, 8000)));
      vad.reset();
      const ev = turns(vad, phone);
      expect(ev[0]?.type, name).toBe('speech_started');
      expect(ev.at(-1)?.type, name).toBe('speech_stopped');
    }
    vad.reset();
    expect(turns(vad, mulawDecode(mulawEncode(load('noise', 8000))))).toEqual([]);
  });
});

describe('VAD factory and energy fallback', () => {
  it('falls back to the energy VAD with a logged reason when Silero cannot load', async () => {
    const warnings: string[] = [];
    const vad = await createVad({ sampleRateHz: 16000, sileroModelPath: '/nonexistent/silero.onnx', log: { warn: (_o, msg) => warnings.push(msg) } });
    expect(vad.kind).toBe('energy');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/Silero VAD unavailable/);
    await expect(createVad({ sampleRateHz: 16000, sileroModelPath: '/nonexistent/silero.onnx', strict: true })).rejects.toMatchObject({ code: 'AUDIO_ERR_VAD_UNAVAILABLE' });
    // the real model still loads afterwards
    expect((await createVad({ sampleRateHz: 16000 })).kind).toBe('silero');
  });

  it('rejects bad rates and bad frame sizes with coded errors', async () => {
    await expect(createVad({ sampleRateHz: 24000 as 16000 })).rejects.toMatchObject({ code: 'AUDIO_ERR_UNSUPPORTED_RATE' });
    const vad = await createVad({ sampleRateHz: 16000 });
    expect(() => vad.process(new Int16Array(320))).toThrow(AudioError);
  });

  it('energy VAD hears speech but, unlike Silero, also fires on noise and tones', async () => {
    for (const name of ['hello-padded', 'tone', 'noise']) {
      const ev = turns(new EnergyVad(16000), load(name, 16000));
      expect(ev[0]?.type, name).toBe('speech_started');
    }
    const silence = turns(new EnergyVad(8000), new Int16Array(8000 * 2));
    expect(silence).toEqual([]);
  });
});
