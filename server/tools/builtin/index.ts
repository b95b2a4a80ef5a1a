import type { ToolDefinition } from '../types.ts';
import { getCurrentTime } from './get-current-time.ts';

/** Built-in server tools by name; `PARLEY_TOOLS` picks which are enabled. */
export const BUILTIN_TOOLS: Record<string, ToolDefinition> = {
  [getCurrentTime.name]: getCurrentTime,
};
