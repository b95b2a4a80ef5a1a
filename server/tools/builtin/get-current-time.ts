import type { ToolDefinition } from '../types.ts';

/**
 * The example server tool: the current date and time, optionally in an IANA time zone.
 * Copy this file to add a tool (see README "Adding a server tool").
 */
export const getCurrentTime: ToolDefinition = {
  name: 'get_current_time',
  description: 'Get the current date and time. Use it whenever the caller asks for the time or date.',
  parameters: {
    type: 'object',
    properties: {
      timezone: { type: 'string', description: "IANA time zone, e.g. 'Europe/Paris'. Default UTC." },
    },
    additionalProperties: false,
  },
  timeoutMs: 2000,
  handler(args) {
    const tz = typeof args === 'object' && args !== null && typeof (args as Record<string, unknown>)['timezone'] === 'string'
      ? ((args as Record<string, unknown>)['timezone'] as string)
      : 'UTC';
    const now = new Date();
    let local: string;
    try {
      local = new Intl.DateTimeFormat('en-GB', { timeZone: tz, dateStyle: 'full', timeStyle: 'long' }).format(now);
    } catch {
      throw new Error(`Unknown time zone '${tz}'`);
    }
    return { iso: now.toISOString(), timezone: tz, local };
  },
};
