/**
 * Converts between the call's RTP codec and the audio format the application (the session bridge) wants.
 * μ-law to μ-law (and A-law to A-law) passes straight through: no decode, no copy. Otherwise it decodes
 * with the audio core (G.711, Opus) and resamples with its stateful Resampler (state kept across 20 ms
 * chunks, so chunked output equals whole-stream output). Buffers are preallocated per call.
 */
import {
  ALAW_SILENCE,
  ByteFramer,
  MULAW_SILENCE,
  OpusCodec,
  PcmFramer,
  Resampler,
  alawDecode,
  alawEncode,
  bytesToInt16,
  int16ToBytes,
  mulawDecode,
  mulawEncode,
} from '../audio/index.ts';
import type { NegotiatedCodec } from './sdp.ts';

/** What the application reads from and writes to a call. pcm16 is little-endian mono. */
export type CallAudioFormat = { encoding: 'pcmu' } | { encoding: 'pcma' } | { encoding: 'pcm16'; sampleRateHz: number };

const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;
type OpusRate = (typeof OPUS_RATES)[number];
const G711_FRAME_BYTES = 160;
export const MAX_CODEC_FRAME_BYTES = 1275; // RFC 6716 §3.4: largest Opus frame

export function sameFormat(a: CallAudioFormat, b: CallAudioFormat): boolean {
  return a.encoding === b.encoding && (a.encoding !== 'pcm16' || (b.encoding === 'pcm16' && a.sampleRateHz === b.sampleRateHz));
}

export class MediaAdapter {
  readonly codec: NegotiatedCodec;
  readonly format: CallAudioFormat;
  /** The app format is the codec's own bytes: no conversion at all. */
  readonly passthrough: boolean;
  /** One 20 ms frame of silence in the codec (sent when nothing is queued). */
  readonly silence: Uint8Array;
  /** Bytes of app-format audio per 20 ms. */
  readonly appFrameBytes: number;

  private readonly codecPcmRateHz: number; // the PCM rate we decode the codec to / encode it from
  private readonly appRateHz: number;
  private readonly opus: OpusCodec | undefined;
  private readonly pcmIn: Int16Array; // codec decoded to PCM
  private readonly opusPcm: Int16Array; // Opus decode target: up to 120 ms (RFC 6716 §2.1.4), reused per packet
  private readonly g711Out: Uint8Array;
  private readonly resampleIn: Resampler | undefined;
  private readonly resampleOut: Resampler | undefined;
  private readonly byteFramer: ByteFramer | undefined; // app G.711 bytes → frames
  private readonly pcmFramer: PcmFramer; // PCM at codec rate → 20 ms frames
  private readonly pcmScratch: Int16Array; // app G.711 decoded to PCM for transcoding
  private readonly encodeBuf: Uint8Array;
  private readonly emitPcmFrame: (frame: Int16Array) => void;
  private onCodecFrame: ((frame: Uint8Array) => void) | undefined;

  constructor(codec: NegotiatedCodec, format: CallAudioFormat) {
    this.codec = codec;
    this.format = format;
    this.passthrough = (codec.name === 'PCMU' && format.encoding === 'pcmu') || (codec.name === 'PCMA' && format.encoding === 'pcma');
    this.appRateHz = format.encoding === 'pcm16' ? format.sampleRateHz : 8000;
    this.appFrameBytes = format.encoding === 'pcm16' ? (format.sampleRateHz / 50) * 2 : G711_FRAME_BYTES;
    if (codec.name === 'opus') {
      const rate = (OPUS_RATES as readonly number[]).includes(this.appRateHz) ? (this.appRateHz as OpusRate) : 48000;
      this.codecPcmRateHz = rate;
      this.opus = new OpusCodec({ sampleRateHz: rate, channels: 1, fec: true });
    } else {
      this.codecPcmRateHz = 8000;
      this.opus = undefined;
    }
    const frameSamples = this.codecPcmRateHz / 50;
    this.pcmIn = new Int16Array(frameSamples);
    this.opusPcm = new Int16Array(this.opus ? (this.codecPcmRateHz * 120) / 1000 : 0);
    this.g711Out = new Uint8Array(Math.max(G711_FRAME_BYTES, (this.appRateHz / 50) * 4));
    this.pcmScratch = new Int16Array(8192);
    this.encodeBuf = new Uint8Array(G711_FRAME_BYTES);
    this.resampleIn = this.codecPcmRateHz !== this.appRateHz ? new Resampler({ inputRateHz: this.codecPcmRateHz, outputRateHz: this.appRateHz }) : undefined;
    this.resampleOut = this.codecPcmRateHz !== this.appRateHz ? new Resampler({ inputRateHz: this.appRateHz, outputRateHz: this.codecPcmRateHz }) : undefined;
    this.byteFramer = format.encoding !== 'pcm16' ? new ByteFramer(G711_FRAME_BYTES, 64 * G711_FRAME_BYTES) : undefined;
    this.pcmFramer = new PcmFramer(frameSamples, 64 * frameSamples);
    if (codec.name === 'PCMU') this.silence = new Uint8Array(G711_FRAME_BYTES).fill(MULAW_SILENCE);
    else if (codec.name === 'PCMA') this.silence = new Uint8Array(G711_FRAME_BYTES).fill(ALAW_SILENCE);
    else this.silence = new Uint8Array(this.opus?.encode(new Int16Array(frameSamples)) ?? new Uint8Array(0));
    this.emitPcmFrame = (frame: Int16Array): void => {
      const cb = this.onCodecFrame;
      if (!cb) return;
      if (this.codec.name === 'PCMU') cb(mulawEncode(frame, this.encodeBuf));
      else if (this.codec.name === 'PCMA') cb(alawEncode(frame, this.encodeBuf));
      else if (this.opus) cb(this.opus.encode(frame));
    };
  }

  /** Inbound: one RTP payload (or a lost frame) → app-format bytes (a view, valid during the callback). */
  decodeIn(payload: Uint8Array | null, onChunk: (app: Uint8Array) => void): void {
    if (this.passthrough) {
      onChunk(payload ?? this.silence);
      return;
    }
    let pcm: Int16Array;
    if (this.codec.name === 'opus' && this.opus) {
      pcm = payload ? this.opus.decode(payload, this.opusPcm) : this.opus.conceal(this.opusPcm);
    } else if (!payload) {
      pcm = this.pcmIn.fill(0);
    } else if (this.codec.name === 'PCMU') {
      pcm = mulawDecode(payload, this.pcmIn.length === payload.length ? this.pcmIn : undefined);
    } else {
      pcm = alawDecode(payload, this.pcmIn.length === payload.length ? this.pcmIn : undefined);
    }
    if (this.resampleIn) pcm = this.resampleIn.process(pcm);
    if (pcm.length === 0) return;
    switch (this.format.encoding) {
      case 'pcm16':
        onChunk(int16ToBytes(pcm));
        return;
      case 'pcmu':
        onChunk(mulawEncode(pcm, this.g711Out.subarray(0, pcm.length)));
        return;
      case 'pcma':
        onChunk(alawEncode(pcm, this.g711Out.subarray(0, pcm.length)));
        return;
    }
  }

  /** Outbound: app-format bytes of any length → whole codec frames (views, valid during the callback). */
  encodeOut(app: Uint8Array, onFrame: (codecFrame: Uint8Array) => void): void {
    if (this.passthrough && this.byteFramer) {
      // one whole frame with nothing held back (an engine's usual 20 ms): as it is, no framer view
      if (app.length === G711_FRAME_BYTES && this.byteFramer.buffered === 0) onFrame(app);
      else this.byteFramer.push(app, onFrame);
      return;
    }
    this.onCodecFrame = onFrame;
    try {
      let pcm: Int16Array;
      if (this.format.encoding === 'pcm16') {
        pcm = bytesToInt16(app.length % 2 === 0 ? app : app.subarray(0, app.length - 1));
      } else {
        const dst = app.length <= this.pcmScratch.length ? this.pcmScratch.subarray(0, app.length) : undefined;
        pcm = this.format.encoding === 'pcmu' ? mulawDecode(app, dst) : alawDecode(app, dst);
      }
      if (this.resampleOut) pcm = this.resampleOut.process(pcm);
      if (pcm.length) this.pcmFramer.push(pcm, this.emitPcmFrame);
    } finally {
      this.onCodecFrame = undefined;
    }
  }

  /** Drop any partial outbound frame (barge-in flush). */
  resetOut(): void {
    this.byteFramer?.reset();
    this.pcmFramer.reset();
    this.resampleOut?.reset();
  }
}
