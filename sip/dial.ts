/**
 * Outbound calls' types and pure helpers (sip/uac.ts dials): what the application, the config and the package's
 * .d.ts need without SIP.js's types (sip/uac.ts imports SIP.js; a .d.ts that reached it would pull SIP.js's own
 * declarations into an embedding app's type check, which they do not pass with skipLibCheck off).
 */
import { randomBytes } from 'node:crypto';
import type { SipCall } from './call.ts';
import { SipError } from './errors.ts';

/** A trunk: where numbers (and, as an outbound proxy, every call) go, and its digest credentials. */
export interface SipTrunk {
  /** PARLEY_SIP_TRUNK_URI: `sip:host[:port][;transport=tcp]`. */
  uri: string;
  /** PARLEY_SIP_TRUNK_USER / PARLEY_SIP_TRUNK_PASSWORD: answered to a 401/407 challenge. */
  user: string | null;
  password: string | null;
}

export interface DialRequest {
  /** Our call id (`call_…`): the SipCall's id and the session's. */
  id: string;
  /** `sip:user@host[:port]`, or with a trunk a number / `tel:` URI. */
  to: string;
  /** From URI (sip:) or a caller number (user part at our address or the trunk's host). */
  from?: string | null;
  trunk?: SipTrunk | null;
  /** CANCEL when no final answer came within this (→ no_answer). */
  ringTimeoutMs: number;
  /** What the application should know of the leg (profile, metadata…): `SipCall.outbound`. */
  outbound?: Readonly<Record<string, unknown>>;
  /** Extra INVITE header lines (`Name: value`). */
  headers?: string[];
}

export type DialStatus = 'answered' | 'busy' | 'no_answer' | 'failed';

export interface DialOutcome {
  status: DialStatus;
  /** The final SIP status of the INVITE (200, 486, 487…); undefined when none came. */
  sipStatus?: number;
  reason: string;
  /** INVITE sent → 200 OK received (answered calls). */
  setupMs?: number;
}

export interface DialEvents {
  /** 180/183: the far end rings (once). */
  onRinging?(info: { sipStatus: number; earlyMedia: boolean }): void;
  /** 183 with SDP: early media flows (RTP started before the answer). */
  onEarlyMedia?(): void;
  /** 200 OK received and ACKed, before the application takes the call (a tap on its audio goes here). */
  onAnswered?(call: SipCall, setupMs: number): void;
  /** The answered call ended (either side). */
  onEnded?(call: SipCall): void;
}

export interface OutboundDial {
  readonly call: SipCall;
  /** Resolves once the INVITE has its outcome (answered, busy, no_answer, failed); never rejects. */
  readonly outcome: Promise<DialOutcome>;
  /** Give up on a call not answered yet (CANCEL); hang up an answered one. */
  cancel(): void;
}

export { SIP_URI_RE, NUMBER_RE } from './config.ts';

/** Host, port and params of a sip: URI. */
export function hostOf(uri: string): { host: string; port: string; params: string } | undefined {
  const m = /^sips?:(?:[^@]+@)?(\[[^\]]+\]|[^;:>]+)(?::(\d+))?(;.*)?$/i.exec(uri);
  return m ? { host: m[1] ?? '', port: m[2] ?? '', params: m[3] ?? '' } : undefined;
}

/**
 * The Request-URI and Route for a destination: a sip: URI is dialled as it is (through the trunk as an
 * outbound proxy when one is configured and its host is another); a number goes to the trunk's host.
 */
export function resolveTarget(to: string, trunk: SipTrunk | null | undefined): { requestUri: string; route: string | null } {
  const t = to.trim();
  if (/^sips?:/i.test(t)) {
    if (!trunk) return { requestUri: t, route: null };
    const a = hostOf(t);
    const b = hostOf(trunk.uri);
    const same = a && b && a.host.toLowerCase() === b.host.toLowerCase() && (a.port || '5060') === (b.port || '5060');
    return { requestUri: t, route: same ? null : `<${trunk.uri.replace(/;lr\b/i, '')};lr>` };
  }
  if (!trunk) throw new SipError('SIP_ERR_CONFIG', `cannot dial "${to}" without a trunk (PARLEY_SIP_TRUNK_URI): give a sip: URI`);
  const number = t.replace(/^tel:/i, '').replace(/[\s().-]/g, '');
  const b = hostOf(trunk.uri);
  if (!b) throw new SipError('SIP_ERR_CONFIG', `bad PARLEY_SIP_TRUNK_URI "${trunk.uri}" (want sip:host[:port])`);
  const host = b.port ? `${b.host}:${b.port}` : b.host;
  return { requestUri: `sip:${number}@${host}${b.params}`, route: null };
}

/** How a final status to our INVITE reads as an outbound call status. */
export function statusOfFinal(code: number, cancelledByUs: boolean): DialStatus {
  if (code >= 200 && code < 300) return 'answered';
  if (code === 486 || code === 600) return 'busy';
  if (code === 487 && cancelledByUs) return 'no_answer';
  if (code === 408 || code === 480) return 'no_answer'; // RFC 3261 §21.4.9/§21.4.18: no answer from the callee
  return 'failed';
}

/** `call_` + 16 hex digits, as incoming calls' ids. */
export const newCallId = (): string => `call_${randomBytes(8).toString('hex')}`;
