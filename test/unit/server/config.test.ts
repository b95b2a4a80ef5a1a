import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { settingOf } from '../../support/config.ts';

describe('loadConfig', () => {
  it('has sane defaults; auto picks local without an OpenAI key and openai with one', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.tls).toBeNull();
    expect(c.engine).toBe('local');
    expect(c.apiKeys).toEqual([]);
    expect(c.session.defaults.type).toBe('realtime');
    expect(c.session.defaults.audio?.input?.format).toEqual({ type: 'audio/pcm', rate: 24000 });
    expect(c.tools.enabled).toEqual(['get_current_time']);
    expect(c.demo.enabled).toBe(true);
    expect(c.limits.maxMessageBytes).toBe(16 * 1024 * 1024);
    expect(loadConfig({ OPENAI_API_KEY: 'sk-x' }).engine).toBe('openai');
    expect(loadConfig({ OPENAI_API_KEY: 'sk-x', PARLEY_ENGINE: 'local' }).engine).toBe('local');
  });

  it('names the setting in every error', () => {
    expect(settingOf(() => loadConfig({ PORT: 'eighty' }))).toBe('PORT');
    expect(settingOf(() => loadConfig({ PORT: '70000' }))).toBe('PORT');
    expect(settingOf(() => loadConfig({ PARLEY_ENGINE: 'gpt' }))).toBe('PARLEY_ENGINE');
    expect(settingOf(() => loadConfig({ PARLEY_ENGINE: 'openai' }))).toBe('PARLEY_ENGINE');
    expect(settingOf(() => loadConfig({ PARLEY_TLS_CERT: '/nope.pem' }))).toBe('PARLEY_TLS_KEY');
    expect(settingOf(() => loadConfig({ PARLEY_TLS_CERT: '/nope.pem', PARLEY_TLS_KEY: '/nope.key' }))).toBe('PARLEY_TLS_CERT');
    expect(settingOf(() => loadConfig({ PARLEY_API_KEYS: 'short' }))).toBe('PARLEY_API_KEYS');
    expect(settingOf(() => loadConfig({ OPENAI_BASE_URL: 'not a url' }))).toBe('OPENAI_BASE_URL');
    expect(settingOf(() => loadConfig({ PARLEY_VOICE: 'robot' }))).toBe('PARLEY_VOICE');
    expect(settingOf(() => loadConfig({ PARLEY_VAD_THRESHOLD: '2' }))).toBe('PARLEY_VAD_THRESHOLD');
    expect(settingOf(() => loadConfig({ PARLEY_DEMO: 'maybe' }))).toBe('PARLEY_DEMO');
    expect(settingOf(() => loadConfig({ PARLEY_RTP_PORTS: '2000-1000' }))).toBe('PARLEY_RTP_PORTS');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRANSPORTS: 'udp,sctp' }))).toBe('PARLEY_SIP_TRANSPORTS');
    expect(settingOf(() => loadConfig({ PARLEY_MAX_MESSAGE_BYTES: String(32 * 1024 * 1024) }))).toBe('PARLEY_MAX_MESSAGE_BYTES');
    expect(settingOf(() => loadConfig({}, { port: 'x' }))).toBe('port (PARLEY_CONFIG)');
    expect(settingOf(() => loadConfig({}, [1, 2]))).toBe('PARLEY_CONFIG');
  });

  it('reads the JSON file; env wins over it', () => {
    const file = { port: 9000, session: { instructions: 'From file', voice: 'cedar' }, sip: { enabled: true, port: 5080 }, tools: { enabled: [] } };
    const c = loadConfig({}, file);
    expect(c.port).toBe(9000);
    expect(c.session.defaults.instructions).toBe('From file');
    expect(c.session.defaults.audio?.output?.voice).toBe('cedar');
    expect(c.sip).toMatchObject({ enabled: true, port: 5080 });
    expect(c.tools.enabled).toEqual([]);
    expect(loadConfig({ PORT: '9100' }, file).port).toBe(9100);
  });

  it('maps turn detection, transcription and the output-token cap', () => {
    expect(loadConfig({ PARLEY_TURN_DETECTION: 'none' }).session.defaults.audio?.input?.turn_detection).toBeNull();
    expect(loadConfig({ PARLEY_TURN_DETECTION: 'semantic_vad' }).session.defaults.audio?.input?.turn_detection).toMatchObject({ type: 'semantic_vad' });
    expect(loadConfig({ PARLEY_VAD_SILENCE_MS: '300' }).session.defaults.audio?.input?.turn_detection).toMatchObject({ type: 'server_vad', silence_duration_ms: 300 });
    expect(loadConfig({ PARLEY_TRANSCRIPTION_MODEL: 'none' }).session.defaults.audio?.input?.transcription).toBeNull();
    expect(loadConfig({ PARLEY_MAX_OUTPUT_TOKENS: '300' }).session.maxOutputTokens).toBe(300);
    expect(loadConfig({ PARLEY_MAX_OUTPUT_TOKENS: 'inf' }).session.maxOutputTokens).toBe('inf');
  });
});
