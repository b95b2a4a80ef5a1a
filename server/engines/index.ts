/**
 * server/engines: the Engine seam and the registry of engines.
 *
 * To add an engine: write `server/engines/<name>/index.ts` exporting a factory
 * `(deps: EngineDeps) => Engine`, and put it in BUILTIN_ENGINES below (one line). Embedders and tests
 * add engines without touching Parley: `registerEngine(name, factory)` (process-wide), `buildApp(config,
 * { engines: { name: factory } })` or `registry.register(name, factory)`; a session opens on it with
 * `sessions.open({ engine: name, … })`. `EngineName` is open (any string) for that reason.
 */
import { EngineError } from '../errors.ts';
import type { Engine, EngineDeps, EngineFactory, EngineName } from './types.ts';
import { createOpenAIEngine } from './openai/index.ts';
import { createCascadeEngine } from './cascade/index.ts';
import { createLocalEngine } from './local/index.ts';

export type {
  Engine,
  EngineName,
  EngineOpenOptions,
  EngineCallbacks,
  EngineCloseInfo,
  IgnoredKind,
  IgnoredSpeech,
  EngineConnection,
  EngineDeps,
  EngineFactory,
} from './types.ts';
export { EngineError } from '../errors.ts';
export { createOpenAIEngine } from './openai/index.ts';
export { createCascadeEngine, CascadeEngine } from './cascade/index.ts';
export { createLocalEngine, LocalEngine } from './local/index.ts';
export { AdmissionGate, CapacityError, admitOrThrow, admitSession, hasAdmission } from './admission.ts';
export type { Admission, AdmissionControl, EngineCapacity } from './admission.ts';

/** The engines shipped with Parley. */
export const BUILTIN_ENGINES: Readonly<Record<'openai' | 'cascade' | 'local', EngineFactory>> = {
  openai: createOpenAIEngine,
  cascade: createCascadeEngine,
  local: (deps) => createLocalEngine(deps),
};

const extraEngines = new Map<EngineName, EngineFactory>();

/** Process-wide registration (an alternative to editing BUILTIN_ENGINES). */
export function registerEngine(name: EngineName, factory: EngineFactory): void {
  extraEngines.set(name, factory);
}

/** One per app: resolves engine names to engine instances (created once, lazily). */
export class EngineRegistry {
  readonly #deps: EngineDeps;
  readonly #factories = new Map<EngineName, EngineFactory>();
  readonly #instances = new Map<EngineName, Engine>();

  constructor(deps: EngineDeps, overrides: Partial<Record<EngineName, EngineFactory>> = {}) {
    this.#deps = deps;
    for (const [name, f] of Object.entries(BUILTIN_ENGINES)) this.#factories.set(name, f);
    for (const [name, f] of extraEngines) this.#factories.set(name, f);
    for (const [name, f] of Object.entries(overrides)) {
      if (f) this.#factories.set(name, f);
    }
  }

  register(name: EngineName, factory: EngineFactory): void {
    this.#factories.set(name, factory);
    this.#instances.delete(name);
  }

  has(name: EngineName): boolean {
    return this.#factories.has(name);
  }

  /** The engine called `name`; throws EngineError ENGINE_UNAVAILABLE when none is registered. */
  get(name: EngineName): Engine {
    const existing = this.#instances.get(name);
    if (existing) return existing;
    const factory = this.#factories.get(name);
    if (!factory) {
      throw new EngineError('ENGINE_UNAVAILABLE', `The '${name}' engine is not available in this build.`, {
        retryable: false,
        fallbackable: false,
      });
    }
    const engine = factory({ ...this.#deps, log: this.#deps.log.child({ engine: name }) });
    this.#instances.set(name, engine);
    return engine;
  }
}
