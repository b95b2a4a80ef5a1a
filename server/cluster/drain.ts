/**
 * Drain (issue 13, docs/notes/cluster-drain.md): the instance stops taking work and finishes what it has.
 *
 * Started by SIGTERM (server/main.ts) or `POST /v1/admin/drain` (server/routes/health.ts). From then on:
 *  - new WS sessions and media streams are refused before the upgrade (503: the session manager stops accepting);
 *  - the SIP door answers OPTIONS 503 and new INVITEs 503 + Retry-After (sip/server.ts `drain()`);
 *  - `/readyz` answers 503, so HAProxy and Kubernetes take the instance out of rotation;
 *  - live calls and sessions go on, up to `limits.drainLimitS` (PARLEY_DRAIN_LIMIT_S);
 * and `idle()` resolves once the last of them has ended (or the limit is reached), for the process to close.
 *
 * The drain owns the load report too: `load()` for `/readyz`, and the SIP door's OPTIONS answer.
 */
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ParleyConfig } from '../config.ts';
import type { Engine, EngineName } from '../engines/index.ts';
import type { SipServer } from '../../sip/index.ts';
import { isFull, loadHeader, readLoad, type Load } from './load.ts';

export type DrainSource = 'SIGTERM' | 'SIGINT' | 'admin' | (string & {});

/** How often idle() looks at the counts (a timer while draining, not a per-call hook). */
const IDLE_POLL_MS = 100;

export interface DrainDeps {
  config: Pick<ParleyConfig, 'limits' | 'engine'>;
  sessions: { readonly active: number; stopAccepting(): void };
  engines: { get(name: EngineName): Engine };
  log: Logger;
}

export class Drain {
  readonly #deps: DrainDeps;
  #sip: SipServer | null = null;
  #draining = false;
  #startedAt = 0;
  #source: DrainSource | null = null;
  readonly #listeners: Array<(source: DrainSource) => void> = [];

  constructor(deps: DrainDeps) {
    this.#deps = deps;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get source(): DrainSource | null {
    return this.#source;
  }

  /** Calls and sessions still live: sessions (every door's), plus SIP calls not (yet) bound to one. */
  get active(): number {
    return Math.max(this.#deps.sessions.active, this.#sip?.activeCalls ?? 0);
  }

  /** The SIP door, once it has started: its OPTIONS answer carries the load; drained at once if the drain began first. */
  attachSip(sip: SipServer): void {
    this.#sip = sip;
    sip.setLoadReport(() => {
      const load = this.load();
      return { full: isFull(load), header: loadHeader(load) };
    });
    if (this.#draining) sip.drain();
  }

  load(): Load {
    return readLoad({ config: this.#deps.config, sessions: this.#deps.sessions, engines: this.#deps.engines, sip: this.#sip });
  }

  /** Called once when a drain starts, whoever started it (server/main.ts waits for idle() and exits). */
  onStart(fn: (source: DrainSource) => void): void {
    this.#listeners.push(fn);
    if (this.#draining && this.#source !== null) fn(this.#source);
  }

  /** Starts the drain (idempotent: a second start keeps the first's time and source). */
  start(source: DrainSource): { draining: true; active: number } {
    if (!this.#draining) {
      this.#draining = true;
      this.#source = source;
      this.#startedAt = Date.now();
      this.#deps.sessions.stopAccepting();
      this.#sip?.drain();
      this.#deps.log.info({ source, active: this.active, limitS: this.#deps.config.limits.drainLimitS }, 'draining: no new calls or sessions, live ones go on');
      for (const fn of this.#listeners) {
        try {
          fn(source);
        } catch (err) {
          this.#deps.log.error({ err }, 'drain listener failed');
        }
      }
    }
    return { draining: true, active: this.active };
  }

  /**
   * Resolves 'idle' when no call or session is left, 'limit' when `limitMs` (default the drain limit) has
   * passed since the drain started with some still live.
   */
  idle(limitMs: number = this.#deps.config.limits.drainLimitS * 1000): Promise<'idle' | 'limit'> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (this.active === 0) {
          resolve('idle');
          return true;
        }
        if (Date.now() - this.#startedAt >= limitMs) {
          resolve('limit');
          return true;
        }
        return false;
      };
      if (check()) return;
      const t = setInterval(() => {
        if (check()) clearInterval(t);
      }, IDLE_POLL_MS);
    });
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The instance's drain and load report (server/cluster/drain.ts), decorated by registerHealthRoutes. */
    parleyDrain: Drain;
  }
}

/** The app's Drain (decorated when the health routes are registered). */
export function drainOf(app: FastifyInstance): Drain {
  return app.parleyDrain;
}
