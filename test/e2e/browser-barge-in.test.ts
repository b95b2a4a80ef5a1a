/**
 * Barge-in from the browser: the fake microphone says a long sentence (the agent repeats it back,
 * ~5 s), then 2.5 s later a question, which starts while the agent is still answering. The page stops playback and sends
 * conversation.item.truncate exactly once, at the ms it played; the server sends no truncate of its
 * own for a relayed WebSocket client (never both). The answer to the second sentence then plays out.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUT, openDemo, speechSequence, startDemoServer, waitFor } from './browser-harness.ts';
import type { DemoServer } from './browser-harness.ts';

let server: DemoServer;
beforeAll(async () => {
  server = await startDemoServer();
});
afterAll(async () => {
  await server?.close();
});

describe('browser demo at /: barge-in (headless Chromium, local engine)', () => {
  it('barge-in: speaking over the reply stops it and truncates the item exactly once, at the ms played', async () => {
    const wav = speechSequence('barge-in.wav', [500, 'book-table.wav', 2500, 'hello.wav', 30_000]);
    const { page, problems, sent, received, generatedMs } = await openDemo(server, wav);
    await page.click('#start');
    await waitFor(page, 'a barge-in', (x) => x.stats.truncatedEvents >= 1 && x.stats.truncatesSent >= 1, 60_000);
    // the answer to the second sentence plays to its end (and any duplicate truncate would have arrived)
    const s = await waitFor(page, 'the second answer to finish', (x) => x.stats.itemsFinished >= 1 && x.user.filter((t) => /\b(time|what)\b/.test(t)).length >= 1, 60_000);

    const truncates = sent.filter((e) => e.type === 'conversation.item.truncate') as { item_id: string; audio_end_ms: number }[];
    const truncated = received.filter((e) => e.type === 'conversation.item.truncated') as { item_id: string; audio_end_ms: number }[];
    expect(truncates.length).toBeGreaterThanOrEqual(1);
    // exactly once per item, and only ours: every truncated event answers one truncate the page sent
    const perItem = new Map<string, number>();
    for (const t of truncates) perItem.set(t.item_id, (perItem.get(t.item_id) ?? 0) + 1);
    for (const n of perItem.values()) expect(n).toBe(1);
    expect(truncated.map((t) => t.item_id).sort()).toEqual(truncates.map((t) => t.item_id).sort());
    // at the audio actually played: less than the whole item (it was cut off), never more than played
    const first = truncates[0];
    if (!first) throw new Error('no truncate');
    const itemMs = generatedMs.get(first.item_id) ?? 0;
    expect(itemMs).toBeGreaterThan(500);
    expect(first.audio_end_ms).toBeGreaterThan(0);
    expect(first.audio_end_ms).toBeLessThan(itemMs);
    const interrupted = s.entries.filter((e) => e.kind === 'assistant' && e.interrupted);
    expect(interrupted).toHaveLength(1);
    expect(s.entries.filter((e) => e.kind === 'assistant' && !e.interrupted)).toHaveLength(1);
    expect(await page.locator('.msg.assistant.interrupted').count()).toBeGreaterThanOrEqual(1);
    expect(s.stats.errors).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: resolve(OUT, 'demo-barge-in.png'), fullPage: true });
  }, 150_000);
});
