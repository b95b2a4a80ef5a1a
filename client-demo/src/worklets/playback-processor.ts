/**
 * Playback AudioWorklet: a small jitter buffer of assistant audio with played-ms accounting (the
 * logic is `PlaybackBuffer`, unit-tested in Node).
 *
 * Messages in:
 *   { type: 'push', itemId, buffer: ArrayBuffer, samples }   24 kHz pcm16; the buffer is sent back
 *   { type: 'end', itemId }                                   no more audio for that item
 *   { type: 'stop' }                                          barge-in: silence from the next quantum
 *   { type: 'close' }
 * Messages out:
 *   { type: 'recycle', buffer }
 *   { type: 'stopped', items: [{ itemId, playedMs, receivedMs }] }
 *   { type: 'item-started', itemId } | { type: 'item-finished', itemId, playedMs } | { type: 'underrun', itemId }
 *   { type: 'stats', playedMs, bufferedMs, underruns, playing }   about every 50 ms
 */
import { PlaybackBuffer } from '../lib/playback-buffer.ts';
import { numberOption, scope } from './worklet-scope.ts';
import type { WorkletProcessorOptions } from './worklet-scope.ts';

export const PLAYBACK_PROCESSOR_NAME = 'parley-playback';

class PlaybackProcessor extends scope.AudioWorkletProcessor {
  private readonly buffer: PlaybackBuffer;
  private open = true;
  private quanta = 0;
  private readonly statsEveryQuanta: number;
  private readonly stats = { type: 'stats', playedMs: 0, bufferedMs: 0, underruns: 0, playing: false };

  constructor(options: WorkletProcessorOptions) {
    super();
    const port = this.port;
    this.buffer = new PlaybackBuffer(
      { outputRateHz: scope.sampleRate, startThresholdMs: numberOption(options, 'startThresholdMs', 60) },
      {
        onItemStarted: (itemId) => port.postMessage({ type: 'item-started', itemId }),
        onItemFinished: (itemId, playedMs) => {
          port.postMessage({ type: 'item-finished', itemId, playedMs });
          this.sendStats(); // the page's played-ms counter is exact at the end of every item
        },
        onUnderrun: (itemId) => port.postMessage({ type: 'underrun', itemId }),
      },
    );
    this.statsEveryQuanta = Math.max(1, Math.round((0.05 * scope.sampleRate) / 128));
    port.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type?: string; itemId?: string; buffer?: ArrayBuffer; samples?: number };
      switch (msg.type) {
        case 'push':
          if (msg.buffer && typeof msg.itemId === 'string') {
            this.buffer.push(msg.itemId, new Int16Array(msg.buffer, 0, msg.samples ?? 0));
            port.postMessage({ type: 'recycle', buffer: msg.buffer }, [msg.buffer]);
          }
          break;
        case 'end':
          if (typeof msg.itemId === 'string') this.buffer.end(msg.itemId);
          break;
        case 'stop':
          port.postMessage({ type: 'stopped', items: this.buffer.stop() });
          this.sendStats();
          break;
        case 'close':
          this.open = false;
          break;
        default:
          break;
      }
    };
  }

  private sendStats(): void {
    const s = this.stats; // reused object: structured clone copies it
    s.playedMs = this.buffer.playedMs;
    s.bufferedMs = this.buffer.bufferedMs;
    s.underruns = this.buffer.stats.underruns;
    s.playing = this.buffer.playState === 'playing';
    this.port.postMessage(s);
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    const first = out?.[0];
    if (out && first) {
      this.buffer.render(first);
      for (let c = 1; c < out.length; c++) out[c]?.set(first);
    }
    if (++this.quanta % this.statsEveryQuanta === 0) this.sendStats();
    return this.open;
  }
}

scope.registerProcessor(PLAYBACK_PROCESSOR_NAME, PlaybackProcessor);
