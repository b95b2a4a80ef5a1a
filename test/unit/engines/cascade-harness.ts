/** Drives an Engine directly with GA client events and records its server events (tests and bench). */
import pino from 'pino';
import { Resampler, alawEncode, mulawDecode, mulawEncode, readWavFile, resampleWhole } from '../../../audio/index.ts';
import type { SttProvider } from '../../../server/engines/providers/index.ts';
import type { Engine, EngineConnection } from '../../../server/engines/index.ts';
import type { Conversation } from '../../../server/conversation.ts';
import { AudioChunk } from '../../../server/protocol/index.ts';
import type { ClientEvent, RealtimeSession, ServerEvent } from '../../../server/protocol/index.ts';
import { words } from '../../support/hear.ts';

export const FIXTURES = new URL('../../../fixtures/speech/', import.meta.url).pathname;
export const silentLog = pino({ level: 'silent' });

/** A fixture as 16 kHz pcm16. */
export function speech16k(name: string): Int16Array {
  return readWavFile(`${FIXTURES}${name}.wav`, { sampleRateHz: 16_000 }).samples;
}

/** Base64 chunks of 20 ms in a GA input format, from 16 kHz speech (+ trailing silence). */
export function toAppendChunks(pcm16k: Int16Array, format: 'pcm' | 'pcmu' | 'pcma', silenceAfterMs = 1_000): string[] {
  const rate = format === 'pcm' ? 24_000 : 8_000;
  const withSilence = new Int16Array(pcm16k.length + silenceAfterMs * 16);
  withSilence.set(pcm16k);
  const pcm = resampleWhole(withSilence, 16_000, rate);
  const step = rate / 50;
  const out: string[] = [];
  for (let i = 0; i < pcm.length; i += step) {
    const piece = pcm.subarray(i, Math.min(pcm.length, i + step));
    if (format === 'pcm') out.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength).toString('base64'));
    else out.push(Buffer.from(format === 'pcmu' ? mulawEncode(piece) : alawEncode(piece)).toString('base64'));
  }
  return out;
}

export class EngineProbe {
  readonly events: ServerEvent[] = [];
  conn!: EngineConnection;
  private waiters: { pred: (e: ServerEvent) => boolean; resolve: (e: ServerEvent) => void; from: number }[] = [];
  closed: { code: number; reason: string } | null = null;

  /** `conversation`: the session's store handed to the engine (EngineOpenOptions.conversation). */
  static async open(engine: Engine, session: Partial<RealtimeSession> = {}, conversation?: Conversation): Promise<EngineProbe> {
    const p = new EngineProbe();
    p.conn = await engine.open({
      session: { type: 'realtime', ...session } as RealtimeSession,
      log: silentLog,
      ...(conversation ? { conversation } : {}),
      callbacks: {
        onEvent: (e) => p.onEvent(e),
        onClose: (info) => { p.closed = info; },
      },
    });
    await p.next('conversation.created');
    return p;
  }

  private onEvent(e: ServerEvent): void {
    // an audio delta's chunk is valid during the call only: keep a copy
    this.events.push(e.type === 'response.output_audio.delta' ? { ...e, delta: e.delta.copy() } : e);
    const idx = this.events.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (idx >= w.from && w.pred(e)) { w.resolve(e); return false; }
      return true;
    });
  }

  send(e: ClientEvent): void { this.conn.send(e); }

  /** Sends audio chunks (base64, as a WS client would) as input_audio_buffer.append events. */
  append(chunks: string[]): void {
    for (const audio of chunks) this.conn.send({ type: 'input_audio_buffer.append', audio: AudioChunk.fromBase64(audio) });
  }

  /** The first event of `type` (matching `pred`) at or after index `from` (default: any already seen). */
  next(type: string, pred: (e: ServerEvent) => boolean = () => true, from = 0, timeoutMs = 15_000): Promise<ServerEvent> {
    const match = (e: ServerEvent): boolean => e.type === type && pred(e);
    const found = this.events.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${type}; saw ${this.types().slice(-30).join(', ')}`)), timeoutMs);
      this.waiters.push({ pred: match, resolve: (e) => { clearTimeout(timer); resolve(e); }, from });
    });
  }

  types(from = 0): string[] { return this.events.slice(from).map((e) => e.type); }

  /** Event types without the repeated deltas (each run of one delta type collapsed). */
  shape(from = 0, to = this.events.length): string[] {
    const out: string[] = [];
    for (const t of this.types(from).slice(0, to - from)) {
      if (t.endsWith('.delta') && out.at(-1) === t) continue;
      out.push(t);
    }
    return out;
  }

  /** All output audio of a response, decoded (bytes). */
  audioOf(responseId: string): Buffer {
    const out: Uint8Array[] = [];
    for (const e of this.events) if (e.type === 'response.output_audio.delta' && e.response_id === responseId) out.push(e.delta.bytes());
    return Buffer.concat(out);
  }

  close(): void { this.conn.close(); }
}

export { words };

/** Recognises output audio (pcm 24 kHz bytes, or μ-law 8 kHz bytes) with PocketSphinx. */
export async function recognise(stt: SttProvider, audio: Buffer, format: 'pcm' | 'pcmu' = 'pcm'): Promise<string> {
  const pcm = format === 'pcm'
    ? new Int16Array(audio.buffer.slice(audio.byteOffset, audio.byteOffset + (audio.byteLength & ~1)))
    : mulawDecode(new Uint8Array(audio));
  const r = new Resampler({ inputRateHz: format === 'pcm' ? 24_000 : 8_000, outputRateHz: 16_000 });
  const s = stt.open();
  s.push(r.process(pcm).slice());
  s.push(r.flush().slice());
  return (await s.finish()).text;
}

/** Concatenated output audio of one response from recorded GA events. */
export function responseAudio(events: Array<{ type: string; [k: string]: unknown }>, responseId: string): Buffer {
  return Buffer.concat(events.filter((e) => e.type === 'response.output_audio.delta' && e['response_id'] === responseId).map((e) => Buffer.from(e['delta'] as string, 'base64')));
}

/** How many of `expected` words occur in `heard` (PocketSphinx misses a word or two at random). */
export function overlap(heard: string, expected: string[]): number {
  const got = new Set(words(heard));
  return expected.filter((w) => got.has(w)).length;
}
