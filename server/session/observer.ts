/**
 * Session observers: anything that watches a session without steering it (metrics, call records,
 * recordings, webhooks, a live view). The session calls them synchronously on its own path, so an
 * observer must be quick and must never block: hand slow work (a database, a webhook) to a queue of
 * its own. An observer that throws is logged once and then ignored for that session; the call goes on.
 *
 * Audio handed to an observer (`callerAudio`, `agentAudio`) is valid during the call only: copy what
 * you keep (`chunk.copy()`, or the bytes).
 */
import type { Logger } from 'pino';
import type { AudioChunk, ClientEvent, ServerEvent, Usage } from '../protocol/index.ts';
import type { EngineName, IgnoredSpeech } from '../engines/index.ts';
import type { CallFacts, EndReason, Leg, RecordingMode } from './types.ts';

/** Who the session is: what every observer callback can rely on. */
export interface SessionInfo {
  readonly id: string;
  readonly leg: Leg;
  readonly callId: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  /** Date.now() when the session was created. */
  readonly startedAt: number;
  /** The agent profile of this call (null: none named). */
  readonly profile: string | null;
  /** Who called whom ({} on a WS session). */
  readonly call: Readonly<CallFacts>;
  readonly recording: RecordingMode;
}

export interface SessionEnd {
  /** Free text for the log. */
  reason: string;
  /** Why, as records and webhooks say it. */
  endReason: EndReason;
  /** Close code given to the client (1000 normal, 1001 shutdown, 1011 engine failed), or null when the door ended it. */
  code: number | null;
  durationMs: number;
  /** The engine that served the session last. */
  engine: EngineName | null;
}

/** A moment in a turn, measured on the server's clock (Date.now). */
export type TurnMark =
  | { kind: 'speech_started'; atMs: number; itemId: string; audioStartMs: number }
  | { kind: 'speech_stopped'; atMs: number; itemId: string; audioEndMs: number }
  /** First audio of a response; `sinceSpeechStoppedMs` is the turn latency the caller feels (null without a prior speech_stopped). */
  | { kind: 'first_audio'; atMs: number; responseId: string; itemId: string; sinceSpeechStoppedMs: number | null }
  | { kind: 'response_done'; atMs: number; responseId: string; status: string; usage: Usage | null };

export interface ToolCallReport {
  name: string;
  callId: string;
  arguments: string;
  output: string;
  ok: boolean;
  errorCode?: string;
  durationMs: number;
}

export interface EngineSwitchReport {
  from: EngineName;
  to: EngineName;
  reason: 'fallback' | 'rotation';
  detail?: string;
}

export interface AgentAudioPosition {
  itemId: string;
  responseId: string;
  contentIndex: number;
  /** Where this chunk starts within the item's audio (ms). */
  offsetMs: number;
}

export interface SessionObserver {
  /** The session starts, opening `engine` (before any event; a fallback at open follows as engineSwitch). */
  opened?(s: SessionInfo, engine: EngineName): void;
  /** The session ended (always called once, also when it failed to open). */
  closed?(s: SessionInfo, end: SessionEnd): void;
  /** The call was answered (SIP: 200 OK sent; WS: the engine is open). At most once. */
  answered?(atMs: number): void;
  /** The caller pressed a key (RFC 4733 or SIP INFO). */
  dtmf?(d: { digit: string; atMs: number }): void;
  /** The call was handed to `target` (SIP REFER accepted). */
  transferred?(t: { target: string; atMs: number }): void;
  /** A client event the session accepted, as it goes to the engine (after the server's enforcement). */
  clientEvent?(ev: ClientEvent): void;
  /** A server event, as the client gets it. */
  serverEvent?(ev: ServerEvent): void;
  /** The caller's audio, in the session's input format, as it reaches the session. */
  callerAudio?(chunk: AudioChunk): void;
  /** The agent's audio, in the session's output format, as generated. */
  agentAudio?(chunk: AudioChunk, at: AgentAudioPosition): void;
  /**
   * The caller did not hear the agent's item past `audioEndMs` (barge-in): audio reported for it
   * beyond that point was never played. Applying this gives the agent's audio as played.
   */
  agentAudioTruncated?(t: { itemId: string; contentIndex: number; audioEndMs: number }): void;
  turn?(mark: TurnMark): void;
  /**
   * The caller spoke over the agent and it carried on (a backchannel, a false interruption; cascade and
   * local engines, docs/notes/turns.md). No server event went out for it.
   */
  speechIgnored?(speech: IgnoredSpeech): void;
  toolCall?(r: ToolCallReport): void;
  engineSwitch?(r: EngineSwitchReport): void;
  /** An engine failed to open, closed abnormally, or reported an error code. */
  engineError?(r: { engine: EngineName; code: string }): void;
  /** One side of the relay could not keep up and the other was paused. */
  backpressure?(slow: 'client' | 'engine'): void;
}

/** Builds the observers of one session (app-wide: `SessionManager.observe(factory)`); null for none. */
export type SessionObserverFactory = (s: SessionInfo) => SessionObserver | null;

type Hook = keyof SessionObserver;
/** Called per audio frame (events and audio both ways): dedicated methods below, no allocation. */
type PerFrameHook = 'callerAudio' | 'agentAudio' | 'clientEvent' | 'serverEvent';

/** The observers implementing one per-frame hook, with that hook's function (read once, when added). */
class Fan {
  readonly hook: PerFrameHook;
  readonly observers: SessionObserver[] = [];
  readonly fns: Array<(a: unknown, b?: unknown) => void> = [];
  constructor(hook: PerFrameHook) {
    this.hook = hook;
  }
}

/** Fans each callback out to every observer, isolating failures. */
export class ObserverSet {
  readonly #list: SessionObserver[] = [];
  readonly #log: Logger;
  readonly #failed = new Set<SessionObserver>();
  /** Per hook: does any observer implement it (skip the loop otherwise). */
  readonly #has = new Set<Hook>();
  // per-frame hooks: the observers that have each one, and its function (no lookup or Set per call)
  readonly #serverEvent = new Fan('serverEvent');
  readonly #clientEvent = new Fan('clientEvent');
  readonly #callerAudio = new Fan('callerAudio');
  readonly #agentAudio = new Fan('agentAudio');

  constructor(log: Logger) {
    this.#log = log;
  }

  add(o: SessionObserver): void {
    this.#list.push(o);
    for (const k of Object.keys(o) as Hook[]) if (typeof o[k] === 'function') this.#has.add(k);
    // class instances keep their methods on the prototype
    let proto = Object.getPrototypeOf(o) as object | null;
    while (proto && proto !== Object.prototype) {
      for (const k of Object.getOwnPropertyNames(proto) as Hook[]) if (typeof o[k] === 'function') this.#has.add(k);
      proto = Object.getPrototypeOf(proto) as object | null;
    }
    for (const fan of [this.#serverEvent, this.#clientEvent, this.#callerAudio, this.#agentAudio]) {
      const f = o[fan.hook];
      if (typeof f !== 'function') continue;
      fan.observers.push(o);
      fan.fns.push(f as (a: unknown, b?: unknown) => void);
    }
  }

  has(hook: Hook): boolean {
    return this.#has.has(hook);
  }

  #fail(o: SessionObserver, hook: Hook, err: unknown): void {
    if (this.#failed.has(o)) return;
    this.#failed.add(o);
    for (const fan of [this.#serverEvent, this.#clientEvent, this.#callerAudio, this.#agentAudio]) {
      const i = fan.observers.indexOf(o);
      if (i < 0) continue;
      fan.observers.splice(i, 1);
      fan.fns.splice(i, 1);
    }
    this.#log.error({ hook, err: { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined } }, 'session observer failed; ignoring it for this session');
  }

  /** One callback on every observer that has it (rare events; the per-frame hooks below avoid the rest array). */
  emit<K extends Exclude<Hook, PerFrameHook>>(hook: K, ...args: Parameters<NonNullable<SessionObserver[K]>>): void {
    if (!this.#has.has(hook)) return;
    for (const o of this.#list) {
      const f = o[hook] as ((...a: unknown[]) => void) | undefined;
      if (f === undefined || this.#failed.has(o)) continue;
      try {
        f.apply(o, args);
      } catch (e) {
        this.#fail(o, hook, e);
      }
    }
  }

  /** The per-frame hooks: one or two arguments, passed without a rest array (no allocation per frame). */
  #each(fan: Fan, a: unknown, b?: unknown): void {
    const fns = fan.fns;
    for (let i = 0; i < fns.length; ) {
      const o = fan.observers[i]!;
      try {
        fns[i]!.call(o, a, b);
        i++;
      } catch (e) {
        this.#fail(o, fan.hook, e); // takes it out of the fan: index i now holds the next one
      }
    }
  }

  /** Per event to the client (audio deltas included). */
  serverEvent(ev: ServerEvent): void {
    if (this.#serverEvent.fns.length > 0) this.#each(this.#serverEvent, ev);
  }

  /** Per event to the engine (audio appends included). */
  clientEvent(ev: ClientEvent): void {
    if (this.#clientEvent.fns.length > 0) this.#each(this.#clientEvent, ev);
  }

  callerAudio(chunk: AudioChunk): void {
    if (this.#callerAudio.fns.length > 0) this.#each(this.#callerAudio, chunk);
  }

  agentAudio(chunk: AudioChunk, at: AgentAudioPosition): void {
    if (this.#agentAudio.fns.length > 0) this.#each(this.#agentAudio, chunk, at);
  }
}
