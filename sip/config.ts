/** The SIP door's configuration (server/config/sip.ts reads it from env and hands it down). */
import type { CodecName } from './sdp.ts';

export interface SipServerConfig {
  host: string; // bind address
  port: number; // 0 = ephemeral
  transports: Array<'udp' | 'tcp'>;
  publicAddress: string | null; // in Via, Contact and SDP; default host
  rtpPorts: { min: number; max: number };
  codecs: CodecName[]; // preference order
  maxCalls: number; // beyond: 486 Busy Here
  maxCallS: number; // 0 = unlimited
  rtpTimeoutS: number; // no RTP for this long → BYE (0 = never)
  allowedSources: string[]; // CIDRs; empty = any
  auth: { user: string; password: string; realm: string } | null; // digest challenge on INVITE
  registrar: { uri: string; user: string; password: string; expiresS: number } | null;
  answerTimeoutMs: number; // onCall must resolve within this, else 503
}

export const DEFAULT_SIP_SERVER_CONFIG: SipServerConfig = {
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
};
