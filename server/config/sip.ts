/**
 * The SIP door's settings, read into the one SIP config shape (`SipConfig`, defined in sip/config.ts with its
 * defaults) and passed to the SIP server as they are. Env names are documented on each field there and in
 * the README.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { ConfigReader } from './reader.ts';
import { ConfigError } from '../errors.ts';
// sip/config.ts is a leaf (types and defaults): imported directly so that reading the config does not load the SIP stack
import { DEFAULT_OUTBOUND, DEFAULT_SIP_CONFIG, DEFAULT_SIP_TLS_PORT, SIP_URI_RE, type SipConfig } from '../../sip/config.ts';

export type { SipConfig } from '../../sip/config.ts';

const CODECS = { pcmu: 'PCMU', pcma: 'PCMA', opus: 'opus' } as const;

export function readSipConfig(r: ConfigReader, httpHost: string): SipConfig {
  const d = DEFAULT_SIP_CONFIG;
  const transports = r.list('PARLEY_SIP_TRANSPORTS', 'sip.transports', [...d.transports]);
  for (const t of transports) {
    if (t !== 'udp' && t !== 'tcp') {
      r.oneOf('PARLEY_SIP_TRANSPORTS', 'sip.transports', ['udp', 'tcp'], 'udp'); // throws, naming the setting
    }
  }
  const codecNames = r.list('PARLEY_SIP_CODECS', 'sip.codecs', d.codecs.map((c) => c.toLowerCase()));
  const codecs = codecNames.map((c): SipConfig['codecs'][number] => {
    const name = c.toLowerCase();
    if (name === 'pcmu' || name === 'pcma' || name === 'opus') return CODECS[name];
    throw new ConfigError(r.raw('PARLEY_SIP_CODECS', 'sip.codecs')?.setting ?? 'PARLEY_SIP_CODECS', `unknown codec ${JSON.stringify(c)} (want pcmu, pcma, opus)`);
  });
  const legacyEnabled = r.raw('PARLEY_SIP', 'sip.enabled') !== undefined ? r.bool('PARLEY_SIP', 'sip.enabled', d.enabled) : d.enabled;
  const authUser = r.optStr('PARLEY_SIP_AUTH_USER', 'sip.auth.user');
  const authPassword = r.optStr('PARLEY_SIP_AUTH_PASSWORD', 'sip.auth.password');
  if ((authUser === null) !== (authPassword === null)) {
    throw new ConfigError('PARLEY_SIP_AUTH_USER', 'set both PARLEY_SIP_AUTH_USER and PARLEY_SIP_AUTH_PASSWORD, or neither');
  }
  const registrar = r.optStr('PARLEY_SIP_REGISTRAR', 'sip.registrar.uri');
  const regUser = r.optStr('PARLEY_SIP_USER', 'sip.registrar.user');
  const regPassword = r.optStr('PARLEY_SIP_PASSWORD', 'sip.registrar.password');
  if (registrar !== null && !/^sips?:/i.test(registrar)) throw new ConfigError('PARLEY_SIP_REGISTRAR', `want sip:host[:port], got ${JSON.stringify(registrar)}`);
  if (registrar !== null && regUser === null) throw new ConfigError('PARLEY_SIP_USER', 'PARLEY_SIP_REGISTRAR needs PARLEY_SIP_USER (and usually PARLEY_SIP_PASSWORD)');
  const transferTarget = r.optStr('PARLEY_SIP_TRANSFER_TARGET', 'sip.transferTarget');
  if (transferTarget !== null && !/^(sips?|tel):\S+$/i.test(transferTarget)) {
    throw new ConfigError('PARLEY_SIP_TRANSFER_TARGET', `want sip:user@host, got ${JSON.stringify(transferTarget)}`);
  }
  const allowedSources = r.list('PARLEY_SIP_ALLOWED_SOURCES', 'sip.allowedSources', []);
  for (const s of allowedSources) {
    if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(s)) throw new ConfigError('PARLEY_SIP_ALLOWED_SOURCES', `bad CIDR ${JSON.stringify(s)}`);
  }
  // RFC 4028: Min-SE is at least 90 s on the wire; lower values are for tests (docs/notes/sip.md)
  const minSeS = r.int('PARLEY_SIP_MIN_SE_S', 'sip.minSeS', d.minSeS, { min: 1, max: 86400 });
  const sessionExpiresS = r.int('PARLEY_SIP_SESSION_EXPIRES_S', 'sip.sessionExpiresS', d.sessionExpiresS, { min: 0, max: 86400 });
  if (sessionExpiresS !== 0 && sessionExpiresS < minSeS) {
    throw new ConfigError('PARLEY_SIP_SESSION_EXPIRES_S', `must be 0 (off) or at least PARLEY_SIP_MIN_SE_S (${minSeS}), got ${sessionExpiresS}`);
  }
  // outbound calls (docs/notes/outbound.md): the trunk, the per-trunk rate and the concurrency cap
  const trunkUri = r.optStr('PARLEY_SIP_TRUNK_URI', 'sip.trunk.uri');
  if (trunkUri !== null && !SIP_URI_RE.test(trunkUri)) throw new ConfigError('PARLEY_SIP_TRUNK_URI', `want sip:host[:port][;transport=tcp], got ${JSON.stringify(trunkUri)}`);
  if (trunkUri === null && (r.optStr('PARLEY_SIP_TRUNK_USER', 'sip.trunk.user') !== null || r.optStr('PARLEY_SIP_TRUNK_PASSWORD', 'sip.trunk.password') !== null)) {
    throw new ConfigError('PARLEY_SIP_TRUNK_URI', 'PARLEY_SIP_TRUNK_USER / PARLEY_SIP_TRUNK_PASSWORD need PARLEY_SIP_TRUNK_URI (sip:host[:port])');
  }
  const trunk = trunkUri !== null ? { uri: trunkUri, user: r.optStr('PARLEY_SIP_TRUNK_USER', 'sip.trunk.user'), password: r.optStr('PARLEY_SIP_TRUNK_PASSWORD', 'sip.trunk.password') } : null;
  const outbound = {
    callsPerSecond: r.num('PARLEY_OUTBOUND_CPS', 'sip.outbound.callsPerSecond', DEFAULT_OUTBOUND.callsPerSecond, { min: 0.01, max: 10_000 }),
    maxCalls: r.int('PARLEY_OUTBOUND_MAX_CALLS', 'sip.outbound.maxCalls', DEFAULT_OUTBOUND.maxCalls, { min: 1, max: 100_000 }),
    ringTimeoutS: r.int('PARLEY_OUTBOUND_RING_TIMEOUT_S', 'sip.outbound.ringTimeoutS', DEFAULT_OUTBOUND.ringTimeoutS, { min: 1, max: 300 }),
  };
  return {
    trunk,
    outbound,
    tls: readTls(r),
    srtp: r.oneOf('PARLEY_SRTP', 'sip.srtp', ['off', 'offer', 'required'], 'off'),
    enabled: r.bool('PARLEY_SIP_ENABLED', null, legacyEnabled),
    host: r.str('PARLEY_SIP_HOST', 'sip.host', httpHost),
    port: r.int('PARLEY_SIP_PORT', 'sip.port', d.port, { min: 0, max: 65535 }),
    transports: transports as Array<'udp' | 'tcp'>,
    publicAddress: r.optStr('PARLEY_SIP_PUBLIC_ADDRESS', 'sip.publicAddress') ?? r.optStr('PARLEY_SIP_PUBLIC_HOST', 'sip.publicHost') ?? d.publicAddress,
    rtpPorts: r.range('PARLEY_RTP_PORTS', 'sip.rtpPorts', { ...d.rtpPorts }, { min: 1024, max: 65535 }),
    codecs,
    maxCalls: r.int('PARLEY_SIP_MAX_CALLS', 'sip.maxCalls', d.maxCalls, { min: 0, max: 100000 }),
    maxCallS: r.int('PARLEY_SIP_MAX_CALL_S', 'sip.maxCallS', d.maxCallS, { min: 0, max: 7 * 86400 }),
    rtpTimeoutS: r.int('PARLEY_RTP_TIMEOUT_S', 'sip.rtpTimeoutS', d.rtpTimeoutS, { min: 0, max: 3600 }),
    allowedSources,
    auth: authUser !== null && authPassword !== null ? { user: authUser, password: authPassword, realm: r.str('PARLEY_SIP_AUTH_REALM', 'sip.auth.realm', 'parley') } : null,
    registrar:
      registrar !== null && regUser !== null
        ? { uri: registrar, user: regUser, password: regPassword ?? '', expiresS: r.int('PARLEY_SIP_EXPIRES_S', 'sip.registrar.expiresS', 600, { min: 60, max: 86400 }) }
        : null,
    answerTimeoutMs: r.int('PARLEY_SIP_ANSWER_TIMEOUT_MS', 'sip.answerTimeoutMs', d.answerTimeoutMs, { min: 100, max: 120_000 }),
    transferTarget,
    dtmfMode: r.oneOf('PARLEY_SIP_DTMF', 'sip.dtmfMode', ['text', 'tool'], d.dtmfMode) as 'text' | 'tool',
    sessionExpiresS,
    minSeS,
    transferTimeoutS: r.int('PARLEY_SIP_TRANSFER_TIMEOUT_S', 'sip.transferTimeoutS', d.transferTimeoutS, { min: 1, max: 600 }),
  };
}

/**
 * PARLEY_SIP_TLS_CERT + PARLEY_SIP_TLS_KEY (+ PARLEY_SIP_TLS_PORT): both files are read and checked here, so a
 * certificate that cannot be read, is not PEM or does not match its key stops the start (exit 2) naming the setting.
 */
function readTls(r: ConfigReader): { certFile: string; keyFile: string; port: number } | null {
  const certFile = r.optStr('PARLEY_SIP_TLS_CERT', 'sip.tls.cert');
  const keyFile = r.optStr('PARLEY_SIP_TLS_KEY', 'sip.tls.key');
  const setting = (env: string, file: string): string => r.raw(env, file)?.setting ?? env;
  if (certFile === null && keyFile === null) {
    if (r.raw('PARLEY_SIP_TLS_PORT', 'sip.tls.port') !== undefined) {
      throw new ConfigError(setting('PARLEY_SIP_TLS_PORT', 'sip.tls.port'), 'needs PARLEY_SIP_TLS_CERT and PARLEY_SIP_TLS_KEY (SIP over TLS is off without them)');
    }
    return null;
  }
  if (certFile === null) throw new ConfigError('PARLEY_SIP_TLS_CERT', 'PARLEY_SIP_TLS_KEY is set: set PARLEY_SIP_TLS_CERT too (a PEM certificate file), or neither');
  if (keyFile === null) throw new ConfigError('PARLEY_SIP_TLS_KEY', 'PARLEY_SIP_TLS_CERT is set: set PARLEY_SIP_TLS_KEY too (its PEM private key file), or neither');
  const read = (path: string, name: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(name, `cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const certName = setting('PARLEY_SIP_TLS_CERT', 'sip.tls.cert');
  const keyName = setting('PARLEY_SIP_TLS_KEY', 'sip.tls.key');
  const cert = read(certFile, certName);
  const key = read(keyFile, keyName);
  try {
    new X509Certificate(cert);
  } catch {
    throw new ConfigError(certName, `${JSON.stringify(certFile)} is not a PEM certificate`);
  }
  try {
    createPrivateKey(key);
  } catch {
    throw new ConfigError(keyName, `${JSON.stringify(keyFile)} is not a PEM private key (or it is encrypted)`);
  }
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new ConfigError(keyName, `${JSON.stringify(keyFile)} is not the key of the certificate in ${JSON.stringify(certFile)}`);
  }
  return { certFile, keyFile, port: r.int('PARLEY_SIP_TLS_PORT', 'sip.tls.port', DEFAULT_SIP_TLS_PORT, { min: 0, max: 65535 }) };
}
