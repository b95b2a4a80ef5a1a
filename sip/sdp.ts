/**
 * SDP offer/answer for plain RTP/AVP audio (RFC 3264, RFC 4566), with sdp-transform.
 *
 * We support PCMU (PT 0), PCMA (PT 8), Opus (RFC 7587: always `opus/48000/2`, RTP clock 48000) and
 * telephone-event (RFC 4733) at the chosen codec's clock; ptime 20. The answer carries one codec
 * (plus telephone-event when offered), mirrors the offerer's payload type numbers, and mirrors the
 * direction (RFC 3264 §6.1: sendonly → recvonly, recvonly → sendonly, inactive → inactive).
 */
import sdpTransform from 'sdp-transform';
import { SipError } from './errors.ts';

export type CodecName = 'PCMU' | 'PCMA' | 'opus';
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

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
export function readRemoteAudio(sdp: string, preferred: readonly CodecName[] = SUPPORTED_CODECS): RemoteAudio {
  const s = parse(sdp);
  const m = s.media.find((x) => x.type === 'audio' && x.port !== 0 && /^RTP\/AVP$/i.test(x.protocol));
  if (!m) {
    const any = s.media.find((x) => x.type === 'audio');
    throw new SipError('SIP_ERR_NO_CODEC', any ? `unsupported audio profile ${any.protocol}` : 'no audio stream', { status: 488 });
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
  };
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
  lines.push(`m=audio ${o.port} RTP/AVP ${pts.join(' ')}`, ...attrs, `a=ptime:${PTIME_MS}`, `a=${o.direction}`);
  if (o.rtcpMux) lines.push('a=rtcp-mux');
  return `${lines.join('\r\n')}\r\n`;
}
