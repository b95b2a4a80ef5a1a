import { ToolError } from '../errors.ts';
import type { FunctionTool } from '../protocol/index.ts';
import type { ToolContext, ToolDefinition, ToolRunResult } from './types.ts';

const NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

export function checkToolDefinition(def: ToolDefinition): void {
  if (typeof def.name !== 'string' || !NAME_RE.test(def.name)) {
    throw new ToolError('TOOL_INVALID', `Tool name ${JSON.stringify(def.name)} must match ${NAME_RE}`);
  }
  if (typeof def.handler !== 'function') throw new ToolError('TOOL_INVALID', `Tool '${def.name}' has no handler`);
  if (typeof def.parameters !== 'object' || def.parameters === null) {
    throw new ToolError('TOOL_INVALID', `Tool '${def.name}' needs a JSON schema in 'parameters'`);
  }
  if (def.timeoutMs !== undefined && !(Number.isFinite(def.timeoutMs) && def.timeoutMs > 0)) {
    throw new ToolError('TOOL_INVALID', `Tool '${def.name}': timeoutMs must be > 0`);
  }
}

/** The GA `session.tools` entry for a server tool. */
export function toRealtimeTool(def: ToolDefinition): FunctionTool {
  return { type: 'function', name: def.name, description: def.description, parameters: def.parameters };
}

export interface ToolRegistryOptions {
  /** Default per-call timeout (ms) for tools without their own. */
  defaultTimeoutMs: number;
}

/**
 * Server-side tools by name. One per app (global tools); a session layers its own
 * per-session tools over it with `extend()`.
 */
export class ToolRegistry {
  readonly #tools = new Map<string, ToolDefinition>();
  readonly defaultTimeoutMs: number;
  readonly #parent: ToolRegistry | null;
  /** Only these names are offered and run (a profile's tool list); null: all. */
  readonly #only: ReadonlySet<string> | null;

  constructor(opts: ToolRegistryOptions, parent: ToolRegistry | null = null, only: Iterable<string> | null = null) {
    this.defaultTimeoutMs = opts.defaultTimeoutMs;
    this.#parent = parent;
    this.#only = only === null ? null : new Set(only);
  }

  /** Adds a tool; throws ToolError TOOL_DUPLICATE / TOOL_INVALID. */
  register(def: ToolDefinition): this {
    checkToolDefinition(def);
    if (this.#tools.has(def.name)) throw new ToolError('TOOL_DUPLICATE', `Tool '${def.name}' is already registered`);
    this.#tools.set(def.name, def);
    return this;
  }

  unregister(name: string): boolean {
    return this.#tools.delete(name);
  }

  get(name: string): ToolDefinition | undefined {
    if (this.#only !== null && !this.#only.has(name)) return undefined;
    return this.#tools.get(name) ?? this.#parent?.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** All tools, own ones overriding the parent's of the same name. */
  list(): ToolDefinition[] {
    const out = new Map<string, ToolDefinition>();
    if (this.#parent) for (const t of this.#parent.list()) out.set(t.name, t);
    for (const t of this.#tools.values()) out.set(t.name, t);
    const all = [...out.values()];
    const only = this.#only;
    return only === null ? all : all.filter((t) => only.has(t.name));
  }

  /** GA `tools` entries for the session config. */
  realtimeTools(): FunctionTool[] {
    return this.list().map(toRealtimeTool);
  }

  /**
   * A child registry: this one's tools plus `extra` (per-session tools); with `only`, just the tools of
   * those names (an agent profile's tool list: the session offers and runs nothing else).
   */
  extend(extra: ToolDefinition[] = [], only: Iterable<string> | null = null): ToolRegistry {
    const child = new ToolRegistry({ defaultTimeoutMs: this.defaultTimeoutMs }, this, only);
    for (const t of extra) child.register(t);
    return child;
  }

  /**
   * Runs one call. Never throws: bad JSON arguments, a throwing handler, a timeout or an unknown
   * tool all give an error string for the model (`{"error": "..."}`).
   */
  async run(name: string, argsJson: string, ctx: Omit<ToolContext, 'signal'> & { signal?: AbortSignal }): Promise<ToolRunResult> {
    const start = performance.now();
    const done = (output: string, ok: boolean, errorCode?: string): ToolRunResult => {
      const r: ToolRunResult = { output, ok, durationMs: performance.now() - start };
      if (errorCode !== undefined) r.errorCode = errorCode;
      return r;
    };
    const def = this.get(name);
    if (!def) return done(JSON.stringify({ error: `Unknown tool '${name}'.` }), false, 'TOOL_UNKNOWN');
    let args: unknown;
    try {
      args = argsJson.trim() === '' ? {} : JSON.parse(argsJson);
    } catch {
      return done(JSON.stringify({ error: `The arguments for '${name}' are not valid JSON. Call the tool again with valid JSON arguments.` }), false, 'TOOL_BAD_ARGUMENTS');
    }
    const timeoutMs = def.timeoutMs ?? this.defaultTimeoutMs;
    const ac = new AbortController();
    const onOuterAbort = (): void => ac.abort();
    ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const toolCtx: ToolContext = { sessionId: ctx.sessionId, log: ctx.log, signal: ac.signal };
      if (ctx.callId !== undefined) toolCtx.callId = ctx.callId;
      if (ctx.call !== undefined) toolCtx.call = ctx.call;
      const result = await Promise.race([Promise.resolve().then(() => def.handler(args, toolCtx)), timeout]);
      if (result === 'timeout' && ac.signal.aborted === false) {
        ac.abort();
        return done(JSON.stringify({ error: `The tool '${name}' timed out after ${timeoutMs} ms.` }), false, 'TOOL_TIMEOUT');
      }
      const output = typeof result === 'string' ? result : result === undefined ? '' : JSON.stringify(result);
      return done(output, true);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      ctx.log.warn({ tool: name, err: { message: msg } }, 'tool handler failed');
      return done(JSON.stringify({ error: `The tool '${name}' failed: ${msg}` }), false, 'TOOL_FAILED');
    } finally {
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onOuterAbort);
    }
  }
}
