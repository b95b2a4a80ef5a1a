import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { DEFAULT_SIP_CONFIG, type SipConfig } from '../../../sip/index.ts';
import { settingOf } from '../../support/config.ts';

describe('SIP config section (PARLEY_SIP_*)', () => {
  it('has the documented defaults, in the one shape the SIP server takes (no mapping)', () => {
    const c: SipConfig = loadConfig({}).sip;
    expect(c).toEqual({
      enabled: true,
      host: '127.0.0.1',
      port: 5060,
      transports: ['udp', 'tcp'],
      publicAddress: null,
      rtpPorts: { min: 40000, max: 40999 },
      codecs: ['PCMU', 'PCMA', 'opus'],
      maxCalls: 100,
      maxCallS: 3600,
      rtpTimeoutS: 30,
      allowedSources: [],
      auth: null,
      registrar: null,
      answerTimeoutMs: 10_000,
      transferTarget: null,
      dtmfMode: 'text',
      sessionExpiresS: 1800,
      minSeS: 90,
      transferTimeoutS: 30,
      trunk: null,
      outbound: { callsPerSecond: 10, maxCalls: 50, ringTimeoutS: 30 },
      tls: null,
      srtp: 'off',
    });
    // the defaults are sip/config.ts's own (the server's HTTP host is the SIP host by default)
    expect(c).toEqual({ ...DEFAULT_SIP_CONFIG, host: '127.0.0.1' });
    expect(loadConfig({ HOST: '0.0.0.0' }).sip.host).toBe('0.0.0.0');
    // the config is not shared with the defaults
    expect(c.transports).not.toBe(DEFAULT_SIP_CONFIG.transports);
    expect(c.rtpPorts).not.toBe(DEFAULT_SIP_CONFIG.rtpPorts);
  });

  it('reads every setting, with the PARLEY_SIP / PARLEY_SIP_PUBLIC_HOST aliases', () => {
    const c = loadConfig({
      PARLEY_SIP: 'off',
      PARLEY_SIP_HOST: '0.0.0.0',
      PARLEY_SIP_PORT: '5080',
      PARLEY_SIP_TRANSPORTS: 'udp',
      PARLEY_SIP_PUBLIC_HOST: '203.0.113.5',
      PARLEY_RTP_PORTS: '20000-20099',
      PARLEY_SIP_CODECS: 'pcma,PCMU',
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
      PARLEY_SIP_ANSWER_TIMEOUT_MS: '5000',
      PARLEY_SIP_SESSION_EXPIRES_S: '600',
      PARLEY_SIP_MIN_SE_S: '120',
      PARLEY_SIP_TRANSFER_TIMEOUT_S: '45',
      PARLEY_SIP_TRUNK_URI: 'sip:trunk.example.com:5080;transport=tcp',
      PARLEY_SIP_TRUNK_USER: 'acct1',
      PARLEY_SIP_TRUNK_PASSWORD: 'tpw',
      PARLEY_OUTBOUND_CPS: '2.5',
      PARLEY_OUTBOUND_MAX_CALLS: '20',
      PARLEY_OUTBOUND_RING_TIMEOUT_S: '25',
      PARLEY_SRTP: 'offer',
    }).sip;
    expect(c).toEqual({
      enabled: false,
      host: '0.0.0.0',
      port: 5080,
      transports: ['udp'],
      publicAddress: '203.0.113.5',
      rtpPorts: { min: 20000, max: 20099 },
      codecs: ['PCMA', 'PCMU'],
      maxCalls: 5,
      maxCallS: 60,
      rtpTimeoutS: 10,
      allowedSources: ['10.0.0.0/8', '192.0.2.1'],
      auth: { user: 'pbx', password: 'pw', realm: 'parley' },
      registrar: { uri: 'sip:pbx.example.com:5060', user: '2001', password: 'secret', expiresS: 300 },
      answerTimeoutMs: 5000,
      transferTarget: 'sip:operator@pbx.example.com',
      dtmfMode: 'tool',
      sessionExpiresS: 600,
      minSeS: 120,
      transferTimeoutS: 45,
      trunk: { uri: 'sip:trunk.example.com:5080;transport=tcp', user: 'acct1', password: 'tpw' },
      outbound: { callsPerSecond: 2.5, maxCalls: 20, ringTimeoutS: 25 },
      tls: null,
      srtp: 'offer',
    });
    expect(loadConfig({ PARLEY_SIP_SESSION_EXPIRES_S: '0' }).sip.sessionExpiresS).toBe(0); // session timers off
    expect(loadConfig({ PARLEY_SIP: 'off', PARLEY_SIP_ENABLED: 'on' }).sip.enabled).toBe(true);
    expect(loadConfig({ PARLEY_SIP_PUBLIC_ADDRESS: '198.51.100.7' }).sip.publicAddress).toBe('198.51.100.7');
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
    expect(settingOf(() => loadConfig({ PARLEY_SIP_CODECS: 'pcmu,g729' }))).toBe('PARLEY_SIP_CODECS');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRANSPORTS: 'udp,tls' }))).toBe('PARLEY_SIP_TRANSPORTS');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_SESSION_EXPIRES_S: '60' }))).toBe('PARLEY_SIP_SESSION_EXPIRES_S'); // below Min-SE 90
    expect(settingOf(() => loadConfig({ PARLEY_SIP_MIN_SE_S: '0' }))).toBe('PARLEY_SIP_MIN_SE_S');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRANSFER_TIMEOUT_S: '0' }))).toBe('PARLEY_SIP_TRANSFER_TIMEOUT_S');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRUNK_URI: 'trunk.example.com' }))).toBe('PARLEY_SIP_TRUNK_URI');
    expect(settingOf(() => loadConfig({ PARLEY_SIP_TRUNK_USER: 'acct1' }))).toBe('PARLEY_SIP_TRUNK_URI');
    expect(settingOf(() => loadConfig({ PARLEY_OUTBOUND_CPS: '0' }))).toBe('PARLEY_OUTBOUND_CPS');
    expect(settingOf(() => loadConfig({ PARLEY_OUTBOUND_MAX_CALLS: '0' }))).toBe('PARLEY_OUTBOUND_MAX_CALLS');
    expect(settingOf(() => loadConfig({ PARLEY_OUTBOUND_RING_TIMEOUT_S: '301' }))).toBe('PARLEY_OUTBOUND_RING_TIMEOUT_S');
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
