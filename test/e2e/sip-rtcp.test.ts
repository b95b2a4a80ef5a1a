/**
 * RTCP receiver statistics (RFC 3550 §6.4.1, A.3) on a real call: the test sends real RTP with gaps (and
 * RFC 4733 events in the same sequence space, across a sequence wrap) to Parley over UDP on 127.0.0.1 and
 * reads the report blocks of the RTCP packets Parley sends back (every 5 s).
 */
import dgram from 'node:dgram';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { SipServer } from '../../sip/index.ts';
import { rtpRange, testLog, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

const servers: SipServer[] = [];
const sockets: dgram.Socket[] = [];
const uacs: MiniUac[] = [];
afterEach(async () => {
  for (const u of uacs.splice(0)) u.close();
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(() => undefined);

interface ReportBlock {
  ssrc: number;
  fractionLost: number;
  cumulativeLost: number;
  highestSeq: number;
  jitter: number;
}

/** The first report block of an RTCP compound packet (SR or RR). */
function reportBlock(pkt: Buffer): ReportBlock | undefined {
  if (pkt.length < 8 || pkt[0]! >> 6 !== 2 || (pkt[0]! & 0x1f) === 0) return undefined;
  const pt = pkt[1];
  const off = pt === 200 ? 28 : pt === 201 ? 8 : -1;
  if (off < 0 || pkt.length < off + 24) return undefined;
  const lost = pkt.readUIntBE(off + 5, 3);
  return {
    ssrc: pkt.readUInt32BE(off),
    fractionLost: pkt[off + 4]!,
    cumulativeLost: lost & 0x800000 ? lost - 0x1000000 : lost,
    highestSeq: pkt.readUInt32BE(off + 8),
    jitter: pkt.readUInt32BE(off + 12),
  };
}

describe('RTCP reports of a call', () => {
  it('carry fraction lost since the last report, cumulative lost, extended highest sequence and jitter (RFC 3550 A.3)', async () => {
    const server = await startSipServer({ ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange() }, { log: testLog, onCall: () => undefined });
    servers.push(server);
    const rtcp = dgram.createSocket('udp4');
    sockets.push(rtcp);
    await new Promise<void>((r) => rtcp.bind(0, '127.0.0.1', () => r()));
    const reports: ReportBlock[] = [];
    rtcp.on('message', (m) => {
      const b = reportBlock(m);
      if (b) reports.push(b);
    });
    const u = new MiniUac(server.port);
    uacs.push(u);
    await u.bind();
    await u.call({ pts: [0, 101], sdpLines: [`a=rtcp:${rtcp.address().port}`] });

    const SSRC = 0x1234abcd;
    const FIRST = 65_400; // the sequence wraps during the first interval
    let seq = FIRST; // extended: no & 0xffff until the packet is written
    let ts = 1000;
    const sent = new Set<number>(); // extended sequence numbers that went out
    const pkt = Buffer.alloc(12 + 160, 0xff);
    const send = (pt: number, payload?: Buffer): void => {
      pkt[0] = 0x80;
      pkt[1] = pt;
      pkt.writeUInt16BE(seq & 0xffff, 2);
      pkt.writeUInt32BE(ts >>> 0, 4);
      pkt.writeUInt32BE(SSRC, 8);
      const len = payload ? 12 + payload.copy(pkt, 12) : pkt.length;
      u.rtp.send(pkt.subarray(0, len), u.serverRtpPort, '127.0.0.1');
      sent.add(seq);
    };
    // the first 3 s (the first report comes 5 s into the call): every 10th audio packet is lost on the way;
    // then nothing is lost, and DTMF events (PT 101, same sequence space) come in between
    let i = 0;
    const t0 = performance.now();
    let stopped = false;
    const tick = (): void => {
      if (stopped) return;
      if (i < 150 && i % 10 === 9) {
        seq++; // lost: never sent
      } else if (i >= 150 && i % 50 === 25) {
        for (let k = 0; k < 3; k++) {
          send(101, Buffer.from([5, k === 2 ? 0x80 | 10 : 10, 0, 160 * (k + 1)]));
          seq++;
        }
      } else {
        send(0);
        seq++;
      }
      ts += 160;
      i++;
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    tick();
    try {
      await waitFor(() => reports.length >= 2, 14_000, 'two RTCP reports');
    } finally {
      stopped = true;
    }
    const [r1, r2] = reports as [ReportBlock, ReportBlock];
    const count = (from: number, to: number): number => {
      let n = 0;
      for (let s = from; s <= to; s++) if (sent.has(s)) n++;
      return n;
    };
    // what Parley had received when it wrote each report: every packet we sent up to its highest sequence
    const high1 = r1.highestSeq;
    const high2 = r2.highestSeq;
    expect(high1).toBeGreaterThan(65_535); // extended: one cycle counted
    expect(sent.has(high1) && sent.has(high2)).toBe(true);
    const expected1 = high1 - FIRST + 1;
    const lost1 = expected1 - count(FIRST, high1);
    expect(lost1).toBeGreaterThan(10);
    expect(r1.ssrc).toBe(SSRC);
    expect(r1.cumulativeLost).toBe(lost1);
    expect(r1.fractionLost).toBe(Math.floor((lost1 * 256) / expected1)); // ≈ 10 % → 25
    expect(r1.fractionLost).toBeGreaterThan(0);
    // second interval: the fraction counts only what was lost since the first report
    expect(high2).toBeGreaterThan(high1);
    const expected2 = high2 - high1;
    const lost2 = expected2 - count(high1 + 1, high2);
    expect(r2.fractionLost).toBe(lost2 > 0 ? Math.floor((lost2 * 256) / expected2) : 0);
    expect(r2.cumulativeLost).toBe(lost1 + lost2);
    if (high1 >= FIRST + 150) {
      // the losses all fell in the first interval; the DTMF packets are received packets, not gaps
      expect(lost2).toBe(0);
      expect(r2.fractionLost).toBe(0);
    }
    // interarrival jitter in 8 kHz timestamp units: a deadline-paced sender on loopback stays far below 100 ms
    expect(r2.jitter).toBeLessThan(800);
    await u.bye();
  }, 30_000);
});
