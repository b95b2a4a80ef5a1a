/** server/tools: server-side tools (registry, definition, built-ins). */
import { ConfigError } from '../errors.ts';
import type { ToolsConfig } from '../config.ts';
import { BUILTIN_TOOLS } from './builtin/index.ts';
import { ToolRegistry } from './registry.ts';
import { createHttpTool } from './http-tool.ts';

export type { ToolDefinition, ToolContext, ToolCallFacts, ToolRunResult, JSONSchema } from './types.ts';
export { ToolRegistry, toRealtimeTool, checkToolDefinition } from './registry.ts';
export { BUILTIN_TOOLS } from './builtin/index.ts';
export { getCurrentTime } from './builtin/get-current-time.ts';
export { createHttpTool, callJson, HTTP_TOOL_MAX_REDIRECTS } from './http-tool.ts';

/** The app's registry: the built-in tools config.enabled names, and the HTTP tools of `tools.http`. */
export function createToolRegistry(config: ToolsConfig): ToolRegistry {
  const reg = new ToolRegistry({ defaultTimeoutMs: config.timeoutMs });
  for (const name of config.enabled) {
    const def = BUILTIN_TOOLS[name];
    if (!def) throw new ConfigError('PARLEY_TOOLS', `unknown built-in tool '${name}' (known: ${Object.keys(BUILTIN_TOOLS).join(', ')})`);
    reg.register(def);
  }
  // names were checked by the config reader (unique, not a built-in's): register cannot clash here
  for (const http of config.http ?? []) reg.register(createHttpTool(http));
  return reg;
}
