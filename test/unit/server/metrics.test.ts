import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Counter, Gauge, Histogram, Metrics } from '../../../server/metrics.ts';

describe('metrics on prom-client', () => {
  it('renders every metric through a prom-client registry, with today\'s names and labels', async () => {
    const m = new Metrics();
    expect(m.registry).toBeInstanceOf(Registry);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    m.sessionsTotal.inc('ws', 'openai');
    m.sessionsTotal.inc('ws', 'openai');
    m.sessionsTotal.inc('sip', 'local');
    m.eventsIn.inc('input_audio_buffer.append');
    m.toolCalls.inc('get_current_time', 'ok');
    m.toolLatency.observe(0.02, 'get_current_time');
    m.toolLatency.observe(3, 'get_current_time');
    let active = 4;
    m.sessionsActive.collect(() => active);
    const text = await m.render();
    expect(text).toMatch(/^# HELP parley_sessions_total Sessions opened, by door \(leg\) and engine$/m);
    expect(text).toMatch(/^# TYPE parley_sessions_total counter$/m);
    expect(text).toMatch(/^parley_sessions_total\{leg="ws",engine="openai"\} 2$/m);
    expect(text).toMatch(/^parley_sessions_total\{leg="sip",engine="local"\} 1$/m);
    expect(text).toMatch(/^parley_client_events_total\{type="input_audio_buffer\.append"\} 1$/m);
    expect(text).toMatch(/^parley_sessions_active 4$/m);
    expect(text).toMatch(/^parley_client_secrets_total 0$/m); // a counter without labels shows 0 before its first event
    expect(text).toMatch(/^# TYPE parley_tool_call_duration_seconds histogram$/m);
    expect(text).toMatch(/^parley_tool_call_duration_seconds_bucket\{le="0\.05",tool="get_current_time"\} 1$/m);
    expect(text).toMatch(/^parley_tool_call_duration_seconds_bucket\{le="\+Inf",tool="get_current_time"\} 2$/m);
    expect(text).toMatch(/^parley_tool_call_duration_seconds_count\{tool="get_current_time"\} 2$/m);
    expect(text).toMatch(/^parley_tool_call_duration_seconds_sum\{tool="get_current_time"\} 3\.02$/m);
    // counts keep going between scrapes; gauges are read at each scrape
    m.sessionsTotal.inc('ws', 'openai');
    active = 0;
    const again = await m.render();
    expect(again).toMatch(/^parley_sessions_total\{leg="ws",engine="openai"\} 3$/m);
    expect(again).toMatch(/^parley_sessions_active 0$/m);
  });

  it('keeps the synchronous reads callers use (get, count) and escapes label values', async () => {
    const m = new Metrics();
    m.authFailures.inc('missing');
    m.authFailures.add(2, 'invalid');
    expect(m.authFailures.get({ reason: 'missing' })).toBe(1);
    expect(m.authFailures.get({ reason: 'invalid' })).toBe(2);
    expect(m.authFailures.get({ reason: 'expired' })).toBe(0);
    m.engineSwitches.inc('openai', 'cascade', 'fallback');
    expect(m.engineSwitches.get({ from: 'openai', to: 'cascade', reason: 'fallback' })).toBe(1);
    m.toolLatency.observe(0.1, 'x');
    expect(m.toolLatency.count({ tool: 'x' })).toBe(1);
    m.invalidEvents.inc('a "quoted"\nback\\slash');
    expect(await m.render()).toContain('parley_invalid_client_events_total{code="a \\"quoted\\"\\nback\\\\slash"} 1');
  });

  it('takes metrics of other modules (the SIP door\'s gauges), a second one of the same name replacing the first', async () => {
    const m = new Metrics();
    const g = m.register(new Gauge('parley_sip_calls_active', 'SIP calls up now', []));
    g.collect(() => 7);
    expect(await m.render()).toMatch(/^parley_sip_calls_active 7$/m);
    m.register(new Gauge('parley_sip_calls_active', 'SIP calls up now', [])).set(2);
    const text = await m.render();
    expect(text).toMatch(/^parley_sip_calls_active 2$/m);
    expect(text.match(/^parley_sip_calls_active /gm)).toHaveLength(1);
    const c = m.register(new Counter('parley_test_total', 'a test counter', ['a', 'b']));
    c.inc('1', '2');
    const h = m.register(new Histogram('parley_test_seconds', 'a test histogram', [], [1]));
    h.observe(0.5);
    const t2 = await m.render();
    expect(t2).toMatch(/^parley_test_total\{a="1",b="2"\} 1$/m);
    expect(t2).toMatch(/^parley_test_seconds_bucket\{le="1"\} 1$/m);
  });
});
