import { describe, expect, it } from 'vitest';
import { BargeInTracker } from '../../../client-demo/src/lib/barge-in.ts';
import { PlaybackBuffer } from '../../../client-demo/src/lib/playback-buffer.ts';

describe('BargeInTracker: truncate exactly once, at the ms actually played', () => {
  it('stops, truncates the playing item at min(played, generated), and only once', () => {
    const t = new BargeInTracker();
    const playback = new PlaybackBuffer({ outputRateHz: 48000, startThresholdMs: 40 });
    for (let i = 0; i < 10; i++) {
      const chunk = new Int16Array(2400); // 100 ms each
      expect(t.acceptDelta('resp_1', 'item_1', 0, chunk.length)).toBe(true);
      playback.push('item_1', chunk.fill(1000));
    }
    const out = new Float32Array(128);
    for (let q = 0; q < 150; q++) playback.render(out); // 400 ms
    expect(t.interrupt()).toBe(true);
    const events = t.truncationsFor(playback.stop());
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'conversation.item.truncate', item_id: 'item_1', content_index: 0, audio_end_ms: 400 });
    expect(t.isTruncateEventId(events[0]?.event_id)).toBe(true);
    // a second speech_started (or a repeated stop report) sends nothing more
    expect(t.interrupt()).toBe(false);
    expect(t.truncationsFor([{ itemId: 'item_1', playedMs: 400 }])).toEqual([]);
    expect(t.truncatesSent).toBe(1);
  });

  it('drops late deltas of the interrupted response, accepts the next response', () => {
    const t = new BargeInTracker();
    t.acceptDelta('resp_1', 'item_1', 0, 4800);
    t.interrupt();
    expect(t.acceptDelta('resp_1', 'item_1', 0, 4800)).toBe(false);
    expect(t.acceptDelta('resp_1', 'item_9', 0, 4800)).toBe(false);
    t.truncationsFor([{ itemId: 'item_1', playedMs: 10 }]);
    expect(t.acceptDelta('resp_2', 'item_2', 0, 4800)).toBe(true);
    expect(t.lateDeltasDropped).toBe(2);
  });

  it('clamps audio_end_ms to the audio generated (never "already shorter than" errors)', () => {
    const t = new BargeInTracker();
    t.acceptDelta('r', 'i', 0, 2400); // 100 ms generated
    t.interrupt();
    const [ev] = t.truncationsFor([{ itemId: 'i', playedMs: 180.7 }]);
    expect(ev?.audio_end_ms).toBe(100);
  });

  it('does not truncate an item that was played to the end', () => {
    const t = new BargeInTracker();
    t.acceptDelta('r', 'i', 0, 2400);
    t.audioDone('i');
    t.itemFinished('i');
    expect(t.interrupt()).toBe(false);
    expect(t.truncationsFor([])).toEqual([]);
    expect(t.truncatesSent).toBe(0);
  });

  it('nothing playing, nothing to do', () => {
    const t = new BargeInTracker();
    expect(t.interrupt()).toBe(false);
    expect(t.isTruncateEventId('evt_other')).toBe(false);
  });
});
