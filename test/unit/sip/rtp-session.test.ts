/**
 * RtpSession on real UDP sockets (127.0.0.1), paced by a FramePacer whose timer the test fires by hand:
 * symmetric RTP latching, the connected socket it sends from once latched, moving the latch when the
 * source goes quiet, a re-INVITE that moves the media, and RTCP on a muxed (connected) socket.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { FramePacer } from '../../../audio/index.ts';
import { RtpPortPool, RtpSession } from '../../../sip/rtp-session.ts';
import { newRtpHeader, parseRtp, writeRtpHeader, isRtcp } from '../../../sip/rtp.ts';
import type { RemoteAudio } from '../../../sip/sdp.ts';

const PCMU = { name: 'PCMU' as const, payloadType: 0, clockRateHz: 8000, frameTimestampStep: 160 };
const SILENCE = new Uint8Array(160).fill(0xff);

interface Peer {
  sock: dgram.Socket;
  port: number;
  rtp: Buffer[];
  rtcp: Buffer[];
  seq: number;
  send(to: number, payloadByte?: number): void;
}

let nextSeq = 100;

async function peer(): Promise<Peer> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const p: Peer = {
    sock,
    port: sock.address().port,
    rtp: [],
    rtcp: [],
    seq: (nextSeq += 1000),
    send(to, payloadByte = 0x55) {
      const b = Buffer.alloc(12 + 160, payloadByte);
      writeRtpHeader(b, false, 0, p.seq, p.seq * 160, 0x1234);
      p.seq++;
      sock.send(b, to, '127.0.0.1');
    },
  };
  sock.on('message', (m) => (isRtcp(m) ? p.rtcp : p.rtp).push(m));
  return p;
}

/** A FramePacer on a clock the test moves: tick() runs one 20 ms frame. */
function drivenPacer(): { pacer: FramePacer; tick(n?: number): void } {
  let now = 0;
  let fire: (() => void) | undefined;
  const pacer = new FramePacer({
    now: () => now,
    timer: {
      set: (fn) => {
        fire = fn;
        return 1;
      },
      clear: () => {
        fire = undefined;
      },
    },
  });
  return {
    pacer,
    tick(n = 1) {
      for (let i = 0; i < n; i++) {
        now += 20;
        fire?.();
      }
    },
  };
}

const settle = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await settle(5);
  }
};

function remote(port: number, extra: Partial<RemoteAudio> = {}): RemoteAudio {
  return { address: '127.0.0.1', port, rtcpPort: port + 1, direction: 'sendrecv', codec: PCMU, telephoneEvent: undefined, rtcpMux: false, ...extra };
}

describe('RtpSession on real sockets', () => {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  async function session(opts: { rtcpMux?: boolean } = {}): Promise<{ rtp: RtpSession; sock: dgram.Socket; port: number; heard: Uint8Array[]; pacer: ReturnType<typeof drivenPacer> }> {
    const pool = new RtpPortPool({ host: '127.0.0.1', minPort: 46000, maxPort: 46999 });
    const { rtp: sock, rtcp, port } = await pool.allocate();
    const heard: Uint8Array[] = [];
    const rtp = new RtpSession({
      rtp: sock,
      rtcp,
      localPort: port,
      codec: PCMU,
      silence: SILENCE,
      inactivityTimeoutMs: 0,
      cname: 'test',
      events: { onAudio: (p) => void heard.push(p ? Uint8Array.from(p) : new Uint8Array(0)), onDtmf: () => undefined, onTimeout: () => undefined },
    });
    open.push(rtp);
    const pacer = drivenPacer();
    void opts;
    rtp.start(pacer.pacer);
    return { rtp, sock, port, heard, pacer };
  }

  it('latches on the first packet, connects its socket to that source, and sends there', async () => {
    const s = await session();
    const sdpPeer = await peer(); // the (wrong) address the SDP gives
    const real = await peer(); // where the caller's RTP really comes from
    open.push(sdpPeer.sock, real.sock);
    s.rtp.update(remote(sdpPeer.port), 'sendrecv', SILENCE);
    s.pacer.tick(2);
    await until(() => sdpPeer.rtp.length === 2);
    expect(() => s.sock.remoteAddress()).toThrow(); // not connected before the latch

    real.send(s.port, 0x11);
    await until(() => s.heard.length === 1);
    await settle(5);
    expect(s.sock.remoteAddress()).toMatchObject({ address: '127.0.0.1', port: real.port });
    s.pacer.tick(3);
    await until(() => real.rtp.length === 3);
    expect(sdpPeer.rtp.length).toBe(2);
    // sequence numbers continue across the switch to the connected socket
    const h = newRtpHeader();
    const seqs = real.rtp.map((b) => (parseRtp(b, h), h.sequence));
    expect(seqs[1]).toBe((seqs[0]! + 1) & 0xffff);
    expect(Array.from(s.heard[0]!.subarray(0, 4))).toEqual([0x11, 0x11, 0x11, 0x11]);
  });

  it('moves the latch to another source once the latched one has been quiet for a second', async () => {
    const s = await session();
    const a = await peer();
    const b = await peer();
    open.push(a.sock, b.sock);
    s.rtp.update(remote(a.port), 'sendrecv', SILENCE);
    a.send(s.port, 0x0a);
    await until(() => s.heard.length === 1);
    await settle(5);
    expect(s.sock.remoteAddress().port).toBe(a.port);
    // a goes quiet; b starts: after the quiet second the socket hears everyone again and b takes the latch
    const t0 = Date.now();
    while (Date.now() - t0 < 1150) {
      s.pacer.tick(1);
      await settle(20);
    }
    expect(() => s.sock.remoteAddress()).toThrow(); // released: a packet from anyone can latch
    b.send(s.port, 0x0b);
    await until(() => s.heard.some((p) => p[0] === 0x0b));
    await settle(5);
    expect(s.sock.remoteAddress().port).toBe(b.port);
    const before = b.rtp.length;
    s.pacer.tick(2);
    await until(() => b.rtp.length === before + 2);
  });

  it('keeps the latch (and the connection) while the latched source keeps sending', async () => {
    const s = await session();
    const a = await peer();
    open.push(a.sock);
    s.rtp.update(remote(a.port), 'sendrecv', SILENCE);
    const t0 = Date.now();
    while (Date.now() - t0 < 1300) {
      a.send(s.port);
      s.pacer.tick(1);
      await settle(20);
    }
    expect(s.sock.remoteAddress().port).toBe(a.port);
    expect(a.rtp.length).toBeGreaterThan(20);
  });

  it('a re-INVITE moving the media disconnects at once and sends to the new SDP address until a packet latches', async () => {
    const s = await session();
    const a = await peer();
    const moved = await peer();
    open.push(a.sock, moved.sock);
    s.rtp.update(remote(a.port), 'sendrecv', SILENCE);
    a.send(s.port);
    await until(() => s.heard.length === 1);
    await settle(5);
    expect(s.sock.remoteAddress().port).toBe(a.port);
    s.rtp.update(remote(moved.port), 'sendrecv', SILENCE);
    expect(() => s.sock.remoteAddress()).toThrow();
    s.pacer.tick(2);
    await until(() => moved.rtp.length === 2);
    moved.send(s.port, 0x0c);
    await until(() => s.heard.some((p) => p[0] === 0x0c));
    await settle(5);
    expect(s.sock.remoteAddress().port).toBe(moved.port);
  });

  it('sends RTCP on the connected RTP socket when the peer muxes RTCP (rtcp-mux)', async () => {
    const s = await session({ rtcpMux: true });
    const a = await peer();
    open.push(a.sock);
    s.rtp.update(remote(a.port, { rtcpMux: true }), 'sendrecv', SILENCE);
    a.send(s.port);
    await until(() => s.heard.length === 1);
    await settle(5);
    expect(s.sock.remoteAddress().port).toBe(a.port);
    // RTCP every 250 ticks (5 s); keep a's latch alive meanwhile
    for (let i = 0; i < 250; i++) {
      if (i % 40 === 0) a.send(s.port);
      s.pacer.tick(1);
    }
    await until(() => a.rtcp.length === 1);
    expect(a.rtcp[0]![1]).toBe(200); // SR
    expect(s.rtp.stats().rtcpOut).toBe(1);
  });
});
