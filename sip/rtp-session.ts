/**
 * One call's RTP/RTCP media (RFC 3550) on its own UDP socket pair from the configured port range.
 *
 * In: parse → latch the peer's address (symmetric RTP, RFC 4961: send to where packets come from; SDP
 * addresses lie behind NAT) → telephone-events to the DTMF receiver, audio through the audio core's
 * JitterBuffer (reorder, drop late/duplicate) → the application, at once (no playout delay toward the AI).
 * Out: on each tick of the shared 20 ms deadline FramePacer, one packet: a queued DTMF event, else a
 * queued audio frame, else codec silence (peers and PBXs expect continuous RTP). SSRC, sequence and
 * timestamp are kept across re-INVITEs; the timestamp follows real time (advances on every tick).
 * RTCP: SR (or RR) + SDES every 5 s to the peer's RTCP port. A call with no RTP for `inactivityTimeoutMs`
 * (not counting hold) is reported dead.
 *
 * Once latched, the RTP socket is connected to the peer (connect(2)): a packet then goes out without dgram's
 * per-packet address lookup (a closure and a nextTick each) and without the kernel's per-packet route lookup.
 * A connected socket hears only its peer, so when the latched source goes quiet for a second (the moment the
 * latch may move, as before) the socket is disconnected again and hears everyone; the next packet latches and
 * reconnects. A re-INVITE that moves the media disconnects at once.
 *
 * SRTP (sip/srtp.ts, keys by SDES in the SDP): when the negotiated stream carries the peer's key, every packet
 * out is encrypted and tagged in its tx slot just before it leaves (RTCP too, as SRTCP), and every packet in is
 * checked and decrypted in place in dgram's buffer before anything else looks at it: a packet that fails the
 * tag or the replay check is dropped, so it can neither take the latch nor reach the jitter buffer.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { JitterBuffer } from '../audio/index.ts';
import type { FramePacer } from '../audio/index.ts';
import { SipError } from './errors.ts';
import { FrameQueue } from './frame-queue.ts';
import { DtmfReceiver, digitToEvent, writeDtmfPayload } from './dtmf.ts';
import type { DtmfDigit } from './dtmf.ts';
import { RTP_HEADER_BYTES, isRtcp, newRtpHeader, parseRtp, readRtcpSenderReport, writeRtcpReport, writeRtpHeader } from './rtp.ts';
import type { Direction, NegotiatedCodec, RemoteAudio, TelephoneEvent } from './sdp.ts';
import { MAX_CODEC_FRAME_BYTES } from './media-adapter.ts';
import { SrtpContext, SRTCP_TRAILER_BYTES, SRTP_TAG_BYTES, newMasterKeySalt } from './srtp.ts';

const TX_RING = 8; // packet buffers rotated per tick: a send completes long before its buffer comes round again
const RX_SLOTS = 32; // > the jitter buffer's maxFrames (16): a slot is never reused while still queued
/** The jitter buffer reorders but holds nothing back for playout: frames go to the application at once. */
const JITTER_DEPTH_FRAMES = 0;
const G711_SLOT_BYTES = 480; // up to 60 ms of G.711 per packet (peers may ignore our ptime 20)
const RTCP_EVERY_TICKS = 250; // 5 s
const HOUSEKEEPING_EVERY_TICKS = 25; // 0.5 s
const DTMF_VOLUME = 10; // -10 dBm0
const RELATCH_QUIET_MS = 1000; // the latched source silent this long: another source may take the latch
const QUIET_CHECK_EVERY_TICKS = 5; // 100 ms: a connected socket is released within this of the quiet mark

export interface PortPoolOptions {
  host: string;
  minPort: number;
  maxPort: number;
}

/** Hands out even RTP ports (RTCP on +1) from a range; skips ports that are taken (other processes, parallel tests). */
export class RtpPortPool {
  private readonly opts: PortPoolOptions;
  private next: number;
  private readonly inUse = new Set<number>();
  /** The last allocate() found no pair it could bind (ports taken by other processes count): until a release. */
  private exhausted = false;
  /** The first even port of the range, and how many RTP/RTCP pairs the range holds. */
  private readonly first: number;
  private readonly pairs: number;

  constructor(opts: PortPoolOptions) {
    if (opts.minPort > opts.maxPort - 1) throw new SipError('SIP_ERR_CONFIG', `bad RTP port range ${opts.minPort}-${opts.maxPort}`);
    this.opts = opts;
    this.first = opts.minPort % 2 ? opts.minPort + 1 : opts.minPort;
    this.pairs = Math.floor((opts.maxPort - this.first + 1) / 2);
    const span = Math.floor((opts.maxPort - opts.minPort) / 2);
    this.next = opts.minPort + 2 * Math.floor(Math.random() * Math.max(1, span)) + (opts.minPort % 2);
    if (this.next % 2) this.next++;
  }

  get active(): number {
    return this.inUse.size;
  }

  /** No RTP port pair to give: every pair of the range is ours, or the last allocation found none free. */
  get full(): boolean {
    return this.exhausted || this.inUse.size >= this.pairs;
  }

  async allocate(): Promise<{ rtp: dgram.Socket; rtcp: dgram.Socket; port: number }> {
    const { minPort, maxPort, host } = this.opts;
    const first = this.first;
    for (let i = 0; i < this.pairs; i++) {
      let port = this.next;
      this.next += 2;
      if (this.next + 1 > maxPort) this.next = first;
      if (port + 1 > maxPort || port < first) port = first;
      if (this.inUse.has(port)) continue;
      const rtp = await bindUdp(host, port);
      if (!rtp) continue;
      const rtcp = await bindUdp(host, port + 1);
      if (!rtcp) {
        rtp.close();
        continue;
      }
      this.inUse.add(port);
      return { rtp, rtcp, port };
    }
    this.exhausted = true;
    throw new SipError('SIP_ERR_NO_RTP_PORT', `no free RTP port in ${minPort}-${maxPort}`, { retryable: true });
  }

  release(port: number): void {
    this.inUse.delete(port);
    this.exhausted = false;
  }
}

function queueFor(codec: NegotiatedCodec): FrameQueue {
  return codec.name === 'opus' ? new FrameQueue(MAX_CODEC_FRAME_BYTES, 64) : new FrameQueue(160, 256);
}

function rxSlotsFor(codec: NegotiatedCodec): Uint8Array[] {
  const bytes = codec.name === 'opus' ? MAX_CODEC_FRAME_BYTES : G711_SLOT_BYTES;
  return Array.from({ length: RX_SLOTS }, () => new Uint8Array(bytes));
}

function bindUdp(host: string, port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    s.once('error', () => {
      s.close();
      resolve(undefined);
    });
    s.bind(port, host, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

export interface RtpStats {
  packetsIn: number;
  packetsOut: number;
  bytesOut: number;
  lost: number;
  late: number;
  duplicate: number;
  jitterMs: number;
  dtmfIn: number;
  dtmfOut: number;
  rtcpIn: number;
  rtcpOut: number;
  /** SRTP/SRTCP packets dropped: a bad authentication tag (a wrong key, a forged or damaged packet). */
  srtpAuthFailed: number;
  /** SRTP/SRTCP packets dropped: replayed, or older than the 64-packet replay window. */
  srtpReplayed: number;
}

export interface RtpSessionEvents {
  /** One frame of codec payload (a view valid during the call), or null for a lost frame. */
  onAudio(payload: Uint8Array | null): void;
  onDtmf(digit: DtmfDigit): void;
  /** No RTP for the inactivity timeout (not on hold). */
  onTimeout(silentMs: number): void;
  /** An outgoing frame left the queue (for playout accounting). */
  onFramePlayed?(): void;
  /** The playout queue just became empty. */
  onDrained?(): void;
}

interface DtmfJob {
  event: number;
  durationSamples: number;
  gapTicks: number;
  resolve: () => void;
}

export class RtpSession {
  readonly localPort: number;
  readonly ssrc: number;
  /** Encoded frames waiting to be sent (replaced when a re-INVITE changes the codec). */
  queue: FrameQueue;
  private readonly rtp: dgram.Socket;
  private readonly rtcp: dgram.Socket;
  private readonly events: RtpSessionEvents;
  private readonly inactivityTimeoutMs: number;
  private readonly cname: string;
  private codec: NegotiatedCodec;
  private te: TelephoneEvent | undefined;
  private silence: Uint8Array;
  private remoteAddress = '';
  private remotePort = 0;
  private remoteRtcpPort = 0;
  private latched = false;
  private sdpAddress = '';
  private sdpPort = 0;
  private lastLatchMs = 0;
  private localDirection: Direction = 'sendrecv';
  private remoteDirection: Direction = 'sendrecv';
  private seq: number;
  private ts: number;
  private markerNext = true;
  private readonly tx: Buffer[] = [];
  /** Per tx slot, a view of its first txViewLens[i] bytes (what a connected socket sends; made again only when the length changes). */
  private readonly txViews: Buffer[] = [];
  private readonly txViewLens = new Int32Array(TX_RING);
  private txIdx = 0;
  /** The RTP socket's connect(2) state; connAddress/connPort: the peer it is (being) connected to. */
  private conn: 'none' | 'connecting' | 'connected' = 'none';
  private connAddress = '';
  private connPort = 0;
  /** The latched source has been silent for RELATCH_QUIET_MS: the socket is not connected, to hear the others. */
  private latchQuiet = false;
  /** A connect to this peer failed: send to it unconnected. */
  private connFailedAddress = '';
  private connFailedPort = 0;
  private readonly rtcpBuf = Buffer.alloc(256 + SRTCP_TRAILER_BYTES);
  /** SRTP: our master key ‖ salt (offered in our SDP; one per call), and the two directions' contexts (undefined: plain RTP). */
  private localKeySalt: Buffer | undefined;
  private srtpTx: SrtpContext | undefined;
  private srtpRx: SrtpContext | undefined;
  private srtpRxKey: Uint8Array | undefined;
  /** what earlier receive contexts (before a re-key) dropped */
  private srtpRxAuthBefore = 0;
  private srtpRxReplayBefore = 0;
  private readonly rxHeader = newRtpHeader();
  private rxSlots: Uint8Array[] = [];
  /** Per rx slot, a view of its first rxViewLens[i] bytes (handed out on pop; made again only when the length changes). */
  private rxViews: Uint8Array[] = [];
  private readonly rxViewLens = new Int32Array(RX_SLOTS);
  private rxSlot = 0;
  private jitter: JitterBuffer<number>;
  private readonly dtmfRx: DtmfReceiver;
  private readonly dtmfJobs: DtmfJob[] = [];
  private dtmfCur: { job: DtmfJob; ts: number; elapsed: number; endSent: number; gap: number } | undefined;
  private removeTick: (() => void) | undefined;
  private tickCount = 0;
  private lastRxMs: number;
  private closed = false;
  // RFC 3550 A.8 interarrival jitter
  private transitPrev = Number.NaN;
  private jitterTs = 0;
  private remoteSsrc = 0;
  private lastSrNtpMiddle = 0;
  private lastSrAtMs = 0;
  private firstSeq = -1;
  private maxExtSeq = -1;
  private rxCount = 0; // packets of the current source (RFC 3550 A.3 "received")
  private expectedPrior = 0;
  private receivedPrior = 0;
  private lostBefore = 0; // lost by earlier sources (SSRC changes)
  private readonly stats_: RtpStats = { packetsIn: 0, packetsOut: 0, bytesOut: 0, lost: 0, late: 0, duplicate: 0, jitterMs: 0, dtmfIn: 0, dtmfOut: 0, rtcpIn: 0, rtcpOut: 0, srtpAuthFailed: 0, srtpReplayed: 0 };
  private hadAudioQueued = false;

  constructor(opts: {
    rtp: dgram.Socket;
    rtcp: dgram.Socket;
    localPort: number;
    codec: NegotiatedCodec;
    silence: Uint8Array;
    events: RtpSessionEvents;
    inactivityTimeoutMs: number;
    cname: string;
  }) {
    this.rtp = opts.rtp;
    this.rtcp = opts.rtcp;
    this.localPort = opts.localPort;
    this.codec = opts.codec;
    this.silence = opts.silence;
    this.events = opts.events;
    this.inactivityTimeoutMs = opts.inactivityTimeoutMs;
    this.cname = opts.cname;
    const rnd = randomBytes(10);
    this.ssrc = rnd.readUInt32BE(0);
    this.seq = rnd.readUInt16BE(4) & 0x7fff; // below 2^15: an SRTP receiver's first rollover guess cannot go wrong (RFC 3711 §3.3.1)
    this.ts = rnd.readUInt32BE(6);
    for (let i = 0; i < TX_RING; i++) {
      const b = Buffer.alloc(RTP_HEADER_BYTES + MAX_CODEC_FRAME_BYTES + SRTP_TAG_BYTES);
      this.tx.push(b);
      this.txViews.push(b.subarray(0, 0));
    }
    this.setRxSlots(rxSlotsFor(opts.codec));
    this.queue = queueFor(opts.codec);
    this.jitter = new JitterBuffer<number>({ depthFrames: JITTER_DEPTH_FRAMES, maxFrames: 16, frameTimestampStep: opts.codec.frameTimestampStep });
    this.dtmfRx = new DtmfReceiver(opts.codec.clockRateHz);
    this.lastRxMs = Date.now();
    this.rtp.on('message', (pkt, rinfo) => this.onPacket(pkt, rinfo.address, rinfo.port));
    this.rtcp.on('message', (pkt) => this.onRtcp(pkt));
    this.rtp.on('error', () => undefined);
    this.rtcp.on('error', () => undefined);
  }

  /** Apply the negotiated media (initial answer or a re-INVITE): SSRC/seq/ts continue. */
  update(remote: RemoteAudio, localDirection: Direction, silence: Uint8Array): void {
    const codecChanged = remote.codec.name !== this.codec.name || remote.codec.payloadType !== this.codec.payloadType;
    if (codecChanged) {
      if ((remote.codec.name === 'opus') !== (this.codec.name === 'opus')) {
        this.setRxSlots(rxSlotsFor(remote.codec));
        this.queue = queueFor(remote.codec);
      }
      this.codec = remote.codec;
      this.jitter = new JitterBuffer<number>({ depthFrames: JITTER_DEPTH_FRAMES, maxFrames: 16, frameTimestampStep: remote.codec.frameTimestampStep });
      this.queue.clear();
    }
    this.silence = silence;
    this.te = remote.telephoneEvent;
    // The SDP address is where we send until the first packet shows where the caller really is (latching).
    // A re-INVITE that moves the media (another address/port, e.g. a PBX re-anchoring it) starts over.
    const sdpChanged = remote.address !== this.sdpAddress || remote.port !== this.sdpPort;
    if (sdpChanged && remote.address !== '0.0.0.0' && remote.port !== 0) {
      if (this.sdpAddress !== '' && this.sdpAddress !== '0.0.0.0') this.latched = false;
      if (!this.latched) {
        this.remoteAddress = remote.address;
        this.remotePort = remote.port;
        this.syncConnection(); // not latched: hear everyone until the next packet latches
      }
    }
    if (remote.address !== '0.0.0.0') {
      this.sdpAddress = remote.address;
      this.sdpPort = remote.port;
    }
    this.remoteRtcpPort = remote.rtcpMux ? 0 : remote.rtcpPort;
    this.applySrtp(remote);
    if (localDirection !== this.localDirection) this.markerNext = true;
    this.localDirection = localDirection;
    this.remoteDirection = remote.direction;
    this.lastRxMs = Date.now(); // a (re-)negotiation restarts the inactivity clock
  }

  /** Our SRTP master key ‖ salt (30 bytes) for the `a=crypto` line of our SDP; made on first use, kept for the call. */
  get srtpKey(): Buffer {
    this.localKeySalt ??= newMasterKeySalt();
    return this.localKeySalt;
  }

  /** SRTP is on for the negotiated stream. */
  get secure(): boolean {
    return this.srtpTx !== undefined;
  }

  /**
   * The negotiated stream says whether the media is SRTP: the peer's key decrypts what comes in (a new key in a
   * re-offer starts a new receive context), ours encrypts what goes out (one context for the call: its rollover
   * counter follows our sequence numbers, which continue across re-INVITEs).
   */
  private applySrtp(remote: RemoteAudio): void {
    const peer = remote.srtp;
    const old = this.srtpRx;
    const keep = old !== undefined && peer !== undefined && this.srtpRxKey !== undefined && Buffer.compare(Buffer.from(this.srtpRxKey), Buffer.from(peer.keySalt)) === 0;
    if (old && !keep) {
      this.srtpRxAuthBefore += old.counters.authFailed;
      this.srtpRxReplayBefore += old.counters.replayed;
    }
    if (!peer) {
      this.srtpTx = undefined;
      this.srtpRx = undefined;
      this.srtpRxKey = undefined;
      return;
    }
    this.srtpTx ??= new SrtpContext(this.srtpKey);
    if (!keep) {
      this.srtpRx = new SrtpContext(peer.keySalt);
      this.srtpRxKey = peer.keySalt;
    }
  }

  start(pacer: FramePacer): void {
    if (this.removeTick || this.closed) return;
    this.removeTick = pacer.add(() => this.tick());
  }

  get onHold(): boolean {
    return this.localDirection === 'recvonly' || this.localDirection === 'inactive';
  }

  get remote(): { address: string; port: number } {
    return { address: this.remoteAddress, port: this.remotePort };
  }

  stats(): RtpStats {
    const j = this.jitter.stats();
    this.stats_.late = j.late;
    this.stats_.duplicate = j.duplicate;
    this.stats_.lost = Math.max(j.lost, this.expectedLost());
    this.stats_.jitterMs = (this.jitterTs / this.codec.clockRateHz) * 1000;
    this.stats_.srtpAuthFailed = this.srtpRxAuthBefore + (this.srtpRx?.counters.authFailed ?? 0);
    this.stats_.srtpReplayed = this.srtpRxReplayBefore + (this.srtpRx?.counters.replayed ?? 0);
    return { ...this.stats_ };
  }

  /** Queue an RFC 4733 event per digit (',' = 500 ms pause); resolves when the last one has been sent. */
  sendDtmf(digits: string, durationMs = 100, gapMs = 60): Promise<void> {
    if (!this.te) return Promise.reject(new SipError('SIP_ERR_BAD_DTMF', 'the peer did not negotiate telephone-event'));
    const promises: Promise<void>[] = [];
    for (const d of digits) {
      const event = d === ',' ? -1 : digitToEvent(d);
      if (event < -1) continue;
      promises.push(
        new Promise<void>((resolve) => {
          this.dtmfJobs.push({
            event,
            durationSamples: Math.round(((d === ',' ? 500 : durationMs) * (this.te?.clockRateHz ?? 8000)) / 1000),
            gapTicks: Math.max(1, Math.round(gapMs / 20)),
            resolve,
          });
        }),
      );
    }
    return Promise.all(promises).then(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeTick?.();
    this.removeTick = undefined;
    for (const j of this.dtmfJobs) j.resolve();
    this.dtmfJobs.length = 0;
    if (this.dtmfCur) this.dtmfCur.job.resolve();
    try {
      this.rtp.close();
    } catch {
      /* already closed */
    }
    try {
      this.rtcp.close();
    } catch {
      /* already closed */
    }
  }

  // ------------------------------------------------------------------ in

  private onPacket(pkt: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (isRtcp(pkt)) {
      this.onRtcp(pkt);
      return;
    }
    const h = this.rxHeader;
    const srtp = this.srtpRx;
    if (srtp) {
      // checked and decrypted before the latch and the statistics see it: a forged packet takes nothing
      const n = srtp.unprotect(pkt, pkt.length);
      if (n < 0) return;
      const b0 = pkt[0] as number;
      const pad = b0 & 0x20 ? (pkt[n - 1] as number) : 0;
      if (pad) pkt[0] = b0 & ~0x20; // parseRtp would read the padding count from the tag: it is taken here
      if (!parseRtp(pkt, h)) return;
      h.payloadEnd = n - pad;
      if (h.payloadEnd < h.payloadOffset) return;
    } else if (!parseRtp(pkt, h)) return;
    const nowMs = Date.now();
    // symmetric RTP: latch on the first packet; move only if the latched source went quiet for a second
    if (!this.latched || ((address !== this.remoteAddress || port !== this.remotePort) && nowMs - this.lastLatchMs > RELATCH_QUIET_MS)) {
      this.remoteAddress = address;
      this.remotePort = port;
      this.latched = true;
      this.latchQuiet = false;
      this.syncConnection();
    }
    if (address === this.remoteAddress && port === this.remotePort) {
      this.lastLatchMs = nowMs;
      if (this.latchQuiet) {
        this.latchQuiet = false; // the latched source is back (or a new one took the latch)
        this.syncConnection();
      }
    }
    this.lastRxMs = nowMs;
    // reception statistics (RFC 3550 §6.4.1, A.1, A.3) cover every packet of the stream: telephone-event
    // and comfort-noise packets take sequence numbers too, and are not lost audio
    if (h.ssrc !== this.remoteSsrc && this.firstSeq >= 0) this.resetReception(); // a new source (§8.2)
    this.remoteSsrc = h.ssrc;
    this.trackSequence(h.sequence);
    this.rxCount++;
    if (this.te && h.payloadType === this.te.payloadType) {
      const d = this.dtmfRx.push(pkt.subarray(h.payloadOffset, h.payloadEnd), h.timestamp, nowMs);
      if (d) {
        this.stats_.dtmfIn++;
        this.events.onDtmf(d);
      }
      return;
    }
    if (h.payloadType !== this.codec.payloadType) return; // CN (13) and anything not negotiated
    this.stats_.packetsIn++;
    // RFC 3550 A.8: interarrival jitter in timestamp units
    const arrival = (nowMs * this.codec.clockRateHz) / 1000;
    const transit = arrival - h.timestamp;
    if (!Number.isNaN(this.transitPrev)) {
      let d = transit - this.transitPrev;
      if (d < 0) d = -d;
      if (d < this.codec.clockRateHz) this.jitterTs += (d - this.jitterTs) / 16;
    }
    this.transitPrev = transit;
    const slotIdx = this.rxSlot;
    this.rxSlot = (this.rxSlot + 1) % RX_SLOTS;
    const slot = this.rxSlots[slotIdx] as Uint8Array;
    const off = h.payloadOffset;
    const n = Math.min(h.payloadEnd - off, slot.length);
    slot.set(pkt.subarray(off, off + n));
    if (this.rxViewLens[slotIdx] !== n) {
      this.rxViews[slotIdx] = slot.subarray(0, n);
      this.rxViewLens[slotIdx] = n;
    }
    this.jitter.push(h.sequence, h.timestamp, slotIdx);
    for (;;) {
      const out = this.jitter.pop();
      if (out.kind === 'empty') break;
      if (out.kind === 'lost') this.events.onAudio(null);
      else this.events.onAudio(this.rxViews[out.payload] as Uint8Array);
    }
    // with no playout depth the loop above drains the jitter buffer (it pops a frame or a loss until it is
    // empty), so every slot is free again: the next packet takes slot 0, one slot that stays in the CPU's
    // cache, instead of walking the ring through memory it has long dropped
    if (JITTER_DEPTH_FRAMES === 0) this.rxSlot = 0;
  }

  private setRxSlots(slots: Uint8Array[]): void {
    this.rxSlots = slots;
    this.rxViews = slots.map((s) => s.subarray(0, 0));
    this.rxViewLens.fill(0);
  }

  /**
   * Bring the socket's connect(2) state in line with the latch: connected to the latched peer (unless a
   * connect to it failed), otherwise not connected. A connect completes on the next tick of the process
   * (the address is an IP literal: dgram's lookup of it is a nextTick), before any pacer tick can send.
   */
  private syncConnection(): void {
    if (this.closed || this.conn === 'connecting') return; // its callback syncs again
    const on = this.latched && !this.latchQuiet;
    const address = on ? this.remoteAddress : '';
    const port = on ? this.remotePort : 0;
    if (this.conn === 'connected') {
      if (address === this.connAddress && port === this.connPort) return;
      try {
        this.rtp.disconnect();
      } catch {
        /* not connected after all */
      }
      this.conn = 'none';
    }
    if (address === '' || port === 0 || (address === this.connFailedAddress && port === this.connFailedPort)) return;
    this.conn = 'connecting';
    this.connAddress = address;
    this.connPort = port;
    try {
      this.rtp.connect(port, address, (err?: Error) => {
        if (this.closed) return;
        if (err) {
          this.connFailedAddress = address;
          this.connFailedPort = port;
          this.conn = 'none';
        } else this.conn = 'connected';
        this.syncConnection();
      });
    } catch {
      this.connFailedAddress = address;
      this.connFailedPort = port;
      this.conn = 'none';
    }
  }

  private trackSequence(seq: number): void {
    if (this.firstSeq < 0) {
      this.firstSeq = seq;
      this.maxExtSeq = seq;
      return;
    }
    const cycles = this.maxExtSeq & ~0xffff;
    let ext = cycles | seq;
    if (ext < this.maxExtSeq - 0x8000) ext += 0x10000;
    else if (ext > this.maxExtSeq + 0x8000) ext -= 0x10000;
    if (ext > this.maxExtSeq) this.maxExtSeq = ext;
  }

  /** RFC 3550 A.3: packets expected (extended highest − first + 1) minus received; negative with duplicates. */
  private cumulativeLost(): number {
    if (this.firstSeq < 0) return 0;
    return this.maxExtSeq - this.firstSeq + 1 - this.rxCount;
  }

  private expectedLost(): number {
    return Math.max(0, this.cumulativeLost()) + this.lostBefore;
  }

  /** Another SSRC: its sequence space starts over (what the old source lost stays counted). */
  private resetReception(): void {
    this.lostBefore += Math.max(0, this.cumulativeLost());
    this.firstSeq = -1;
    this.maxExtSeq = -1;
    this.rxCount = 0;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
    this.transitPrev = Number.NaN;
  }

  /**
   * RFC 3550 §6.4.1 / A.3 fraction lost: of the packets expected since the previous report, the share lost,
   * in 1/256 (0 when none were lost or duplicates outnumber the losses). Advances the interval.
   */
  private fractionLostSinceLastReport(): number {
    const expected = this.maxExtSeq - this.firstSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.rxCount - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.rxCount;
    const lostInterval = expectedInterval - receivedInterval;
    if (expectedInterval <= 0 || lostInterval <= 0) return 0;
    return Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
  }

  private onRtcp(pkt: Buffer): void {
    if (this.srtpRx && this.srtpRx.unprotectRtcp(pkt, pkt.length) < 0) return;
    this.stats_.rtcpIn++;
    this.lastRxMs = Date.now();
    const sr = readRtcpSenderReport(pkt);
    if (sr) {
      this.lastSrNtpMiddle = sr.ntpMiddle;
      this.lastSrAtMs = Date.now();
    }
  }

  // ------------------------------------------------------------------ out

  private tick(): void {
    if (this.closed) return;
    this.tickCount++;
    const step = this.codec.frameTimestampStep;
    const canSend = !this.onHold && this.remotePort !== 0 && this.remoteAddress !== '';
    if (this.dtmfCur || this.dtmfJobs.length) {
      this.tickDtmf(canSend);
    } else {
      const frame = this.queue.shift();
      if (frame) {
        this.hadAudioQueued = true;
        this.events.onFramePlayed?.();
        if (canSend) this.sendRtp(frame, this.codec.payloadType, this.ts);
        if (this.queue.length === 0) {
          this.hadAudioQueued = false;
          this.events.onDrained?.();
        }
      } else {
        if (this.hadAudioQueued) {
          this.hadAudioQueued = false;
          this.events.onDrained?.();
        }
        if (canSend) this.sendRtp(this.silence, this.codec.payloadType, this.ts);
      }
    }
    this.ts = (this.ts + step) >>> 0;
    if (this.conn === 'connected' && this.tickCount % QUIET_CHECK_EVERY_TICKS === 0 && Date.now() - this.lastLatchMs > RELATCH_QUIET_MS) {
      // the latched source went quiet: hear everyone again, so another source can take the latch
      this.latchQuiet = true;
      this.syncConnection();
    }
    if (this.tickCount % HOUSEKEEPING_EVERY_TICKS === 0) this.housekeeping();
    if (this.tickCount % RTCP_EVERY_TICKS === 0) this.sendRtcp();
  }

  private tickDtmf(canSend: boolean): void {
    const te = this.te;
    let cur = this.dtmfCur;
    if (!cur) {
      const job = this.dtmfJobs.shift();
      if (!job) return;
      cur = { job, ts: this.ts, elapsed: 0, endSent: 0, gap: 0 };
      this.dtmfCur = cur;
      if (job.event >= 0) this.markerNext = true;
    }
    const job = cur.job;
    // during the event and its gap, audio from the queue waits; send silence in the gap
    if (job.event < 0 || !te) {
      cur.elapsed += this.codec.frameTimestampStep;
      if (canSend) this.sendRtp(this.silence, this.codec.payloadType, this.ts);
      if (cur.elapsed >= job.durationSamples) this.finishDtmf();
      return;
    }
    const stepTe = (te.clockRateHz * 20) / 1000;
    const buf = this.tx[this.txIdx] as Buffer;
    if (cur.endSent < 3) {
      cur.elapsed = Math.min(cur.elapsed + stepTe, job.durationSamples);
      const end = cur.elapsed >= job.durationSamples;
      if (end) cur.endSent++;
      writeDtmfPayload(buf, RTP_HEADER_BYTES, job.event, end, DTMF_VOLUME, Math.min(cur.elapsed, 0xffff));
      if (canSend) this.sendRaw(buf, RTP_HEADER_BYTES + 4, te.payloadType, cur.ts);
      if (cur.endSent === 3) this.stats_.dtmfOut++;
      return;
    }
    if (canSend) this.sendRtp(this.silence, this.codec.payloadType, this.ts);
    cur.gap++;
    if (cur.gap >= job.gapTicks) this.finishDtmf();
  }

  private finishDtmf(): void {
    const cur = this.dtmfCur;
    this.dtmfCur = undefined;
    cur?.job.resolve();
  }

  private sendRtp(payload: Uint8Array, payloadType: number, timestamp: number): void {
    const buf = this.tx[this.txIdx] as Buffer;
    buf.set(payload, RTP_HEADER_BYTES);
    this.sendRaw(buf, RTP_HEADER_BYTES + payload.length, payloadType, timestamp);
  }

  /** Send tx slot txIdx (`buf`), its first `length` bytes, with an RTP header written in front of the payload. */
  private sendRaw(buf: Buffer, length: number, payloadType: number, timestamp: number): void {
    const slot = this.txIdx;
    this.txIdx = (this.txIdx + 1) % TX_RING;
    writeRtpHeader(buf, this.markerNext, payloadType, this.seq, timestamp, this.ssrc);
    this.markerNext = false;
    this.seq = (this.seq + 1) & 0xffff;
    this.stats_.packetsOut++;
    this.stats_.bytesOut += length - RTP_HEADER_BYTES;
    if (this.srtpTx) length = this.srtpTx.protect(buf, length);
    if (this.conn === 'connected') {
      // connected to remoteAddress:remotePort (syncConnection keeps the two in step): no address, no lookup
      let view = this.txViews[slot] as Buffer;
      if (this.txViewLens[slot] !== length) {
        view = buf.subarray(0, length);
        this.txViews[slot] = view;
        this.txViewLens[slot] = length;
      }
      this.rtp.send(view);
    } else if (this.conn === 'none') this.rtp.send(buf, 0, length, this.remotePort, this.remoteAddress);
    // 'connecting' never meets a send: the connect completes on the next tick, before any pacer tick
  }

  private housekeeping(): void {
    const nowMs = Date.now();
    const d = this.dtmfRx.checkIdle(nowMs);
    if (d) {
      this.stats_.dtmfIn++;
      this.events.onDtmf(d);
    }
    const silentMs = nowMs - this.lastRxMs;
    const remoteHeld = this.remoteDirection === 'inactive' || this.remoteDirection === 'recvonly' || this.onHold;
    if (!remoteHeld && this.inactivityTimeoutMs > 0 && silentMs >= this.inactivityTimeoutMs) {
      this.lastRxMs = nowMs; // report once per timeout period
      this.events.onTimeout(silentMs);
    }
  }

  private sendRtcp(): void {
    if (!this.remoteAddress || this.onHold) return;
    const port = this.remoteRtcpPort || this.remotePort;
    const nowMs = Date.now();
    const block =
      this.firstSeq >= 0
        ? {
            ssrc: this.remoteSsrc,
            fractionLost: this.fractionLostSinceLastReport(),
            cumulativeLost: this.cumulativeLost(),
            highestSeq: this.maxExtSeq >>> 0,
            jitter: this.jitterTs,
            lsr: this.lastSrNtpMiddle,
            dlsr: this.lastSrAtMs ? Math.round(((nowMs - this.lastSrAtMs) / 1000) * 65536) : 0,
          }
        : undefined;
    const sender = this.stats_.packetsOut > 0 ? { ntpMs: nowMs, rtpTimestamp: this.ts, packets: this.stats_.packetsOut, octets: this.stats_.bytesOut } : undefined;
    let n = writeRtcpReport(this.rtcpBuf, this.ssrc, sender, block, this.cname);
    if (this.srtpTx) n = this.srtpTx.protectRtcp(this.rtcpBuf, n);
    if (this.remoteRtcpPort) this.rtcp.send(this.rtcpBuf, 0, n, port, this.remoteAddress);
    else if (this.conn === 'connected') this.rtp.send(this.rtcpBuf, 0, n); // to the connected peer (port = remotePort)
    else if (this.conn === 'none') this.rtp.send(this.rtcpBuf, 0, n, port, this.remoteAddress);
    else return;
    this.stats_.rtcpOut++;
  }
}
