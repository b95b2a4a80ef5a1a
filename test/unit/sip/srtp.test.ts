/**
 * sip/srtp.ts against published vectors: RFC 3711 Appendix B.2 (the AES-CM keystream) and B.3 (key
 * derivation), and libsrtp's reference SRTP and SRTCP packets for AES_CM_128_HMAC_SHA1_80 (its
 * test/srtp_driver.c: the same master key as B.3, SSRC 0xcafebabe); then what RFC 3711 asks of the receiver:
 * the rollover counter across a sequence wrap (and reordering around it), the replay window, a bad tag.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AesCm, HmacSha1, SrtpContext, deriveSrtpKeys, SRTP_TAG_BYTES, SRTCP_TRAILER_BYTES } from '../../../sip/srtp.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MASTER = hex('E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6');

function rtp(seq: number, ssrc = 0x11223344, payloadByte = 0xab, n = 160): Buffer {
  const b = Buffer.alloc(12 + n + SRTP_TAG_BYTES);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b.fill(payloadByte, 12, 12 + n);
  return b;
}

describe('SRTP (RFC 3711) with Node crypto', () => {
  it('B.3: session keys derived from the master key and salt', () => {
    const k = deriveSrtpKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    expect(k.rtpEncKey.toString('hex').toUpperCase()).toBe('C61E7A93744F39EE10734AFE3FF7A087');
    expect(k.rtpSalt.toString('hex').toUpperCase()).toBe('30CBBC08863D8C85D49DB34A9AE1');
    expect(k.rtpAuthKey.toString('hex').toUpperCase()).toBe('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });

  it('B.2: the AES-CM keystream for session key 2B7E…, salt F0F1…FD, SSRC 0, index 0', () => {
    const cm = new AesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const head = cm.keystream(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 48).toString('hex').toUpperCase();
    expect(head).toBe('E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0');
    // blocks FEFF, FF00, FF01 of the same stream (the counter is the IV's low 16 bits)
    const tail = cm.keystream(hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF'), 48).toString('hex').toUpperCase();
    expect(tail).toBe('EC8CDF7398607CB0F2D21675EA9EA1E4' + '362B7C3C6773516318A077D7FC5073AE' + '6A2CC3787889374FBEB4C81B17BA6C44');
  });

  it("libsrtp's reference packets: SRTP and SRTCP protect to the published bytes, and back", () => {
    const plain = hex('800f1234decafbadcafebabe abababababababababababababababab');
    const buf = Buffer.alloc(plain.length + SRTP_TAG_BYTES);
    plain.copy(buf);
    const tx = new SrtpContext(MASTER);
    const n = tx.protect(buf, plain.length);
    expect(buf.subarray(0, n).toString('hex')).toBe('800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb');
    const rx = new SrtpContext(MASTER);
    expect(rx.unprotect(buf, n)).toBe(plain.length);
    expect(buf.subarray(0, plain.length).equals(plain)).toBe(true);

    const rtcp = hex('81c8000bcafebabe abababababababababababababababab');
    const rb = Buffer.alloc(rtcp.length + SRTCP_TRAILER_BYTES);
    rtcp.copy(rb);
    const m = tx.protectRtcp(rb, rtcp.length);
    expect(rb.subarray(0, m).toString('hex')).toBe('81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798');
    expect(rx.unprotectRtcp(rb, m)).toBe(rtcp.length);
    expect(rb.subarray(0, rtcp.length).equals(rtcp)).toBe(true);
  });

  it("HMAC-SHA1 (ours, allocation-free) equals Node's createHmac for every message length 0-300, with and without a tail, short and long keys", () => {
    for (const keyLen of [20, 64, 100]) {
      const key = randomBytes(keyLen);
      const mac = new HmacSha1(key);
      for (let n = 0; n <= 300; n++) {
        const msg = randomBytes(n);
        const tail = randomBytes(4);
        expect(Buffer.from(mac.mac(msg, n)).toString('hex'), `key ${keyLen}, ${n} bytes`).toBe(createHmac('sha1', key).update(msg).digest('hex'));
        expect(Buffer.from(mac.mac(msg, n, tail)).toString('hex'), `key ${keyLen}, ${n} bytes + tail`).toBe(createHmac('sha1', key).update(msg).update(tail).digest('hex'));
      }
    }
  });

  it('the keystream made ahead for 16 packets equals the one made per packet, for any payload size, late packets and jumps', () => {
    const k = deriveSrtpKeys(MASTER.subarray(0, 16), MASTER.subarray(16));
    const single = new AesCm(k.rtpEncKey, k.rtpSalt);
    const tx = new SrtpContext(MASTER);
    const rx = new SrtpContext(MASTER);
    const sizes = [160, 0, 4, 159, 161, 320, 40];
    const seqs = [...Array.from({ length: 60 }, (_v, i) => 65500 + i), 70000, 70001, 70100];
    const sent: Buffer[] = [];
    seqs.forEach((s, i) => {
      const n = sizes[i % sizes.length]!;
      const p = rtp(s, 0xcafebabe, i & 0xff, n);
      const payload = Buffer.from(p.subarray(12, 12 + n));
      const len = tx.protect(p, 12 + n);
      const want = Buffer.from(payload);
      const ks = single.keystream(single.ivFor(0xcafebabe, s), n); // index = ROC·2^16 + SEQ = s here
      for (let j = 0; j < n; j++) want[j] = want[j]! ^ ks[j]!;
      expect(p.subarray(12, 12 + n).equals(want), `seq ${s}, ${n} bytes`).toBe(true);
      sent.push(p.subarray(0, len));
    });
    // the receiver: in order except a few late ones (behind its run of keystream)
    const order = sent.map((_p, i) => i);
    [order[20], order[30]] = [order[30]!, order[20]!];
    for (const i of order) {
      const p = Buffer.from(sent[i]!);
      const n = sizes[i % sizes.length]!;
      expect(rx.unprotect(p, p.length), `packet ${i}`).toBe(12 + n);
      expect(p.subarray(12, 12 + n).every((b) => b === (i & 0xff)), `packet ${i} decrypted`).toBe(true);
    }
  });

  it('a tampered packet or one under another key is dropped; a replayed one too', () => {
    const tx = new SrtpContext(MASTER);
    const rx = new SrtpContext(MASTER);
    const p = rtp(100);
    const n = tx.protect(p, 172);
    const copy = Buffer.from(p);
    const bad = Buffer.from(p);
    bad[20] = (bad[20] as number) ^ 1;
    expect(rx.unprotect(bad, n)).toBe(-1);
    expect(rx.counters.authFailed).toBe(1);
    const other = new SrtpContext(Buffer.alloc(30, 7));
    const q = rtp(100);
    expect(rx.unprotect(q, other.protect(q, 172))).toBe(-1);
    expect(rx.unprotect(p, n)).toBe(172);
    expect(rx.unprotect(copy, n)).toBe(-1); // the same packet again
    expect(rx.counters.replayed).toBe(1);
  });

  it('replay window: late packets within 64 are taken once, older ones refused', () => {
    const tx = new SrtpContext(MASTER);
    const rx = new SrtpContext(MASTER);
    const pkts = new Map<number, Buffer>();
    for (let s = 1000; s < 1100; s++) {
      const p = rtp(s);
      tx.protect(p, 172);
      pkts.set(s, p);
    }
    const take = (s: number): number => rx.unprotect(Buffer.from(pkts.get(s)!), 182);
    expect(take(1000)).toBe(172);
    expect(take(1090)).toBe(172); // a jump ahead
    expect(take(1030)).toBe(172); // 60 behind: inside the window
    expect(take(1030)).toBe(-1); // …once
    expect(take(1020)).toBe(-1); // 70 behind: too old
    expect(take(1089)).toBe(172);
    expect(take(1099)).toBe(172);
  });

  it('rollover counter: the sender and receiver step it at the sequence wrap, also with reordering around it', () => {
    const tx = new SrtpContext(MASTER);
    const rx = new SrtpContext(MASTER);
    const sent: Array<[number, Buffer]> = [];
    for (let i = 0; i < 200; i++) {
      const seq = (65436 + i) & 0xffff;
      const p = rtp(seq, 0x11223344, i & 0xff);
      tx.protect(p, 172);
      sent.push([seq, p]);
    }
    expect(tx.rolloverCounter).toBe(1);
    // swap neighbours around the wrap (65535 ↔ 0) and drop one
    const order = sent.map((_x, i) => i);
    [order[99], order[100]] = [order[100]!, order[99]!];
    order.splice(150, 1);
    for (const i of order) {
      const [, p] = sent[i]!;
      expect(rx.unprotect(p, 182), `packet ${i}`).toBe(172);
      expect(p[12]).toBe(i & 0xff); // decrypted
    }
    expect(rx.rolloverCounter).toBe(1);
  });

  it('a new SSRC from the peer starts a fresh index state', () => {
    const rx = new SrtpContext(MASTER);
    const a = new SrtpContext(MASTER);
    const p = rtp(40000, 1);
    expect(rx.unprotect(p, a.protect(p, 172))).toBe(172);
    const b = new SrtpContext(MASTER);
    const q = rtp(5, 2);
    expect(rx.unprotect(q, b.protect(q, 172))).toBe(172);
  });
});
