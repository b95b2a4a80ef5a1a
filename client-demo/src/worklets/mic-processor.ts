/**
 * Microphone AudioWorklet: device-rate render quanta → 24 kHz pcm16 frames of 20–40 ms (the logic is
 * `CapturePipeline`, unit-tested in Node). Each frame's buffer is transferred to the page, which
 * sends it as `input_audio_buffer.append` and transfers the buffer back for reuse.
 *
 * Messages in:  { type: 'recycle', buffer } | { type: 'mute', muted } | { type: 'close' }
 * Messages out: { type: 'frame', pcm: Int16Array, rmsDbfs, peakDbfs }
 */
import { CapturePipeline } from '../lib/capture.ts';
import type { CapturedFrame } from '../lib/capture.ts';
import { numberOption, scope } from './worklet-scope.ts';
import type { WorkletProcessorOptions } from './worklet-scope.ts';

export const MIC_PROCESSOR_NAME = 'parley-mic';

class MicProcessor extends scope.AudioWorkletProcessor {
  private readonly pipeline: CapturePipeline;
  private open = true;
  private readonly onFrame = (f: CapturedFrame): void => {
    this.port.postMessage({ type: 'frame', pcm: f.pcm, rmsDbfs: f.rmsDbfs, peakDbfs: f.peakDbfs }, [f.pcm.buffer]);
  };

  constructor(options: WorkletProcessorOptions) {
    super();
    this.pipeline = new CapturePipeline({ inputRateHz: scope.sampleRate, frameMs: numberOption(options, 'frameMs', 20) });
    this.port.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type?: string; buffer?: ArrayBuffer; muted?: boolean };
      if (msg.type === 'recycle' && msg.buffer) this.pipeline.pool.give(new Int16Array(msg.buffer));
      else if (msg.type === 'mute') this.pipeline.muted = msg.muted === true;
      else if (msg.type === 'close') this.open = false;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (channel && channel.length > 0) this.pipeline.push(channel, this.onFrame);
    return this.open;
  }
}

scope.registerProcessor(MIC_PROCESSOR_NAME, MicProcessor);
