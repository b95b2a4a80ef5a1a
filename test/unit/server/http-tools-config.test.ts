/** `tools.http` in the PARLEY_CONFIG file: what is accepted, and each bad entry's start-up error naming the setting. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import { createToolRegistry } from '../../../server/tools/index.ts';

const ENV = { PARLEY_API_KEYS: 'pk_test_http_tools_0123456789', BACKEND_TOKEN: 'tok-s3cret', TOOL_SECRET: 'whsec_tool' };

const tool = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'lookup_order',
  description: 'Look up an order by its number.',
  parameters: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] },
  url: 'https://backend.example.com/tools/lookup?v=1',
  secret: 'whsec_inline',
  ...over,
});

function configError(file: unknown, env: Record<string, string> = ENV): ConfigError {
  try {
    loadConfig(env, file);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted it');
}

describe('tools.http config', () => {
  it('reads a tool with defaults, env references in headers and secret, and registers it next to the built-ins', () => {
    const cfg = loadConfig(ENV, {
      tools: {
        http: [
          tool({ headers: { Authorization: 'Bearer ${env:BACKEND_TOKEN}', 'X-Tenant': 'acme' }, secret: '${env:TOOL_SECRET}', timeoutMs: 2500 }),
          { name: 'weather', description: 'Weather', url: 'http://127.0.0.1:9/w', method: 'get', secret: 'x' },
        ],
      },
    });
    expect(cfg.tools.http).toEqual([
      {
        name: 'lookup_order',
        description: 'Look up an order by its number.',
        parameters: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] },
        url: 'https://backend.example.com/tools/lookup?v=1',
        method: 'POST',
        headers: { Authorization: 'Bearer tok-s3cret', 'X-Tenant': 'acme' },
        timeoutMs: 2500,
        secret: 'whsec_tool',
        maxResponseBytes: 65536,
      },
      {
        name: 'weather',
        description: 'Weather',
        parameters: { type: 'object', properties: {} },
        url: 'http://127.0.0.1:9/w',
        method: 'GET',
        headers: {},
        timeoutMs: null,
        secret: 'x',
        maxResponseBytes: 65536,
      },
    ]);
    const reg = createToolRegistry(cfg.tools);
    expect(reg.list().map((t) => t.name)).toEqual(['get_current_time', 'lookup_order', 'weather']);
    expect(reg.get('lookup_order')!.timeoutMs).toBe(2500);
    expect(reg.get('weather')!.timeoutMs).toBeUndefined(); // the registry's default (tools.timeoutMs)
    expect(reg.realtimeTools().find((t) => t.name === 'lookup_order')).toEqual({
      type: 'function',
      name: 'lookup_order',
      description: 'Look up an order by its number.',
      parameters: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] },
    });
    // no tools.http: none
    expect(loadConfig(ENV).tools.http).toEqual([]);
  });

  it('signs with PARLEY_WEBHOOK_SECRET (env, or webhooks.secret in the file) when a tool has no secret of its own', () => {
    const { secret: _s, ...noSecret } = tool();
    const hooks = 'whsec_hooks_0123456789';
    expect(loadConfig({ ...ENV, PARLEY_WEBHOOK_SECRET: hooks }, { tools: { http: [noSecret] } }).tools.http![0]!.secret).toBe(hooks);
    const cfg = loadConfig(ENV, { webhooks: { secret: 'whsec_from_the_file_0123' }, tools: { http: [noSecret] } });
    expect(cfg.tools.http![0]!.secret).toBe('whsec_from_the_file_0123');
    expect(cfg.tools.http![0]!.secret).toBe(cfg.webhooks.secret); // the very secret the webhooks sign with
    expect(loadConfig({ ...ENV, PARLEY_WEBHOOK_SECRET: hooks }, { tools: { http: [tool()] } }).tools.http![0]!.secret).toBe('whsec_inline');
    expect(configError({ tools: { http: [noSecret] } }).setting).toBe('tools.http[0].secret');
  });

  it('bad entries are start-up errors naming the setting', () => {
    const cases: Array<[unknown, string]> = [
      [{ tools: { http: {} } }, 'tools.http'],
      [{ tools: { http: ['x'] } }, 'tools.http[0]'],
      [{ tools: { http: [tool(), tool({ url: 'ftp://backend.example.com/x' })] } }, 'tools.http[1].url'],
      [{ tools: { http: [tool({ url: 'not a url' })] } }, 'tools.http[0].url'],
      [{ tools: { http: [tool({ url: 'https://user:pw@backend.example.com/x' })] } }, 'tools.http[0].url'],
      [{ tools: { http: [tool({ url: 'https://backend.example.com/x#frag' })] } }, 'tools.http[0].url'],
      [{ tools: { http: [tool({ url: 42 })] } }, 'tools.http[0].url'],
      [{ tools: { http: [tool({ name: 'has space' })] } }, 'tools.http[0].name'],
      [{ tools: { http: [tool({ description: '' })] } }, 'tools.http[0].description'],
      [{ tools: { http: [tool(), tool({ name: 'other' }), tool({ url: 'https://b.example.com/x' })] } }, 'tools.http[2].name'],
      [{ tools: { http: [tool({ name: 'get_current_time' })] } }, 'tools.http[0].name'],
      [{ tools: { http: [tool({ name: 'end_call' })] } }, 'tools.http[0].name'],
      [{ tools: { http: [tool({ method: 'DELETE' })] } }, 'tools.http[0].method'],
      [{ tools: { http: [tool({ methd: 'GET' })] } }, 'tools.http[0].methd'],
      [{ tools: { http: [tool({ parameters: 'object' })] } }, 'tools.http[0].parameters'],
      [{ tools: { http: [tool({ parameters: { type: 'string' } })] } }, 'tools.http[0].parameters.type'],
      [{ tools: { http: [tool({ parameters: { type: 'object', properties: { a: { type: 'strng' } } } })] } }, 'tools.http[0].parameters.properties.a.type'],
      [{ tools: { http: [tool({ parameters: { type: 'object', properties: { a: 'string' } } })] } }, 'tools.http[0].parameters.properties.a'],
      [{ tools: { http: [tool({ parameters: { type: 'object', properties: {}, required: ['a'] } })] } }, 'tools.http[0].parameters.required'],
      [{ tools: { http: [tool({ parameters: { type: 'object', required: 'a' } })] } }, 'tools.http[0].parameters.required'],
      [{ tools: { http: [tool({ parameters: { type: 'object', properties: { a: { type: 'array', items: { enum: [] } } } } })] } }, 'tools.http[0].parameters.properties.a.items.enum'],
      [{ tools: { http: [tool({ headers: { Authorization: 'Bearer ${env:NOT_SET}' } })] } }, 'tools.http[0].headers.Authorization'],
      [{ tools: { http: [tool({ headers: { Authorization: 'Bearer ${NOT_AN_ENV_REF}' } })] } }, 'tools.http[0].headers.Authorization'],
      [{ tools: { http: [tool({ headers: { 'Content-Type': 'text/plain' } })] } }, 'tools.http[0].headers.Content-Type'],
      [{ tools: { http: [tool({ headers: { 'parley-signature': 'x' } })] } }, 'tools.http[0].headers.parley-signature'],
      [{ tools: { http: [tool({ headers: { 'Bad Header': 'x' } })] } }, 'tools.http[0].headers.Bad Header'],
      [{ tools: { http: [tool({ headers: { 'X-A': 1 } })] } }, 'tools.http[0].headers.X-A'],
      [{ tools: { http: [tool({ headers: { 'X-A': 'a', 'x-a': 'b' } })] } }, 'tools.http[0].headers.x-a'],
      [{ tools: { http: [tool({ secret: '${env:NOT_SET}' })] } }, 'tools.http[0].secret'],
      [{ tools: { http: [tool({ secret: '' })] } }, 'tools.http[0].secret'],
      [{ tools: { http: [tool({ timeoutMs: 0 })] } }, 'tools.http[0].timeoutMs'],
      [{ tools: { http: [tool({ timeoutMs: '100' })] } }, 'tools.http[0].timeoutMs'],
      [{ tools: { http: [tool({ maxResponseBytes: 2 * 1024 * 1024 })] } }, 'tools.http[0].maxResponseBytes'],
    ];
    for (const [file, setting] of cases) {
      const err = configError(file);
      expect({ file, setting: err.setting, code: err.code }).toEqual({ file, setting, code: 'CONFIG_INVALID' });
    }
  });

  it('a secret never appears in an error message', () => {
    const err = configError({ tools: { http: [tool({ headers: { Authorization: 'Bearer ${env:BACKEND_TOKEN}\n' } })] } });
    expect(err.setting).toBe('tools.http[0].headers.Authorization');
    expect(err.message).not.toContain('tok-s3cret');
  });
});
