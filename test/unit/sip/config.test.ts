import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import { sipServerConfigFrom } from '../../../server/sip-bridge.ts';

function settingOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).setting;
  }
}

describe('SIP config section (PARLEY_SIP_*)', () => {
  it('has the documented defaults and maps to the SIP server config', () => {
    const c = loadConfig({}).sip;
    expect(c).toMatchObject({
      enabled: true,
      host: '127.0.0.1',
      port: 5060,
      transports: ['udp', 'tcp'],
      publicHost: null,
      rtpPorts: { min: 40000, max: 40999 },
      codecs: ['pcmu', 'pcma', 'opus'],
      maxCalls: 100,
      maxCallS: 3600,
      rtpTimeoutS: 30,
      allowedSources: [],
      auth: null,
      registrar: null,
      transferTarget: null,
      dtmfMode: 'text',
    });
    const s = sipServerConfigFrom(c, { port: 0 });
    expect(s).toMatchObject({ port: 0, codecs: ['PCMU', 'PCMA', 'opus'], publicAddress: null, rtpTimeoutS: 30 });
  });

  it('reads every setting, with the PARLEY_SIP / PARLEY_SIP_PUBLIC_HOST aliases', () => {
    const c = loadConfig({
      PARLEY_SIP: 'off',
      PARLEY_SIP_HOST: '0.0.0.0',
      PARLEY_SIP_PORT: '5080',
      PARLEY_SIP_TRANSPORTS: 'udp',
      PARLEY_SIP_PUBLIC_HOST: '203.0.113.5',
      PARLEY_RTP_PORTS: '20000-20099',
      PARLEY_SIP_CODECS: 'pcma,pcmu',
      PARLEY_SIP_MAX_CALLS: '5',
      PARLEY_SIP_MAX_CALL_S: '60',
      PARLEY_RTP_TIMEOUT_S: '10',
      PARLEY_SIP_ALLOWED_SOURCES: '10.0.0.0/8,192.0.2.1',
      PARLEY_SIP_AUTH_USER: 'pbx',
      PARLEY_SIP_AUTH_PASSWORD: 'pw',
      PARLEY_SIP_REGISTRAR: 'sip:pbx.example.com:5060',
      PARLEY_SIP_USER: '2001',
      PARLEY_SIP_PASSWORD: 'secret',
      PARLEY_SIP_EXPIRES_S: '300',
      PARLEY_SIP_TRANSFER_TARGET: 'sip:operator@pbx.example.com',
      PARLEY_SIP_DTMF: 'tool',
    }).sip;
    expect(c).toEqual({
      enabled: false,
      host: '0.0.0.0',
      port: 5080,
      transports: ['udp'],
      publicHost: '203.0.113.5',
      rtpPorts: { min: 20000, max: 20099 },
      codecs: ['pcma', 'pcmu'],
      maxCalls: 5,
      maxCallS: 60,
      rtpTimeoutS: 10,
      allowedSources: ['10.0.0.0/8', '192.0.2.1'],
      auth: { user: 'pbx', password: 'pw', realm: 'parley' },
      registrar: { uri: 'sip:pbx.example.com:5060', user: '2001', password: 'secret', expiresS: 300 },
      transferTarget: 'sip:operator@pbx.example.com',
      dtmfMode: 'tool',
    });
    expect(loadConfig({ PARLEY_SIP: 'off', PARLEY_SIP_ENABLED: 'on' }).sip.enabled).toBe(true);
    expect(loadConfig({ PARLEY_SIP_PUBLIC_ADDRESS: '198.51.100.7' }).sip.publicHost).toBe('198.51.100.7');
  });

  it('names the bad setting', () => {
    expect(settingOf(() => loadConfig({ PARLEY_SIP_AUTH_USER: 'only-user' }))).toBe('PARLEY_SIP_AUTH_USER');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_REGISTRAR: 'pbx.example.com' }))).toBe('PARLEY_SIP_REGISTRAR');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_REGISTRAR: 'sip:pbx.example.com' }))).toBe('PARLEY_SIP_USER');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRANSFER_TARGET: 'operator' }))).toBe('PARLEY_SIP_TRANSFER_TARGET');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_ALLOWED_SOURCES: 'everyone' }))).toBe('PARLEY_SIP_ALLOWED_SOURCES');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_DTMF: 'voice' }))).toBe('PARLEY_SIP_DTMF');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_PORT: '70000' }))).toBe('PARLEY_SIP_PORT');
    expect(settingOf(() => loadConfig({ PARLEY_RTP_PORTS: '5-3' }))).toBe('PARLEY_RTP_PORTS');
  });
});

describe('advertised address', () => {
  it('is the bind address, or a real interface address for a wildcard bind (never 0.0.0.0 in SDP)', async () => {
    const { advertisedAddress } = await import('../../../sip/server.ts');
    expect(advertisedAddress('192.0.2.10')).toBe('192.0.2.10');
    const a = advertisedAddress('0.0.0.0');
    expect(a).not.toBe('0.0.0.0');
    expect(a).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });
});
