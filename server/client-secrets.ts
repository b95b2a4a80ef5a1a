/**
 * Ephemeral client keys shaped like OpenAI's `POST /v1/realtime/client_secrets`
 * (docs/protocol.md §1.3): `{ value: "ek_…", expires_at, session }`, TTL 10–7200 s (default 600),
 * optionally bound to a session config that applies to sessions opened with the key, and (Parley's
 * addition, `{"profile": "<name>"}`) to an agent profile: its sessions get that profile and cannot pick
 * another (docs/notes/profiles.md).
 */
import { ProtocolError } from './errors.ts';
import { validateClientEvent, newSessionId, type RealtimeSession, type SessionPatch } from './protocol/index.ts';
import { EPHEMERAL_MAX_TTL_S, EPHEMERAL_MIN_TTL_S, type KeyStore } from './auth.ts';
import { enforceSession, mergeSession, type SessionPolicy } from './session/index.ts';
import type { Metrics } from './metrics.ts';
import type { Profiles } from './profiles/index.ts';

export interface ClientSecret {
  value: string;
  /** Unix seconds. */
  expires_at: number;
  session: RealtimeSession & { id: string; object: 'realtime.session' };
}

export interface MintOptions {
  /** Lifetime in seconds, 10–7200 (default: config, 600). */
  ttlS?: number;
  /** Session config bound to the key (GA shape, `type: "realtime"`). */
  session?: SessionPatch;
  /** Sessions the key may hold at once (in-process only, e.g. the demo's keys); default: no own cap. */
  maxSessions?: number;
  /** The agent profile the key's sessions get (an unknown name is refused). */
  profile?: string;
}

export class ClientSecrets {
  readonly #keys: KeyStore;
  readonly #policy: () => SessionPolicy;
  readonly #defaultTtlS: number;
  readonly #metrics: Metrics;
  readonly #profiles: Profiles | null;

  constructor(keys: KeyStore, policy: () => SessionPolicy, defaultTtlS: number, metrics: Metrics, profiles: Profiles | null = null) {
    this.#keys = keys;
    this.#policy = policy;
    this.#defaultTtlS = defaultTtlS;
    this.#metrics = metrics;
    this.#profiles = profiles;
  }

  /** Mints a key in-process (the demo page's route uses this). Throws ProtocolError on bad input. */
  mint(opts: MintOptions = {}): ClientSecret {
    const ttlS = opts.ttlS ?? this.#defaultTtlS;
    if (!Number.isInteger(ttlS) || ttlS < EPHEMERAL_MIN_TTL_S || ttlS > EPHEMERAL_MAX_TTL_S) {
      throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_value', `expires_after.seconds must be an integer between ${EPHEMERAL_MIN_TTL_S} and ${EPHEMERAL_MAX_TTL_S}.`, { param: 'expires_after.seconds' });
    }
    if (opts.session !== undefined) validateClientEvent({ type: 'session.update', session: opts.session });
    if (opts.profile !== undefined && (typeof opts.profile !== 'string' || this.#profiles?.has(opts.profile) !== true)) {
      const known = this.#profiles?.names ?? [];
      throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'unknown_profile', `Unknown profile ${JSON.stringify(opts.profile)}. Known profiles: ${known.length ? known.join(', ') : 'none are configured'}.`, { param: 'profile' });
    }
    const bound = opts.session ?? null;
    const { value, expiresAtMs } = this.#keys.mintEphemeral(ttlS, bound, {
      ...(opts.maxSessions !== undefined ? { maxSessions: opts.maxSessions } : {}),
      ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    });
    const policy = this.#policy();
    // what a session opened with the key starts with: the defaults, the profile's config, the bound session config
    const plan = opts.profile !== undefined ? this.#profiles?.plan(opts.profile) : undefined;
    let start: RealtimeSession = plan?.session ? mergeSession(policy.defaults, plan.session) : { ...policy.defaults };
    if (bound) start = mergeSession(start, bound);
    const only = plan?.toolNames;
    const { session } = enforceSession(start, only ? { ...policy, serverTools: policy.serverTools.filter((t) => only.includes(t.name)) } : policy);
    this.#metrics.clientSecretsMinted.inc();
    return {
      value,
      expires_at: Math.floor(expiresAtMs / 1000),
      session: { ...session, id: newSessionId(), object: 'realtime.session' },
    };
  }

  /** Parses an HTTP body of `POST /v1/realtime/client_secrets` and mints. */
  mintFromBody(body: unknown): ClientSecret {
    if (body === undefined || body === null) return this.mint();
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_type', 'The body must be a JSON object.', { param: null });
    }
    const b = body as Record<string, unknown>;
    const opts: MintOptions = {};
    const ea = b['expires_after'];
    if (ea !== undefined) {
      if (typeof ea !== 'object' || ea === null) throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_type', "Invalid type for 'expires_after'.", { param: 'expires_after' });
      const e = ea as Record<string, unknown>;
      if (e['anchor'] !== undefined && e['anchor'] !== 'created_at') {
        throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_value', "expires_after.anchor must be 'created_at'.", { param: 'expires_after.anchor' });
      }
      if (e['seconds'] !== undefined) {
        if (typeof e['seconds'] !== 'number') throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_type', "Invalid type for 'expires_after.seconds'.", { param: 'expires_after.seconds' });
        opts.ttlS = e['seconds'];
      }
    }
    if (b['session'] !== undefined) opts.session = b['session'] as SessionPatch;
    if (b['profile'] !== undefined) {
      if (typeof b['profile'] !== 'string') throw new ProtocolError('PROTOCOL_INVALID_EVENT', 'invalid_type', "Invalid type for 'profile': expected a profile name.", { param: 'profile' });
      opts.profile = b['profile'];
    }
    return this.mint(opts);
  }
}
