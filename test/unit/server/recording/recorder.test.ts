/**
 * The recorder on real files: decoding by chunk format (μ-law, A-law, pcm16), the recording's rate,
 * a valid RIFF/WAVE header checked by an independent parser (wavefile), a file that is playable while
 * the call is still going (the periodic header patch: what a crash would leave), the disk falling behind
 * (a hole of silence, alignment kept), pause by the session clock, and fixed memory over a 10-minute call.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import { pino } from 'pino';
import { alawEncode, mulawDecode, mulawEncode } from '../../../../audio/index.ts';
import { AudioChunk, type AudioFormat } from '../../../../server/protocol/index.ts';
import { CallRecorder, WavStream, WAV_HEADER_BYTES } from '../../../../server/recording/index.ts';
import type { SessionInfo } from '../../../../server/session/index.ts';

const { WaveFile } = wavefile;
const dir = mkdtempSync(join(tmpdir(), 'parley-rec-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });
const PCMU: AudioFormat = { type: 'audio/pcmu' };
const PCMA: AudioFormat = { type: 'audio/pcma' };
const PCM24: AudioFormat = { type: 'audio/pcm', rate: 24000 };

let n = 0;
function session(): SessionInfo {
  return { id: `sess_test${++n}`, leg: 'sip', callId: undefined, metadata: {}, startedAt: Date.now() } as SessionInfo;
}

/** A recorder on a fake clock (ms). */
function recorder(mode: 'mono' | 'stereo', o: { stream?: { blockFrames?: number; poolBlocks?: number; patchEveryBlocks?: number } } = {}): { r: CallRecorder; clock: { t: number }; path: string } {
  const clock = { t: 0 };
  const s = session();
  const path = join(dir, `${s.id}.wav`);
  const r = new CallRecorder(s, { mode, path, log, clock: () => clock.t, startedAtMs: 0, timeline: { holdBackMs: 1000 }, ...(o.stream ? { stream: o.stream } : {}) });
  return { r, clock, path };
}

/** 20 ms of a sine (amplitude a, frequency f) at 8 kHz as pcm16. */
function tone(samples: number, f: number, a: number, rate = 8000, phase0 = 0): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(a * Math.sin((2 * Math.PI * f * (i + phase0)) / rate));
  return out;
}

function readChannels(path: string): { rate: number; channels: Int16Array[]; wav: InstanceType<typeof WaveFile> } {
  const wav = new WaveFile(readFileSync(path));
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; audioFormat: number; bitsPerSample: number };
  expect(fmt.audioFormat).toBe(1);
  expect(fmt.bitsPerSample).toBe(16);
  const raw = wav.getSamples(false, Int16Array) as unknown as Int16Array | Int16Array[];
  const channels = fmt.numChannels === 1 ? [raw as Int16Array] : (raw as Int16Array[]);
  return { rate: fmt.sampleRate, channels, wav };
}

const rms = (x: Int16Array, from = 0, to = x.length): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
};

describe('CallRecorder → WAV file', () => {
  it('μ-law call: 8 kHz stereo, caller left exactly as decoded, agent right at its play time; the header is valid RIFF/WAVE', async () => {
    const { r, clock, path } = recorder('stereo');
    const callerPcm = tone(160 * 100, 440, 8000); // 2 s
    const callerMu = mulawEncode(callerPcm);
    const chunk = AudioChunk.fromBytes(new Uint8Array(0), PCMU);
    for (let k = 0; k < 100; k++) {
      clock.t = (k + 1) * 20;
      r.callerAudio(chunk.setBytes(callerMu.subarray(k * 160, (k + 1) * 160)));
      if (k % 50 === 49) await r.stream!.idle(); // real time gives the disk a second per second
    }
    // at 2 s the agent's 1 s reply arrives in one burst, A-law this time (decoded by its own format)
    const agent = alawEncode(tone(8000, 1000, 6000));
    r.agentAudio(AudioChunk.fromBytes(agent, PCMA), { itemId: 'item_1', responseId: 'resp_1', contentIndex: 0, offsetMs: 0 });
    clock.t = 4000;
    await r.finish();
    expect(r.sampleRateHz).toBe(8000);
    const { rate, channels } = readChannels(path);
    expect(rate).toBe(8000);
    expect(channels.length).toBe(2);
    const [left, right] = channels as [Int16Array, Int16Array];
    expect(left.length).toBe(4 * 8000);
    const dec = mulawDecode(callerMu);
    const firstDiff = left.subarray(0, 16000).findIndex((v, i) => v !== dec[i]);
    expect(firstDiff, `${left[firstDiff]} vs ${dec[firstDiff]}`).toBe(-1);
    expect(rms(left, 16000)).toBe(0);
    expect(rms(right, 0, 16000)).toBe(0);
    expect(rms(right, 16000, 24000)).toBeGreaterThan(3000);
    expect(rms(right, 24000)).toBe(0);
    // the header, byte by byte
    const b = readFileSync(path);
    expect(b.length).toBe(WAV_HEADER_BYTES + 4 * 8000 * 4);
    expect(b.toString('latin1', 0, 4)).toBe('RIFF');
    expect(b.readUInt32LE(4)).toBe(b.length - 8);
    expect(b.toString('latin1', 8, 16)).toBe('WAVEfmt ');
    expect(b.readUInt16LE(22)).toBe(2);
    expect(b.readUInt32LE(28)).toBe(8000 * 4);
    expect(b.readUInt16LE(32)).toBe(4);
    expect(b.toString('latin1', 36, 40)).toBe('data');
    expect(b.readUInt32LE(40)).toBe(b.length - 44);
  });

  it('pcm16 call: 24 kHz; mono mixes both sides; an odd-length chunk is not a crash', async () => {
    const { r, clock, path } = recorder('mono');
    const caller = tone(2400, 300, 4000, 24000);
    const bytes = new Uint8Array(caller.buffer);
    const chunk = AudioChunk.fromBytes(new Uint8Array(0), PCM24);
    for (let k = 0; k < 10; k++) {
      clock.t = (k + 1) * 100;
      r.callerAudio(chunk.setBytes(bytes));
    }
    r.agentAudio(AudioChunk.fromBytes(new Uint8Array(481), PCM24), { itemId: 'i', responseId: 'r', contentIndex: 0, offsetMs: 0 });
    clock.t = 1500;
    await r.finish();
    const { rate, channels } = readChannels(path);
    expect(rate).toBe(24000);
    expect(channels.length).toBe(1);
    expect(channels[0]!.length).toBe(Math.round(1.5 * 24000));
    expect(Array.from(channels[0]!.subarray(0, 2400))).toEqual(Array.from(caller));
  });

  it('a caller in μ-law and an agent in pcm16 (24 kHz): the agent is resampled to the call rate', async () => {
    const { r, clock, path } = recorder('stereo');
    const chunk = AudioChunk.fromBytes(new Uint8Array(160).fill(0xff), PCMU);
    clock.t = 20;
    r.callerAudio(chunk);
    const agent = tone(24000, 500, 8000, 24000);
    r.agentAudio(AudioChunk.fromBytes(new Uint8Array(agent.buffer), PCM24), { itemId: 'i', responseId: 'r', contentIndex: 0, offsetMs: 0 });
    clock.t = 2000;
    await r.finish();
    const { rate, channels } = readChannels(path);
    expect(rate).toBe(8000);
    const right = channels[1]!;
    expect(right.length).toBe(16000);
    expect(rms(right, 400, 7600)).toBeGreaterThan(5000); // a 500 Hz tone survives 24k → 8k
    expect(rms(right, 8200)).toBe(0);
  });

  it('while the call goes on, the file on disk is already a playable WAV (sizes patched every few blocks): what a crash leaves', async () => {
    const { r, clock, path } = recorder('stereo', { stream: { blockFrames: 800, patchEveryBlocks: 2 } });
    const chunk = AudioChunk.fromBytes(new Uint8Array(160).fill(0x80), PCMU); // loud μ-law
    for (let k = 0; k < 250; k++) {
      clock.t = (k + 1) * 20;
      r.callerAudio(chunk);
      if (k % 5 === 4) await r.stream!.idle();
    }
    await r.stream!.idle();
    // 5 s of calls, 1 s held back: 4 s written as 5 blocks of 0.1 s, header patched after every 2nd
    const b = readFileSync(path);
    const dataBytes = b.readUInt32LE(40);
    expect(dataBytes).toBeGreaterThan(0);
    expect(dataBytes % 4).toBe(0);
    expect(WAV_HEADER_BYTES + dataBytes).toBeLessThanOrEqual(b.length);
    expect(b.readUInt32LE(4)).toBe(36 + dataBytes);
    const live = new WaveFile(b.subarray(0, WAV_HEADER_BYTES + dataBytes));
    expect((live.fmt as { numChannels: number }).numChannels).toBe(2);
    expect(dataBytes / 4).toBeGreaterThanOrEqual(8000 * 3); // at most ~1 s behind the written frames
    clock.t = 6000;
    await r.finish();
    expect(statSync(path).size).toBe(WAV_HEADER_BYTES + 6 * 8000 * 4);
  });

  it('pause/resume on the session clock: silence on both sides in between, same length', async () => {
    const { r, clock, path } = recorder('stereo');
    const loud = AudioChunk.fromBytes(new Uint8Array(160).fill(0x80), PCMU);
    for (let k = 0; k < 150; k++) {
      clock.t = (k + 1) * 20;
      if (clock.t === 1000) expect(r.pause()).toBe(true);
      if (clock.t === 2000) expect(r.resume()).toBe(true);
      r.callerAudio(loud);
      if (k % 50 === 49) await r.stream!.idle();
    }
    expect(r.resume()).toBe(false);
    await r.finish();
    const left = readChannels(path).channels[0]!;
    expect(left.length).toBe(3 * 8000);
    expect(rms(left, 0, 7840)).toBeGreaterThan(10_000);
    expect(rms(left, 8000, 16000)).toBe(0);
    expect(rms(left, 16160)).toBeGreaterThan(10_000);
  });

  it('the disk falls behind (every block still waiting): the dropped stretch is a hole that reads as silence, the rest stays aligned', async () => {
    const path = join(dir, 'behind.wav');
    const s = new WavStream({ path, channels: 1, sampleRateHz: 8000, blockFrames: 100, poolBlocks: 2 });
    // before the file is even open, 5 blocks: the pool of 2 holds one filling and one waiting
    for (let b = 0; b < 5; b++) {
      s.block.fill(b + 1, s.used, s.used + 100);
      s.advance(100);
    }
    expect(s.droppedFrames).toBeGreaterThan(0);
    await s.idle();
    s.block.fill(9, 0, 100);
    s.advance(100);
    await s.close();
    const mono = readChannels(path).channels[0]!;
    expect(mono.length).toBe(600);
    for (let b = 0; b < 6; b++) {
      const v = mono[b * 100]!;
      expect([0, b === 5 ? 9 : b + 1]).toContain(v); // each block is itself or a hole of silence, in its place
      expect(mono.subarray(b * 100, b * 100 + 100).every((x) => x === v)).toBe(true);
    }
    expect(mono[500]).toBe(9);
  });

  it('memory is fixed over a 10-minute call (fed as fast as it goes)', async () => {
    const { r, clock } = recorder('stereo');
    const chunk = AudioChunk.fromBytes(new Uint8Array(160).fill(0x80), PCMU);
    const reply = AudioChunk.fromBytes(new Uint8Array(8000 * 4).fill(0x90), PCMU);
    let mem = -1;
    for (let k = 1; k <= 30_000; k++) {
      clock.t = k * 20;
      r.callerAudio(chunk);
      if (k % 500 === 0) r.agentAudio(reply, { itemId: `item_${k}`, responseId: `resp_${k}`, contentIndex: 0, offsetMs: 0 });
      if (k === 1000) mem = r.memoryBytes;
      if (k % 50 === 0) await r.stream!.idle(); // let the disk keep up, as it does in real time
    }
    expect(r.memoryBytes).toBe(mem);
    await r.finish();
    expect(r.stream!.droppedFrames).toBe(0);
    expect(r.timeline!.agentDroppedFrames).toBe(0);
    expect(r.stream!.frames).toBe(600 * 8000);
  });

  it('a μ-law call holds only its code rings (no write block between writes): 20 calls share a few pooled blocks, files intact', async () => {
    const CALLS = 20;
    const BLOCK_BYTES = 2 * 8000 * 4; // 2 s of 8 kHz stereo
    const madeBefore = WavStream.poolBytes.made;
    const clock = { t: 0 };
    const calls = Array.from({ length: CALLS }, (_, i) => {
      const s = session();
      const path = join(dir, `${s.id}.wav`);
      // calls start 100 ms apart (their blocks come due at different times, as real calls' do)
      const r = new CallRecorder(s, { mode: 'stereo', path, log, clock: () => clock.t, startedAtMs: -i * 100 });
      return { r, path };
    });
    const caller = AudioChunk.fromBytes(new Uint8Array(160).fill(0x80), PCMU);
    const agent = AudioChunk.fromBytes(new Uint8Array(160).fill(0x90), PCMU);
    let peak = 0;
    for (let k = 1; k <= 500; k++) {
      clock.t = k * 20;
      for (const { r } of calls) {
        r.callerAudio(caller);
        r.agentAudio(agent, { itemId: 'item_1', responseId: 'resp_1', contentIndex: 0, offsetMs: (k - 1) * 20 });
      }
      peak = Math.max(peak, ...calls.map(({ r }) => r.memoryBytes));
      await Promise.all(calls.map(({ r }) => r.stream!.idle())); // the disk keeps up, as in real time
    }
    // the rings: caller 1 s held back + 0.25 s gap + 3 s ahead + a block (2 s), agent 8 s look-ahead + a block; 1 byte a sample
    expect(peak).toBe(Math.round((1 + 0.25 + 3 + 2) * 8000) + (8 + 2) * 8000);
    expect(peak).toBeLessThan(130 * 1024); // 283 KiB when each call had its own pool of 3 blocks
    expect(WavStream.poolBytes.made - madeBefore).toBeLessThanOrEqual(4 * BLOCK_BYTES);
    await Promise.all(calls.map(({ r }) => r.finish()));
    for (const [i, { path }] of calls.entries()) {
      const { channels } = readChannels(path);
      const n = Math.round((10 + i * 0.1) * 8000);
      expect(channels[0]!.length).toBe(n);
      expect(rms(channels[0]!, 0, n - 160)).toBeGreaterThan(10_000);
      expect(rms(channels[1]!, 0, n - 160)).toBeGreaterThan(5_000);
    }
  });

  it('a file that cannot be written (no such directory, a read-only disk) is logged and the call goes on', async () => {
    const s = session();
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const clock = { t: 0 };
    const r = new CallRecorder(s, { mode: 'stereo', path: '/dev/null/cannot/rec.wav', log, clock: () => clock.t, startedAtMs: 0 });
    const chunk = AudioChunk.fromBytes(new Uint8Array(160).fill(0x80), PCMU);
    for (let k = 0; k < 300; k++) {
      clock.t = (k + 1) * 20;
      r.callerAudio(chunk);
      if (k % 50 === 49) await r.stream!.idle();
    }
    await r.finish();
    expect(r.stream!.failed).toBe(true);
    expect(errors.filter((l) => l.includes('this call is not recorded')).length).toBe(1);
  });
});
