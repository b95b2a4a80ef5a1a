/**
 * SRTP and SRTCP (RFC 3711) for the one crypto suite we negotiate, AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1):
 * AES-128 in counter mode for the payload, HMAC-SHA1 truncated to 80 bits for the authentication tag,
 * key derivation rate 0, no MKI. Keys come from SDES (`a=crypto` lines, sip/sdp.ts).
 *
 * One `SrtpContext` per direction of a call: the sender's protects our packets (our SSRC), the receiver's
 * unprotects the peer's (its SSRC; another SSRC from the same peer starts a fresh index state, RFC 3711 §3.2.3).
 * Packets are changed in place: `protect` writes the tag after the packet (the buffer must have room for
 * SRTP_TAG_BYTES more), `unprotect` checks and strips it and returns the new length (-1: drop the packet).
 *
 * Per packet nothing is built that can be kept: the AES key schedule lives in one AES-128-ECB cipher object
 * per key, kept open for the call, which encrypts the packet's counter blocks (written into a reused buffer)
 * into its keystream; the HMAC's inner and outer key pads are hashed once per key and each packet continues
 * from copies of those two states. What Node still allocates per packet (its API has no "into" variant):
 * the keystream buffer from `update`, the two hash copies and their digests. bench/srtp.ts measures the cost.
 *
 * Index and replay (RFC 3711 §3.3.1, Appendix A): the receiver guesses the rollover counter from the
 * sequence number and its highest index so far, refuses a packet older than the 64-packet replay window or
 * seen before, and moves its state only after the tag checked out. SRTCP carries its 31-bit index in the
 * packet (E flag set: every SRTCP packet we send is encrypted) and has its own 64-packet replay window.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { Cipher, Hash } from 'node:crypto';
import { SipError } from './errors.ts';

export const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';
export const SRTP_MASTER_KEY_BYTES = 16;
export const SRTP_MASTER_SALT_BYTES = 14;
/** The authentication tag appended to every SRTP and SRTCP packet (80 bits). */
export const SRTP_TAG_BYTES = 10;
/** What SRTCP adds to a packet: the E flag + 31-bit index, then the tag. */
export const SRTCP_TRAILER_BYTES = 4 + SRTP_TAG_BYTES;
const REPLAY_WINDOW = 64;
const MAX_PACKET_BYTES = 2048;
const RTP_HEADER_MIN = 12;
const RTCP_HEADER_BYTES = 8; // SRTCP leaves the first header and the sender's SSRC in the clear

/** The keys of one direction (RFC 3711 §4.3): derived from the SDES master key and salt. */
export interface SrtpSessionKeys {
  rtpEncKey: Buffer; // 16
  rtpAuthKey: Buffer; // 20
  rtpSalt: Buffer; // 14
  rtcpEncKey: Buffer;
  rtcpAuthKey: Buffer;
  rtcpSalt: Buffer;
}

function ecbCipher(key: Buffer): Cipher {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return c;
}

/**
 * RFC 3711 §4.3.1 with key_derivation_rate 0: x = (label << 48) XOR master_salt, the key is the AES-CM
 * keystream of the master key at IV x·2^16, cut to `bytes`.
 */
export function deriveSessionKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, bytes: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.set(masterSalt.subarray(0, SRTP_MASTER_SALT_BYTES), 0);
  iv[7] = (iv[7] as number) ^ label; // the label sits in the 8th byte of the 112-bit salt (48 bits of r = 0 follow)
  const blocks = Math.ceil(bytes / 16);
  const ctr = Buffer.alloc(blocks * 16);
  for (let b = 0; b < blocks; b++) {
    iv.copy(ctr, b * 16);
    ctr.writeUInt16BE(b, b * 16 + 14);
  }
  const c = ecbCipher(Buffer.from(masterKey));
  return c.update(ctr).subarray(0, bytes);
}

export function deriveSrtpKeys(masterKey: Uint8Array, masterSalt: Uint8Array): SrtpSessionKeys {
  if (masterKey.length !== SRTP_MASTER_KEY_BYTES || masterSalt.length !== SRTP_MASTER_SALT_BYTES) {
    throw new SipError('SIP_ERR_BAD_SDP', `SRTP master key/salt must be ${SRTP_MASTER_KEY_BYTES}/${SRTP_MASTER_SALT_BYTES} bytes`);
  }
  return {
    rtpEncKey: deriveSessionKey(masterKey, masterSalt, 0, 16),
    rtpAuthKey: deriveSessionKey(masterKey, masterSalt, 1, 20),
    rtpSalt: deriveSessionKey(masterKey, masterSalt, 2, 14),
    rtcpEncKey: deriveSessionKey(masterKey, masterSalt, 3, 16),
    rtcpAuthKey: deriveSessionKey(masterKey, masterSalt, 4, 20),
    rtcpSalt: deriveSessionKey(masterKey, masterSalt, 5, 14),
  };
}

/** A fresh master key + salt (30 bytes), as an SDES `inline:` value carries them. */
export function newMasterKeySalt(): Buffer {
  return randomBytes(SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES);
}

/** AES-CM (RFC 3711 §4.1.1) with one key: XORs the keystream for a 128-bit IV into bytes in place. */
export class AesCm {
  private readonly ecb: Cipher;
  private readonly ctr = Buffer.alloc(MAX_PACKET_BYTES + 16);
  /** ctr views by block count, made once each (no view per packet). */
  private readonly views: Buffer[] = [];

  constructor(key: Uint8Array) {
    this.ecb = ecbCipher(Buffer.from(key));
  }

  /** The keystream for `iv` (16 bytes, counter in the low 16 bits), `n` bytes (test vectors). */
  keystream(iv: Uint8Array, n: number): Buffer {
    const out = Buffer.alloc(n);
    this.xor(iv, out, 0, n);
    return out;
  }

  /** data[off, off+len) ^= keystream(iv). */
  xor(iv: Uint8Array, data: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    const blocks = (len + 15) >>> 4;
    const ctr = this.ctr;
    for (let b = 0; b < blocks; b++) {
      const o = b << 4;
      for (let i = 0; i < 14; i++) ctr[o + i] = iv[i] as number;
      const c = (((iv[14] as number) << 8) | (iv[15] as number)) + b;
      ctr[o + 14] = (c >>> 8) & 0xff;
      ctr[o + 15] = c & 0xff;
    }
    let view = this.views[blocks];
    if (!view) {
      view = ctr.subarray(0, blocks << 4);
      this.views[blocks] = view;
    }
    const ks = this.ecb.update(view);
    for (let i = 0; i < len; i++) data[off + i] = (data[off + i] as number) ^ (ks[i] as number);
  }
}

/** HMAC-SHA1 (RFC 2104) with the key pads hashed once: each message continues from copies of the two states. */
export class HmacSha1 {
  private readonly inner: Hash;
  private readonly outer: Hash;

  constructor(key: Uint8Array) {
    const ipad = Buffer.alloc(64, 0x36);
    const opad = Buffer.alloc(64, 0x5c);
    for (let i = 0; i < key.length && i < 64; i++) {
      ipad[i] = (ipad[i] as number) ^ (key[i] as number);
      opad[i] = (opad[i] as number) ^ (key[i] as number);
    }
    this.inner = createHash('sha1').update(ipad);
    this.outer = createHash('sha1').update(opad);
  }

  /** HMAC of a ‖ b; the first 20 bytes of the result. */
  mac(a: Uint8Array, b: Uint8Array): Buffer {
    const ih = this.inner.copy().update(a).update(b).digest();
    return this.outer.copy().update(ih).digest();
  }
}

/** 64-packet sliding replay window over a monotonically growing index (RFC 3711 §3.3.2). */
class ReplayWindow {
  /** highest index accepted; -1 = none yet */
  top = -1;
  // two 32-bit halves instead of a bigint (no allocation): bit k of (hi:lo) = index top-k was seen
  private lo = 0;
  private hi = 0;

  /** 0 new, 1 within the window and unseen, -1 replayed or too old. */
  check(index: number): number {
    if (this.top < 0 || index > this.top) return 0;
    const d = this.top - index;
    if (d >= REPLAY_WINDOW) return -1;
    const seen = d < 32 ? (this.lo >>> d) & 1 : (this.hi >>> (d - 32)) & 1;
    return seen ? -1 : 1;
  }

  accept(index: number): void {
    if (this.top < 0) {
      this.top = index;
      this.lo = 1;
      this.hi = 0;
      return;
    }
    if (index > this.top) {
      const s = index - this.top;
      if (s >= 64) {
        this.lo = 0;
        this.hi = 0;
      } else if (s >= 32) {
        this.hi = s === 32 ? this.lo : (this.lo << (s - 32)) >>> 0;
        this.lo = 0;
      } else {
        this.hi = ((this.hi << s) | (this.lo >>> (32 - s))) >>> 0;
        this.lo = (this.lo << s) >>> 0;
      }
      this.lo = (this.lo | 1) >>> 0;
      this.top = index;
      return;
    }
    const d = this.top - index;
    if (d < 32) this.lo = (this.lo | (1 << d)) >>> 0;
    else if (d < 64) this.hi = (this.hi | (1 << (d - 32))) >>> 0;
  }

  reset(): void {
    this.top = -1;
    this.lo = 0;
    this.hi = 0;
  }
}

export interface SrtpCounters {
  /** packets refused: bad tag */
  authFailed: number;
  /** packets refused: replayed or older than the window */
  replayed: number;
}

/** Constant-time compare of `n` bytes. */
function tagEquals(a: Uint8Array, aOff: number, b: Uint8Array, n: number): boolean {
  let d = 0;
  for (let i = 0; i < n; i++) d |= (a[aOff + i] as number) ^ (b[i] as number);
  return d === 0;
}

/**
 * One direction's SRTP + SRTCP state (RFC 3711 §3.2): keys, the rollover counter and highest sequence of its
 * SSRC, the SRTCP index, the replay windows.
 */
export class SrtpContext {
  readonly counters: SrtpCounters = { authFailed: 0, replayed: 0 };
  private readonly rtpCm: AesCm;
  private readonly rtpMac: HmacSha1;
  private readonly rtpSalt: Buffer;
  private readonly rtcpCm: AesCm;
  private readonly rtcpMac: HmacSha1;
  private readonly rtcpSalt: Buffer;
  private readonly iv = Buffer.alloc(16);
  private readonly roc4 = Buffer.alloc(4);
  private readonly rtcpIdx4 = Buffer.alloc(4);
  /** reused views of the packet being authenticated (made again only when the packet buffer changes). */
  private macView: Buffer = Buffer.alloc(0);
  private macViewSrc: Uint8Array | undefined;
  private macViewLen = -1;
  // RTP (one SSRC)
  private ssrc = -1;
  private roc = 0;
  private sl = -1; // highest sequence number (s_l); -1 = none yet
  private readonly rtpReplay = new ReplayWindow();
  // RTCP
  private rtcpIndex = 0; // index of the last SRTCP packet sent
  private readonly rtcpReplay = new ReplayWindow();
  private rtcpSsrc = -1;

  /** `keySalt`: the 30 bytes of an SDES `inline:` key (16 master key ‖ 14 master salt). */
  constructor(keySalt: Uint8Array) {
    const k = deriveSrtpKeys(keySalt.subarray(0, SRTP_MASTER_KEY_BYTES), keySalt.subarray(SRTP_MASTER_KEY_BYTES, SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES));
    this.rtpCm = new AesCm(k.rtpEncKey);
    this.rtpMac = new HmacSha1(k.rtpAuthKey);
    this.rtpSalt = k.rtpSalt;
    this.rtcpCm = new AesCm(k.rtcpEncKey);
    this.rtcpMac = new HmacSha1(k.rtcpAuthKey);
    this.rtcpSalt = k.rtcpSalt;
  }

  /** The rollover counter of the current SSRC (tests). */
  get rolloverCounter(): number {
    return this.roc;
  }

  private view(buf: Uint8Array, len: number): Buffer {
    if (this.macViewSrc !== buf || this.macViewLen !== len) {
      this.macView = Buffer.from(buf.buffer, buf.byteOffset, len);
      this.macViewSrc = buf;
      this.macViewLen = len;
    }
    return this.macView;
  }

  /** IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16), index = 48 bits given as hi16:lo32 (RFC 3711 §4.1.1). */
  private setIv(salt: Buffer, ssrc: number, indexHi: number, indexLo: number): void {
    const iv = this.iv;
    for (let i = 0; i < 14; i++) iv[i] = salt[i] as number;
    iv[14] = 0;
    iv[15] = 0;
    iv[4] = (iv[4] as number) ^ ((ssrc >>> 24) & 0xff);
    iv[5] = (iv[5] as number) ^ ((ssrc >>> 16) & 0xff);
    iv[6] = (iv[6] as number) ^ ((ssrc >>> 8) & 0xff);
    iv[7] = (iv[7] as number) ^ (ssrc & 0xff);
    iv[8] = (iv[8] as number) ^ ((indexHi >>> 8) & 0xff);
    iv[9] = (iv[9] as number) ^ (indexHi & 0xff);
    iv[10] = (iv[10] as number) ^ ((indexLo >>> 24) & 0xff);
    iv[11] = (iv[11] as number) ^ ((indexLo >>> 16) & 0xff);
    iv[12] = (iv[12] as number) ^ ((indexLo >>> 8) & 0xff);
    iv[13] = (iv[13] as number) ^ (indexLo & 0xff);
  }

  // ------------------------------------------------------------------------ SRTP

  /**
   * Encrypt and authenticate the RTP packet in buf[0, len) in place; returns the SRTP length (len + 10).
   * `buf` must hold len + SRTP_TAG_BYTES bytes. The packet's sequence numbers must come in order (ours do).
   */
  protect(buf: Uint8Array, len: number): number {
    const off = rtpPayloadOffset(buf, len);
    if (off < 0) return len;
    const ssrc = readU32(buf, 8);
    const seq = ((buf[2] as number) << 8) | (buf[3] as number);
    if (ssrc !== this.ssrc) {
      this.ssrc = ssrc;
      this.roc = 0;
      this.sl = seq;
    } else if (seq < this.sl && this.sl - seq > 0x8000) {
      this.roc = (this.roc + 1) >>> 0; // the sequence number wrapped
      this.sl = seq;
    } else if (seq > this.sl) this.sl = seq;
    this.encryptRtp(buf, off, len, ssrc, this.roc, seq);
    writeU32(this.roc4, 0, this.roc);
    const tag = this.rtpMac.mac(this.view(buf, len), this.roc4);
    for (let i = 0; i < SRTP_TAG_BYTES; i++) buf[len + i] = tag[i] as number;
    return len + SRTP_TAG_BYTES;
  }

  private encryptRtp(buf: Uint8Array, off: number, len: number, ssrc: number, roc: number, seq: number): void {
    // index = roc·2^16 + seq: 48 bits as hi16 (roc's top half) and lo32 (roc's low half, seq)
    const hi = (roc >>> 16) & 0xffff;
    const lo = (((roc & 0xffff) << 16) | seq) >>> 0;
    this.setIv(this.rtpSalt, ssrc, hi, lo);
    this.rtpCm.xor(this.iv, buf, off, len - off);
  }

  /**
   * Check and decrypt the SRTP packet in buf[0, len) in place; returns the RTP length (len − 10), or -1 when
   * the packet must be dropped (too short, bad tag, replayed or too old). State moves only for a good packet.
   */
  unprotect(buf: Uint8Array, len: number): number {
    const rlen = len - SRTP_TAG_BYTES;
    if (rlen < RTP_HEADER_MIN) return -1;
    const off = rtpPayloadOffset(buf, rlen);
    if (off < 0) return -1;
    const ssrc = readU32(buf, 8);
    const seq = ((buf[2] as number) << 8) | (buf[3] as number);
    const fresh = ssrc !== this.ssrc;
    // RFC 3711 Appendix A: the ROC this packet was most probably sent with
    let v: number;
    if (fresh || this.sl < 0) v = 0;
    else if (this.sl < 0x8000) v = seq - this.sl > 0x8000 ? this.roc - 1 : this.roc;
    else v = this.sl - 0x8000 > seq ? this.roc + 1 : this.roc;
    if (v < 0) return -1; // before the first packet we saw, in the previous cycle: too old
    const index = v * 0x10000 + seq;
    if (!fresh && this.rtpReplay.check(index) < 0) {
      this.counters.replayed++;
      return -1;
    }
    writeU32(this.roc4, 0, v >>> 0);
    const tag = this.rtpMac.mac(this.view(buf, rlen), this.roc4);
    if (!tagEquals(buf, rlen, tag, SRTP_TAG_BYTES)) {
      this.counters.authFailed++;
      return -1;
    }
    if (fresh) {
      this.ssrc = ssrc;
      this.rtpReplay.reset();
      this.roc = 0;
      this.sl = -1;
    }
    this.encryptRtp(buf, off, rlen, ssrc, v >>> 0, seq);
    // update s_l / ROC (RFC 3711 §3.3.1) and the window
    if (this.sl < 0 || index > this.roc * 0x10000 + this.sl) {
      this.roc = v >>> 0;
      this.sl = seq;
    }
    this.rtpReplay.accept(index);
    return rlen;
  }

  // ------------------------------------------------------------------------ SRTCP

  /** Encrypt and authenticate the RTCP compound packet in buf[0, len) in place; returns len + 14. */
  protectRtcp(buf: Uint8Array, len: number): number {
    if (len < RTCP_HEADER_BYTES) return len;
    // the index goes up by one per packet, the first one sent being 1 (as libsrtp does)
    this.rtcpIndex = (this.rtcpIndex + 1) & 0x7fffffff;
    const index = this.rtcpIndex;
    const ssrc = readU32(buf, 4);
    this.setIv(this.rtcpSalt, ssrc, 0, index);
    this.rtcpCm.xor(this.iv, buf, RTCP_HEADER_BYTES, len - RTCP_HEADER_BYTES);
    writeU32(buf, len, (0x80000000 | index) >>> 0); // E = 1: encrypted
    const tag = this.rtcpMac.mac(this.view(buf, len + 4), EMPTY);
    for (let i = 0; i < SRTP_TAG_BYTES; i++) buf[len + 4 + i] = tag[i] as number;
    return len + SRTCP_TRAILER_BYTES;
  }

  /** Check and decrypt an SRTCP packet in place; returns the RTCP length, or -1 to drop it. */
  unprotectRtcp(buf: Uint8Array, len: number): number {
    const rlen = len - SRTCP_TRAILER_BYTES;
    if (rlen < RTCP_HEADER_BYTES) return -1;
    const eIndex = readU32(buf, rlen);
    const index = eIndex & 0x7fffffff;
    const ssrc = readU32(buf, 4);
    const fresh = ssrc !== this.rtcpSsrc;
    if (!fresh && this.rtcpReplay.check(index) < 0) {
      this.counters.replayed++;
      return -1;
    }
    const tag = this.rtcpMac.mac(this.view(buf, rlen + 4), EMPTY);
    if (!tagEquals(buf, rlen + 4, tag, SRTP_TAG_BYTES)) {
      this.counters.authFailed++;
      return -1;
    }
    if (fresh) {
      this.rtcpSsrc = ssrc;
      this.rtcpReplay.reset();
    }
    if (eIndex & 0x80000000) {
      this.setIv(this.rtcpSalt, ssrc, 0, index);
      this.rtcpCm.xor(this.iv, buf, RTCP_HEADER_BYTES, rlen - RTCP_HEADER_BYTES);
    }
    this.rtcpReplay.accept(index);
    return rlen;
  }
}

const EMPTY = new Uint8Array(0);

function readU32(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Where the payload of the RTP packet in b[0, len) starts (after CSRCs and a header extension), -1 if malformed. */
function rtpPayloadOffset(b: Uint8Array, len: number): number {
  if (len < RTP_HEADER_MIN || (b[0] as number) >> 6 !== 2) return -1;
  let off = RTP_HEADER_MIN + 4 * ((b[0] as number) & 0x0f);
  if ((b[0] as number) & 0x10) {
    if (len < off + 4) return -1;
    off += 4 + 4 * (((b[off + 2] as number) << 8) | (b[off + 3] as number));
  }
  return off <= len ? off : -1;
}
