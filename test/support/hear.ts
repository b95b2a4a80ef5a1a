/**
 * What a phone caller heard, as words: 8 kHz phone audio (PCM, μ-law bytes, or a WAV a SIP peer recorded) given
 * to PocketSphinx (server/engines/providers/pocketsphinx) at 16 kHz by zero insertion — it hears phone audio far
 * better that way than after a clean resample (docs/notes/cascade.md). For the e2e and cluster tests that check
 * the words a SIP peer received; the asserts stay tolerant (PocketSphinx misses a word or two at random).
 */
import { mulawDecode, readWavFile } from '../../audio/index.ts';
import type { SttProvider } from '../../server/engines/providers/index.ts';

/** Lower-case words of a text (punctuation dropped). */
export const words = (s: string): string[] => s.toLowerCase().replace(/[^a-z' ]/g, ' ').split(/\s+/).filter(Boolean);

/** 8 kHz phone audio → 16 kHz by zero insertion (each sample, then a 0). */
export function to16k(pcm8: Int16Array): Int16Array {
  const y = new Int16Array(pcm8.length * 2);
  for (let i = 0; i < pcm8.length; i++) y[2 * i] = pcm8[i]!;
  return y;
}

/** The text `stt` recognises in 8 kHz phone audio. */
export async function hear(stt: SttProvider, pcm8: Int16Array): Promise<string> {
  const s = stt.open();
  s.push(to16k(pcm8));
  return (await s.finish()).text;
}

/** The text `stt` recognises in 8 kHz μ-law bytes (RTP payloads as a caller received them). */
export function hearMulaw(stt: SttProvider, bytes: Uint8Array): Promise<string> {
  return hear(stt, mulawDecode(bytes));
}

/** A WAV a SIP peer recorded (baresip's decodedWav()), as 8 kHz samples. */
export function phoneWav(path: string): Int16Array {
  return readWavFile(path, { sampleRateHz: 8000 }).samples;
}
