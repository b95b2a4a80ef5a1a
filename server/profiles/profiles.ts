/**
 * Agent profiles at run time: which profile a call gets (routes, the WS door's query parameter or bound
 * ephemeral key, the incoming-call hook) and what that means for its session (a `CallPlan`: the initial
 * GA config, the engine, the tools it offers, the first message, the maximum length, recording, metadata).
 * Built once by buildApp (`app.parley.profiles`), after the tool and engine registries, so that a profile
 * naming an unknown tool or engine stops the server at start (ConfigError naming the setting).
 */
import type { Logger } from 'pino';
import { ConfigError, ParleyError } from '../errors.ts';
import type { AudioFormat, SessionPatch } from '../protocol/index.ts';
import { BUILTIN_TOOLS, type ToolDefinition, type ToolRegistry } from '../tools/index.ts';
import type { EngineName, EngineRegistry } from '../engines/index.ts';
import type { CallFacts, Leg, RealtimeSessionHandle, RecordingMode, SessionObserver } from '../session/index.ts';
import { Counter, type Metrics } from '../metrics.ts';
import { parseMetadata, parseProfileFields, type ProfileCheck, type ProfileConfig, type ProfilesSettings } from '../config/profiles.ts';
import { pickProfile, uriUserPart, type RouteFacts } from './routing.ts';
import { askIncomingCall, type IncomingCallAnswer, type IncomingCallFacts, type IncomingCallHook } from './incoming-call.ts';

/** The SIP door's call-control tools (server/sip-bridge.ts): a profile may list them; other doors do not have them. */
export const SIP_CALL_TOOLS: readonly string[] = ['end_call', 'transfer_call', 'warm_transfer', 'send_dtmf', 'collect_dtmf'];

/** The metadata key that says how the incoming-call hook went: ok | none | timeout | error: … */
export const INCOMING_CALL_METADATA_KEY = 'incoming_call';

/** What a call's session starts with. */
export interface CallPlan {
  /** The profile's name (null: the server's defaults). */
  profile: string | null;
  /** The initial GA config (before the door's audio format). */
  session: SessionPatch | undefined;
  engine: EngineName | undefined;
  /** Offer only these tools (unset: all the door has). */
  toolNames: string[] | undefined;
  /** Built-in tools the profile lists that the server does not enable for everyone (PARLEY_TOOLS). */
  tools: ToolDefinition[];
  firstMessage: string | null;
  maxCallS: number | null;
  recording: RecordingMode | undefined;
  metadata: Record<string, string>;
}

/** What a door knows of a call before it is answered. */
export interface IncomingCall {
  door: Leg;
  call?: CallFacts;
  /** The SIP INVITE's headers the SIP server kept (lower-case names). */
  headers?: Readonly<Record<string, string>>;
  /** The profile chosen before routes: a WS query parameter or an ephemeral key's binding. */
  chosen?: string | null;
}

export interface ProfilesDeps {
  settings: ProfilesSettings;
  check: ProfileCheck;
  tools: ToolRegistry;
  engines: EngineRegistry;
  log: Logger;
  metrics?: Metrics;
  /** AppDeps.onIncomingCall: replaces incomingCall.url when given. */
  hook?: IncomingCallHook | null;
}

const fileSetting = (path: string): string => `${path} (PARLEY_CONFIG)`;

export class Profiles {
  readonly settings: ProfilesSettings;
  readonly #deps: ProfilesDeps;
  readonly #hook: IncomingCallHook | null;
  readonly #outcomes: Counter | null;

  constructor(deps: ProfilesDeps) {
    this.#deps = deps;
    this.settings = deps.settings;
    this.#hook = deps.hook ?? null;
    for (const p of Object.values(this.settings.profiles)) this.#checkRefs(p, (path) => fileSetting(`profiles.${p.name}.${path}`));
    if (this.hookEnabled && deps.metrics) {
      this.#outcomes = new Counter('parley_incoming_call_total', 'Incoming-call hook outcomes (ok, none, timeout, error)', ['result']);
      deps.metrics.register(this.#outcomes);
    } else this.#outcomes = null;
  }

  /** Tool names a profile may list: the server's tools, every built-in, the SIP call-control tools. */
  knownTools(): string[] {
    return [...new Set([...this.#deps.tools.list().map((t) => t.name), ...Object.keys(BUILTIN_TOOLS), ...SIP_CALL_TOOLS])];
  }

  /** Tool and engine names exist (what the config file alone cannot tell). */
  #checkRefs(p: Pick<ProfileConfig, 'tools' | 'engine'>, named: (path: string) => string): void {
    if (p.tools !== undefined) {
      const known = this.knownTools();
      p.tools.forEach((t, i) => {
        if (!known.includes(t)) throw new ConfigError(named(`tools[${i}]`), `names an unknown tool ${JSON.stringify(t)} (known: ${known.join(', ')})`);
      });
    }
    if (p.engine !== undefined && !this.#deps.engines.has(p.engine)) {
      throw new ConfigError(named('engine'), `names an engine that is not registered: ${JSON.stringify(p.engine)}`);
    }
  }

  get names(): string[] {
    return Object.keys(this.settings.profiles);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.settings.profiles, name);
  }

  /** The incoming-call hook runs (a URL with its secret, or an in-process hook). */
  get hookEnabled(): boolean {
    const ic = this.settings.incomingCall;
    return this.#hook !== null || (ic.url !== null && ic.secret !== null);
  }

  /** The routes' choice for these facts (then `default`, then null). */
  route(f: RouteFacts): string | null {
    return pickProfile(this.settings, f);
  }

  /**
   * The plan for a profile (null: the server's defaults), with an incoming-call answer's overrides and
   * metadata applied. Throws ConfigError (naming the field) when the overrides are not valid.
   */
  plan(name: string | null, answer: IncomingCallAnswer | null = null, extraMetadata: Record<string, string> = {}): CallPlan {
    const base: ProfileConfig | undefined = name !== null ? this.settings.profiles[name] : undefined;
    if (name !== null && base === undefined) throw new ConfigError('profile', `unknown profile ${JSON.stringify(name)}`);
    let fields: Omit<ProfileConfig, 'name'> = base ?? { metadata: {} };
    if (answer?.overrides !== undefined) {
      const named = (path: string): string => path;
      const o = parseProfileFields(answer.overrides, 'overrides', this.#deps.check, named);
      this.#checkRefs(o, (path) => `overrides.${path}`);
      fields = { ...fields, ...o, metadata: { ...fields.metadata, ...o.metadata } };
    }
    const metadata = { ...fields.metadata, ...(answer?.metadata !== undefined ? parseMetadata(answer.metadata, 'metadata') : {}), ...extraMetadata };
    const patch: SessionPatch = { type: 'realtime' };
    if (fields.instructions !== undefined) patch.instructions = fields.instructions;
    if (fields.model !== undefined) patch.model = fields.model;
    if (fields.voice !== undefined) patch.audio = { output: { voice: fields.voice } };
    if (fields.turnDetection !== undefined || fields.transcription !== undefined) {
      const input: NonNullable<NonNullable<SessionPatch['audio']>['input']> = {};
      if (fields.turnDetection !== undefined) input.turn_detection = fields.turnDetection;
      if (fields.transcription !== undefined) input.transcription = fields.transcription;
      patch.audio = { ...patch.audio, input };
    }
    const registry = this.#deps.tools;
    const builtins: ToolDefinition[] = [];
    for (const t of fields.tools ?? []) {
      const def = BUILTIN_TOOLS[t];
      if (def !== undefined && !registry.has(t)) builtins.push(def);
    }
    return {
      profile: base?.name ?? null,
      session: Object.keys(patch).length > 1 ? patch : undefined,
      engine: fields.engine,
      toolNames: fields.tools,
      tools: builtins,
      firstMessage: fields.firstMessage ?? null,
      maxCallS: fields.maxCallS ?? null,
      recording: fields.recording,
      metadata,
    };
  }

  /**
   * The plan for an incoming call: the chosen profile (or the routes'), then the incoming-call hook when
   * configured. Never throws for the hook's sake: on a timeout, an error or a bad answer the call keeps
   * the routes' profile and its metadata says why (`incoming_call`).
   */
  async resolve(call: IncomingCall): Promise<CallPlan> {
    const c = call.call ?? {};
    const caller = uriUserPart(c.from);
    const profile = call.chosen ?? this.route({ door: call.door, dialled: c.dialled, caller, trunk: c.trunk });
    if (!this.hookEnabled) return this.plan(profile);
    const headers: Record<string, string> = {};
    for (const h of this.settings.incomingCall.headers) {
      const v = call.headers?.[h];
      if (v !== undefined) headers[h] = v;
    }
    const facts: IncomingCallFacts = {
      door: call.door,
      from: c.from ?? null,
      to: c.to ?? null,
      dialled: c.dialled ?? null,
      caller: caller ?? null,
      trunk: c.trunk ?? null,
      sip_call_id: c.sipCallId ?? null,
      headers,
      profile,
      metadata: profile !== null ? { ...this.settings.profiles[profile]?.metadata } : {},
    };
    const t0 = performance.now();
    const outcome = await askIncomingCall(this.settings.incomingCall, facts, this.#hook);
    const ms = Math.round(performance.now() - t0);
    const fallBack = (why: string): CallPlan => {
      this.#outcomes?.inc(why === 'timeout' ? 'timeout' : 'error');
      this.#deps.log.warn({ door: call.door, profile, why, ms }, 'incoming-call hook: keeping the route profile');
      return this.plan(profile, null, { [INCOMING_CALL_METADATA_KEY]: why });
    };
    if (outcome === null) return this.plan(profile);
    if (outcome.status === 'timeout') return fallBack('timeout');
    if (outcome.status === 'error') return fallBack(`error: ${outcome.detail}`);
    const answer = outcome.answer;
    if (answer === null) {
      this.#outcomes?.inc('none');
      return this.plan(profile, null, { [INCOMING_CALL_METADATA_KEY]: 'none' });
    }
    const chosen = answer.profile ?? profile;
    if (chosen !== null && !this.has(chosen)) return fallBack(`error: unknown profile ${JSON.stringify(chosen)}`);
    try {
      const plan = this.plan(chosen, answer, { [INCOMING_CALL_METADATA_KEY]: 'ok' });
      this.#outcomes?.inc('ok');
      this.#deps.log.info({ door: call.door, profile: chosen, routed: profile, ms }, 'incoming-call hook answered');
      return plan;
    } catch (err) {
      if (!ParleyError.is(err)) throw err;
      return fallBack(`error: ${err.message}`);
    }
  }
}

/** The plan's initial config with the door's audio format on both sides (SIP: audio/pcmu …). */
export function withAudioFormat(patch: SessionPatch | undefined, format: AudioFormat): SessionPatch {
  const p = patch ?? { type: 'realtime' };
  return { ...p, type: 'realtime', audio: { input: { ...p.audio?.input, format }, output: { ...p.audio?.output, format } } };
}

/**
 * maxCallS: the session ends (endReason max_duration; the door hangs up) this long after it was answered.
 * `observer` goes into the session's observers (it only clears the timer when the session closes).
 */
export class MaxCallTimer {
  readonly #maxCallS: number | null;
  #timer: NodeJS.Timeout | undefined;
  readonly observer: SessionObserver = { closed: () => this.cancel() };

  constructor(maxCallS: number | null) {
    this.#maxCallS = maxCallS;
  }

  arm(session: RealtimeSessionHandle): void {
    const s = this.#maxCallS;
    if (s === null || this.#timer !== undefined || session.closed) return;
    this.#timer = setTimeout(() => {
      session.log.info({ maxCallS: s }, 'maximum call length reached: ending the session');
      session.end(1000, `maximum call length reached (${s} s)`, 'max_duration');
    }, s * 1000);
    this.#timer.unref();
  }

  cancel(): void {
    clearTimeout(this.#timer);
  }
}
