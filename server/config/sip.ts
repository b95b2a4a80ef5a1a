/** SIP door settings. Owned by the SIP work: add fields here (and their env names to the README). */
import type { ConfigReader } from './reader.ts';
import { ConfigError } from '../errors.ts';

export interface SipConfig {
  /** PARLEY_SIP_ENABLED (alias PARLEY_SIP) = on|off (default on: `npm start` answers SIP calls). */
  enabled: boolean;
  /** PARLEY_SIP_HOST: address to bind (default: the HTTP HOST). */
  host: string;
  /** PARLEY_SIP_PORT (default 5060; 0 = ephemeral). */
  port: number;
  /** PARLEY_SIP_TRANSPORTS: udp,tcp (default both). */
  transports: Array<'udp' | 'tcp'>;
  /** PARLEY_SIP_PUBLIC_ADDRESS (alias PARLEY_SIP_PUBLIC_HOST): address in Contact/Via/SDP, e.g. the public IP behind 1:1 NAT (default: host). */
  publicHost: string | null;
  /** PARLEY_RTP_PORTS: 'min-max' (default 40000-40999); one even port (+1 for RTCP) per call. */
  rtpPorts: { min: number; max: number };
  /** PARLEY_SIP_CODECS: preference order (default pcmu,pcma,opus). */
  codecs: Array<'pcmu' | 'pcma' | 'opus'>;
  /** PARLEY_SIP_MAX_CALLS: concurrent calls (default 100); beyond: 486 Busy Here. */
  maxCalls: number;
  /** PARLEY_SIP_MAX_CALL_S: longest call in seconds (default 3600; 0 = unlimited); then BYE. */
  maxCallS: number;
  /** PARLEY_RTP_TIMEOUT_S: no RTP from the caller for this long (not on hold) → BYE (default 30; 0 = never). */
  rtpTimeoutS: number;
  /** PARLEY_SIP_ALLOWED_SOURCES: comma-separated CIDRs allowed to call (default: any). */
  allowedSources: string[];
  /** PARLEY_SIP_AUTH_USER + PARLEY_SIP_AUTH_PASSWORD (+ PARLEY_SIP_AUTH_REALM, default parley): digest challenge on INVITE. */
  auth: { user: string; password: string; realm: string } | null;
  /** PARLEY_SIP_REGISTRAR (sip:host[:port]) + PARLEY_SIP_USER + PARLEY_SIP_PASSWORD + PARLEY_SIP_EXPIRES_S (default 600). */
  registrar: { uri: string; user: string; password: string; expiresS: number } | null;
  /** PARLEY_SIP_TRANSFER_TARGET: default target of the transfer_call tool (sip:…); none = the agent must give one. */
  transferTarget: string | null;
  /** PARLEY_SIP_DTMF: text (digits become a user message, default) | tool (the agent calls collect_dtmf). */
  dtmfMode: 'text' | 'tool';
}

export function readSipConfig(r: ConfigReader, httpHost: string): SipConfig {
  const transports = r.list('PARLEY_SIP_TRANSPORTS', 'sip.transports', ['udp', 'tcp']);
  for (const t of transports) {
    if (t !== 'udp' && t !== 'tcp') {
      r.oneOf('PARLEY_SIP_TRANSPORTS', 'sip.transports', ['udp', 'tcp'], 'udp'); // throws, naming the setting
    }
  }
  const codecs = r.list('PARLEY_SIP_CODECS', 'sip.codecs', ['pcmu', 'pcma', 'opus']);
  for (const c of codecs) {
    if (c !== 'pcmu' && c !== 'pcma' && c !== 'opus') r.oneOf('PARLEY_SIP_CODECS', 'sip.codecs', ['pcmu', 'pcma', 'opus'], 'pcmu');
  }
  const legacyEnabled = r.raw('PARLEY_SIP', 'sip.enabled') !== undefined ? r.bool('PARLEY_SIP', 'sip.enabled', true) : true;
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
  return {
    enabled: r.bool('PARLEY_SIP_ENABLED', null, legacyEnabled),
    host: r.str('PARLEY_SIP_HOST', 'sip.host', httpHost),
    port: r.int('PARLEY_SIP_PORT', 'sip.port', 5060, { min: 0, max: 65535 }),
    transports: transports as Array<'udp' | 'tcp'>,
    publicHost: r.optStr('PARLEY_SIP_PUBLIC_ADDRESS', 'sip.publicAddress') ?? r.optStr('PARLEY_SIP_PUBLIC_HOST', 'sip.publicHost'),
    rtpPorts: r.range('PARLEY_RTP_PORTS', 'sip.rtpPorts', { min: 40000, max: 40999 }, { min: 1024, max: 65535 }),
    codecs: codecs as Array<'pcmu' | 'pcma' | 'opus'>,
    maxCalls: r.int('PARLEY_SIP_MAX_CALLS', 'sip.maxCalls', 100, { min: 0, max: 100000 }),
    maxCallS: r.int('PARLEY_SIP_MAX_CALL_S', 'sip.maxCallS', 3600, { min: 0, max: 7 * 86400 }),
    rtpTimeoutS: r.int('PARLEY_RTP_TIMEOUT_S', 'sip.rtpTimeoutS', 30, { min: 0, max: 3600 }),
    allowedSources,
    auth: authUser !== null && authPassword !== null ? { user: authUser, password: authPassword, realm: r.str('PARLEY_SIP_AUTH_REALM', 'sip.auth.realm', 'parley') } : null,
    registrar:
      registrar !== null && regUser !== null
        ? { uri: registrar, user: regUser, password: regPassword ?? '', expiresS: r.int('PARLEY_SIP_EXPIRES_S', 'sip.registrar.expiresS', 600, { min: 60, max: 86400 }) }
        : null,
    transferTarget,
    dtmfMode: r.oneOf('PARLEY_SIP_DTMF', 'sip.dtmfMode', ['text', 'tool'], 'text') as 'text' | 'tool',
  };
}
