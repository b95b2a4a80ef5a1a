/** server/tools: server-side tools (registry, definition, built-ins). */
import { ConfigError } from '../errors.ts';
import type { ToolsConfig } from '../config.ts';
import { BUILTIN_TOOLS } from './builtin/index.ts';
import { ToolRegistry } from './registry.ts';

export type { ToolDefinition, ToolContext, ToolRunResult, JSONSchema } from './types.ts';
export { ToolRegistry, toRealtimeTool, checkToolDefinition } from './registry.ts';
export { BUILTIN_TOOLS } from './builtin/index.ts';
export { getCurrentTime } from './builtin/get-current-time.ts';

/** The app's registry with the built-in tools config.enabled names. */
export function createToolRegistry(config: ToolsConfig): ToolRegistry {
  const reg = new ToolRegistry({ defaultTimeoutMs: config.timeoutMs });
  for (const name of config.enabled) {
    const def = BUILTIN_TOOLS[name];
    if (!def) throw new ConfigError('PARLEY_TOOLS', `unknown built-in tool '${name}' (known: ${Object.keys(BUILTIN_TOOLS).join(', ')})`);
    reg.register(def);
  }
  return reg;
}
