/**
 * WAV read/write through wavefile: any rate, bit depth (8/16/24/32-bit int, 32/64-bit float,
 * μ-law, A-law, IMA ADPCM) and channel count in; mono pcm16 at a chosen rate out. Channels are
 * averaged; the rate is changed with our streaming Resampler (not wavefile's whole-buffer one),
 * with its delay removed so the output is time-aligned with the input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import wavefile from 'wavefile';
import { AudioError } from './errors.ts';
import { Resampler } from './resampler.ts';

const { WaveFile } = wavefile;

export interface WavAudio {
  sampleRateHz: number;
  samples: Int16Array;
}

interface WavFmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_IMA_ADPCM = 17;
const FORMAT_EXTENSIBLE = 0xfffe;

/** Mono float in [-1, 1) from any integer/float depth, in wavefile's raw units. */
function toMonoFloat(wav: InstanceType<typeof WaveFile>, channels: number): Float32Array {
  const depth = wav.bitDepth;
  let scale: number;
  let offset = 0;
  if (depth === '32f' || depth === '64f') scale = 1;
  else if (depth === '8') {
    offset = 128; // 8-bit WAV is unsigned
    scale = 1 / 128;
  } else {
    const bits = Number.parseInt(depth, 10);
    if (!(bits > 1 && bits <= 32)) throw new AudioError('AUDIO_ERR_BAD_WAV', `unsupported WAV bit depth ${depth}`);
    scale = 1 / 2 ** (bits - 1);
  }
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const chans: Float64Array[] = channels <= 1 ? [raw as Float64Array] : (raw as Float64Array[]);
  const n = chans[0]?.length ?? 0;
  const out = new Float32Array(n);
  const k = scale / chans.length;
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < chans.length; c++) acc += ((chans[c] as Float64Array)[i] as number) - offset;
    out[i] = acc * k;
  }
  return out;
}

/** Parse WAV bytes into mono pcm16, optionally resampled to `sampleRateHz`. */
export function readWav(bytes: Uint8Array, opts: { sampleRateHz?: number } = {}): WavAudio {
  let wav: InstanceType<typeof WaveFile>;
  try {
    wav = new WaveFile(bytes);
  } catch (e) {
    throw new AudioError('AUDIO_ERR_BAD_WAV', `not a readable WAV file: ${(e as Error).message}`, { cause: e });
  }
  const fmt = wav.fmt as WavFmt;
  const channels = fmt.numChannels;
  const rateHz = fmt.sampleRate;
  if (!(channels >= 1) || !(rateHz > 0)) throw new AudioError('AUDIO_ERR_BAD_WAV', `WAV has ${channels} channels at ${rateHz} Hz`);
  try {
    switch (fmt.audioFormat) {
      case FORMAT_MULAW:
        wav.fromMuLaw('16');
        break;
      case FORMAT_ALAW:
        wav.fromALaw('16');
        break;
      case FORMAT_IMA_ADPCM:
        wav.fromIMAADPCM('16');
        break;
      case FORMAT_PCM:
      case FORMAT_FLOAT:
      case FORMAT_EXTENSIBLE:
        break;
      default:
        throw new AudioError('AUDIO_ERR_BAD_WAV', `unsupported WAV audio format ${fmt.audioFormat}`);
    }
  } catch (e) {
    if (e instanceof AudioError) throw e;
    throw new AudioError('AUDIO_ERR_BAD_WAV', `cannot decode WAV (${wav.bitDepth}-bit, format ${fmt.audioFormat}): ${(e as Error).message}`, { cause: e });
  }
  const f32 = toMonoFloat(wav, channels);
  const outRateHz = opts.sampleRateHz ?? rateHz;
  if (outRateHz === rateHz) return { sampleRateHz: rateHz, samples: floatToPcm16(f32) };
  return { sampleRateHz: outRateHz, samples: resampleWhole(f32, rateHz, outRateHz) };
}

function floatToPcm16(f: Float32Array): Int16Array {
  const out = new Int16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = Math.round((f[i] as number) * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Resample a whole signal, removing the filter delay: output length = round(n · out / in). */
export function resampleWhole(input: Float32Array | Int16Array, inputRateHz: number, outputRateHz: number): Int16Array {
  const r = new Resampler({ inputRateHz, outputRateHz });
  const head = input instanceof Int16Array ? r.process(input).slice() : float32Chunk(r, input);
  const tail = r.flush();
  const all = new Int16Array(head.length + tail.length);
  all.set(head);
  all.set(tail, head.length);
  const skip = r.delaySamples;
  const want = Math.round((input.length * outputRateHz) / inputRateHz);
  const out = new Int16Array(want);
  out.set(all.subarray(skip, Math.min(all.length, skip + want)));
  return out;
}

function float32Chunk(r: Resampler, f: Float32Array): Int16Array {
  const y = r.processFloat32(f);
  return floatToPcm16(y);
}

/** Mono pcm16 → WAV bytes (RIFF, PCM, 16-bit). */
export function writeWav(samples: Int16Array, sampleRateHz: number): Uint8Array {
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) throw new AudioError('AUDIO_ERR_UNSUPPORTED_RATE', `bad sample rate ${sampleRateHz}`);
  const wav = new WaveFile();
  wav.fromScratch(1, sampleRateHz, '16', samples);
  return wav.toBuffer();
}

export function readWavFile(path: string, opts: { sampleRateHz?: number } = {}): WavAudio {
  return readWav(readFileSync(path), opts);
}

export function writeWavFile(path: string, samples: Int16Array, sampleRateHz: number): void {
  writeFileSync(path, writeWav(samples, sampleRateHz));
}
