/**
 * RTP and RTCP packets (RFC 3550). Parsing fills a caller-owned header object (no allocation per packet);
 * writing fills a caller-owned buffer.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * |                           timestamp                           |
 * |           synchronization source (SSRC) identifier            |
 * |            contributing source (CSRC) identifiers (CC × 32)   |
 * | extension (X): profile 16 | length 16 (32-bit words) | data    |
 * | payload …                                  | padding (P) | count |
 */
export const RTP_HEADER_BYTES = 12;

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payloadOffset: number;
  payloadEnd: number;
}

export function newRtpHeader(): RtpHeader {
  return { marker: false, payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0, payloadOffset: 0, payloadEnd: 0 };
}

/** Parse an RTP packet into `out`; returns false when it is not a valid RTP v2 packet. */
export function parseRtp(pkt: Uint8Array, out: RtpHeader): boolean {
  const len = pkt.length;
  if (len < RTP_HEADER_BYTES) return false;
  const b0 = pkt[0] as number;
  if (b0 >> 6 !== 2) return false;
  const b1 = pkt[1] as number;
  const pt = b1 & 0x7f;
  if (pt >= 72 && pt <= 79) return false; // RTCP packet types 200-207 on a muxed port (RFC 5761 §4)
  let off = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (len < off + 4) return false;
    off += 4 + 4 * (((pkt[off + 2] as number) << 8) | (pkt[off + 3] as number));
  }
  let end = len;
  if (b0 & 0x20) end -= pkt[len - 1] as number;
  if (off > end) return false;
  out.marker = (b1 & 0x80) !== 0;
  out.payloadType = pt;
  out.sequence = ((pkt[2] as number) << 8) | (pkt[3] as number);
  out.timestamp = (((pkt[4] as number) << 24) | ((pkt[5] as number) << 16) | ((pkt[6] as number) << 8) | (pkt[7] as number)) >>> 0;
  out.ssrc = (((pkt[8] as number) << 24) | ((pkt[9] as number) << 16) | ((pkt[10] as number) << 8) | (pkt[11] as number)) >>> 0;
  out.payloadOffset = off;
  out.payloadEnd = end;
  return true;
}

/** Write a 12-byte RTP header at the start of `buf`. */
export function writeRtpHeader(buf: Uint8Array, marker: boolean, payloadType: number, sequence: number, timestamp: number, ssrc: number): void {
  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  buf[2] = (sequence >>> 8) & 0xff;
  buf[3] = sequence & 0xff;
  buf[4] = (timestamp >>> 24) & 0xff;
  buf[5] = (timestamp >>> 16) & 0xff;
  buf[6] = (timestamp >>> 8) & 0xff;
  buf[7] = timestamp & 0xff;
  buf[8] = (ssrc >>> 24) & 0xff;
  buf[9] = (ssrc >>> 16) & 0xff;
  buf[10] = (ssrc >>> 8) & 0xff;
  buf[11] = ssrc & 0xff;
}

/** Is this an RTCP packet (RFC 5761 §4: PT 200-207 in the second byte)? */
export function isRtcp(pkt: Uint8Array): boolean {
  return pkt.length >= 8 && (pkt[0] as number) >> 6 === 2 && (pkt[1] as number) >= 200 && (pkt[1] as number) <= 207;
}

export interface RtcpReportBlock {
  ssrc: number; // the source this block reports on
  fractionLost: number; // 0..255
  cumulativeLost: number;
  highestSeq: number; // extended highest sequence number received
  jitter: number; // RTP timestamp units
  lsr: number; // middle 32 bits of the last SR's NTP timestamp
  dlsr: number; // delay since last SR, 1/65536 s
}

/**
 * Build an RTCP compound packet: SR (RFC 3550 §6.4.1) when we have sent, else RR (§6.4.2), with at most one
 * report block, followed by an SDES CNAME (§6.5, required in every compound packet). Writes into `buf`, returns the length.
 */
export function writeRtcpReport(
  buf: Buffer,
  ssrc: number,
  sender: { ntpMs: number; rtpTimestamp: number; packets: number; octets: number } | undefined,
  block: RtcpReportBlock | undefined,
  cname: string,
): number {
  let off = 0;
  const rc = block ? 1 : 0;
  const words = (sender ? 6 : 1) + (block ? 6 : 0); // length in 32-bit words minus one
  buf[off] = 0x80 | rc;
  buf[off + 1] = sender ? 200 : 201;
  buf.writeUInt16BE(words, off + 2);
  buf.writeUInt32BE(ssrc >>> 0, off + 4);
  off += 8;
  if (sender) {
    const ntpSec = Math.floor(sender.ntpMs / 1000) + 2208988800;
    const ntpFrac = Math.floor(((sender.ntpMs % 1000) / 1000) * 0x100000000);
    buf.writeUInt32BE(ntpSec >>> 0, off);
    buf.writeUInt32BE(ntpFrac >>> 0, off + 4);
    buf.writeUInt32BE(sender.rtpTimestamp >>> 0, off + 8);
    buf.writeUInt32BE(sender.packets >>> 0, off + 12);
    buf.writeUInt32BE(sender.octets >>> 0, off + 16);
    off += 20;
  }
  if (block) {
    buf.writeUInt32BE(block.ssrc >>> 0, off);
    buf[off + 4] = block.fractionLost & 0xff;
    const lost = Math.max(-0x800000, Math.min(0x7fffff, block.cumulativeLost));
    buf.writeUIntBE(lost & 0xffffff, off + 5, 3);
    buf.writeUInt32BE(block.highestSeq >>> 0, off + 8);
    buf.writeUInt32BE(Math.min(0xffffffff, Math.round(block.jitter)) >>> 0, off + 12);
    buf.writeUInt32BE(block.lsr >>> 0, off + 16);
    buf.writeUInt32BE(block.dlsr >>> 0, off + 20);
    off += 24;
  }
  // SDES with one chunk: SSRC, CNAME item, end, padded to 32 bits
  const nameBytes = Buffer.byteLength(cname);
  const chunkLen = 4 + 2 + nameBytes + 1;
  const padded = (chunkLen + 3) & ~3;
  buf[off] = 0x81;
  buf[off + 1] = 202;
  buf.writeUInt16BE(padded / 4, off + 2);
  buf.writeUInt32BE(ssrc >>> 0, off + 4);
  buf[off + 8] = 1; // CNAME
  buf[off + 9] = nameBytes;
  buf.write(cname, off + 10);
  buf.fill(0, off + 10 + nameBytes, off + 4 + padded);
  return off + 4 + padded;
}

/** Read the sender info of an incoming SR (for LSR/DLSR), if it is one. */
export function readRtcpSenderReport(pkt: Buffer): { ssrc: number; ntpMiddle: number } | undefined {
  if (pkt.length < 28 || pkt[1] !== 200) return undefined;
  return { ssrc: pkt.readUInt32BE(4), ntpMiddle: ((pkt.readUInt32BE(8) & 0xffff) * 0x10000 + (pkt.readUInt32BE(12) >>> 16)) >>> 0 };
}
