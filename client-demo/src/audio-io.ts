/**
 * The page's audio edge: one AudioContext at the device rate, the microphone (echo cancellation and
 * noise suppression on) through the mic worklet, and the playback worklet to the speakers.
 * Everything between the worklets and the WebSocket is buffer passing: frame buffers travel to the
 * page and back, assistant audio is decoded into pooled buffers that travel to the playback worklet
 * and back.
 */
import { MIC_WORKLET_URL, PLAYBACK_WORKLET_URL } from './urls.ts';
import { base64DecodedMaxBytes, decodeBase64Into } from './lib/pcm.ts';
import type { StoppedItem } from './lib/playback-buffer.ts';

export interface AudioIoListener {
  /** One 24 kHz pcm16 frame from the microphone. Call `recycle(pcm)` when done with it. */
  onMicFrame(pcm: Int16Array, rmsDbfs: number, peakDbfs: number): void;
  onItemStarted(itemId: string): void;
  onItemFinished(itemId: string, playedMs: number): void;
  onPlaybackStats(stats: { playedMs: number; bufferedMs: number; underruns: number; playing: boolean }): void;
}

export class AudioSetupError extends Error {
  readonly code = 'DEMO_ERR_AUDIO_SETUP';
  readonly retryable = true;
  constructor(readonly mediaErrorName: string, message: string) {
    super(message);
  }
}

const RESUME_TIMEOUT_MS = 5000;

const MIC_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
  channelCount: 1,
};

export class AudioIo {
  private ctx: AudioContext | null = null;
  private stream: MediaStream | null = null;
  private micNode: AudioWorkletNode | null = null;
  private playNode: AudioWorkletNode | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private readonly freeBuffers: ArrayBuffer[] = [];
  private pendingStop: ((items: StoppedItem[]) => void)[] = [];
  buffersAllocated = 0;

  constructor(private readonly listener: AudioIoListener) {}

  get sampleRateHz(): number {
    return this.ctx?.sampleRate ?? 0;
  }

  /** What the browser actually applied to the microphone (echo cancellation, noise suppression …). */
  micSettings(): { echoCancellation: boolean; noiseSuppression: boolean; autoGainControl: boolean; sampleRateHz: number } | null {
    const track = this.stream?.getAudioTracks()[0];
    if (!track) return null;
    const s = track.getSettings();
    return {
      echoCancellation: s.echoCancellation === true,
      noiseSuppression: s.noiseSuppression === true,
      autoGainControl: s.autoGainControl === true,
      sampleRateHz: s.sampleRate ?? 0,
    };
  }

  /**
   * Must run inside a user gesture (autoplay policy): creates the context first, then asks for the
   * microphone and loads the worklets.
   */
  async start(opts: { frameMs: number; startThresholdMs: number }): Promise<void> {
    if (typeof AudioWorkletNode === 'undefined' || typeof AudioContext === 'undefined') {
      throw new AudioSetupError('NoAudioWorklet', 'AudioWorklet is not available');
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new AudioSetupError(window.isSecureContext ? 'NotFoundError' : 'InsecureContext', 'getUserMedia is not available');
    }
    const ctx = new AudioContext({ latencyHint: 'interactive' });
    this.ctx = ctx;
    const resumed = ctx.resume();
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: MIC_CONSTRAINTS, video: false });
    } catch (err) {
      await this.stop();
      const name = err instanceof Error || err instanceof DOMException ? err.name : 'Error';
      throw new AudioSetupError(name, 'microphone unavailable');
    }
    this.stream = stream;
    // a browser without a usable audio output never starts the context: say so instead of hanging
    const started = await Promise.race([resumed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), RESUME_TIMEOUT_MS))]);
    if (!started) {
      await this.stop();
      throw new AudioSetupError('AudioStalled', 'the AudioContext did not start');
    }
    await ctx.audioWorklet.addModule(MIC_WORKLET_URL);
    await ctx.audioWorklet.addModule(PLAYBACK_WORKLET_URL);

    this.source = ctx.createMediaStreamSource(stream);
    const mic = new AudioWorkletNode(ctx, 'parley-mic', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { frameMs: opts.frameMs },
    });
    mic.port.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type: string; pcm: Int16Array; rmsDbfs: number; peakDbfs: number };
      if (msg.type === 'frame') this.listener.onMicFrame(msg.pcm, msg.rmsDbfs, msg.peakDbfs);
    };
    this.source.connect(mic);
    this.micNode = mic;

    const play = new AudioWorkletNode(ctx, 'parley-playback', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { startThresholdMs: opts.startThresholdMs },
    });
    play.port.onmessage = (e: MessageEvent) => this.onPlaybackMessage(e.data as Record<string, unknown>);
    play.connect(ctx.destination);
    this.playNode = play;
  }

  private onPlaybackMessage(msg: Record<string, unknown>): void {
    switch (msg.type) {
      case 'recycle':
        if (msg.buffer instanceof ArrayBuffer && this.freeBuffers.length < 32) this.freeBuffers.push(msg.buffer);
        break;
      case 'stopped': {
        const items = (msg.items as StoppedItem[]) ?? [];
        const waiting = this.pendingStop;
        this.pendingStop = [];
        for (const resolve of waiting) resolve(items);
        break;
      }
      case 'item-started':
        this.listener.onItemStarted(String(msg.itemId));
        break;
      case 'item-finished':
        this.listener.onItemFinished(String(msg.itemId), Number(msg.playedMs));
        break;
      case 'stats':
        this.listener.onPlaybackStats(msg as unknown as { playedMs: number; bufferedMs: number; underruns: number; playing: boolean });
        break;
      default:
        break;
    }
  }

  /** Give a mic frame's buffer back to the worklet's pool. */
  recycle(pcm: Int16Array): void {
    this.micNode?.port.postMessage({ type: 'recycle', buffer: pcm.buffer }, [pcm.buffer as ArrayBuffer]);
  }

  setMuted(muted: boolean): void {
    this.micNode?.port.postMessage({ type: 'mute', muted });
  }

  /**
   * Queue a base64 24 kHz pcm16 delta for playback. Returns the number of samples, or throws a
   * Base64Error for a malformed delta.
   */
  play(itemId: string, b64: string): number {
    const maxBytes = base64DecodedMaxBytes(b64.length);
    let buf = this.freeBuffers.pop();
    if (!buf || buf.byteLength < maxBytes) {
      buf = new ArrayBuffer(Math.max(maxBytes, 9600));
      this.buffersAllocated++;
    }
    let bytes: number;
    try {
      bytes = decodeBase64Into(b64, new Uint8Array(buf));
    } catch (err) {
      this.freeBuffers.push(buf);
      throw err;
    }
    const samples = bytes >> 1;
    if (!this.playNode) return samples;
    this.playNode.port.postMessage({ type: 'push', itemId, buffer: buf, samples }, [buf]);
    return samples;
  }

  endItem(itemId: string): void {
    this.playNode?.port.postMessage({ type: 'end', itemId });
  }

  /** Barge-in: the playback worklet goes silent from its next render quantum and reports what it played. */
  stopPlayback(): Promise<StoppedItem[]> {
    if (!this.playNode) return Promise.resolve([]);
    return new Promise((resolve) => {
      this.pendingStop.push(resolve);
      this.playNode?.port.postMessage({ type: 'stop' });
    });
  }

  async stop(): Promise<void> {
    for (const resolve of this.pendingStop) resolve([]);
    this.pendingStop = [];
    this.micNode?.port.postMessage({ type: 'close' });
    this.playNode?.port.postMessage({ type: 'close' });
    this.source?.disconnect();
    this.micNode?.disconnect();
    this.playNode?.disconnect();
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    const ctx = this.ctx;
    this.ctx = null;
    this.stream = null;
    this.source = null;
    this.micNode = null;
    this.playNode = null;
    if (ctx && ctx.state !== 'closed') await ctx.close();
  }
}
