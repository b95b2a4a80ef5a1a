import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createToolRegistry, getCurrentTime, ToolRegistry, type ToolDefinition } from '../../../server/tools/index.ts';
import { ToolError, ConfigError } from '../../../server/errors.ts';

const log = pino({ level: 'silent' });
const ctx = { sessionId: 'sess_test', log };

describe('tool registry', () => {
  it('runs a tool and stringifies its result', async () => {
    const reg = new ToolRegistry({ defaultTimeoutMs: 1000 }).register(getCurrentTime);
    const r = await reg.run('get_current_time', '{"timezone":"Europe/Paris"}', ctx);
    expect(r.ok).toBe(true);
    const out = JSON.parse(r.output) as { iso: string; timezone: string; local: string };
    expect(out.timezone).toBe('Europe/Paris');
    expect(Math.abs(Date.parse(out.iso) - Date.now())).toBeLessThan(5000);
    expect(reg.realtimeTools()).toEqual([{ type: 'function', name: 'get_current_time', description: getCurrentTime.description, parameters: getCurrentTime.parameters }]);
  });

  it('turns bad arguments, throws, timeouts and unknown tools into error strings', async () => {
    let aborted = false;
    const slow: ToolDefinition = {
      name: 'slow', description: 's', parameters: { type: 'object' }, timeoutMs: 50,
      handler: (_a, c) => new Promise((resolve) => {
        c.signal.addEventListener('abort', () => {
          aborted = true;
          resolve('late');
        });
      }),
    };
    const reg = new ToolRegistry({ defaultTimeoutMs: 1000 }).register(getCurrentTime).register(slow);
    const bad = await reg.run('get_current_time', '{nope', ctx);
    expect(bad).toMatchObject({ ok: false, errorCode: 'TOOL_BAD_ARGUMENTS' });
    const tz = await reg.run('get_current_time', '{"timezone":"Mars/Olympus"}', ctx);
    expect(tz).toMatchObject({ ok: false, errorCode: 'TOOL_FAILED' });
    expect(JSON.parse(tz.output).error).toContain('Mars/Olympus');
    const t = await reg.run('slow', '', ctx);
    expect(t).toMatchObject({ ok: false, errorCode: 'TOOL_TIMEOUT' });
    expect(aborted).toBe(true);
    expect((await reg.run('missing', '{}', ctx)).errorCode).toBe('TOOL_UNKNOWN');
  });

  it('rejects invalid and duplicate definitions; per-session tools layer over global ones', () => {
    const reg = new ToolRegistry({ defaultTimeoutMs: 1000 }).register(getCurrentTime);
    expect(() => reg.register(getCurrentTime)).toThrow(ToolError);
    expect(() => reg.register({ ...getCurrentTime, name: 'bad name' })).toThrow(ToolError);
    const child = reg.extend([{ name: 'hang_up', description: 'end the call', parameters: { type: 'object' }, handler: () => 'bye' }]);
    expect(child.list().map((t) => t.name).sort()).toEqual(['get_current_time', 'hang_up']);
    expect(reg.has('hang_up')).toBe(false);
  });

  it('builds the app registry from PARLEY_TOOLS and refuses unknown names', () => {
    expect(createToolRegistry({ enabled: ['get_current_time'], timeoutMs: 1000, events: 'relay' }).list()).toHaveLength(1);
    expect(() => createToolRegistry({ enabled: ['teleport'], timeoutMs: 1000, events: 'relay' })).toThrow(ConfigError);
  });
});
