import { ProviderError, STT_SAMPLE_RATE_HZ } from '../types.ts';
import type { SttOpenOptions, SttProvider, SttResult, SttStream } from '../types.ts';
import { authHeaders, endpoint, request } from './common.ts';
import type { HttpStageOptions } from './common.ts';

/** RIFF/WAVE header for mono pcm16 (44 bytes), followed by the samples. */
export function pcm16Wav(samples: Int16Array, sampleRateHz: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(44 + samples.byteLength);
  const v = new DataView(out.buffer);
  const ascii = (off: number, s: string): void => { for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i); };
  ascii(0, 'RIFF'); v.setUint32(4, 36 + samples.byteLength, true); ascii(8, 'WAVE');
  ascii(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRateHz, true); v.setUint32(28, sampleRateHz * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  ascii(36, 'data'); v.setUint32(40, samples.byteLength, true);
  out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), 44);
  return out;
}

/**
 * Speech-to-text through `POST {baseUrl}/audio/transcriptions` (OpenAI whisper-1 / gpt-4o-transcribe,
 * or any compatible server). The utterance is collected while the caller speaks and sent as one
 * 16 kHz WAV when it ends.
 */
export class HttpStt implements SttProvider {
  readonly name = 'http-stt';
  constructor(private readonly opts: HttpStageOptions) {}

  open(o: SttOpenOptions = {}): SttStream {
    let buf = new Int16Array(STT_SAMPLE_RATE_HZ * 10);
    let len = 0;
    let state: 'open' | 'finishing' | 'closed' = 'open';
    const ctrl = new AbortController();
    const opts = this.opts;
    return {
      push(pcm: Int16Array): void {
        if (state !== 'open') return;
        if (len + pcm.length > buf.length) {
          const bigger = new Int16Array(Math.max(buf.length * 2, len + pcm.length));
          bigger.set(buf.subarray(0, len));
          buf = bigger;
        }
        buf.set(pcm, len);
        len += pcm.length;
      },
      async finish(): Promise<SttResult> {
        if (state !== 'open') throw new ProviderError('STT_STREAM_CLOSED', 'utterance already finished');
        state = 'finishing';
        const t0 = performance.now();
        const form = new FormData();
        form.append('file', new Blob([pcm16Wav(buf.subarray(0, len), STT_SAMPLE_RATE_HZ) as Uint8Array<ArrayBuffer>], { type: 'audio/wav' }), 'audio.wav');
        form.append('model', o.model ?? opts.model);
        form.append('response_format', 'json');
        if (o.language) form.append('language', o.language);
        if (o.prompt) form.append('prompt', o.prompt);
        try {
          const res = await request('stt', endpoint(opts.baseUrl, 'audio/transcriptions'), {
            method: 'POST', headers: authHeaders(opts.apiKey), body: form, signal: ctrl.signal,
          }, opts.timeoutMs);
          const body = (await res.json()) as { text?: unknown };
          if (typeof body.text !== 'string') throw new ProviderError('HTTP_BAD_RESPONSE', 'stt: the transcription response has no text');
          return { text: body.text, audioMs: (len / STT_SAMPLE_RATE_HZ) * 1000, finaliseMs: performance.now() - t0 };
        } catch (err) {
          if (err instanceof ProviderError) throw err;
          if (ctrl.signal.aborted) throw new ProviderError('STT_ABORTED', 'stt: aborted');
          throw new ProviderError('HTTP_BAD_RESPONSE', `stt: ${(err as Error).message}`, { cause: err });
        } finally {
          state = 'closed';
        }
      },
      abort(): void {
        state = 'closed';
        ctrl.abort();
      },
    };
  }
}
