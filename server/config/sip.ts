/** SIP door settings. Owned by the SIP work: add fields here (and their env names to the README). */
import type { ConfigReader } from './reader.ts';

export interface SipConfig {
  /** PARLEY_SIP=on|off (default off). */
  enabled: boolean;
  /** PARLEY_SIP_HOST: address to bind (default: the HTTP HOST). */
  host: string;
  /** PARLEY_SIP_PORT (default 5060). */
  port: number;
  /** PARLEY_SIP_TRANSPORTS: udp,tcp (default both). */
  transports: Array<'udp' | 'tcp'>;
  /** PARLEY_SIP_PUBLIC_HOST: address to put in Contact/SDP when behind NAT (default: host). */
  publicHost: string | null;
  /** PARLEY_RTP_PORTS: 'min-max' (default 10000-20000). */
  rtpPorts: { min: number; max: number };
  /** PARLEY_SIP_CODECS: preference order (default pcmu,pcma,opus). */
  codecs: Array<'pcmu' | 'pcma' | 'opus'>;
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
  return {
    enabled: r.bool('PARLEY_SIP', 'sip.enabled', false),
    host: r.str('PARLEY_SIP_HOST', 'sip.host', httpHost),
    port: r.int('PARLEY_SIP_PORT', 'sip.port', 5060, { min: 0, max: 65535 }),
    transports: transports as Array<'udp' | 'tcp'>,
    publicHost: r.optStr('PARLEY_SIP_PUBLIC_HOST', 'sip.publicHost'),
    rtpPorts: r.range('PARLEY_RTP_PORTS', 'sip.rtpPorts', { min: 10000, max: 20000 }, { min: 1024, max: 65535 }),
    codecs: codecs as Array<'pcmu' | 'pcma' | 'opus'>,
  };
}
