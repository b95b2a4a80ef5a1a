/**
 * The recording's timeline: places the caller's and the agent's audio on the session clock (frames
 * at one rate since the session started) and hands finished frames to the WAV stream, caller left and
 * agent right (stereo) or the two mixed (mono). Pure and synchronous: the caller of each method says
 * what time it is (`now`, in frames), so tests drive it with a fake clock.
 *
 * - Caller: frames arrive in real time; they are appended one after the other. When the caller falls
 *   silent on the wire (nothing sent for more than `gapMs`: a muted WS client, a SIP hold), the gap is
 *   filled with silence so the next audio lands at the time it came.
 * - Agent: audio arrives in bursts, faster than real time; the door plays it one chunk after the other,
 *   starting as soon as it arrives when nothing is playing (the SIP door's pacer; a WS client's player).
 *   So a chunk is placed at max(now, end of the agent audio placed so far).
 * - As played: agent audio is held in a look-ahead ring and only written once its time is `holdBackMs`
 *   in the past. A barge-in's truncation (item, audioEndMs into the item) finds where that point of the
 *   item sits on the timeline and silences everything after it that is still held; later chunks of a
 *   cut item are dropped. The ring grows (by doubling, rarely) up to `agentLookAheadMaxMs`.
 * - Pause: from `pause(now)` to `resume(now)` both channels are written as silence (the caller's audio
 *   that arrives meanwhile is never stored), so the recording stays aligned.
 *
 * μ-law (a SIP call's G.711 passed through) is kept as it came, one byte a sample, in the rings: the bytes are
 * copied in with one native copy per frame, and decoded only when the frames are interleaved into the
 * block (one pass: two table lookups per stereo frame). μ-law 0xFF is exactly 0, so silence (gaps,
 * pauses, consumed agent slots) is 0xFF there. A side that ever gets anything else (A-law, pcm16,
 * resampled audio) has its ring turned into pcm16 once (what it holds decoded) and stays so.
 *
 * Memory: two rings, allocated when each side's first audio comes (the agent ring may double a few times);
 * nothing is allocated per frame. With `blockFrames` (the recorder) final frames wait in the rings until a
 * whole block of the sink is due, which is then filled in one pass: the sink's blocks are only borrowed
 * for the write (wav-stream.ts's shared pool), never held by a call.
 */

import { alawDecode, mulawDecode } from '../../audio/index.ts';

/** How audio bytes are coded: G.711 μ-law / A-law (1 byte a sample) or pcm16 little-endian. */
export type SampleCodec = 'pcmu' | 'pcma' | 'pcm16';

/** G.711 code → pcm16, built once from the audio core's decoders. */
const MULAW = mulawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
const ALAW = alawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
/** μ-law code → a stereo word's left half (the sample's 16 bits) and right half (shifted up): one OR makes the frame. */
const MULAW_LEFT = Int32Array.from(MULAW, (x) => x & 0xffff);
const MULAW_RIGHT = Int32Array.from(MULAW, (x) => x << 16);
/** μ-law's code for 0 (the silence of a code ring). */
const MU_SILENCE = 0xff;
if (MULAW[MU_SILENCE] !== 0) throw new Error('μ-law 0xFF must decode to 0');

/** What a side's ring holds: nothing yet, μ-law codes (Uint8Array), or pcm16 samples (Int16Array). */
const NONE = 0;
const MU = 1;
const PCM = 2;
type RingMode = typeof NONE | typeof MU | typeof PCM;
const EMPTY16 = new Int16Array(0);
const EMPTY8 = new Uint8Array(0);

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('server/recording needs a little-endian host (WAV samples are little-endian)');

/** Where frames go: the block being filled (WavStream). */
export interface FrameSink {
  readonly block: Int16Array;
  /** The same block as 32-bit words: one stereo frame each (left in the low half: little-endian). */
  readonly block32: Int32Array;
  /** Interleaved samples already in `block`. */
  readonly used: number;
  /** Interleaved samples `block` still takes. */
  readonly free: number;
  /** `frames` frames were written at `used` (a full block is sent and a fresh one comes). */
  advance(frames: number): void;
}

export interface TimelineOptions {
  channels: 1 | 2;
  sampleRateHz: number;
  sink: FrameSink;
  /** Agent audio is written this long after its play time (room for a late truncation). Default 1000. */
  holdBackMs?: number;
  /** The caller sent nothing for longer than this: the silence is written as such. Default 250. */
  gapMs?: number;
  /** The caller's audio may run this far ahead of the written frames (a client sending faster than real time). Default 3000. */
  callerAheadMs?: number;
  /** Agent look-ahead ring at start. Default 8000. */
  agentLookAheadMs?: number;
  /** …and at most (beyond it, agent audio is dropped and counted). Default 120000. */
  agentLookAheadMaxMs?: number;
  /**
   * Write out final frames only a whole sink block at a time, blocks of this many frames (the recorder: the
   * stream's block). The frames wait in the code rings (one byte a sample for μ-law, which the rings are sized
   * for) and the block is filled, decoded and sent in one pass, so no half-filled block is held between pushes.
   * Default: none (what is final is written in steps of 100 ms, into whatever block the sink holds).
   */
  blockFrames?: number;
}

const MAX_SEGMENTS = 64;
/** Numbers per segment in Timeline's #seg, and where each is. */
const SEG = 4;
const S_CONTENT = 0;
const S_OFF = 1;
const S_POS = 2;
const S_LEN = 3;
/**
 * Pushes write out final frames in steps of this much (tick/finish write all): one run of the flush loop
 * (and its checks) per 100 ms instead of per frame. The rings hold it easily (their slack is seconds).
 */
const FLUSH_STEP_MS = 100;
const MAX_CUTS = 8;
const MAX_PAUSES = 16;

export class Timeline {
  readonly channels: 1 | 2;
  readonly sampleRateHz: number;
  readonly #sink: FrameSink;
  readonly #holdBack: number;
  /** A push writes out what is final only once this much is (bookkeeping per run, not per 20 ms frame). */
  readonly #flushStep: number;
  /** Whole blocks only (TimelineOptions.blockFrames). */
  readonly #blocks: boolean;
  /** A push or tick writes out what is final once it reaches this frame (written + the step, or the end of the sink's block). */
  #due: number;
  readonly #gap: number;
  readonly #agentMax: number;

  /** Frames handed to the sink. */
  #w = 0;
  // each side's ring: pcm16 samples (#caller/#agent) or μ-law codes (#callerMu/#agentMu), per its mode; the other is empty
  #caller: Int16Array = EMPTY16;
  #callerMu: Uint8Array = EMPTY8;
  #callerMode: RingMode = NONE;
  readonly #cLen: number;
  /** Caller audio is held for [w, callerEnd). */
  #callerEnd = 0;
  #agent: Int16Array = EMPTY16;
  #agentMu: Uint8Array = EMPTY8;
  #agentMode: RingMode = NONE;
  #aLen: number;
  /** Agent audio is held for [w, agentEnd); every other slot of the ring is zero. */
  #agentEnd = 0;

  // agent segments still held: where each stretch of an item sits (for truncation), ordered by position
  // (one array of 4 numbers a segment: a chunk that extends the last segment touches one cache line of it)
  readonly #segItem: Array<string | null> = new Array<string | null>(MAX_SEGMENTS).fill(null);
  /** Segment i: content index, offset into the item, timeline position, length (frames) at [4i, 4i+4). */
  readonly #seg = new Float64Array(MAX_SEGMENTS * SEG);
  #segN = 0;

  // cut items (late chunks beyond the cut are dropped): a small ring
  readonly #cutItem: Array<string | null> = new Array<string | null>(MAX_CUTS).fill(null);
  readonly #cutContent = new Int32Array(MAX_CUTS);
  readonly #cutEnd = new Float64Array(MAX_CUTS);
  #cutNext = 0;
  /** No truncation yet: a chunk need not look for its item among the cuts. */
  #anyCut = false;

  // pauses [start, end) in frames, end = Infinity while paused; ordered
  readonly #pStart = new Float64Array(MAX_PAUSES);
  readonly #pEnd = new Float64Array(MAX_PAUSES);
  #pN = 0;
  #paused = false;

  /** Agent frames dropped: the look-ahead was full. */
  agentDroppedFrames = 0;
  /** Agent frames a truncation came too late to remove (already written). */
  lateCutFrames = 0;
  /** Frames written ahead of their time because the caller ran ahead of the clock. */
  forcedFrames = 0;

  constructor(o: TimelineOptions) {
    this.channels = o.channels;
    this.sampleRateHz = o.sampleRateHz;
    this.#sink = o.sink;
    const f = (ms: number): number => Math.max(1, Math.round((ms * o.sampleRateHz) / 1000));
    this.#holdBack = Math.max(0, Math.round(((o.holdBackMs ?? 1000) * o.sampleRateHz) / 1000));
    this.#blocks = o.blockFrames !== undefined;
    this.#flushStep = o.blockFrames !== undefined ? Math.max(1, Math.round(o.blockFrames)) : f(FLUSH_STEP_MS);
    this.#due = this.#flushStep;
    this.#gap = f(o.gapMs ?? 250);
    // final frames wait up to a step before they are written: the rings hold that too
    const lag = this.#blocks ? this.#flushStep : 0;
    this.#cLen = this.#holdBack + this.#gap + f(o.callerAheadMs ?? 3000) + lag;
    this.#aLen = Math.max(this.#holdBack + f(1000), f(o.agentLookAheadMs ?? 8000)) + lag;
    this.#agentMax = Math.max(this.#aLen, f(o.agentLookAheadMaxMs ?? 120_000) + lag);
  }

  /** Frames written so far. */
  get written(): number {
    return this.#w;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The rings' memory (bytes). */
  get memoryBytes(): number {
    return this.#caller.byteLength + this.#callerMu.byteLength + this.#agent.byteLength + this.#agentMu.byteLength;
  }

  /** Largest caller chunk pushCaller takes at once (slice bigger ones). */
  get maxChunkFrames(): number {
    return this.#cLen - this.#holdBack - this.#gap - (this.#blocks ? this.#flushStep : 0);
  }

  /** `n` frames of the caller's audio (at this timeline's rate) arrived at `now`. */
  pushCaller(src: Int16Array, n: number, now: number): void {
    if (this.#callerMode !== PCM) this.#setCallerMode(PCM);
    const pos = this.#placeCaller(n, now);
    if (this.#paused) ringFill(this.#caller, pos, n, 0);
    else ringWrite(this.#caller, pos, src, n);
  }

  /** The same, straight from the wire's bytes (`n` samples from byte `from`), decoded into the ring: no copy in between. */
  pushCallerBytes(bytes: Uint8Array, from: number, n: number, codec: SampleCodec, now: number): void {
    if (this.#callerMode !== MU || codec !== 'pcmu') this.#setCallerMode(codec === 'pcmu' ? MU : PCM);
    const pos = this.#placeCaller(n, now);
    if (this.#callerMode === MU) {
      if (this.#paused) ringFillMu(this.#callerMu, pos, n);
      else ringCopy(this.#callerMu, pos, bytes, from, n);
    } else if (this.#paused) ringFill(this.#caller, pos, n, 0);
    else ringDecode(this.#caller, pos, bytes, from, n, codec);
  }

  /** The caller's ring takes `want` (μ-law codes when every caller chunk so far was μ-law, else pcm16). */
  #setCallerMode(want: RingMode): void {
    const mode = this.#callerMode;
    if (mode === want || mode === PCM) return; // pcm16 takes anything
    if (mode === NONE) {
      if (want === MU) this.#callerMu = new Uint8Array(this.#cLen).fill(MU_SILENCE);
      else this.#caller = new Int16Array(this.#cLen);
    } else {
      // μ-law so far, now something else: what is held is decoded once, and the ring stays pcm16
      this.#caller = decodeRing(this.#callerMu);
      this.#callerMu = EMPTY8;
    }
    this.#callerMode = want;
  }

  /** The same for the agent's ring. */
  #setAgentMode(want: RingMode): void {
    const mode = this.#agentMode;
    if (mode === want || mode === PCM) return;
    if (mode === NONE) {
      if (want === MU) this.#agentMu = new Uint8Array(this.#aLen).fill(MU_SILENCE);
      else this.#agent = new Int16Array(this.#aLen);
    } else {
      this.#agent = decodeRing(this.#agentMu);
      this.#agentMu = EMPTY8;
    }
    this.#agentMode = want;
  }

  /** Where the caller's next `n` frames go (the end advances past them). */
  #placeCaller(n: number, now: number): number {
    if (now - this.#holdBack >= this.#due) this.#flushDue(now);
    // a stretch with nothing on the wire: silence, so this chunk lands at the time it came
    const at = now - n;
    if (at - this.#callerEnd > this.#gap) {
      if (this.#callerMode === MU) ringFillMu(this.#callerMu, this.#callerEnd, at - this.#callerEnd);
      else ringFill(this.#caller, this.#callerEnd, at - this.#callerEnd, 0);
      this.#callerEnd = at;
    }
    // the caller runs ahead of the clock by more than the ring holds: write out the oldest
    const over = this.#callerEnd + n - this.#w - this.#cLen;
    if (over > 0) {
      this.forcedFrames += over;
      this.flushTo(this.#w + over);
    }
    const pos = this.#callerEnd;
    this.#callerEnd += n;
    return pos;
  }

  /**
   * `n` frames of the agent's audio arrived at `now`; they start `offsetMs` into item `itemId`'s
   * content part `contentIndex` (AgentAudioPosition).
   */
  pushAgent(src: Int16Array, n: number, itemId: string, contentIndex: number, offsetMs: number, now: number): void {
    if (this.#agentMode !== PCM) this.#setAgentMode(PCM);
    const pos = this.#placeAgent(n, itemId, contentIndex, offsetMs, now);
    if (this.#placed > 0) ringWrite(this.#agent, pos, src, this.#placed);
  }

  /** The same, straight from the wire's bytes (`n` samples from byte `from`). */
  pushAgentBytes(bytes: Uint8Array, from: number, n: number, codec: SampleCodec, itemId: string, contentIndex: number, offsetMs: number, now: number): void {
    if (this.#agentMode !== MU || codec !== 'pcmu') this.#setAgentMode(codec === 'pcmu' ? MU : PCM);
    const pos = this.#placeAgent(n, itemId, contentIndex, offsetMs, now);
    if (this.#placed === 0) return;
    if (this.#agentMode === MU) ringCopy(this.#agentMu, pos, bytes, from, this.#placed);
    else ringDecode(this.#agent, pos, bytes, from, this.#placed, codec);
  }

  /** Frames the last #placeAgent kept (0: all dropped). */
  #placed = 0;

  /** Where the agent's next frames go: after what is queued, not before now; a cut item's late chunks are dropped. */
  #placeAgent(n: number, itemId: string, contentIndex: number, offsetMs: number, now: number): number {
    if (now - this.#holdBack >= this.#due) this.#flushDue(now);
    this.#placed = 0;
    const off = Math.round((offsetMs * this.sampleRateHz) / 1000);
    const cut = this.#anyCut ? this.#cutAt(itemId, contentIndex) : -1;
    if (cut >= 0) {
      if (off >= cut) return 0; // a late chunk of an item the caller cut short
      if (off + n > cut) n = cut - off;
    }
    const pos = Math.max(this.#agentEnd, now, this.#w);
    const need = pos + n - this.#w;
    if (need > this.#aLen) this.#growAgent(need);
    if (need > this.#aLen) {
      const fit = Math.max(0, this.#aLen - (pos - this.#w));
      this.agentDroppedFrames += n - fit;
      n = fit;
      if (n === 0) return 0;
    }
    this.#addSegment(itemId, contentIndex, off, pos, n);
    this.#agentEnd = pos + n;
    this.#placed = n;
    return pos;
  }

  /** The caller heard item `itemId` only up to `audioEndMs`: silence what is held of it (and after it) from there. */
  truncate(itemId: string, contentIndex: number, audioEndMs: number): void {
    const k = Math.round((audioEndMs * this.sampleRateHz) / 1000);
    this.#cutItem[this.#cutNext] = itemId;
    this.#cutContent[this.#cutNext] = contentIndex;
    this.#cutEnd[this.#cutNext] = k;
    this.#cutNext = (this.#cutNext + 1) % MAX_CUTS;
    this.#anyCut = true;
    const seg = this.#seg;
    let cutPos = -1;
    for (let i = 0; i < this.#segN; i++) {
      if (this.#segItem[i] !== itemId || seg[i * SEG + S_CONTENT] !== contentIndex) continue;
      const off = seg[i * SEG + S_OFF]!;
      const len = seg[i * SEG + S_LEN]!;
      if (k <= off) {
        cutPos = seg[i * SEG + S_POS]!;
        break;
      }
      if (k < off + len) {
        cutPos = seg[i * SEG + S_POS]! + (k - off);
        break;
      }
    }
    if (cutPos < 0) return; // nothing held of it beyond the cut
    if (cutPos < this.#w) {
      this.lateCutFrames += this.#w - cutPos;
      cutPos = this.#w;
    }
    if (cutPos < this.#agentEnd) {
      if (this.#agentMode === MU) ringFillMu(this.#agentMu, cutPos, this.#agentEnd - cutPos);
      else ringFill(this.#agent, cutPos, this.#agentEnd - cutPos, 0);
    }
    this.#agentEnd = Math.max(this.#w, Math.min(this.#agentEnd, cutPos));
    // segments from the cut on are gone; the one it falls in ends there
    let n = 0;
    while (n < this.#segN && seg[n * SEG + S_POS]! < cutPos) n++;
    if (n > 0 && seg[(n - 1) * SEG + S_POS]! + seg[(n - 1) * SEG + S_LEN]! > cutPos) seg[(n - 1) * SEG + S_LEN] = cutPos - seg[(n - 1) * SEG + S_POS]!;
    for (let i = n; i < this.#segN; i++) this.#segItem[i] = null;
    this.#segN = n;
  }

  /** Both channels are silent from `now` on, until resume(). */
  pause(now: number): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.#pN === MAX_PAUSES) {
      // merge the last two closed pauses (and what lies between: more silence, never less)
      this.#pEnd[this.#pN - 2] = this.#pEnd[this.#pN - 1]!;
      this.#pN--;
    }
    this.#pStart[this.#pN] = Math.max(now, this.#w);
    this.#pEnd[this.#pN] = Infinity;
    this.#pN++;
  }

  resume(now: number): void {
    if (!this.#paused) return;
    this.#paused = false;
    const i = this.#pN - 1;
    this.#pEnd[i] = Math.max(now, this.#pStart[i]!);
  }

  /** The clock moved on (the owner's periodic tick): write what is final (whole blocks, with blockFrames). */
  tick(now: number): void {
    if (this.#blocks) {
      if (now - this.#holdBack >= this.#due) this.#flushDue(now);
    } else this.flushTo(now - this.#holdBack);
  }

  /** What is final at `now` is due: all of it, or (blockFrames) the whole blocks of it. */
  #flushDue(now: number): void {
    const final = now - this.#holdBack;
    if (!this.#blocks) {
      this.flushTo(final);
      return;
    }
    // the rest of the sink's block, then whole blocks
    const step = this.#flushStep;
    const first = this.#due;
    this.flushTo(first + Math.floor((final - first) / step) * step);
  }

  /** Where the recording ends when the call ends at `now`: the later of now and the caller's last audio (agent audio past it was never played). */
  endAt(now: number): number {
    return Math.max(now, this.#callerEnd);
  }

  /** The call ended at `now`: write everything up to endAt(now). */
  finish(now: number): void {
    this.flushTo(this.endAt(now));
  }

  /** Hand frames [written, target) to the sink. */
  flushTo(target: number): void {
    const sink = this.#sink;
    const stereo = this.channels === 2;
    const caller = this.#caller;
    const agent = this.#agent;
    const callerMu = this.#callerMu;
    const agentMu = this.#agentMu;
    const cMu = this.#callerMode === MU;
    const aMu = this.#agentMode === MU;
    const cLen = this.#cLen;
    const aLen = this.#aLen;
    while (this.#w < target) {
      const w = this.#w;
      const ci = w % cLen;
      const ai = w % aLen;
      let run = Math.min(target - w, stereo ? sink.free >> 1 : sink.free, cLen - ci, aLen - ai);
      // within a run each side is wholly there or wholly silent
      const cEnd = this.#callerEnd;
      const aEnd = this.#agentEnd;
      if (cEnd > w && cEnd - w < run) run = cEnd - w;
      if (aEnd > w && aEnd - w < run) run = aEnd - w;
      // a pause boundary ends the run
      let silent = false;
      for (let i = 0; i < this.#pN; i++) {
        const s = this.#pStart[i]!;
        const e = this.#pEnd[i]!;
        if (e <= w) continue;
        if (s <= w) {
          silent = true;
          run = Math.min(run, e - w);
        } else run = Math.min(run, s - w);
        break;
      }
      const hasCaller = !silent && cEnd > w;
      const hasAgent = aEnd > w;
      const useAgent = hasAgent && !silent;
      if (stereo) {
        // one pass: μ-law decoded by table straight into the stereo word (left = caller, right = agent)
        const b = sink.block32;
        const v = sink.used >> 1;
        if (hasCaller && useAgent) {
          if (cMu && aMu) for (let i = 0; i < run; i++) b[v + i] = MULAW_LEFT[callerMu[ci + i]!]! | MULAW_RIGHT[agentMu[ai + i]!]!;
          else if (cMu) for (let i = 0; i < run; i++) b[v + i] = MULAW_LEFT[callerMu[ci + i]!]! | (agent[ai + i]! << 16);
          else if (aMu) for (let i = 0; i < run; i++) b[v + i] = (caller[ci + i]! & 0xffff) | MULAW_RIGHT[agentMu[ai + i]!]!;
          else for (let i = 0; i < run; i++) b[v + i] = (caller[ci + i]! & 0xffff) | (agent[ai + i]! << 16);
        } else if (hasCaller) {
          if (cMu) for (let i = 0; i < run; i++) b[v + i] = MULAW_LEFT[callerMu[ci + i]!]!;
          else for (let i = 0; i < run; i++) b[v + i] = caller[ci + i]! & 0xffff;
        } else if (useAgent) {
          if (aMu) for (let i = 0; i < run; i++) b[v + i] = MULAW_RIGHT[agentMu[ai + i]!]!;
          else for (let i = 0; i < run; i++) b[v + i] = agent[ai + i]! << 16;
        } else b.fill(0, v, v + run);
      } else {
        const b = sink.block;
        const u = sink.used;
        if (hasCaller && useAgent) {
          for (let i = 0; i < run; i++) {
            const x = (cMu ? MULAW[callerMu[ci + i]!]! : caller[ci + i]!) + (aMu ? MULAW[agentMu[ai + i]!]! : agent[ai + i]!);
            b[u + i] = x > 32767 ? 32767 : x < -32768 ? -32768 : x;
          }
        } else if (hasCaller) {
          if (cMu) for (let i = 0; i < run; i++) b[u + i] = MULAW[callerMu[ci + i]!]!;
          else for (let i = 0; i < run; i++) b[u + i] = caller[ci + i]!;
        } else if (useAgent) {
          if (aMu) for (let i = 0; i < run; i++) b[u + i] = MULAW[agentMu[ai + i]!]!;
          else for (let i = 0; i < run; i++) b[u + i] = agent[ai + i]!;
        } else b.fill(0, u, u + run);
      }
      // the agent's slots are consumed: back to silence (everything outside [written, agentEnd) is)
      if (hasAgent) {
        if (aMu) agentMu.fill(MU_SILENCE, ai, ai + run);
        else agent.fill(0, ai, ai + run);
      }
      this.#w = w + run;
      sink.advance(run);
    }
    if (this.#callerEnd < this.#w) this.#callerEnd = this.#w;
    if (this.#agentEnd < this.#w) this.#agentEnd = this.#w;
    this.#due = this.#w + (this.#blocks ? (stereo ? sink.free >> 1 : sink.free) : this.#flushStep);
    this.#prune();
  }

  #prune(): void {
    const w = this.#w;
    let drop = 0;
    const seg = this.#seg;
    while (drop < this.#segN && seg[drop * SEG + S_POS]! + seg[drop * SEG + S_LEN]! <= w) drop++;
    if (drop > 0) this.#dropSegments(drop);
    let p = 0;
    while (p < this.#pN && this.#pEnd[p]! <= w) p++;
    if (p > 0) {
      this.#pStart.copyWithin(0, p, this.#pN);
      this.#pEnd.copyWithin(0, p, this.#pN);
      this.#pN -= p;
    }
  }

  #dropSegments(k: number): void {
    const n = this.#segN;
    for (let i = k; i < n; i++) this.#segItem[i - k] = this.#segItem[i]!;
    for (let i = n - k; i < n; i++) this.#segItem[i] = null;
    this.#seg.copyWithin(0, k * SEG, n * SEG);
    this.#segN = n - k;
  }

  #addSegment(itemId: string, contentIndex: number, off: number, pos: number, n: number): void {
    const seg = this.#seg;
    const last = this.#segN - 1;
    if (last >= 0 && this.#segItem[last] === itemId) {
      const l = last * SEG;
      const len = seg[l + S_LEN]!;
      if (seg[l + S_CONTENT] === contentIndex && seg[l + S_OFF]! + len === off && seg[l + S_POS]! + len === pos) {
        seg[l + S_LEN] = len + n;
        return;
      }
    }
    if (this.#segN === MAX_SEGMENTS) this.#dropSegments(1);
    const i = this.#segN++;
    this.#segItem[i] = itemId;
    seg[i * SEG + S_CONTENT] = contentIndex;
    seg[i * SEG + S_OFF] = off;
    seg[i * SEG + S_POS] = pos;
    seg[i * SEG + S_LEN] = n;
  }

  #cutAt(itemId: string, contentIndex: number): number {
    for (let i = 0; i < MAX_CUTS; i++) if (this.#cutItem[i] === itemId && this.#cutContent[i] === contentIndex) return this.#cutEnd[i]!;
    return -1;
  }

  /** Double the agent ring (keeping what it holds at the same absolute positions) until it takes `need` frames or reaches its cap. */
  #growAgent(need: number): void {
    let len = this.#aLen;
    while (len < need && len < this.#agentMax) len = Math.min(this.#agentMax, len * 2);
    if (len === this.#aLen) return;
    const oldLen = this.#aLen;
    if (this.#agentMode === MU) {
      const next = new Uint8Array(len).fill(MU_SILENCE);
      const old = this.#agentMu;
      for (let f = this.#w; f < this.#agentEnd; f++) next[f % len] = old[f % oldLen]!;
      this.#agentMu = next;
    } else {
      const next = new Int16Array(len);
      const old = this.#agent;
      for (let f = this.#w; f < this.#agentEnd; f++) next[f % len] = old[f % oldLen]!;
      this.#agent = next;
    }
    this.#aLen = len;
  }
}

/** Write n samples of src into a ring at absolute position pos. */
function ringWrite(ring: Int16Array, pos: number, src: Int16Array, n: number): void {
  const len = ring.length;
  let i = pos % len;
  let k = 0;
  while (k < n) {
    const run = Math.min(n - k, len - i);
    for (let j = 0; j < run; j++) ring[i + j] = src[k + j]!;
    k += run;
    i = 0;
  }
}

/** Copy n bytes (μ-law codes, from byte `from`) into a code ring at absolute position pos: a whole frame in one native copy. */
function ringCopy(ring: Uint8Array, pos: number, bytes: Uint8Array, from: number, n: number): void {
  const len = ring.length;
  const i = pos % len;
  if (from === 0 && n === bytes.length && i + n <= len) {
    ring.set(bytes, i);
    return;
  }
  let at = i;
  let k = 0;
  while (k < n) {
    const run = Math.min(n - k, len - at);
    for (let j = 0; j < run; j++) ring[at + j] = bytes[from + k + j]!;
    k += run;
    at = 0;
  }
}

/** μ-law silence over n slots of a code ring from absolute position pos. */
function ringFillMu(ring: Uint8Array, pos: number, n: number): void {
  const len = ring.length;
  let i = pos % len;
  let k = 0;
  while (k < n) {
    const run = Math.min(n - k, len - i);
    ring.fill(MU_SILENCE, i, i + run);
    k += run;
    i = 0;
  }
}

/** A code ring as pcm16, slot for slot (a side that stops being μ-law only). */
function decodeRing(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = MULAW[codes[i]!]!;
  return out;
}

/** Decode n samples of bytes (from byte `from`) into a ring at absolute position pos. */
function ringDecode(ring: Int16Array, pos: number, bytes: Uint8Array, from: number, n: number, codec: SampleCodec): void {
  const len = ring.length;
  let i = pos % len;
  let k = 0;
  while (k < n) {
    const run = Math.min(n - k, len - i);
    if (codec === 'pcmu') for (let j = 0; j < run; j++) ring[i + j] = MULAW[bytes[from + k + j]!]!;
    else if (codec === 'pcma') for (let j = 0; j < run; j++) ring[i + j] = ALAW[bytes[from + k + j]!]!;
    else for (let j = 0, b = from + 2 * k; j < run; j++, b += 2) ring[i + j] = ((bytes[b]! | (bytes[b + 1]! << 8)) << 16) >> 16;
    k += run;
    i = 0;
  }
}

function ringFill(ring: Int16Array, pos: number, n: number, v: number): void {
  const len = ring.length;
  let i = pos % len;
  let k = 0;
  while (k < n) {
    const run = Math.min(n - k, len - i);
    ring.fill(v, i, i + run);
    k += run;
    i = 0;
  }
}
