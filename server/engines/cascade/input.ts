/**
 * The cascade's input part: the input audio buffer, turn detection (server VAD), speech-to-text and
 * the idle timer, and their events (speech_started / speech_stopped, committed, cleared,
 * timeout_triggered, input transcription). A turn that ends asks the generation part for a
 * response through `InputHooks`.
 *
 *   input_audio_buffer.append ─► InputDecoder (bytes → 16 kHz) ─► TurnDetector (server VAD)
 *        speech_started ─► STT stream opened, fed while the caller speaks (barge-in)
 *        speech_stopped ─► committed ─► item.added ─► (response) ─► STT final ─► transcript events
 */
import { EchoDetector, EchoGatedVad, TurnDetector, alawDecode, mulawDecode } from '../../../audio/index.ts';
import type { VoiceActivityDetector } from '../../../audio/index.ts';
import { newItemId } from '../../protocol/index.ts';
import type { AudioChunk, RealtimeSession } from '../../protocol/index.ts';
import type { InputAudioBufferAppendEvent, InputAudioBufferCommitEvent } from '../../protocol/types.ts';
import type { SttOpenOptions, SttResult, SttStream } from '../providers/index.ts';
import { InputDecoder, PIPELINE_RATE_HZ } from './audio-io.ts';
import type { Upsample8kMethod } from './audio-io.ts';
import { errorInfo } from './context.ts';
import { completeness, eagernessBounds, endOfTurnSilenceMs } from './end-of-turn.ts';
import type { EndOfTurnSettings } from './end-of-turn.ts';
import { decideInterruption, ignoredKind } from './interruptions.ts';
import type { InterruptionRules } from './interruptions.ts';
import type { CascadeContext, TurnMarks } from './context.ts';
import type { CascadeItems, StoredItem } from './items.ts';

export interface InputHooks {
  /** The caller started speaking and the session lets speech interrupt: cancel the active response. */
  bargeIn(): void;
  /** A turn ended and wants a response (a VAD turn with its timing marks; an idle timeout: null). */
  respond(marks: TurnMarks | null): void;
  /** A response is running. */
  busy(): boolean;
  /** The agent's audio is going out or still playing (estimated): speech now would be over the agent. */
  speaking(): boolean;
}

/** The engine's interruption settings (config `interruptions`, docs/notes/turns.md). */
export interface InterruptionSettings extends InterruptionRules {
  /** Apply them to `server_vad` sessions too (else only `semantic_vad`; `server_vad` keeps OpenAI's semantics). */
  serverVad: boolean;
  /**
   * Adaptive end of turn for `semantic_vad` (end-of-turn.ts): the silence window between these bounds
   * from the words so far. Absent: `semantic_vad`'s fixed windows by eagerness (300/600/1000 ms).
   */
  endOfTurn?: EndOfTurnSettings;
  /** Echo suppression (audio/echo.ts): the agent's own audio coming back on the line is not the caller speaking. */
  echo?: boolean;
}

/**
 * Adaptive end of turn state of one utterance: `silenceSeq` counts the silences (a partial answer
 * for an older one is dropped), `askedAtMs` the silence length when the partial was last asked for.
 */
interface EndOfTurnState { silenceSeq: number; askedAtMs: number; inFlight: boolean; text: string | null }

/** While the turn is silent, the partial is asked again this often (the last words settle). */
const PARTIAL_EVERY_MS = 150;

/**
 * Speech over the agent not yet confirmed as an interruption: no speech_started has gone out, the
 * agent keeps talking. `atMs` is the stream time the VAD fired; `probe` a transcript of the speech
 * so far in flight; `text` the last one known; `startedAt` the wall clock (Date.now) at `atMs`.
 */
interface Pending { atMs: number; startedAt: number; probe: SttStream | null; lastProbeMs: number; text: string | null }

/** How often the words of pending speech over the agent are asked for (one probe at a time). */
const PROBE_EVERY_MS = 200;

const MIN_COMMIT_MS = 100;
const SAMPLES_PER_MS = PIPELINE_RATE_HZ / 1000;
/**
 * Silence at the end of a turn that the STT hears: the rest of the silence window (server_vad's
 * 500 ms by default, semantic_vad's up to 1 s) is held back and given to the STT only if speech
 * resumes, so the turn's end does not wait for silence to be decoded. PocketSphinx needs ~400 ms of
 * it to close its search cheaply: the end-of-utterance search took 100 ms p50 with 200 ms of trailing
 * silence, 52 with 300, 25 with 400, 20 with all 500 (bench/local-engine.ts --part single;
 * docs/notes/local-engine.md for the load figures).
 */
export const STT_TRAIL_MS = 400;
/** Idle input kept for the prefix padding of the next turn (plus slack). */
const IDLE_KEEP_MS = 1_500;

export class CascadeInput {
  readonly #ctx: CascadeContext;
  readonly #items: CascadeItems;
  readonly #hooks: InputHooks;
  readonly #vad: VoiceActivityDetector;
  readonly #upsample8k: Upsample8kMethod;
  /** Echo suppression: what was played (the reference) and the VAD that does not hear it; null when off. */
  readonly #echo: EchoGatedVad | null;
  /** The played audio at 8 kHz (grows to the largest delta, then reused). */
  #echoScratch = new Int16Array(4_800);

  #decoder: InputDecoder;
  #turn: TurnDetector | null = null;
  #turnBaseMs = 0;
  /** 16 kHz input since the last commit; buf[0] is stream sample `bufStart`. */
  #buf = new Int16Array(PIPELINE_RATE_HZ * 30);
  #bufLen = 0;
  #bufStart = 0;
  #streamSamples = 0;
  /** The turn being spoken; `held` = its latest samples kept from the STT (silence beyond STT_TRAIL_MS, still in #buf). */
  #speech: { itemId: string; stt: SttStream; audioStartMs: number; pending: Pending | null; eot: EndOfTurnState; held: number } | null = null;
  /** Adaptive end-of-turn bounds for this session (semantic_vad with the settings), else null. */
  #eotBounds: EndOfTurnSettings | null = null;
  readonly #interruptions: InterruptionSettings | null;
  /** server_vad idle_timeout_ms: armed when a reply ends, for its remaining playout + the timeout. */
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(ctx: CascadeContext, items: CascadeItems, vad: VoiceActivityDetector, upsample8k: Upsample8kMethod, hooks: InputHooks, interruptions: InterruptionSettings | null = null) {
    this.#ctx = ctx;
    this.#interruptions = interruptions;
    this.#items = items;
    this.#vad = vad;
    this.#upsample8k = upsample8k;
    this.#hooks = hooks;
    this.#echo = interruptions?.echo ? new EchoGatedVad(vad, new EchoDetector()) : null;
    this.#decoder = new InputDecoder(ctx.session.audio?.input?.format, upsample8k);
    this.#configureTurns();
  }

  /** The session changed (session.update): new input format, new turn detection. */
  sessionChanged(before: RealtimeSession): void {
    const after = this.#ctx.session;
    if (JSON.stringify(after.audio?.input?.format ?? null) !== JSON.stringify(before.audio?.input?.format ?? null)) {
      this.#decoder = new InputDecoder(after.audio?.input?.format, this.#upsample8k);
    }
    const td = before.audio?.input?.turn_detection;
    if (JSON.stringify(td === undefined ? { type: 'server_vad' } : td) !== JSON.stringify(this.#ctx.turnDetection)) this.#configureTurns();
  }

  close(): void {
    this.disarmIdle();
    this.#speech?.pending?.probe?.abort();
    this.#speech?.stt.abort();
    this.#speech = null;
    this.#vad.close();
  }

  append(ev: InputAudioBufferAppendEvent): void {
    const vadPcm = this.#decoder.decode(ev.audio.bytes());
    if (!vadPcm) return this.#ctx.error('invalid_value', 'audio/pcm input must hold whole 16-bit samples (an even number of bytes).', ev.event_id, 'audio');
    // The STT stream can differ from the VAD stream (8 kHz input: zero insertion, see InputDecoder).
    const pcm = this.#decoder.sttView;
    if (pcm.length === 0) return;
    this.#bufferAudio(pcm);
    this.#streamSamples += pcm.length;
    if (!this.#turn) return;
    const sp = this.#speech;
    if (sp) {
      // silence past the trail: held back (the chunk is in #buf) unless speech resumes
      if (this.#turn.silenceMs >= STT_TRAIL_MS) sp.held += pcm.length;
      else sp.stt.push(pcm);
    }
    for (const t of this.#turn.push(vadPcm)) {
      if (t.type === 'speech_started') this.#speechStarted(this.#turnBaseMs + t.audioStartMs);
      else this.#speechStopped(this.#turnBaseMs + t.audioEndMs);
    }
    if (sp && sp === this.#speech && sp.held > 0 && this.#turn.silenceMs === 0) {
      sp.stt.push(this.#buf.subarray(this.#bufLen - sp.held, this.#bufLen));
      sp.held = 0;
    }
    if (this.#speech?.pending) this.#checkPending();
    if (this.#speech && this.#eotBounds) this.#checkEndOfTurn();
    if (!this.#speech && this.#bufLen > 2 * IDLE_KEEP_MS * SAMPLES_PER_MS) this.#dropInput(this.#bufLen - IDLE_KEEP_MS * SAMPLES_PER_MS);
  }

  commit(ev: InputAudioBufferCommitEvent): void {
    const sp = this.#speech;
    if (sp) {
      if (sp.pending) this.#confirm();
      this.#speech = null;
      this.#commitUtterance(sp.itemId, sp.stt);
      this.#dropInput(this.#bufLen);
      return;
    }
    const ms = this.#bufLen / SAMPLES_PER_MS;
    if (ms < MIN_COMMIT_MS) {
      return this.#ctx.error('input_audio_buffer_commit_empty',
        `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`, ev.event_id);
    }
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    stt.push(this.#buf.subarray(0, this.#bufLen));
    this.#dropInput(this.#bufLen);
    this.#commitUtterance(newItemId(), stt);
  }

  clear(): void {
    this.disarmIdle();
    this.#speech?.pending?.probe?.abort();
    this.#speech?.stt.abort();
    this.#speech = null;
    this.#dropInput(this.#bufLen);
    if (this.#turn) { this.#turn.reset(); this.#vad.reset(); this.#turnBaseMs = this.#streamSamples / SAMPLES_PER_MS; }
    this.#ctx.emit({ type: 'input_audio_buffer.cleared' });
  }

  /** A client item's input audio (conversation.item.create), recognised like a committed buffer. */
  transcribeItem(itemId: string, audio: AudioChunk): void {
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    const dec = new InputDecoder(audio.format, this.#upsample8k);
    if (dec.decode(audio.bytes())) stt.push(dec.sttView);
    this.#items.transcribing(itemId, this.#transcribe(itemId, stt));
  }

  // ───────────────────────────── echo ─────────────────────────────

  /** Frames the echo gate took for the agent's echo (and frames it examined): stats for tests and the bench. */
  get echoStats(): { suppressed: number; examined: number } | null {
    return this.#echo ? { suppressed: this.#echo.suppressed, examined: this.#echo.examined } : null;
  }

  /** The agent's audio just handed to the door (an output delta, valid during this call only): the echo reference. */
  played(audio: AudioChunk): void {
    const echo = this.#echo?.echo;
    if (!echo) return;
    const bytes = audio.bytes();
    const fmt = audio.format;
    let n: number;
    if (fmt.type === 'audio/pcmu' || fmt.type === 'audio/pcma') {
      n = bytes.byteLength;
      if (n > this.#echoScratch.length) this.#echoScratch = new Int16Array(n);
      if (fmt.type === 'audio/pcmu') mulawDecode(bytes, this.#echoScratch.subarray(0, n)); else alawDecode(bytes, this.#echoScratch.subarray(0, n));
    } else {
      // pcm16 at 24 kHz: every third sample (speech energy is far below 4 kHz; the line keeps nothing above it)
      const total = bytes.byteLength >> 1;
      n = Math.floor((total + 2) / 3);
      if (n > this.#echoScratch.length) this.#echoScratch = new Int16Array(n);
      for (let i = 0, k = 0; i < total; i += 3, k++) this.#echoScratch[k] = ((bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16) >> 16;
    }
    echo.played(this.#echoScratch.subarray(0, n));
  }

  /** The door flushed its playout (a barge-in, output_audio_buffer.clear): the rest will not come back. */
  playoutFlushed(): void {
    this.#echo?.echo.flush();
  }

  // ───────────────────────────── idle timer ─────────────────────────────

  /**
   * server_vad `idle_timeout_ms`: after the reply's audio has played (`playingMs` from now) plus
   * the timeout, with no speech, the silent stretch is committed as an empty user item
   * (`input_audio_buffer.timeout_triggered`) and a response is asked for, so the agent prompts.
   */
  armIdle(playingMs: number): void {
    this.disarmIdle();
    const td = this.#ctx.turnDetection;
    if (td?.type !== 'server_vad' || typeof td.idle_timeout_ms !== 'number' || td.idle_timeout_ms <= 0) return;
    const timeoutMs = td.idle_timeout_ms;
    this.#idleTimer = setTimeout(() => this.#idleTimeout(timeoutMs), playingMs + timeoutMs);
    this.#idleTimer.unref();
  }

  disarmIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #idleTimeout(timeoutMs: number): void {
    this.#idleTimer = null;
    if (this.#ctx.closed || this.#speech || this.#hooks.busy()) return;
    try {
      const endMs = Math.round(this.#streamSamples / SAMPLES_PER_MS);
      const itemId = newItemId();
      this.#ctx.emit({ type: 'input_audio_buffer.timeout_triggered', audio_start_ms: Math.max(0, endMs - timeoutMs), audio_end_ms: endMs, item_id: itemId });
      const item: StoredItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: '' }] };
      const prev = this.#items.insert(item);
      this.#dropInput(this.#bufLen);
      this.#ctx.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
      this.#items.added(item, prev);
      this.#items.done(itemId);
      if (this.#ctx.turnDetection?.create_response !== false) this.#hooks.respond(null);
    } catch (err) {
      this.#ctx.log.error({ err }, 'cascade: idle timeout failed');
    }
  }

  // ───────────────────────────── turns ─────────────────────────────

  #configureTurns(): void {
    this.disarmIdle();
    const td = this.#ctx.turnDetection;
    if (!td) {
      this.#speech?.stt.abort();
      this.#speech = null;
      this.#turn = null;
      return;
    }
    this.#vad.reset();
    this.#eotBounds = null;
    const opts: ConstructorParameters<typeof TurnDetector>[0] = { vad: this.#echo ?? this.#vad };
    if (td.type === 'server_vad') {
      if (td.threshold !== undefined) opts.threshold = td.threshold;
      if (td.prefix_padding_ms !== undefined) opts.prefixPaddingMs = td.prefix_padding_ms;
      if (td.silence_duration_ms !== undefined) opts.silenceDurationMs = td.silence_duration_ms;
    } else if (this.#interruptions?.endOfTurn) {
      // semantic_vad, adaptive: the window starts at the maximum and moves with the words (#checkEndOfTurn).
      this.#eotBounds = eagernessBounds(this.#interruptions.endOfTurn, td.eagerness);
      opts.silenceDurationMs = this.#eotBounds.maxMs;
    } else {
      // semantic_vad without the adaptive settings: eagerness picks a fixed silence window.
      opts.silenceDurationMs = fixedSemanticWindow(td.eagerness);
    }
    this.#turn = new TurnDetector(opts);
    this.#turnBaseMs = this.#streamSamples / SAMPLES_PER_MS;
  }

  #speechStarted(audioStartMs: number): void {
    const itemId = newItemId();
    const stt = this.#ctx.stages.stt.open(this.#sttOptions());
    // audioStartMs already includes the prefix padding (TurnDetector).
    const from = Math.min(this.#bufStart + this.#bufLen, Math.max(this.#bufStart, Math.round(audioStartMs * SAMPLES_PER_MS)));
    stt.push(this.#buf.subarray(from - this.#bufStart, this.#bufLen));
    this.#dropInput(from - this.#bufStart);
    const rules = this.#filtering();
    const eot: EndOfTurnState = { silenceSeq: 0, askedAtMs: -Infinity, inFlight: false, text: null };
    // Adaptive: each utterance starts at the maximum; an STT without partial results gets semantic_vad's fixed window.
    if (this.#eotBounds) {
      const td = this.#ctx.turnDetection;
      this.#turn?.setSilenceDuration(stt.partial ? this.#eotBounds.maxMs : fixedSemanticWindow(td?.type === 'semantic_vad' ? td.eagerness : undefined));
    }
    if (rules && this.#hooks.speaking()) {
      // Over the agent: hold speech_started (the doors flush playout on it) until it proves an interruption.
      this.#speech = { itemId, stt, audioStartMs, pending: { atMs: this.#nowMs(), startedAt: Date.now(), probe: null, lastProbeMs: -Infinity, text: null }, eot, held: 0 };
      return;
    }
    this.#speech = { itemId, stt, audioStartMs, pending: null, eot, held: 0 };
    this.disarmIdle();
    this.#ctx.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(audioStartMs), item_id: itemId });
    if (this.#ctx.turnDetection?.interrupt_response !== false) this.#hooks.bargeIn();
  }

  #speechStopped(audioEndMs: number): void {
    const sp = this.#speech;
    if (!sp) return;
    this.#speech = null;
    if (sp.pending) return this.#pendingStopped(sp.itemId, sp.stt, sp.audioStartMs, sp.pending, audioEndMs);
    const stoppedAt = performance.now();
    this.#ctx.emit({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(audioEndMs), item_id: sp.itemId });
    this.#commitUtterance(sp.itemId, sp.stt);
    this.#dropInput(this.#bufLen);
    if (this.#ctx.turnDetection?.create_response === false) return;
    this.#hooks.respond({ stoppedAt });
  }

  // ───────────────────────────── adaptive end of turn ─────────────────────────────

  /**
   * semantic_vad, adaptive (docs/notes/turns.md): while the caller is silent, ask the STT for the words
   * so far (at the first silent frame, then every PARTIAL_EVERY_MS) and set the silence that ends the
   * turn from them: short after complete words, long after trailing ones. Speech again: back to the maximum.
   */
  #checkEndOfTurn(): void {
    const sp = this.#speech;
    const turn = this.#turn;
    const bounds = this.#eotBounds;
    if (!sp || !turn || !bounds || !sp.stt.partial) return;
    const eot = sp.eot;
    const silenceMs = turn.silenceMs;
    if (silenceMs === 0) {
      if (eot.askedAtMs !== -Infinity) {
        eot.silenceSeq++;
        eot.askedAtMs = -Infinity;
        eot.inFlight = false;
        turn.setSilenceDuration(bounds.maxMs);
      }
      return;
    }
    if (eot.inFlight || silenceMs - eot.askedAtMs < PARTIAL_EVERY_MS) return;
    eot.askedAtMs = silenceMs;
    eot.inFlight = true;
    const seq = eot.silenceSeq;
    sp.stt.partial().then((text) => {
      if (this.#speech !== sp || eot.silenceSeq !== seq || this.#ctx.closed) return;
      eot.inFlight = false;
      eot.text = text;
      const c = completeness(text, this.#language());
      const windowMs = endOfTurnSilenceMs(c, bounds);
      this.#ctx.log.debug({ itemId: sp.itemId, text, completeness: c, windowMs, silenceMs: turn.silenceMs }, 'cascade: end of turn from the words so far');
      for (const t of turn.setSilenceDuration(windowMs)) if (t.type === 'speech_stopped' && this.#turn === turn) this.#speechStopped(this.#turnBaseMs + t.audioEndMs);
    }, (err: unknown) => {
      eot.inFlight = false;
      this.#ctx.log.debug({ err }, 'cascade: partial transcript failed');
    });
  }

  // ───────────────────────────── speech over the agent ─────────────────────────────

  /** The interruption rules when this session's turn detection uses them (docs/notes/turns.md), else null. */
  #filtering(): InterruptionSettings | null {
    const td = this.#ctx.turnDetection;
    const s = this.#interruptions;
    if (!s || !td || td.interrupt_response === false) return null;
    if (td.type === 'semantic_vad' || s.serverVad) return s;
    return null;
  }

  #nowMs(): number {
    return this.#turnBaseMs + this.#streamSamples / SAMPLES_PER_MS;
  }

  /** Pending speech over the agent (after each appended chunk): confirm, wait, or ask for its words. */
  #checkPending(): void {
    const sp = this.#speech;
    const p = sp?.pending;
    const rules = this.#filtering();
    if (!sp || !p) return;
    // The agent finished (or the rules went away): an ordinary turn from here.
    if (!rules || !this.#hooks.speaking()) return this.#confirm();
    const speechMs = this.#nowMs() - p.atMs;
    if (decideInterruption({ speechMs, text: p.text, ended: false }, rules, this.#language()) === 'interrupt') return this.#confirm();
    if (speechMs < rules.minDurationMs - PROBE_EVERY_MS || p.probe || speechMs - p.lastProbeMs < PROBE_EVERY_MS) return;
    // The words so far: a one-shot transcription of the buffered utterance (the STT stages have no partial results).
    p.lastProbeMs = speechMs;
    const probe = this.#ctx.stages.stt.open(this.#sttOptions());
    p.probe = probe;
    probe.push(this.#buf.subarray(0, this.#bufLen));
    probe.finish().then((r) => { if (p.probe === probe) p.text = r.text.trim(); }, (err: unknown) => {
      this.#ctx.log.debug({ err }, 'cascade: interruption probe failed');
    }).finally(() => {
      if (p.probe === probe) p.probe = null;
      if (this.#speech?.pending === p && !this.#ctx.closed) this.#checkPending();
    });
  }

  /** Pending speech proved an interruption: speech_started now (its start as heard), and the barge-in. */
  #confirm(): void {
    const sp = this.#speech;
    if (!sp?.pending) return;
    sp.pending.probe?.abort();
    sp.pending = null;
    this.disarmIdle();
    this.#ctx.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(sp.audioStartMs), item_id: sp.itemId });
    if (this.#ctx.turnDetection?.interrupt_response !== false) this.#hooks.bargeIn();
  }

  /**
   * Pending speech over the agent ended: with its final transcript, either an interruption after all
   * (a short "stop"; speech_started, the barge-in, then the turn as usual) or a false one (a
   * backchannel, a cough): dropped without an event, the agent never stopped.
   */
  #pendingStopped(itemId: string, stt: SttStream, audioStartMs: number, p: Pending, audioEndMs: number): void {
    const stoppedAt = performance.now();
    const speechMs = this.#nowMs() - p.atMs;
    p.probe?.abort();
    p.probe = null;
    this.#dropInput(this.#bufLen);
    const final = stt.finish();
    void final.then((r) => r.text.trim(), () => null).then((text) => {
      if (this.#ctx.closed) return;
      const rules = this.#filtering();
      const verdict = rules && this.#hooks.speaking() ? decideInterruption({ speechMs, text, ended: true }, rules, this.#language()) : 'interrupt';
      if (verdict !== 'interrupt') {
        const kind = rules ? ignoredKind(text, rules, this.#language()) : 'false_interruption';
        this.#ctx.log.debug({ itemId, text, kind, speechMs: Math.round(speechMs) }, 'cascade: speech over the agent ignored (not an interruption)');
        // the call record marks it (server/calls/observer.ts); no client event
        this.#ctx.speechIgnored({ kind, itemId, text: text ?? '', startedAtMs: p.startedAt, speechMs: Math.round(speechMs) });
        return;
      }
      this.#ctx.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(audioStartMs), item_id: itemId });
      if (this.#ctx.turnDetection?.interrupt_response !== false) this.#hooks.bargeIn();
      this.#ctx.emit({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(audioEndMs), item_id: itemId });
      this.#commitUtterance(itemId, finished(final));
      if (this.#ctx.turnDetection?.create_response === false) return;
      this.#hooks.respond({ stoppedAt });
    }).catch((err: unknown) => this.#ctx.log.error({ err, itemId }, 'cascade: speech over the agent failed'));
  }

  #language(): string | undefined {
    return this.#ctx.session.audio?.input?.transcription?.language;
  }

  #sttOptions(): SttOpenOptions {
    const tr = this.#ctx.session.audio?.input?.transcription;
    const o: SttOpenOptions = {};
    if (tr?.language) o.language = tr.language;
    if (tr?.prompt) o.prompt = tr.prompt;
    return o;
  }

  /** A user audio item: committed, added now; transcript (and item.done) when the STT answers. */
  #commitUtterance(itemId: string, stt: SttStream): void {
    const item: StoredItem = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
    const prev = this.#items.insert(item);
    this.#items.transcribing(itemId, this.#transcribe(itemId, stt));
    this.#ctx.emit({ type: 'input_audio_buffer.committed', previous_item_id: prev, item_id: itemId });
    this.#items.added(item, prev);
  }

  /** Never rejects: a failed recognition is an empty transcript (and a `…transcription.failed`). */
  async #transcribe(itemId: string, stt: SttStream): Promise<void> {
    const reported = this.#ctx.session.audio?.input?.transcription != null;
    try {
      let text = '';
      let seconds = 0;
      let failure: { code: string; message: string } | null = null;
      try {
        const r = await stt.finish();
        text = r.text.trim();
        seconds = Math.round(r.audioMs / 100) / 10;
      } catch (err) {
        this.#ctx.log.warn({ err, itemId }, 'cascade: transcription failed');
        failure = errorInfo(err, 'transcription_failed');
      }
      this.#items.setTranscript(itemId, text);
      if (reported && failure) {
        this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.failed', item_id: itemId, content_index: 0, error: { type: 'server_error', ...failure } });
      } else if (reported) {
        if (text) this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: text });
        this.#ctx.emit({ type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: text, usage: { type: 'duration', seconds } });
      }
      this.#items.done(itemId);
    } catch (err) {
      this.#ctx.log.error({ err, itemId }, 'cascade: transcript events failed');
    }
  }

  #bufferAudio(pcm: Int16Array): void {
    if (this.#bufLen + pcm.length > this.#buf.length) {
      const bigger = new Int16Array(Math.max(this.#buf.length * 2, this.#bufLen + pcm.length));
      bigger.set(this.#buf.subarray(0, this.#bufLen));
      this.#buf = bigger;
    }
    this.#buf.set(pcm, this.#bufLen);
    this.#bufLen += pcm.length;
  }

  /** Forgets the first n buffered samples. */
  #dropInput(n: number): void {
    const k = Math.min(n, this.#bufLen);
    this.#buf.copyWithin(0, k, this.#bufLen);
    this.#bufLen -= k;
    this.#bufStart += k;
  }
}

/** semantic_vad's fixed silence window by eagerness (no adaptive settings, or an STT without partial results). */
function fixedSemanticWindow(eagerness: string | undefined): number {
  return eagerness === 'high' ? 300 : eagerness === 'low' ? 1000 : 600;
}

/** An STT stream already finished: its result (or failure) for #transcribe. */
function finished(result: Promise<SttResult>): SttStream {
  return { push: () => undefined, finish: () => result, abort: () => undefined };
}
