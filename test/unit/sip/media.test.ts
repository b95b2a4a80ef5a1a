import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alawEncode, mulawDecode } from '../../../audio/index.ts';
import { MediaAdapter } from '../../../sip/media-adapter.ts';
import { FrameQueue } from '../../../sip/frame-queue.ts';
import { DigestAuthenticator, SourceFilter, parseDigestParams } from '../../../sip/access.ts';
import type { NegotiatedCodec } from '../../../sip/sdp.ts';

const PCMU: NegotiatedCodec = { name: 'PCMU', payloadType: 0, clockRateHz: 8000, frameTimestampStep: 160 };
const PCMA: NegotiatedCodec = { name: 'PCMA', payloadType: 8, clockRateHz: 8000, frameTimestampStep: 160 };
const OPUS: NegotiatedCodec = { name: 'opus', payloadType: 111, clockRateHz: 48000, frameTimestampStep: 960 };
const sine = (n: number, rate: number, hz = 440, amp = 8000): Int16Array => Int16Array.from({ length: n }, (_v, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));

describe('MediaAdapter', () => {
  it('passes μ-law through untouched (same bytes in, whole 160-byte frames out)', () => {
    const a = new MediaAdapter(PCMU, { encoding: 'pcmu' });
    expect(a.passthrough).toBe(true);
    const payload = Uint8Array.from({ length: 160 }, (_v, i) => i);
    let got: Uint8Array | undefined;
    a.decodeIn(payload, (c) => (got = c));
    expect(got).toBe(payload); // the very same view: no copy
    const frames: number[] = [];
    a.encodeOut(new Uint8Array(100), (f) => frames.push(f.length));
    a.encodeOut(new Uint8Array(300), (f) => frames.push(f.length));
    expect(frames).toEqual([160, 160]); // 400 bytes → 2 frames + 80 buffered
    a.resetOut();
    a.encodeOut(new Uint8Array(100), (f) => frames.push(f.length));
    expect(frames).toEqual([160, 160]); // the partial frame was dropped by the flush
  });

  it('decodes A-law to 24 kHz pcm16 and encodes 24 kHz pcm16 back to A-law frames', () => {
    const a = new MediaAdapter(PCMA, { encoding: 'pcm16', sampleRateHz: 24000 });
    const chunks: number[] = [];
    for (let i = 0; i < 5; i++) a.decodeIn(alawEncode(sine(160, 8000)), (c) => chunks.push(c.length));
    expect(chunks.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(4 * 960);
    const pcm = sine(4800, 24000); // 200 ms
    const frames: Uint8Array[] = [];
    a.encodeOut(new Uint8Array(pcm.buffer), (f) => frames.push(f.slice()));
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.every((f) => f.length === 160)).toBe(true);
  });

  it('transcodes a PCMA call for a μ-law application', () => {
    const a = new MediaAdapter(PCMA, { encoding: 'pcmu' });
    const src = sine(160, 8000);
    let out: Uint8Array | undefined;
    a.decodeIn(alawEncode(src), (c) => (out = c.slice()));
    const back = mulawDecode(out!);
    let err = 0;
    for (let i = 0; i < 160; i++) err = Math.max(err, Math.abs(back[i]! - src[i]!));
    expect(err).toBeLessThan(600); // two companding steps
    expect(a.silence[0]).toBe(0xd5);
    expect(new MediaAdapter(PCMU, { encoding: 'pcmu' }).silence[0]).toBe(0xff);
  });

  it('round-trips Opus at 48 kHz RTP clock to 24 kHz pcm16 with concealment for lost frames', () => {
    const tx = new MediaAdapter(OPUS, { encoding: 'pcm16', sampleRateHz: 24000 });
    const rx = new MediaAdapter(OPUS, { encoding: 'pcm16', sampleRateHz: 24000 });
    const packets: Uint8Array[] = [];
    tx.encodeOut(new Uint8Array(sine(24000 / 5, 24000).buffer), (f) => packets.push(f.slice()));
    expect(packets.length).toBe(10);
    const sizes: number[] = [];
    for (const p of packets) rx.decodeIn(p, (c) => sizes.push(c.length));
    rx.decodeIn(null, (c) => sizes.push(c.length)); // a lost frame: PLC
    expect(sizes.every((s) => s === 960)).toBe(true);
    expect(sizes.length).toBe(11);
  });
});

describe('FrameQueue', () => {
  it('is FIFO, grows past its capacity, and clears', () => {
    const q = new FrameQueue(160, 2);
    for (let i = 0; i < 5; i++) q.push(new Uint8Array(160).fill(i));
    expect(q.length).toBe(5);
    expect(q.shift()?.[0]).toBe(0);
    expect(q.shift()?.[0]).toBe(1);
    q.push(new Uint8Array(10).fill(9));
    expect(q.clear()).toBe(4);
    expect(q.shift()).toBeUndefined();
  });
});

describe('inbound trust', () => {
  it('matches sources against CIDRs (IPv4, IPv6, v4-mapped)', () => {
    const f = new SourceFilter(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']);
    expect(f.allows('10.2.3.4')).toBe(true);
    expect(f.allows('::ffff:10.9.9.9')).toBe(true);
    expect(f.allows('192.168.1.7')).toBe(true);
    expect(f.allows('192.168.1.8')).toBe(false);
    expect(f.allows('2001:db8:1::5')).toBe(true);
    expect(f.allows('2001:db9::1')).toBe(false);
    expect(new SourceFilter([]).allows('8.8.8.8')).toBe(true);
    expect(() => new SourceFilter(['10.0.0.0/40'])).toThrowError(expect.objectContaining({ code: 'SIP_ERR_CONFIG' }));
  });

  it('verifies an RFC 2617 digest response with qop=auth, and rejects a wrong password', () => {
    const auth = new DigestAuthenticator({ realm: 'parley', user: 'pbx', password: 's3cret' });
    const ch = parseDigestParams(auth.challenge().replace(/^WWW-Authenticate:\s*/, ''));
    const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
    const make = (password: string): string => {
      const ha1 = md5(`pbx:parley:${password}`);
      const ha2 = md5('INVITE:sip:1000@127.0.0.1');
      const response = md5(`${ha1}:${ch.nonce}:00000001:abc:auth:${ha2}`);
      return `Digest username="pbx", realm="parley", nonce="${ch.nonce}", uri="sip:1000@127.0.0.1", response="${response}", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5`;
    };
    expect(auth.verify(make('s3cret'), 'INVITE')).toBe('ok');
    expect(auth.verify(make('wrong'), 'INVITE')).toBe('bad');
    expect(auth.verify(undefined, 'INVITE')).toBe('missing');
    expect(auth.verify(make('s3cret').replace(ch.nonce!, `${ch.nonce}0`), 'INVITE')).toBe('bad');
  });
});
