import { describe, expect, it } from 'vitest';
import { newRtpHeader, parseRtp, writeRtcpReport, writeRtpHeader, isRtcp } from '../../../sip/rtp.ts';
import { DtmfReceiver, parseDtmfInfo, writeDtmfPayload } from '../../../sip/dtmf.ts';

describe('RTP packets', () => {
  it('writes and parses a header round trip', () => {
    const buf = new Uint8Array(12 + 160);
    writeRtpHeader(buf, true, 8, 65535, 0xfffffff0, 0xdeadbeef);
    const h = newRtpHeader();
    expect(parseRtp(buf, h)).toBe(true);
    expect(h).toEqual({ marker: true, payloadType: 8, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payloadOffset: 12, payloadEnd: 172 });
  });

  it('skips CSRCs, the extension and padding; rejects non-RTP', () => {
    const buf = Buffer.alloc(12 + 8 + 8 + 10 + 4);
    writeRtpHeader(buf, false, 0, 1, 2, 3);
    buf[0] = 0x80 | 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
    buf.writeUInt16BE(1, 12 + 8 + 2); // extension length 1 word
    buf[buf.length - 1] = 4; // 4 bytes of padding
    const h = newRtpHeader();
    expect(parseRtp(buf, h)).toBe(true);
    expect(h.payloadOffset).toBe(12 + 8 + 8);
    expect(h.payloadEnd).toBe(buf.length - 4);
    expect(parseRtp(new Uint8Array(8), h)).toBe(false);
    expect(parseRtp(Buffer.from('INVITE sip:x SIP/2.0'), h)).toBe(false);
  });

  it('writes an RTCP SR + SDES compound packet', () => {
    const buf = Buffer.alloc(200);
    const n = writeRtcpReport(buf, 1234, { ntpMs: Date.now(), rtpTimestamp: 160, packets: 1, octets: 160 }, { ssrc: 99, fractionLost: 0, cumulativeLost: 0, highestSeq: 10, jitter: 3, lsr: 0, dlsr: 0 }, 'parley');
    expect(isRtcp(buf.subarray(0, n))).toBe(true);
    expect(buf[1]).toBe(200);
    expect((buf.readUInt16BE(2) + 1) * 4).toBe(52); // SR with one block
    expect(buf[52 + 1]).toBe(202);
    expect(n % 4).toBe(0);
  });
});

describe('RFC 4733 DTMF receiver', () => {
  const pkt = (event: number, end: boolean, duration: number): Uint8Array => {
    const b = new Uint8Array(4);
    writeDtmfPayload(b, 0, event, end, 10, duration);
    return b;
  };

  it('reports each digit once although the end packet comes 3 times', () => {
    const rx = new DtmfReceiver(8000);
    const got: string[] = [];
    const feed = (e: number, end: boolean, d: number, ts: number): void => {
      const r = rx.push(pkt(e, end, d), ts, 0);
      if (r) got.push(`${r.digit}:${r.durationMs}`);
    };
    for (const d of [160, 320, 480]) feed(1, false, d, 1000);
    for (let i = 0; i < 3; i++) feed(1, true, 640, 1000);
    for (const d of [160, 320]) feed(11, false, d, 5000);
    for (let i = 0; i < 3; i++) feed(11, true, 800, 5000);
    expect(got).toEqual(['1:80', '#:100']);
  });

  it('tolerates a missing marker bit and lost end packets', () => {
    const rx = new DtmfReceiver(8000);
    expect(rx.push(pkt(5, false, 160), 100, 0)).toBeUndefined();
    const next = rx.push(pkt(6, false, 160), 2000, 10); // new timestamp: 5 lost its ends
    expect(next?.digit).toBe('5');
    expect(rx.checkIdle(500)).toBeUndefined();
    expect(rx.checkIdle(1100)?.digit).toBe('6');
    expect(rx.checkIdle(3000)).toBeUndefined();
  });

  it('parses SIP INFO dtmf-relay bodies', () => {
    expect(parseDtmfInfo('application/dtmf-relay', 'Signal=5\r\nDuration=250\r\n')).toEqual({ digit: '5', durationMs: 250, source: 'info' });
    expect(parseDtmfInfo('application/dtmf-relay', 'Signal=11\r\n')?.digit).toBe('#');
    expect(parseDtmfInfo('application/dtmf', '*')?.digit).toBe('*');
    expect(parseDtmfInfo('application/dtmf-relay', 'Signal=Z')).toBeUndefined();
    expect(parseDtmfInfo('text/plain', '5')).toBeUndefined();
  });
});
