/**
 * The SIP door's configuration: the one shape. server/config/sip.ts reads it from env and the config file
 * (PARLEY_SIP_*, defaults from DEFAULT_SIP_CONFIG below) and the server hands it to startSipServer as it is.
 * `enabled`, `transferTarget` and `dtmfMode` are read by the server's SIP bridge; the rest by sip/server.ts.
 */
import type { CodecName, SrtpMode } from './sdp.ts';
import type { SipTrunk } from './dial.ts';

export interface SipConfig {
  /** PARLEY_SIP_ENABLED (alias PARLEY_SIP) = on|off: whether the server starts the SIP door. */
  enabled: boolean;
  /** PARLEY_SIP_HOST: address to bind (default: the HTTP HOST). */
  host: string;
  /** PARLEY_SIP_PORT (0 = ephemeral). */
  port: number;
  /** PARLEY_SIP_TRANSPORTS: udp,tcp. */
  transports: Array<'udp' | 'tcp'>;
  /** PARLEY_SIP_PUBLIC_ADDRESS (alias PARLEY_SIP_PUBLIC_HOST): address in Via, Contact and SDP, e.g. the public IP behind 1:1 NAT; null = host. */
  publicAddress: string | null;
  /** PARLEY_RTP_PORTS: 'min-max'; one even port (+1 for RTCP) per call. */
  rtpPorts: { min: number; max: number };
  /** PARLEY_SIP_CODECS (pcmu,pcma,opus): preference order. */
  codecs: CodecName[];
  /** PARLEY_SIP_MAX_CALLS: concurrent calls; beyond: 486 Busy Here. */
  maxCalls: number;
  /** PARLEY_SIP_MAX_CALL_S: longest call in seconds (0 = unlimited); then BYE. */
  maxCallS: number;
  /** PARLEY_RTP_TIMEOUT_S: no RTP from the caller for this long (not on hold) → BYE (0 = never). */
  rtpTimeoutS: number;
  /** PARLEY_SIP_ALLOWED_SOURCES: CIDRs allowed to call; empty = any. */
  allowedSources: string[];
  /** PARLEY_SIP_AUTH_USER + PARLEY_SIP_AUTH_PASSWORD (+ PARLEY_SIP_AUTH_REALM): digest challenge on INVITE. */
  auth: { user: string; password: string; realm: string } | null;
  /** PARLEY_SIP_REGISTRAR (sip:host[:port]) + PARLEY_SIP_USER + PARLEY_SIP_PASSWORD + PARLEY_SIP_EXPIRES_S. */
  registrar: { uri: string; user: string; password: string; expiresS: number } | null;
  /** PARLEY_SIP_ANSWER_TIMEOUT_MS: the application must take a call within this, else 503. */
  answerTimeoutMs: number;
  /** PARLEY_SIP_TRANSFER_TARGET: default target of the transfer_call tool (sip:…); null = the agent must give one. */
  transferTarget: string | null;
  /** PARLEY_SIP_DTMF: text (digits become a user message) | tool (the agent calls collect_dtmf). */
  dtmfMode: 'text' | 'tool';
  /**
   * PARLEY_SIP_SESSION_EXPIRES_S: RFC 4028 session interval we ask for and the most we accept from a peer
   * (0 = no session timers: no `Supported: timer`, Session-Expires ignored).
   */
  sessionExpiresS: number;
  /** PARLEY_SIP_MIN_SE_S: the shortest session interval we accept; a shorter one gets 422 with `Min-SE`. */
  minSeS: number;
  /** PARLEY_SIP_TRANSFER_TIMEOUT_S: a blind transfer with no final NOTIFY by then has failed (the call goes on). */
  transferTimeoutS: number;
  /** PARLEY_SIP_TRUNK_URI (+ _USER, _PASSWORD): where outbound calls to numbers go, digest credentials (docs/notes/outbound.md). */
  trunk?: SipTrunk | null;
  /**
   * Outbound calls: PARLEY_OUTBOUND_CPS (INVITEs per second per trunk; more wait queued), PARLEY_OUTBOUND_MAX_CALLS
   * (outbound calls queued, ringing or up at once; beyond: 429), PARLEY_OUTBOUND_RING_TIMEOUT_S (default ring_timeout_s).
   */
  outbound?: { callsPerSecond: number; maxCalls: number; ringTimeoutS: number };
  /**
   * SIP over TLS (docs/notes/sip.md "TLS and SRTP"): PARLEY_SIP_TLS_CERT + PARLEY_SIP_TLS_KEY (PEM files, read at
   * start) turn on a TLS listener on PARLEY_SIP_TLS_PORT (default 5061; 0 = ephemeral) besides `transports`.
   */
  tls?: { certFile: string; keyFile: string; port: number } | null;
  /**
   * PARLEY_SRTP: off (plain RTP only; an RTP/SAVP-only offer → 488), offer (SRTP when the caller offers it, plain
   * otherwise; our own offers carry a crypto line), required (SRTP only; a plain offer → 488).
   */
  srtp?: SrtpMode;
  /** INVITE headers (lower-case names) kept in `SipCall.headers` besides the usual ones (the incoming-call hook's `incomingCall.headers`). */
  appHeaders?: readonly string[];
}

export const DEFAULT_SIP_CONFIG: SipConfig = {
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
};

/** PARLEY_SIP_TLS_PORT's default (RFC 3261 §19.1.2: sips and SIP over TLS). */
export const DEFAULT_SIP_TLS_PORT = 5061;

export const DEFAULT_OUTBOUND = { callsPerSecond: 10, maxCalls: 50, ringTimeoutS: 30 } as const;

/** `sip:`/`sips:` URI check: scheme, optional user, a host, optional port and parameters (no spaces or brackets). */
export const SIP_URI_RE = /^sips?:(?:[^\s@<>"]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:;[^\s<>"]*)?$/;
/** A dialable number (E.164-ish, with the usual separators) or `tel:` URI. */
export const NUMBER_RE = /^(?:tel:)?\+?[0-9*#][0-9*#().\- ]{0,31}$/;
