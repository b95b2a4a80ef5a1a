/**
 * Mute from the browser: while muted the page keeps sending frames (so the server's voice detection
 * sees silence and a turn in progress can end) but they carry only zeros: speech said while muted
 * never reaches the agent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDemo, snapshot, speechSequence, startDemoServer } from './browser-harness.ts';
import type { DemoServer } from './browser-harness.ts';

let server: DemoServer;
beforeAll(async () => {
  server = await startDemoServer();
});
afterAll(async () => {
  await server?.close();
});

describe('browser demo at /: mute (headless Chromium, local engine)', () => {
  it('muted: frames keep flowing as silence, the speech is not heard, nothing is answered', async () => {
    // the sentence comes 4 s after the microphone opens: mute is on well before it
    const { page, problems, received } = await openDemo(server, speechSequence('mute.wav', [4000, 'hello.wav', 30_000]));
    await page.click('#start');
    await expect.poll(async () => (await snapshot(page)).phase, { timeout: 15_000 }).toBe('live');
    await page.click('#mute');
    expect(await page.getAttribute('#mute', 'aria-pressed')).toBe('true');
    const before = (await snapshot(page)).stats.appendsSent;
    const t0 = Date.now();
    await page.waitForTimeout(7000); // past the end of the sentence
    const s = await snapshot(page);
    const seconds = (Date.now() - t0) / 1000;
    // about 50 frames a second kept going out
    expect((s.stats.appendsSent - before) / seconds).toBeGreaterThan(30);
    expect(received.filter((e) => e.type === 'input_audio_buffer.speech_started')).toEqual([]);
    expect(s.user).toEqual([]);
    expect(s.stats.audioDeltaSamples).toBe(0);
    expect(s.stats.errors).toEqual([]);
    expect(problems).toEqual([]);
  }, 90_000);
});
