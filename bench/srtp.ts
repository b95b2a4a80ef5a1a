/**
 * SRTP per-packet cost (sip/srtp.ts) for one 20 ms PCMU packet (12-byte header + 160 bytes), in one process,
 * the variants interleaved in rotated order round after round (a shared machine's load hits them alike):
 *
 *   plain     the RTP send path's own work per packet: header written, payload copied into the tx slot (baseline)
 *   protect   plain + SrtpContext.protect (AES-CM keystream made 16 packets ahead by the call's ECB cipher, our HMAC-SHA1)
 *   roundtrip plain + protect + unprotect on the receiving side's context (what one packet costs both ends)
 *   naive     plain + a per-packet createCipheriv('aes-128-ctr') and createHmac('sha1'): the straightforward way
 *
 * Prints per packet ns (median [IQR] over the rounds), each variant / plain per round (median), what SRTP adds
 * per call-second (50 packets each way: one protect + one unprotect per packet). Allocation, by design: protect
 * and unprotect make one Buffer per 16 packets (the keystream run); naive makes a cipher, an Hmac, the
 * ciphertext and the digest per packet.
 *
 *   npx tsx bench/srtp.ts [--rounds 15] [--packets 20000]
 */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { writeRtpHeader } from '../sip/rtp.ts';
import { SrtpContext, SRTP_TAG_BYTES, deriveSrtpKeys } from '../sip/srtp.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('rounds', 15);
const PACKETS = arg('packets', 20000);
const PAYLOAD = 160;
const LEN = 12 + PAYLOAD;

const master = randomBytes(30);
const payload = randomBytes(PAYLOAD);
const buf = Buffer.alloc(LEN + SRTP_TAG_BYTES);
const keys = deriveSrtpKeys(master.subarray(0, 16), master.subarray(16));
let seq = 0;
let ts = 0;
let sink = 0;

function plainPacket(): void {
  writeRtpHeader(buf, false, 0, seq, ts, 0x12345678);
  buf.set(payload, 12);
  seq = (seq + 1) & 0xffff;
  ts = (ts + 160) >>> 0;
}

let tx = new SrtpContext(master);
let rx = new SrtpContext(master);
const iv = Buffer.alloc(16);

const variants: Record<string, (n: number) => void> = {
  plain: (n) => {
    for (let i = 0; i < n; i++) {
      plainPacket();
      sink ^= buf[20] as number;
    }
  },
  protect: (n) => {
    for (let i = 0; i < n; i++) {
      plainPacket();
      sink ^= tx.protect(buf, LEN);
    }
  },
  roundtrip: (n) => {
    for (let i = 0; i < n; i++) {
      plainPacket();
      const m = tx.protect(buf, LEN);
      sink ^= rx.unprotect(buf, m);
    }
  },
  naive: (n) => {
    for (let i = 0; i < n; i++) {
      plainPacket();
      keys.rtpSalt.copy(iv, 0);
      iv[12] = (iv[12] as number) ^ (seq >>> 8);
      iv[13] = (iv[13] as number) ^ (seq & 0xff);
      const c = createCipheriv('aes-128-ctr', keys.rtpEncKey, iv);
      const enc = c.update(buf.subarray(12, LEN));
      enc.copy(buf, 12);
      const tag = createHmac('sha1', keys.rtpAuthKey).update(buf.subarray(0, LEN)).update(Buffer.alloc(4)).digest();
      sink ^= tag[0] as number;
    }
  },
};
const names = Object.keys(variants);

// warm-up (and a check that the receiving side takes what the sending side makes)
for (const n of names) variants[n]?.(2000);
if (rx.counters.authFailed || rx.counters.replayed) throw new Error('round trip failed');

const perPacket: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const ratios: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
const vsNaive: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));

for (let r = 0; r < ROUNDS; r++) {
  const order = names.map((_n, i) => names[(i + r) % names.length] as string);
  const round: Record<string, number> = {};
  for (const n of order) {
    // fresh contexts each round: the receiver's window follows this sender only
    tx = new SrtpContext(master);
    rx = new SrtpContext(master);
    const t0 = performance.now();
    variants[n]?.(PACKETS);
    const dt = performance.now() - t0;
    round[n] = (dt * 1e6) / PACKETS;
    perPacket[n]?.push(round[n]);
  }
  for (const n of names) {
    ratios[n]?.push((round[n] as number) / (round['plain'] as number));
    vsNaive[n]?.push((round[n] as number) / (round['naive'] as number));
  }
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] as number;
};
const fmt = (x: number, d = 0): string => x.toFixed(d);

console.log(`SRTP per packet (PCMU 20 ms, ${LEN} B), ${ROUNDS} rounds × ${PACKETS} packets, node ${process.version}`);
console.log('variant     ns/packet median [IQR]        × plain (median [IQR])   × naive (median)');
for (const n of names) {
  const p = perPacket[n] as number[];
  const r = ratios[n] as number[];
  console.log(
    `${n.padEnd(10)}  ${fmt(q(p, 0.5)).padStart(6)} [${fmt(q(p, 0.25))}–${fmt(q(p, 0.75))}]`.padEnd(40) +
      `${fmt(q(r, 0.5), 1).padStart(6)} [${fmt(q(r, 0.25), 1)}–${fmt(q(r, 0.75), 1)}]`.padEnd(25) +
      `${fmt(q(vsNaive[n] as number[], 0.5), 2)}`,
  );
}
const protectNs = q(perPacket['protect'] as number[], 0.5) - q(perPacket['plain'] as number[], 0.5);
const roundNs = q(perPacket['roundtrip'] as number[], 0.5) - q(perPacket['plain'] as number[], 0.5);
const perCallSecondUs = (roundNs * 50) / 1000; // 50 packets out (protect) and 50 in (unprotect) per second
console.log(`SRTP adds ${fmt(protectNs)} ns per packet sent, ${fmt(roundNs - protectNs)} ns per packet received;`);
console.log(`per call-second (50 out + 50 in): ${fmt(perCallSecondUs, 1)} µs CPU = ${fmt(perCallSecondUs / 10, 2)} % of a core per 1000 calls, i.e. ${fmt(1e6 / perCallSecondUs)} calls per core for SRTP alone`);
if (sink === 0.5) console.log(sink);
