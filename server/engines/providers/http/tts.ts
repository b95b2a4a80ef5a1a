import { ProviderError } from '../types.ts';
import type { TtsChunk, TtsProvider, TtsRequest } from '../types.ts';
import { isAbort, postJsonStream } from './common.ts';
import type { HttpStageOptions } from './common.ts';

/** `response_format: "pcm"` is raw 24 kHz 16-bit little-endian mono (OpenAI TTS guide). */
export const HTTP_TTS_SAMPLE_RATE_HZ = 24_000;

/**
 * Text-to-speech through `POST {baseUrl}/audio/speech` with `response_format: "pcm"`; the body
 * is read as it streams, so the first audio goes out before the whole sentence is synthesised.
 */
export class HttpTts implements TtsProvider {
  readonly name = 'http-tts';
  constructor(private readonly opts: HttpStageOptions & { voice?: string }) {}

  async *synthesize(req: TtsRequest): AsyncIterable<TtsChunk> {
    const text = req.text.trim();
    if (!text) return;
    const body: Record<string, unknown> = {
      model: this.opts.model,
      voice: this.opts.voice ?? req.voice ?? 'alloy',
      input: text,
      response_format: 'pcm',
    };
    if (req.speed !== undefined && req.speed !== 1) body.speed = req.speed;
    const stream = await postJsonStream('tts', this.opts, 'audio/speech', body, req.signal);
    if (!stream) return;
    let carry: number | null = null as number | null;   // odd trailing byte of the previous chunk
    try {
      for await (const raw of stream) {
        const bytes = raw as Uint8Array;
        if (bytes.length === 0) continue;
        const start: number = carry === null ? 0 : 1;
        const total: number = bytes.length + start;
        const n = total >> 1;
        const pcm = new Int16Array(n);
        let s = 0;
        if (carry !== null && n > 0) pcm[s++] = (((bytes[0]! << 8) | carry) << 16) >> 16;
        const pairs = new DataView(bytes.buffer, bytes.byteOffset + start, bytes.length - start);
        for (let i = 0; s < n; i += 2) pcm[s++] = pairs.getInt16(i, true);
        carry = total % 2 === 1 ? bytes[bytes.length - 1]! : null;
        if (n > 0) yield { pcm, sampleRateHz: HTTP_TTS_SAMPLE_RATE_HZ };
      }
    } catch (err) {
      if (req.signal.aborted && isAbort(err)) return;
      throw new ProviderError('HTTP_STREAM_BROKEN', `tts: stream broke: ${(err as Error).message}`, { retryable: true, cause: err });
    }
  }
}
