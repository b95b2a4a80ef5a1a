/**
 * SDP offer/answer for RTP/AVP and RTP/SAVP audio (RFC 3264, RFC 4566), with sdp-transform.
 *
 * We support PCMU (PT 0), PCMA (PT 8), Opus (RFC 7587: always `opus/48000/2`, RTP clock 48000) and
 * telephone-event (RFC 4733) at the chosen codec's clock; ptime 20. The answer carries one codec
 * (plus telephone-event when offered), mirrors the offerer's payload type numbers, and mirrors the
 * direction (RFC 3264 §6.1: sendonly → recvonly, recvonly → sendonly, inactive → inactive).
 *
 * SRTP by SDES (RFC 4568): `a=crypto:<tag> AES_CM_128_HMAC_SHA1_80 inline:<base64 key‖salt>[|lifetime]`, the
 * one suite we take (sip/srtp.ts); lines with an MKI or session parameters are passed over. What is accepted
 * follows PARLEY_SRTP (docs/notes/sip.md "TLS and SRTP"): `off` plain RTP/AVP only (crypto lines ignored, an
 * RTP/SAVP-only offer → 488), `offer` SRTP when the offer carries a usable crypto line (RTP/SAVP, or RTP/AVP
 * with crypto as baresip's `mediaenc=srtp` sends), plain otherwise, `required` only SRTP (plain → 488).
 * The answer mirrors the offer's profile and tag with our own key.
 */
import sdpTransform from 'sdp-transform';
import { SipError } from './errors.ts';
import { SRTP_MASTER_KEY_BYTES, SRTP_MASTER_SALT_BYTES, SRTP_SUITE } from './srtp.ts';

export type CodecName = 'PCMU' | 'PCMA' | 'opus';
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
/** PARLEY_SRTP: plain RTP only, SRTP when offered, or SRTP only. */
export type SrtpMode = 'off' | 'offer' | 'required';
export type RtpProfile = 'RTP/AVP' | 'RTP/SAVP';

/** One SDES crypto attribute we can use (RFC 4568 §9.1). */
export interface SdesCrypto {
  tag: number;
  suite: typeof SRTP_SUITE;
  /** 30 bytes: master key (16) ‖ master salt (14). */
  keySalt: Uint8Array;
}

export const SUPPORTED_CODECS: readonly CodecName[] = ['PCMU', 'PCMA', 'opus'];
export const PTIME_MS = 20;

export interface NegotiatedCodec {
  name: CodecName;
  payloadType: number;
  clockRateHz: number; // RTP clock: 8000 for G.711, 48000 for Opus
  frameTimestampStep: number; // RTP timestamp units per 20 ms frame
}

export interface TelephoneEvent {
  payloadType: number;
  clockRateHz: number;
}

/** What the remote side's SDP says about its audio stream. */
export interface RemoteAudio {
  address: string; // c= (media level first); '0.0.0.0' = old-style hold
  port: number; // 0 = stream rejected
  rtcpPort: number;
  direction: Direction;
  codec: NegotiatedCodec;
  telephoneEvent: TelephoneEvent | undefined;
  rtcpMux: boolean;
  /** The media line's profile: RTP/SAVP, or RTP/AVP (also when SRTP was negotiated over it by a crypto line). */
  profile?: RtpProfile;
  /** The peer's key when SRTP is on for this stream; undefined = plain RTP. */
  srtp?: SdesCrypto | undefined;
}

const STATIC_PT: Record<number, { codec: string; rate: number }> = { 0: { codec: 'PCMU', rate: 8000 }, 8: { codec: 'PCMA', rate: 8000 } };
const DEFAULT_PT: Record<CodecName, number> = { PCMU: 0, PCMA: 8, opus: 111 };

function codecOf(name: CodecName, payloadType: number): NegotiatedCodec {
  const clockRateHz = name === 'opus' ? 48000 : 8000;
  return { name, payloadType, clockRateHz, frameTimestampStep: (clockRateHz * PTIME_MS) / 1000 };
}

function parse(sdp: string): sdpTransform.SessionDescription {
  try {
    const s = sdpTransform.parse(sdp);
    if (!Array.isArray(s.media)) throw new Error('no m= lines');
    return s;
  } catch (err) {
    throw new SipError('SIP_ERR_BAD_SDP', 'unparseable SDP', { status: 488, cause: err });
  }
}

type Rtp = { payload: number; codec: string; rate?: number | undefined; encoding?: string | number | undefined };

function rtpMaps(m: sdpTransform.MediaDescription): Rtp[] {
  const pts = String(m.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const out: Rtp[] = [];
  for (const pt of pts) {
    const r = m.rtp.find((x) => x.payload === pt);
    if (r) out.push(r);
    else {
      const st = STATIC_PT[pt];
      if (st) out.push({ payload: pt, codec: st.codec, rate: st.rate }); // static PT without a=rtpmap
    }
  }
  return out;
}

/**
 * Read the remote SDP (an offer, or the answer to our offer) and choose our codec.
 * `preferred` orders what we accept; throws SIP_ERR_NO_CODEC (→ 488) when nothing matches.
 */
export function readRemoteAudio(sdp: string, preferred: readonly CodecName[] = SUPPORTED_CODECS, srtpMode: SrtpMode = 'off'): RemoteAudio {
  const s = parse(sdp);
  let m: sdpTransform.MediaDescription | undefined;
  let srtp: SdesCrypto | undefined;
  let why = '';
  for (const x of s.media) {
    if (x.type !== 'audio' || x.port === 0) continue;
    const profile = x.protocol.toUpperCase();
    if (profile !== 'RTP/AVP' && profile !== 'RTP/SAVP') {
      why ||= `unsupported audio profile ${x.protocol}`;
      continue;
    }
    if (profile === 'RTP/SAVP' && srtpMode === 'off') {
      why ||= 'RTP/SAVP (SRTP) offered and PARLEY_SRTP is off';
      continue;
    }
    const crypto = srtpMode === 'off' ? undefined : pickCrypto(x);
    if (!crypto && profile === 'RTP/SAVP') {
      why ||= `no usable crypto line (we take ${SRTP_SUITE} with an inline key, no MKI)`;
      continue;
    }
    if (!crypto && srtpMode === 'required') {
      why ||= 'plain RTP offered and PARLEY_SRTP is required';
      continue;
    }
    m = x;
    srtp = crypto;
    break;
  }
  if (!m) {
    throw new SipError('SIP_ERR_NO_CODEC', why || 'no audio stream', { status: 488 });
  }
  const maps = rtpMaps(m);
  let codec: NegotiatedCodec | undefined;
  for (const want of preferred) {
    const hit = maps.find((r) => r.codec.toLowerCase() === want.toLowerCase() && (want !== 'opus' || r.rate === 48000));
    if (hit && (want === 'opus' || (hit.rate ?? 8000) === 8000)) {
      codec = codecOf(want, hit.payload);
      break;
    }
  }
  if (!codec) {
    throw new SipError('SIP_ERR_NO_CODEC', `no supported codec in offer (${maps.map((r) => r.codec).join(',') || 'none'})`, { status: 488 });
  }
  const te = maps.find((r) => r.codec.toLowerCase() === 'telephone-event' && (r.rate ?? 8000) === codec.clockRateHz);
  const address = m.connection?.ip ?? s.connection?.ip ?? '0.0.0.0';
  const direction = (m.direction ?? s.direction ?? 'sendrecv') as Direction;
  const rtcpPort = m.rtcp?.port ?? m.port + 1;
  return {
    address,
    port: m.port,
    rtcpPort,
    direction: address === '0.0.0.0' && direction === 'sendrecv' ? 'sendonly' : direction, // RFC 2543 hold
    codec,
    telephoneEvent: te ? { payloadType: te.payload, clockRateHz: te.rate ?? 8000 } : undefined,
    rtcpMux: m.rtcpMux !== undefined,
    profile: m.protocol.toUpperCase() === 'RTP/SAVP' ? 'RTP/SAVP' : 'RTP/AVP',
    srtp,
  };
}

/**
 * The first crypto line we can use: our suite, an `inline:` key of 30 bytes, no MKI, no session parameters
 * (RFC 4568 §6.3: a line we do not understand is skipped, the next one tried).
 */
function pickCrypto(m: sdpTransform.MediaDescription): SdesCrypto | undefined {
  for (const c of m.crypto ?? []) {
    if (c.suite.toUpperCase() !== SRTP_SUITE || c.sessionConfig) continue;
    const keyParams = c.config.split(';');
    if (keyParams.length !== 1) continue; // several keys: each with an MKI, which we do not support
    const km = /^inline:([A-Za-z0-9+/=]+)(?:\|([^|]+))?(?:\|([^|]+))?$/.exec(keyParams[0] ?? '');
    if (!km) continue;
    const [, b64, second, third] = km;
    // "|lifetime|MKI:length" or "|MKI:length": an MKI is not supported
    if ((second !== undefined && second.includes(':')) || third !== undefined) continue;
    const key = Buffer.from(b64 ?? '', 'base64');
    if (key.length !== SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES) continue;
    return { tag: Number(c.id), suite: SRTP_SUITE, keySalt: key };
  }
  return undefined;
}

/** An `a=crypto` line with our key. */
export function cryptoLine(tag: number, keySalt: Uint8Array): string {
  return `a=crypto:${tag} ${SRTP_SUITE} inline:${Buffer.from(keySalt).toString('base64')}`;
}

/** RFC 3264 §6.1: the direction of our answer. */
export function mirrorDirection(remote: Direction): Direction {
  switch (remote) {
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return 'sendonly';
    case 'inactive':
      return 'inactive';
    default:
      return 'sendrecv';
  }
}

export interface LocalSdpOptions {
  address: string; // c= and o=
  port: number;
  sessionId: string; // o= sess-id (digits)
  version: number; // o= sess-version: bump only when the SDP changes
  direction: Direction;
  /** An answer: exactly the chosen codec (+ telephone-event). An offer: every codec in `offerCodecs`. */
  codec?: NegotiatedCodec | undefined;
  telephoneEvent?: TelephoneEvent | undefined;
  offerCodecs?: readonly CodecName[];
  rtcpMux?: boolean;
  /** SRTP: the profile to put on the m= line and our key (with the offer's tag in an answer). */
  srtp?: { profile: RtpProfile; tag: number; keySalt: Uint8Array } | undefined;
}

/** Build our SDP (an answer when `codec` is set, otherwise a full offer for the late-offer case). */
export function buildLocalSdp(o: LocalSdpOptions): string {
  const ip = o.address.includes(':') ? 'IP6' : 'IP4';
  const lines = ['v=0', `o=parley ${o.sessionId} ${o.version} IN ${ip} ${o.address}`, 's=Parley', `c=IN ${ip} ${o.address}`, 't=0 0'];
  const pts: number[] = [];
  const attrs: string[] = [];
  const addCodec = (c: NegotiatedCodec): void => {
    pts.push(c.payloadType);
    if (c.name === 'opus') {
      attrs.push(`a=rtpmap:${c.payloadType} opus/48000/2`, `a=fmtp:${c.payloadType} useinbandfec=1;maxplaybackrate=24000;sprop-maxcapturerate=24000`);
    } else attrs.push(`a=rtpmap:${c.payloadType} ${c.name}/8000`);
  };
  const addTe = (te: TelephoneEvent): void => {
    pts.push(te.payloadType);
    attrs.push(`a=rtpmap:${te.payloadType} telephone-event/${te.clockRateHz}`, `a=fmtp:${te.payloadType} 0-16`);
  };
  if (o.codec) {
    addCodec(o.codec);
    if (o.telephoneEvent) addTe(o.telephoneEvent);
  } else {
    const offer = o.offerCodecs ?? SUPPORTED_CODECS;
    for (const name of offer) addCodec(codecOf(name, DEFAULT_PT[name]));
    addTe({ payloadType: 101, clockRateHz: 8000 });
    if (offer.includes('opus')) addTe({ payloadType: 102, clockRateHz: 48000 });
  }
  lines.push(`m=audio ${o.port} ${o.srtp?.profile ?? 'RTP/AVP'} ${pts.join(' ')}`, ...attrs, `a=ptime:${PTIME_MS}`, `a=${o.direction}`);
  if (o.rtcpMux) lines.push('a=rtcp-mux');
  if (o.srtp) lines.push(cryptoLine(o.srtp.tag, o.srtp.keySalt));
  return `${lines.join('\r\n')}\r\n`;
}
