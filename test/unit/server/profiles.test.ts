/**
 * Agent profiles (server/config/profiles.ts, server/profiles/): route matching, the plan a profile gives a
 * session, and the start-up errors that name the bad setting (issue 11, "Bad input").
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ConfigError } from '../../../server/errors.ts';
import { loadConfig } from '../../../server/config.ts';
import { buildApp } from '../../../server/app.ts';
import { Profiles, pickProfile, uriUserPart, firstMessageInstructions, checkAnswerShape } from '../../../server/profiles/index.ts';
import { DemoAgent } from '../../../server/agent/index.ts';
import { EngineRegistry } from '../../../server/engines/index.ts';
import { createToolRegistry } from '../../../server/tools/index.ts';
import { Metrics } from '../../../server/metrics.ts';

const ENV = { PARLEY_API_KEYS: 'pk_profiles_unit_key_0123456789', PARLEY_DEMO: 'off', LOG_LEVEL: 'silent' };
const log = pino({ level: 'silent' });

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

async function buildError(file: unknown): Promise<ConfigError> {
  try {
    const app = await buildApp(loadConfig(ENV, file));
    await app.close();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected buildApp to throw a ConfigError');
}

const PROFILES = { sales: { instructions: 'Sell.' }, support: { instructions: 'Help.' }, carrier: {}, default: { instructions: 'Hello.' } };

describe('routes', () => {
  const cfg = loadConfig(ENV, {
    profiles: PROFILES,
    routes: [
      { door: 'sip', dialled: { prefix: '+1800' }, profile: 'sales' },
      { caller: { regex: '^\\+44' }, profile: 'support' },
      { dialled: '2000', profile: 'support' },
      { trunk: { cidr: ['10.1.0.0/16', '192.0.2.7'] }, profile: 'carrier' },
      { door: 'ws', profile: 'support' },
    ],
  });

  it('first match wins: dialled prefix, caller regex, exact string, trunk CIDR, door; then the profile named default', () => {
    expect(pickProfile(cfg, { door: 'sip', dialled: '+18005550100', caller: '+4420' })).toBe('sales');
    expect(pickProfile(cfg, { door: 'media-stream', dialled: '+18005550100' })).toBe('default'); // door: sip only
    expect(pickProfile(cfg, { door: 'sip', dialled: '+3312', caller: '+442071234567' })).toBe('support');
    expect(pickProfile(cfg, { door: 'sip', dialled: '2000' })).toBe('support');
    expect(pickProfile(cfg, { door: 'sip', dialled: '20001' })).toBe('default');
    expect(pickProfile(cfg, { door: 'sip', dialled: '999', trunk: '10.1.200.3' })).toBe('carrier');
    expect(pickProfile(cfg, { door: 'sip', dialled: '999', trunk: '192.0.2.7' })).toBe('carrier');
    expect(pickProfile(cfg, { door: 'sip', dialled: '999', trunk: '192.0.2.8' })).toBe('default');
    expect(pickProfile(cfg, { door: 'ws' })).toBe('support');
  });

  it('a fact the door does not know never matches; without a default profile nothing is chosen', () => {
    const c = loadConfig(ENV, { profiles: { sales: {} }, routes: [{ dialled: { regex: '.*' }, profile: 'sales' }] });
    expect(pickProfile(c, { door: 'ws' })).toBeNull();
    expect(pickProfile(c, { door: 'sip', dialled: '1' })).toBe('sales');
    expect(pickProfile(loadConfig(ENV), { door: 'sip', dialled: '1' })).toBeNull();
  });

  it('the caller is the From URI user part', () => {
    expect(uriUserPart('"Alice" <sip:+15551234@pbx.example.com;user=phone>;tag=1')).toBe('+15551234');
    expect(uriUserPart('sip:uac@127.0.0.1:5080')).toBe('uac');
    expect(uriUserPart('tel:+4420%207')).toBe('+4420 7');
    expect(uriUserPart('sip:pbx.example.com')).toBe('sip:pbx.example.com');
  });
});

describe('start-up errors name the setting', () => {
  it('a route regex that does not compile', () => {
    const e = configError(() => loadConfig(ENV, { profiles: PROFILES, routes: [{ dialled: { regex: '(+1' }, profile: 'sales' }] }));
    expect(e.setting).toBe('routes[0].dialled.regex (PARLEY_CONFIG)');
    expect(e.message).toMatch(/does not compile/);
  });

  it('a route naming an unknown profile', () => {
    const e = configError(() => loadConfig(ENV, { profiles: PROFILES, routes: [{ dialled: '1', profile: 'sales' }, { caller: '2', profile: 'salse' }] }));
    expect(e.setting).toBe('routes[1].profile (PARLEY_CONFIG)');
    expect(e.message).toMatch(/unknown profile "salse"/);
  });

  it('an incoming-call URL that is not an http(s) URL, and one without the signing secret', () => {
    expect(configError(() => loadConfig({ ...ENV, PARLEY_WEBHOOK_SECRET: 'whsec_profiles_unit_0123' }, { incomingCall: { url: 'not a url' } })).setting).toBe('incomingCall.url (PARLEY_CONFIG)');
    expect(configError(() => loadConfig({ ...ENV, PARLEY_WEBHOOK_SECRET: 'whsec_profiles_unit_0123' }, { incomingCall: { url: 'ftp://backend/x' } })).setting).toBe('incomingCall.url (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { incomingCall: { url: 'https://backend.example/incoming' } })).setting).toBe('PARLEY_WEBHOOK_SECRET');
    const ok = loadConfig({ ...ENV, PARLEY_WEBHOOK_SECRET: 'whsec_profiles_unit_0123' }, { incomingCall: { url: 'https://backend.example/incoming', headers: ['X-Customer-Id'] } });
    expect(ok.incomingCall).toEqual({ url: 'https://backend.example/incoming', timeoutMs: 1500, headers: ['x-customer-id'], secret: 'whsec_profiles_unit_0123' });
  });

  it('bad profile fields: a voice not allowed, an unknown field, a bad turn_detection, maxCallS, recording, an openai engine without a key', () => {
    expect(configError(() => loadConfig(ENV, { profiles: { a: { voice: 'robot' } } })).setting).toBe('profiles.a.voice (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { instruction: 'x' } } })).setting).toBe('profiles.a.instruction (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { turn_detection: { type: 'server_vad', threshold: 7 } } } })).setting).toBe('profiles.a.turn_detection (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { maxCallS: 0 } } })).setting).toBe('profiles.a.maxCallS (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { recording: 'yes' } } })).setting).toBe('profiles.a.recording (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { engine: 'openai' } } })).setting).toBe('profiles.a.engine (PARLEY_CONFIG)');
    expect(configError(() => loadConfig(ENV, { profiles: { a: { tools: ['get_current_time', 3] } } })).setting).toBe('profiles.a.tools[1] (PARLEY_CONFIG)');
  });

  it('a profile that names an unknown tool: buildApp refuses (the tool registry is known only there)', async () => {
    const e = await buildError({ profiles: { sales: { tools: ['get_current_time', 'lookup_ordr'] } } });
    expect(e.setting).toBe('profiles.sales.tools[1] (PARLEY_CONFIG)');
    expect(e.message).toMatch(/unknown tool "lookup_ordr"/);
    expect(e.message).toMatch(/end_call/); // the SIP call-control tools are known names
  });

  it('a profile that names an engine that is not registered', async () => {
    const e = await buildError({ profiles: { a: { engine: 'nowhere' } } });
    expect(e.setting).toBe('profiles.a.engine (PARLEY_CONFIG)');
  });
});

describe('the plan a profile gives a session', () => {
  const config = loadConfig(ENV, {
    profiles: {
      sales: {
        instructions: 'You sell.', voice: 'cedar', model: 'gpt-realtime-mini', turn_detection: { type: 'semantic_vad', eagerness: 'high' }, transcription: null,
        tools: ['get_current_time', 'end_call'], firstMessage: 'Hello, Acme sales.', maxCallS: 300, recording: 'stereo', metadata: { team: 'sales', tier: 2 },
      },
    },
  });
  const tools = createToolRegistry({ ...config.tools, enabled: [] }); // get_current_time not enabled for everyone
  const profiles = new Profiles({
    settings: config, check: { allowedVoices: config.session.allowedVoices, openaiKey: false, autoEngine: 'local' }, tools, engines: new EngineRegistry({ config, log, metrics: new Metrics() }), log,
  });

  it('maps every field', () => {
    const plan = profiles.plan('sales');
    expect(plan).toMatchObject({
      profile: 'sales',
      session: { type: 'realtime', instructions: 'You sell.', model: 'gpt-realtime-mini', audio: { output: { voice: 'cedar' }, input: { turn_detection: { type: 'semantic_vad', eagerness: 'high' }, transcription: null } } },
      toolNames: ['get_current_time', 'end_call'],
      firstMessage: 'Hello, Acme sales.',
      maxCallS: 300,
      recording: 'stereo',
      metadata: { team: 'sales', tier: '2' },
    });
    // a built-in the server does not enable for everyone comes with the profile's sessions
    expect(plan.tools.map((t) => t.name)).toEqual(['get_current_time']);
    // the profile's model is allowed like the default one
    expect(config.session.allowedModels).toContain('gpt-realtime-mini');
  });

  it('no profile: nothing changes', () => {
    expect(profiles.plan(null)).toEqual({ profile: null, session: undefined, engine: undefined, toolNames: undefined, tools: [], firstMessage: null, maxCallS: null, recording: undefined, metadata: {} });
  });

  it("an answer's overrides and metadata apply; bad ones throw naming the field", () => {
    const plan = profiles.plan('sales', { overrides: { instructions: 'VIP caller.', firstMessage: 'Welcome back!', metadata: { tier: 'gold' } }, metadata: { crm: '42' } });
    expect(plan.session?.instructions).toBe('VIP caller.');
    expect(plan.session?.audio?.output?.voice).toBe('cedar');
    expect(plan.firstMessage).toBe('Welcome back!');
    expect(plan.metadata).toEqual({ team: 'sales', tier: 'gold', crm: '42' });
    expect(() => profiles.plan('sales', { overrides: { voice: 'robot' } })).toThrow(/overrides\.voice/);
    expect(() => profiles.plan('sales', { overrides: { tools: ['nope'] } })).toThrow(/overrides\.tools\[0\]/);
    expect(() => profiles.plan('sales', { metadata: { x: { deep: 1 } as unknown as string } })).toThrow(/metadata\.x/);
  });

  it("the answer's outer shape is checked", () => {
    expect(checkAnswerShape('garbage')).toEqual({ status: 'error', detail: 'the answer is not a JSON object' });
    expect(checkAnswerShape({ profile: 3 })).toMatchObject({ status: 'error' });
    expect(checkAnswerShape(null)).toEqual({ status: 'ok', answer: null });
    expect(checkAnswerShape({ profile: 'x', extra: 1 })).toEqual({ status: 'ok', answer: { profile: 'x' } });
  });
});

describe('the first message on the local engine', () => {
  it('the demo agent says exactly the first message, even after the caller spoke', async () => {
    const agent = new DemoAgent();
    const say = async (messages: Array<{ role: 'system' | 'user'; content: string }>): Promise<string> => {
      let out = '';
      for await (const c of agent.stream({ messages, tools: [], signal: new AbortController().signal })) if (c.type === 'text') out += c.delta;
      return out;
    };
    const text = 'Thanks for calling Acme: how can I help, "today"?';
    expect(await say([{ role: 'system', content: firstMessageInstructions(text) }])).toBe(text);
    expect(await say([{ role: 'system', content: firstMessageInstructions(text) }, { role: 'user', content: 'hello' }])).toBe(text);
    // ordinary instructions: the usual rules
    expect(await say([{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: 'hello' }])).toBe('Hello! How can I help you today?');
  });
});
