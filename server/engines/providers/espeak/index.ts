import { spawn } from 'node:child_process';
import { ProviderError } from '../types.ts';
import type { TtsChunk, TtsProvider, TtsRequest } from '../types.ts';

/**
 * espeak-ng (Debian, GPL-3: run as a separate process) for languages flite does not speak.
 * `espeak-ng -v <lang> --stdout <text>` writes a RIFF/WAVE stream (22 050 Hz mono pcm16) whose
 * size fields are left open; the 44-byte header is skipped and the samples are streamed.
 */
export class EspeakTts implements TtsProvider {
  readonly name = 'espeak-ng';
  constructor(private readonly opts: { binary?: string; defaultVoice?: string } = {}) {}

  async *synthesize(req: TtsRequest): AsyncIterable<TtsChunk> {
    const text = req.text.trim();
    if (!text || req.signal.aborted) return;
    const voice = req.language ? req.language.toLowerCase() : this.opts.defaultVoice ?? 'en-us';
    const args = ['-v', voice, '--stdout'];
    if (req.speed !== undefined && req.speed !== 1) args.push('-s', String(Math.round(175 * req.speed)));
    args.push('--', text);
    const child = spawn(this.opts.binary ?? 'espeak-ng', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: req.signal });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', () => resolve(-1));
      child.on('close', (code) => resolve(code));
    });
    let header = Buffer.alloc(0);
    let rateHz = 22_050;
    let carry: number | null = null as number | null;
    try {
      for await (const raw of child.stdout) {
        let bytes = raw as Buffer;
        if (header.length < 44) {
          const need = 44 - header.length;
          header = Buffer.concat([header, bytes.subarray(0, need)]);
          bytes = bytes.subarray(need);
          if (header.length === 44) rateHz = header.readUInt32LE(24);
          if (bytes.length === 0) continue;
        }
        const all: Buffer = carry === null ? bytes : Buffer.concat([Buffer.from([carry]), bytes]);
        const n = all.length >> 1;
        carry = all.length % 2 === 1 ? all[all.length - 1]! : null;
        const pcm = new Int16Array(n);
        for (let i = 0; i < n; i++) pcm[i] = all.readInt16LE(2 * i);
        if (n > 0) yield { pcm, sampleRateHz: rateHz };
      }
    } catch (err) {
      if (req.signal.aborted) return;
      throw new ProviderError('TTS_FAILED', `espeak-ng: ${(err as Error).message}`, { cause: err });
    }
    const code = await exited;
    if (req.signal.aborted) return;
    if (code !== 0) throw new ProviderError('TTS_FAILED', `espeak-ng exited ${code}: ${stderr.trim().slice(0, 200)}`);
  }
}

/** flite for English, espeak-ng for other languages (by the session's transcription language). */
export class LanguageRoutingTts implements TtsProvider {
  readonly name: string;
  constructor(private readonly english: TtsProvider, private readonly other: TtsProvider) {
    this.name = `${english.name}+${other.name}`;
  }
  synthesize(req: TtsRequest): AsyncIterable<TtsChunk> {
    const lang = req.language?.toLowerCase();
    return !lang || lang === 'en' || lang.startsWith('en-') ? this.english.synthesize(req) : this.other.synthesize(req);
  }
  async warm(): Promise<void> { await Promise.all([this.english.warm?.(), this.other.warm?.()]); }
  async close(): Promise<void> { await Promise.all([this.english.close?.(), this.other.close?.()]); }
}
