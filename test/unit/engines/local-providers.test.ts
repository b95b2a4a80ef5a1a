import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EspeakTts, FliteTts, LanguageRoutingTts, PocketSphinxStt, ProviderError } from '../../../server/engines/providers/index.ts';
import { localStages } from '../../../server/engines/local/index.ts';
import { loadConfig } from '../../../server/config.ts';
import { readWavFile } from '../../../audio/index.ts';

const fixture = (name: string): Int16Array => readWavFile(new URL(`../../../fixtures/speech/${name}.wav`, import.meta.url).pathname, { sampleRateHz: 16_000 }).samples;
const words = (s: string): string[] => s.toLowerCase().replace(/[^a-z ]/g, ' ').split(/\s+/).filter(Boolean);

describe('local speech providers (flite, PocketSphinx in worker threads)', () => {
  const tts = new FliteTts();
  const stt = new PocketSphinxStt();
  beforeAll(async () => { await Promise.all([tts.warm(), stt.warm()]); });
  afterAll(async () => { await Promise.all([tts.close(), stt.close()]); });

  async function speak(text: string): Promise<{ pcm: Int16Array; sampleRateHz: number }> {
    const chunks: Int16Array[] = [];
    let rate = 0;
    for await (const c of tts.synthesize({ text, signal: new AbortController().signal })) { chunks.push(c.pcm); rate = c.sampleRateHz; }
    const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0; for (const c of chunks) { out.set(c, o); o += c.length; }
    return { pcm: out, sampleRateHz: rate };
  }

  it('flite speaks a sentence that PocketSphinx recognises back', async () => {
    const { pcm, sampleRateHz } = await speak('Hello, what time is it?');
    expect(sampleRateHz).toBe(16_000);
    expect(pcm.length).toBeGreaterThan(16_000 * 0.8);
    const s = stt.open();
    for (let i = 0; i < pcm.length; i += 320) s.push(pcm.subarray(i, i + 320));   // 20 ms chunks
    const r = await s.finish();
    expect(words(r.text)).toEqual(['hello', 'what', 'time', 'is', 'it']);
    expect(r.audioMs).toBeCloseTo((pcm.length / 16_000) * 1000, 0);
  });

  it('keeps the event loop free while decoding (work runs in the worker)', async () => {
    const { pcm } = await speak('Please transfer me to the billing department. I need to cancel my appointment on Friday morning.');
    const streams = [stt.open(), stt.open()];
    let worstLagMs = 0;
    let last = performance.now();
    let ticking = true;
    const tick = (): void => {
      const now = performance.now();
      worstLagMs = Math.max(worstLagMs, now - last - 5);
      last = now;
      if (ticking) setTimeout(tick, 5);
    };
    setTimeout(tick, 5);
    for (const s of streams) s.push(pcm);
    const results = await Promise.all(streams.map((s) => s.finish()));
    ticking = false;
    for (const r of results) expect(words(r.text)).toContain('transfer');
    // Decoding ~5 s of speech (one call per stream) blocks for a second or more if it runs on the
    // event loop; in the worker the loop only waits for other tenants of this 2-core machine.
    expect(worstLagMs).toBeLessThan(500);
  });

  it('an aborted utterance gives nothing; the decoder is reused for the next one', async () => {
    const { pcm } = await speak('Goodbye.');
    const a = stt.open(); a.push(pcm); a.abort(); a.abort();
    await expect(a.finish()).rejects.toMatchObject({ code: 'STT_STREAM_CLOSED' });
    const b = stt.open(); b.push(pcm);
    expect(words((await b.finish()).text)).toContain('goodbye');
  });

  it('decoders are loaded ahead of use: a burst within the pool loads nothing on the serving path, spread over the workers', async () => {
    // a fixture, not a fresh flite rendering: flite's output differs from call to call (and so may the words heard)
    const pcm = fixture('hello');
    const pool = new PocketSphinxStt({ workers: 2, decoders: 2 });
    try {
      expect(pool.recentFinishMs()).toBeNull();
      await pool.warm();
      await pool.ready();
      expect(pool.stats()).toMatchObject({ workers: 2, decoders: 2, streams: 0, loadsOnStart: 0, loadsAhead: 2 });
      const burst = [pool.open(), pool.open()];
      expect(pool.stats().streams).toBe(2);
      for (const s of burst) for (let i = 0; i < pcm.length; i += 320) s.push(pcm.subarray(i, i + 320));
      const results = await Promise.all(burst.map((s) => s.finish()));
      for (const r of results) expect(words(r.text)).toEqual(['hello', 'what', 'time', 'is', 'it']);
      expect(pool.stats()).toMatchObject({ decoders: 2, streams: 0, loadsOnStart: 0 });
      // how long transcripts took lately (what admission control watches)
      expect(pool.recentFinishMs()).toBeGreaterThan(0);
      // beyond the pool, an utterance loads its own decoder on the spot (and the pool keeps it)
      const more = [pool.open(), pool.open(), pool.open()];
      for (const s of more) s.push(pcm);
      await Promise.all(more.map((s) => s.finish()));
      expect(pool.stats()).toMatchObject({ decoders: 3, loadsOnStart: 1 });
    } finally { await pool.close(); }
  }, 90_000);

  it('a worker loads at most maxDecoders: beyond them an utterance waits for a free one, its audio queued, and is transcribed in full', async () => {
    const hello = fixture('hello');
    const pool = new PocketSphinxStt({ workers: 1, decoders: 1, maxDecoders: 2, secondPass: false });
    try {
      await pool.ready();
      // six utterances at once (what a client committing buffer after buffer makes): one decoder in
      // the pool, one loaded on the spot, the other four wait; one of those is aborted while it waits
      const all = Array.from({ length: 6 }, () => pool.open());
      for (const s of all) for (let i = 0; i < hello.length; i += 320) s.push(hello.subarray(i, i + 320));
      all[4]!.abort();
      const results = await Promise.all(all.filter((_, i) => i !== 4).map((s) => s.finish()));
      for (const r of results) expect(words(r.text).filter((w) => ['hello', 'what', 'time'].includes(w)).length).toBeGreaterThanOrEqual(2);
      // each waiting one was decoded whole: its audio was queued, not lost
      for (const r of results) expect(r.audioMs).toBeCloseTo((hello.length / 16_000) * 1000, 0);
      expect(pool.stats()).toMatchObject({ decoders: 2, streams: 0, loadsOnStart: 1, waitsForDecoder: 3 });
      // the pool still serves
      const next = pool.open();
      next.push(hello);
      expect(words((await next.finish()).text)).toContain('hello');
      expect(pool.stats().decoders).toBe(2);
    } finally { await pool.close(); }
  }, 90_000);

  it('finals first: the end of one caller\'s turn does not wait for the audio of callers still speaking on the same worker', async () => {
    const long = fixture('book-table');
    const hello = fixture('hello');
    const pool = new PocketSphinxStt({ workers: 1, decoders: 3, secondPass: false });
    try {
      await pool.ready();
      // two callers' 3.7 s of speech each reach the worker at once (it is 7 s of audio behind), then
      // a third caller says "hello" and stops
      const speaking = [pool.open(), pool.open()];
      for (const s of speaking) for (let i = 0; i < long.length; i += 320) s.push(long.subarray(i, i + 320));
      const ending = pool.open();
      for (let i = 0; i < hello.length; i += 320) ending.push(hello.subarray(i, i + 320));
      const r = await ending.finish();
      expect(words(r.text).filter((w) => ['hello', 'what', 'time'].includes(w)).length).toBeGreaterThanOrEqual(2);
      // the others' audio was still waiting when "hello" was transcribed: it went first
      const rest = await Promise.all(speaking.map((s) => s.finish()));
      const backlog = rest.map((x) => x.backlogMs ?? 0);
      expect(Math.max(...backlog)).toBeGreaterThan(1500);
      for (const x of rest) expect(words(x.text)).toContain('table');
      // the decoder's own CPU time is reported (the capacity is computed from it)
      expect(r.cpuMs).toBeGreaterThan(0);
    } finally { await pool.close(); }
  }, 120_000);

  it('an utterance that timed out is dropped by its worker: its decoder is free again, nothing decodes it ahead of the others', async () => {
    const long = fixture('book-table');
    const hello = fixture('hello');
    const pool = new PocketSphinxStt({ workers: 1, decoders: 1, finishTimeoutMs: 5000 });
    try {
      await pool.ready();
      // 74 s of speech: ~18 s of decoding on a quiet core, far beyond the timeout
      const late = pool.open();
      for (let rep = 0; rep < 20; rep++) late.push(long);
      await expect(late.finish()).rejects.toMatchObject({ code: 'STT_TIMEOUT', retryable: true });
      // the next utterance gets the pool's one decoder back (none loaded on the spot) and its answer
      // does not wait behind the audio nobody wants any more
      const next = pool.open();
      next.push(hello);
      const r = await next.finish();
      expect(words(r.text).filter((w) => ['hello', 'what', 'time'].includes(w)).length).toBeGreaterThanOrEqual(2);
      expect(pool.stats()).toMatchObject({ decoders: 1, loadsOnStart: 0, streams: 0 });
    } finally { await pool.close(); }
  }, 120_000);

  it('the STT open options reach PocketSphinx through the local engine: a language its model does not speak is a coded error', async () => {
    const base = { PARLEY_API_KEYS: 'pk_test_component_key_0123456789', LOG_LEVEL: 'silent', PARLEY_LOCAL_STT_WORKERS: '1', PARLEY_LOCAL_STT_DECODERS: '1' };
    const stages = localStages(loadConfig(base));
    const pcm = fixture('transfer');
    const es = stages.stt.open({ language: 'es', prompt: 'una reserva' });
    es.push(pcm);
    await expect(es.finish()).rejects.toMatchObject({ code: 'STT_LANGUAGE_UNSUPPORTED' });
    for (const language of ['en', 'en-US', 'EN']) {
      const en = stages.stt.open({ language });
      en.push(pcm);
      expect(words((await en.finish()).text)).toContain('please');
    }
  }, 60_000);

  it('a missing model is a coded error, not a crash', async () => {
    const bad = new PocketSphinxStt({ modelDir: '/nonexistent/model' });
    try {
      await expect(bad.warm()).rejects.toMatchObject({ code: 'STT_MODEL_UNAVAILABLE' });
      const s = bad.open(); s.push(new Int16Array(1600));
      const err = await s.finish().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).code).toBe('STT_MODEL_UNAVAILABLE');
    } finally { await bad.close(); }
  });

  it('an aborted synthesis yields nothing; empty text yields nothing', async () => {
    const ctrl = new AbortController(); ctrl.abort();
    const got: unknown[] = [];
    for await (const c of tts.synthesize({ text: 'Hello there.', signal: ctrl.signal })) got.push(c);
    for await (const c of tts.synthesize({ text: '   ', signal: new AbortController().signal })) got.push(c);
    expect(got).toEqual([]);
  });

  it('espeak-ng speaks other languages; the local TTS routes by language', async () => {
    const routed = new LanguageRoutingTts(tts, new EspeakTts());
    const rates: number[] = [];
    let samples = 0;
    for await (const c of routed.synthesize({ text: 'Hola, buenos días.', language: 'es', signal: new AbortController().signal })) { rates.push(c.sampleRateHz); samples += c.pcm.length; }
    expect(new Set(rates)).toEqual(new Set([22_050]));
    expect(samples / 22_050).toBeGreaterThan(0.5);
    const en: number[] = [];
    for await (const c of routed.synthesize({ text: 'Hello.', language: 'en', signal: new AbortController().signal })) en.push(c.sampleRateHz);
    expect(en).toEqual([16_000]);
    await expect((async () => { for await (const _ of new EspeakTts({ binary: '/nonexistent/espeak' }).synthesize({ text: 'x', signal: new AbortController().signal })) { /* none */ } })()).rejects.toMatchObject({ code: 'TTS_FAILED' });
  });

  it('every local stage can be swapped for its HTTP server in config', () => {
    const base = { PARLEY_API_KEYS: 'pk_test_component_key_0123456789', LOG_LEVEL: 'silent' };
    const offline = localStages(loadConfig(base));
    expect([offline.stt.name, offline.chat.name, offline.tts.name]).toEqual(['pocketsphinx', 'demo-agent', 'flite+espeak-ng']);
    const mixed = localStages(loadConfig({ ...base, PARLEY_LOCAL_CHAT: 'http', PARLEY_CHAT_URL: 'http://127.0.0.1:11434/v1', PARLEY_CHAT_MODEL: 'llama3.1', PARLEY_LOCAL_TTS: 'http' }));
    expect([mixed.stt.name, mixed.chat.name, mixed.tts.name]).toEqual(['pocketsphinx', 'http-chat', 'http-tts']);
    expect(() => loadConfig({ ...base, PARLEY_LOCAL_STT: 'whisper' })).toThrow(/PARLEY_LOCAL_STT/);
  });
});
