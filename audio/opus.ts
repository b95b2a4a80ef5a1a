/**
 * Opus (RFC 6716) for WebRTC/SIP legs: 20 ms frames at 8/12/16/24/48 kHz.
 *
 * Encoding goes through @discordjs/opus (libopus compiled into a native addon at install time),
 * set up for voice: OPUS_APPLICATION_VOIP, OPUS_SIGNAL_VOICE, in-band FEC (LBRR) on request.
 * Decoding needs `opus_decode(…, decode_fec = 1)` to use that FEC, which @discordjs/opus does not
 * expose (it hard-codes decode_fec = 0). So the decoder is the system libopus (Debian `libopus0`)
 * called through koffi when it loads, decoding straight into preallocated memory; otherwise the
 * @discordjs/opus decoder, where decodeFec() degrades to concealment (`fecDecodeAvailable` false).
 * Packet-loss concealment works with both: a TOC-only packet (RFC 6716 §3.1, zero-length frame)
 * makes libopus conceal exactly one frame of the last packet's configuration.
 *
 * If the @discordjs/opus addon is missing (failed to build), the constructor throws AudioError
 * `AUDIO_ERR_OPUS_UNAVAILABLE`; nothing else in audio/ depends on it.
 */
import { createRequire } from 'node:module';
import { AudioError } from './errors.ts';

export type OpusSampleRateHz = 8000 | 12000 | 16000 | 24000 | 48000;

export interface OpusCodecOptions {
  sampleRateHz: OpusSampleRateHz;
  channels?: 1 | 2;
  /** Target bitrate (default 24000 b/s at 16 kHz and up, 16000 below). */
  bitrateBps?: number;
  /** Put in-band FEC (LBRR) in the packets (default true). */
  fec?: boolean;
  /** Expected packet loss the encoder plans FEC for, 0..100 (default 10). */
  expectedLossPct?: number;
  /** Encoder complexity 0..10 (default 5: ~2× cheaper than 10, hardly worse for speech). */
  complexity?: number;
  /** Module id of the addon, for alternative builds (default '@discordjs/opus'). */
  addonModule?: string;
  /** Decoder to use: 'auto' (libopus via koffi if it loads), 'libopus' (must), 'addon'. */
  decoder?: 'auto' | 'libopus' | 'addon';
}

const FRAME_MS = 20;
const MAX_PACKET_MS = 120;
const RATES: ReadonlySet<number> = new Set([8000, 12000, 16000, 24000, 48000]);

// libopus CTL requests (opus_defines.h)
const OPUS_SET_APPLICATION_REQUEST = 4000;
const OPUS_APPLICATION_VOIP = 2048;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014;
const OPUS_SET_SIGNAL_REQUEST = 4024;
const OPUS_SIGNAL_VOICE = 3001;

interface AddonEncoder {
  encode(buf: Buffer): Buffer;
  decode(buf: Buffer): Buffer;
  applyEncoderCTL(ctl: number, value: number): void;
  setBitrate(bps: number): void;
}
interface AddonModule {
  OpusEncoder: new (rate: number, channels: number) => AddonEncoder;
}

const require = createRequire(import.meta.url);
const addonCache = new Map<string, AddonModule>();

function loadAddon(moduleId: string): AddonModule {
  const hit = addonCache.get(moduleId);
  if (hit) return hit;
  try {
    const mod = require(moduleId) as AddonModule & { default?: AddonModule };
    const m = typeof mod.OpusEncoder === 'function' ? mod : mod.default;
    if (!m || typeof m.OpusEncoder !== 'function') throw new Error('module has no OpusEncoder');
    addonCache.set(moduleId, m);
    return m;
  } catch (e) {
    throw new AudioError(
      'AUDIO_ERR_OPUS_UNAVAILABLE',
      `Opus is unavailable: the native addon ${moduleId} did not load (${(e as Error).message}). ` +
        'It compiles libopus from source at install: check that python3, make and g++ were present during `npm ci` and that install scripts are allowed for it.',
      { cause: e },
    );
  }
}

// ---- system libopus through koffi (decoder with FEC)

type Fn = (...args: unknown[]) => unknown;
interface LibOpus {
  create: Fn;
  decode: Fn;
  destroy: Fn;
  version: string;
}
let libopus: LibOpus | null | undefined;
let libopusError: string | undefined;

function loadLibopus(): LibOpus | null {
  if (libopus !== undefined) return libopus;
  try {
    const koffi = require('koffi') as { load(name: string): { func(sig: string): Fn } };
    const lib = koffi.load('libopus.so.0');
    libopus = {
      create: lib.func('void* opus_decoder_create(int Fs, int channels, _Out_ int* error)'),
      decode: lib.func('int opus_decode(void* st, const uint8_t* data, int len, _Out_ int16_t* pcm, int frame_size, int decode_fec)'),
      destroy: lib.func('void opus_decoder_destroy(void* st)'),
      version: (lib.func('const char* opus_get_version_string()')() as string) ?? 'libopus',
    };
  } catch (e) {
    libopusError = (e as Error).message;
    libopus = null;
  }
  return libopus;
}

const finalizer = new FinalizationRegistry<{ lib: LibOpus; st: unknown }>((h) => {
  h.lib.destroy(h.st);
});

const OPUS_ERRORS: Record<number, string> = {
  [-1]: 'bad argument',
  [-2]: 'buffer too small',
  [-3]: 'internal error',
  [-4]: 'corrupted packet',
  [-5]: 'unimplemented',
  [-6]: 'invalid state',
  [-7]: 'allocation failed',
};

export class OpusCodec {
  readonly sampleRateHz: OpusSampleRateHz;
  readonly channels: 1 | 2;
  /** Samples per channel in one 20 ms frame. */
  readonly frameSamples: number;
  /** 'libopus' (system library via koffi, FEC decode available) or 'addon' (@discordjs/opus). */
  readonly decoderKind: 'libopus' | 'addon';
  readonly fecDecodeAvailable: boolean;
  private readonly enc: AddonEncoder;
  private readonly addonDec: AddonEncoder | undefined;
  private readonly lib: LibOpus | undefined;
  private readonly st: unknown;
  private readonly pcmOut: Int16Array;
  private readonly tocOnly = new Uint8Array(1);
  private lastToc = -1;
  private closed = false;
  private readonly token = {};

  constructor(opts: OpusCodecOptions) {
    if (!RATES.has(opts.sampleRateHz)) throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `Opus runs at 8000/12000/16000/24000/48000 Hz, got ${opts.sampleRateHz}`);
    this.sampleRateHz = opts.sampleRateHz;
    this.channels = opts.channels ?? 1;
    if (this.channels !== 1 && this.channels !== 2) throw new AudioError('AUDIO_ERR_BAD_INPUT', `channels must be 1 or 2, got ${String(this.channels)}`);
    this.frameSamples = (this.sampleRateHz * FRAME_MS) / 1000;
    const addon = loadAddon(opts.addonModule ?? '@discordjs/opus');
    this.enc = new addon.OpusEncoder(this.sampleRateHz, this.channels);
    this.enc.applyEncoderCTL(OPUS_SET_APPLICATION_REQUEST, OPUS_APPLICATION_VOIP);
    this.enc.applyEncoderCTL(OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE);
    this.enc.applyEncoderCTL(OPUS_SET_COMPLEXITY_REQUEST, opts.complexity ?? 5);
    this.enc.setBitrate(opts.bitrateBps ?? (this.sampleRateHz >= 16000 ? 24000 : 16000));
    if (opts.fec ?? true) {
      this.enc.applyEncoderCTL(OPUS_SET_INBAND_FEC_REQUEST, 1);
      this.enc.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC_REQUEST, Math.max(0, Math.min(100, Math.round(opts.expectedLossPct ?? 10))));
    }
    this.pcmOut = new Int16Array(((this.sampleRateHz * MAX_PACKET_MS) / 1000) * this.channels);
    const want = opts.decoder ?? 'auto';
    const lib = want === 'addon' ? null : loadLibopus();
    if (want === 'libopus' && !lib) throw new AudioError('AUDIO_ERR_OPUS_UNAVAILABLE', `system libopus (libopus.so.0) did not load: ${libopusError ?? 'unknown'}`);
    if (lib) {
      const err = [0];
      const st = lib.create(this.sampleRateHz, this.channels, err);
      if (!st || err[0] !== 0) throw new AudioError('AUDIO_ERR_OPUS', `opus_decoder_create failed: ${OPUS_ERRORS[err[0] ?? -3] ?? err[0]}`);
      this.lib = lib;
      this.st = st;
      this.decoderKind = 'libopus';
      this.fecDecodeAvailable = true;
      finalizer.register(this, { lib, st }, this.token);
    } else {
      this.addonDec = new addon.OpusEncoder(this.sampleRateHz, this.channels);
      this.decoderKind = 'addon';
      this.fecDecodeAvailable = false;
    }
  }

  /** Encode exactly one 20 ms frame (frameSamples × channels samples, interleaved). */
  encode(pcm: Int16Array): Buffer {
    this.open();
    const n = this.frameSamples * this.channels;
    if (pcm.length !== n) throw new AudioError('AUDIO_ERR_BAD_INPUT', `Opus encodes 20 ms frames: ${n} samples, got ${pcm.length}`);
    try {
      return this.enc.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    } catch (e) {
      throw new AudioError('AUDIO_ERR_OPUS', `Opus encode failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Decode one packet (any Opus frame duration up to 120 ms). Writes into `dst` when given
   * (no allocation) and returns the filled part; otherwise returns a new array.
   */
  decode(packet: Uint8Array, dst?: Int16Array): Int16Array {
    this.open();
    if (packet.length === 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'empty Opus packet (use conceal() for a lost one)');
    const out = this.run(packet, 0, this.pcmOut.length / this.channels, 'decode');
    this.lastToc = packet[0] as number;
    return this.deliver(out, dst);
  }

  /**
   * Recover the frame lost just before `nextPacket` from the FEC data in it, then call
   * decode(nextPacket) as usual. Without FEC data (or without the libopus decoder) this conceals.
   */
  decodeFec(nextPacket: Uint8Array, dst?: Int16Array): Int16Array {
    this.open();
    if (!this.lib) return this.conceal(dst);
    if (nextPacket.length === 0) throw new AudioError('AUDIO_ERR_BAD_INPUT', 'empty Opus packet');
    // frame_size = one 20 ms frame: the duration of the lost packet we recover
    const out = this.run(nextPacket, 1, this.frameSamples, 'FEC decode');
    return this.deliver(out, dst);
  }

  /** Packet-loss concealment: one 20 ms frame extrapolated from the decoder state. */
  conceal(dst?: Int16Array): Int16Array {
    this.open();
    if (this.lib) {
      const n = this.lib.decode(this.st, null, 0, this.pcmOut, this.frameSamples, 0) as number;
      if (n < 0) throw new AudioError('AUDIO_ERR_OPUS', `Opus concealment failed: ${OPUS_ERRORS[n] ?? n}`);
      return this.deliver(n, dst);
    }
    // TOC-only packet (code 0, zero-length frame) of a 20 ms configuration: libopus conceals
    // one frame. Before any packet arrived, use SILK WB 20 ms (config 9).
    this.tocOnly[0] = this.lastToc >= 0 ? this.lastToc & 0xfc : (9 << 3) | (this.channels === 2 ? 4 : 0);
    const buf = (this.addonDec as AddonEncoder).decode(Buffer.from(this.tocOnly.buffer, 0, 1));
    const pcm = new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength >> 1);
    this.pcmOut.set(pcm.subarray(0, Math.min(pcm.length, this.pcmOut.length)));
    return this.deliver(Math.min(pcm.length / this.channels, this.frameSamples), dst);
  }

  /** Release the native decoder. Further calls throw AUDIO_ERR_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lib) {
      finalizer.unregister(this.token);
      this.lib.destroy(this.st);
    }
  }

  private open(): void {
    if (this.closed) throw new AudioError('AUDIO_ERR_CLOSED', 'Opus codec is closed');
  }

  /** Decode into pcmOut; returns samples per channel. */
  private run(packet: Uint8Array, fec: 0 | 1, frameSize: number, what: string): number {
    if (this.lib) {
      const n = this.lib.decode(this.st, packet, packet.length, this.pcmOut, frameSize, fec) as number;
      if (n < 0) throw new AudioError('AUDIO_ERR_OPUS', `Opus ${what} failed: ${OPUS_ERRORS[n] ?? n}`);
      return n;
    }
    let buf: Buffer;
    try {
      buf = (this.addonDec as AddonEncoder).decode(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    } catch (e) {
      throw new AudioError('AUDIO_ERR_OPUS', `Opus ${what} failed: ${(e as Error).message}`, { cause: e });
    }
    const pcm = new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength >> 1);
    this.pcmOut.set(pcm);
    return pcm.length / this.channels;
  }

  private deliver(samplesPerChannel: number, dst: Int16Array | undefined): Int16Array {
    const n = samplesPerChannel * this.channels;
    if (!dst) return this.pcmOut.slice(0, n);
    if (dst.length < n) throw new AudioError('AUDIO_ERR_BAD_INPUT', `dst holds ${dst.length} samples, the packet decodes to ${n}`);
    dst.set(this.pcmOut.subarray(0, n));
    return dst.length === n ? dst : dst.subarray(0, n);
  }
}
