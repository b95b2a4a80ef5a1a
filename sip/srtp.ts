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
 * (Node's crypto, OpenSSL: AES-NI, constant time) per key, kept open for the call, which encrypts the packet's
 * counter blocks (written into a reused buffer) into its keystream; HMAC-SHA1 is computed here (HmacSha1) with
 * the key pads compressed once, into reused buffers. What Node still allocates per packet (its cipher API has
 * no "into" variant): the keystream buffer from `update`. bench/srtp.ts measures the cost.
 *
 * Index and replay (RFC 3711 §3.3.1, Appendix A): the receiver guesses the rollover counter from the
 * sequence number and its highest index so far, refuses a packet older than the 64-packet replay window or
 * seen before, and moves its state only after the tag checked out. SRTCP carries its 31-bit index in the
 * packet (E flag set: every SRTCP packet we send is encrypted) and has its own 64-packet replay window.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { Cipher } from 'node:crypto';
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

/** Keystream made ahead: for this many packet indexes at once, this many 16-byte blocks each (160 bytes: 20 ms of G.711). */
const KS_PACKETS = 16;
const KS_BLOCKS = 10;

/**
 * AES-CM (RFC 3711 §4.1.1) with one key: XORs the keystream for a 128-bit IV into bytes in place.
 * The keystream depends only on the salt, the SSRC and the packet index, not on the data: `xorPacket` makes it
 * for the next KS_PACKETS indexes in one cipher call (one Buffer per 16 packets instead of per packet) and
 * takes each packet's from there; a packet behind that run (late) or longer than KS_BLOCKS blocks gets its own.
 */
export class AesCm {
  private readonly ecb: Cipher;
  private readonly ctr = Buffer.alloc(Math.max(MAX_PACKET_BYTES + 16, KS_PACKETS * KS_BLOCKS * 16));
  /** ctr views by block count, made once each (no view per packet). */
  private readonly views: Buffer[] = [];
  private readonly salt: Uint8Array;
  private readonly iv = Buffer.alloc(16);
  private ks: Buffer | undefined;
  private ksFirst = -1;
  private ksSsrc = -1;

  constructor(key: Uint8Array, salt: Uint8Array = new Uint8Array(14)) {
    this.ecb = ecbCipher(Buffer.from(key));
    this.salt = salt;
  }

  /** IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16), the 48-bit index a JS number (RFC 3711 §4.1.1). */
  ivFor(ssrc: number, index: number, iv: Uint8Array = this.iv): Uint8Array {
    const hi = Math.floor(index / 4294967296);
    writeIv(iv, this.salt, ssrc, hi, (index - hi * 4294967296) >>> 0);
    return iv;
  }

  /** data[off, off+len) ^= the keystream of packet `index` of `ssrc`. */
  xorPacket(ssrc: number, index: number, data: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    if (len > KS_BLOCKS * 16 || (ssrc === this.ksSsrc && index < this.ksFirst)) {
      this.xor(this.ivFor(ssrc, index), data, off, len);
      return;
    }
    if (ssrc !== this.ksSsrc || index >= this.ksFirst + KS_PACKETS || !this.ks) this.fill(ssrc, index);
    const ks = this.ks as Buffer;
    const base = (index - this.ksFirst) * KS_BLOCKS * 16;
    for (let i = 0; i < len; i++) data[off + i] = (data[off + i] as number) ^ (ks[base + i] as number);
  }

  /** The keystream of packets first … first+KS_PACKETS-1 (KS_BLOCKS blocks each), in one cipher call. */
  private fill(ssrc: number, first: number): void {
    const ctr = this.ctr;
    const iv = this.iv;
    for (let p = 0; p < KS_PACKETS; p++) {
      this.ivFor(ssrc, first + p, iv);
      for (let b = 0; b < KS_BLOCKS; b++) {
        const o = (p * KS_BLOCKS + b) << 4;
        for (let i = 0; i < 14; i++) ctr[o + i] = iv[i] as number;
        ctr[o + 14] = 0;
        ctr[o + 15] = b;
      }
    }
    this.ks = this.ecb.update(this.view(KS_PACKETS * KS_BLOCKS));
    this.ksFirst = first;
    this.ksSsrc = ssrc;
  }

  private view(blocks: number): Buffer {
    let view = this.views[blocks];
    if (!view) {
      view = this.ctr.subarray(0, blocks << 4);
      this.views[blocks] = view;
    }
    return view;
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
    const ks = this.ecb.update(this.view(blocks));
    for (let i = 0; i < len; i++) data[off + i] = (data[off + i] as number) ^ (ks[i] as number);
  }
}

/**
 * HMAC-SHA1 (RFC 2104, FIPS 180-4) over a message given as (bytes, length) ‖ a 4-byte tail, into a reused
 * 20-byte result, allocating nothing: the two key pads are compressed once (the states after them are kept),
 * each message is copied with its padding into a reused block buffer and compressed from the inner state, the
 * inner digest then in one block from the outer state. SHA-1 is additions, rotations and bit operations on
 * 32-bit words only (no table lookups, no data-dependent branches): its timing does not depend on the data.
 * Node's createHmac/createHash cannot be reset or written into (one object and one digest Buffer per packet,
 * and a native call each: several µs a packet, bench/srtp.ts), hence this.
 */
export class HmacSha1 {
  /** the last result (valid until the next mac) */
  readonly out = new Uint8Array(20);
  private readonly ih = new Int32Array(5);
  private readonly oh = new Int32Array(5);
  private readonly h = new Int32Array(5);
  private readonly w = new Int32Array(80);
  private readonly block: Uint8Array;

  constructor(key: Uint8Array, maxMessageBytes = MAX_PACKET_BYTES + 32) {
    this.block = new Uint8Array(((maxMessageBytes + 4 + 9 + 63) >>> 6) << 6);
    const pad = new Uint8Array(64);
    const k = key.length > 64 ? createHash('sha1').update(key).digest() : key;
    for (const [state, byte] of [
      [this.ih, 0x36],
      [this.oh, 0x5c],
    ] as const) {
      for (let i = 0; i < 64; i++) pad[i] = (i < k.length ? (k[i] as number) : 0) ^ byte;
      state.set(SHA1_IV);
      this.compress(state, pad, 0);
    }
  }

  /** HMAC(key, msg[0, len) ‖ tail) → this.out. `tail`: 4 bytes (the ROC, the SRTCP E‖index) or none. */
  mac(msg: Uint8Array, len: number, tail?: Uint8Array): Uint8Array {
    const b = this.block;
    const tl = tail ? tail.length : 0;
    const n = len + tl;
    if (n + 9 > b.length) throw new SipError('SIP_ERR_BAD_SDP', 'packet too large for SRTP');
    for (let i = 0; i < len; i++) b[i] = msg[i] as number;
    for (let i = 0; i < tl; i++) b[len + i] = (tail as Uint8Array)[i] as number;
    const total = ((n + 9 + 63) >>> 6) << 6;
    b[n] = 0x80;
    for (let i = n + 1; i < total - 4; i++) b[i] = 0;
    writeU32(b, total - 4, ((n + 64) * 8) >>> 0); // the length in bits, the ipad block included (< 2^32)
    const h = this.h;
    h.set(this.ih);
    for (let o = 0; o < total; o += 64) this.compress(h, b, o);
    // outer: opad state, then the 20-byte inner digest in one padded block
    for (let i = 0; i < 5; i++) writeU32(b, 4 * i, h[i] as number);
    b[20] = 0x80;
    for (let i = 21; i < 60; i++) b[i] = 0;
    writeU32(b, 60, (64 + 20) * 8);
    h.set(this.oh);
    this.compress(h, b, 0);
    const out = this.out;
    for (let i = 0; i < 5; i++) writeU32(out, 4 * i, h[i] as number);
    return out;
  }

  private compress(h: Int32Array, b: Uint8Array, o: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const j = o + 4 * t;
      w[t] = ((b[j] as number) << 24) | ((b[j + 1] as number) << 16) | ((b[j + 2] as number) << 8) | (b[j + 3] as number);
    }
    for (let t = 16; t < 80; t++) {
      const x = (w[t - 3] as number) ^ (w[t - 8] as number) ^ (w[t - 14] as number) ^ (w[t - 16] as number);
      w[t] = (x << 1) | (x >>> 31);
    }
    let a = h[0] as number;
    let bb = h[1] as number;
    let c = h[2] as number;
    let d = h[3] as number;
    let e = h[4] as number;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (bb & c) | (~bb & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = bb ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (bb & c) | (bb & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = bb ^ c ^ d;
        k = 0xca62c1d6;
      }
      const tmp = (((a << 5) | (a >>> 27)) + f + e + k + (w[t] as number)) | 0;
      e = d;
      d = c;
      c = (bb << 30) | (bb >>> 2);
      bb = a;
      a = tmp;
    }
    h[0] = ((h[0] as number) + a) | 0;
    h[1] = ((h[1] as number) + bb) | 0;
    h[2] = ((h[2] as number) + c) | 0;
    h[3] = ((h[3] as number) + d) | 0;
    h[4] = ((h[4] as number) + e) | 0;
  }
}

const SHA1_IV = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0]);

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
  private readonly rtcpCm: AesCm;
  private readonly rtcpMac: HmacSha1;
  private readonly rtcpSalt: Buffer;
  private readonly iv = Buffer.alloc(16);
  private readonly roc4 = Buffer.alloc(4);
  private readonly rtcpIdx4 = Buffer.alloc(4);
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
    this.rtpCm = new AesCm(k.rtpEncKey, k.rtpSalt);
    this.rtpMac = new HmacSha1(k.rtpAuthKey);
    this.rtcpCm = new AesCm(k.rtcpEncKey, k.rtcpSalt);
    this.rtcpMac = new HmacSha1(k.rtcpAuthKey);
    this.rtcpSalt = k.rtcpSalt;
  }

  /** The rollover counter of the current SSRC (tests). */
  get rolloverCounter(): number {
    return this.roc;
  }


  /** IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16), index = 48 bits given as hi16:lo32 (RFC 3711 §4.1.1). */
  private setIv(salt: Buffer, ssrc: number, indexHi: number, indexLo: number): void {
    writeIv(this.iv, salt, ssrc, indexHi, indexLo);
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
    const tag = this.rtpMac.mac(buf, len, this.roc4);
    for (let i = 0; i < SRTP_TAG_BYTES; i++) buf[len + i] = tag[i] as number;
    return len + SRTP_TAG_BYTES;
  }

  private encryptRtp(buf: Uint8Array, off: number, len: number, ssrc: number, roc: number, seq: number): void {
    this.rtpCm.xorPacket(ssrc, roc * 0x10000 + seq, buf, off, len - off); // index = ROC·2^16 + SEQ
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
    const tag = this.rtpMac.mac(buf, rlen, this.roc4);
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
    const tag = this.rtcpMac.mac(buf, len + 4);
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
    const tag = this.rtcpMac.mac(buf, rlen + 4);
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

/** IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16) into `iv`, the 48-bit index as hi16:lo32 (RFC 3711 §4.1.1). */
function writeIv(iv: Uint8Array, salt: Uint8Array, ssrc: number, hi: number, lo: number): void {
  for (let i = 0; i < 14; i++) iv[i] = salt[i] as number;
  iv[14] = 0;
  iv[15] = 0;
  iv[4] = (iv[4] as number) ^ ((ssrc >>> 24) & 0xff);
  iv[5] = (iv[5] as number) ^ ((ssrc >>> 16) & 0xff);
  iv[6] = (iv[6] as number) ^ ((ssrc >>> 8) & 0xff);
  iv[7] = (iv[7] as number) ^ (ssrc & 0xff);
  iv[8] = (iv[8] as number) ^ ((hi >>> 8) & 0xff);
  iv[9] = (iv[9] as number) ^ (hi & 0xff);
  iv[10] = (iv[10] as number) ^ ((lo >>> 24) & 0xff);
  iv[11] = (iv[11] as number) ^ ((lo >>> 16) & 0xff);
  iv[12] = (iv[12] as number) ^ ((lo >>> 8) & 0xff);
  iv[13] = (iv[13] as number) ^ (lo & 0xff);
}
