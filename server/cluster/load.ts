/**
 * How full this instance is, for the proxies in front of it (issue 13, docs/notes/cluster-drain.md):
 * `/readyz` carries it as JSON for HAProxy and people, the SIP OPTIONS answer as `X-Parley-Load` and
 * its status code for Kamailio's dispatcher (200 = send calls, 503 = draining or full: skip me).
 *
 *   active_calls       sessions live now (SIP calls, WS clients, media streams: each one is a session)
 *   max_calls          PARLEY_MAX_SESSIONS (a SIP-only cap, PARLEY_SIP_MAX_CALLS, is reported as sip_*)
 *   offline_capacity   the offline (local) engine's admission figures, when it is the default engine
 *
 * Read at probe time, a few counters: nothing is kept between reads.
 */
import type { ParleyConfig } from '../config.ts';
import { hasAdmission, type EngineCapacity, type EngineName, type Engine } from '../engines/index.ts';

export interface Load {
  active_calls: number;
  max_calls: number;
  /** SIP calls up or being set up, and the SIP door's own cap (absent without a SIP door). */
  sip_calls?: number;
  sip_max_calls?: number;
  /** The offline engine's admission (server/engines/admission.ts), when the default engine has one. */
  offline_capacity?: EngineCapacity;
}

export interface LoadSources {
  config: Pick<ParleyConfig, 'limits' | 'engine'>;
  sessions: { readonly active: number };
  /** Only engines already built are asked (building the local engine loads models). */
  engines: { get(name: EngineName): Engine };
  sip?: { readonly activeCalls: number; readonly maxCalls: number } | null;
}

export function readLoad(src: LoadSources): Load {
  const load: Load = { active_calls: src.sessions.active, max_calls: src.config.limits.maxSessions };
  if (src.sip) {
    load.sip_calls = src.sip.activeCalls;
    load.sip_max_calls = src.sip.maxCalls;
  }
  // the default engine was built at listen(); a local engine there says how many sessions it admits
  if (src.config.engine === 'local') {
    try {
      const engine = src.engines.get('local');
      if (hasAdmission(engine)) load.offline_capacity = engine.capacity();
    } catch {
      /* not registered: nothing to report */
    }
  }
  return load;
}

/** No room for one more call: the session cap, the SIP door's cap, or the offline engine's admission. */
export function isFull(load: Load): boolean {
  if (load.active_calls >= load.max_calls) return true;
  if (load.sip_calls !== undefined && load.sip_max_calls !== undefined && load.sip_calls >= load.sip_max_calls) return true;
  const oc = load.offline_capacity;
  return oc !== undefined && oc.max !== null && oc.active + oc.reserved >= oc.max;
}

/** The `X-Parley-Load` header value of an OPTIONS answer: `calls=3;max=200;sip=2/100;offline=1/8`. */
export function loadHeader(load: Load): string {
  let v = `calls=${load.active_calls};max=${load.max_calls}`;
  if (load.sip_calls !== undefined) v += `;sip=${load.sip_calls}/${load.sip_max_calls ?? 0}`;
  const oc = load.offline_capacity;
  if (oc) v += `;offline=${oc.active + oc.reserved}/${oc.max ?? 'none'}`;
  return v;
}
