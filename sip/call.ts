/**
 * SipCall: one phone call as the application sees it — audio in and out in the format it asks for,
 * DTMF events, hold, hang-up, blind transfer, DTMF out, playout accounting for barge-in, stats, `ended`.
 * SipCallImpl is the implementation behind it, driven by the server (SIP.js session) and the RTP session.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { FramePacer } from '../audio/index.ts';
import { SipError } from './errors.ts';
import type { DtmfDigit } from './dtmf.ts';
import { isValidDtmf } from './dtmf.ts';
import { MediaAdapter, sameFormat } from './media-adapter.ts';
import type { CallAudioFormat } from './media-adapter.ts';
import { RtpSession } from './rtp-session.ts';
import type { RtpStats } from './rtp-session.ts';
import { buildLocalSdp, mirrorDirection, readRemoteAudio } from './sdp.ts';
import type { CodecName, Direction, NegotiatedCodec, RemoteAudio, SrtpMode } from './sdp.ts';

export type CallEndReason =
  | 'remote-hangup'
  | 'local-hangup'
  | 'cancelled'
  | 'rejected'
  | 'rtp-timeout'
  | 'max-duration'
  | 'session-expired' // RFC 4028: the peer stopped refreshing, or our refresh got 408/481 (sip/session-timer.ts)
  | 'transferred'
  | 'no-ack'
  | 'server-stop'
  | 'error';

export interface CallEndInfo {
  reason: CallEndReason;
  by: 'local' | 'remote';
  detail?: string;
}

export interface SipCallStats {
  callId: string;
  durationMs: number;
  setupMs: number | undefined; // INVITE received → 200 OK sent
  codec: CodecName;
  held: boolean;
  /** The media is SRTP (keys by SDES, docs/notes/sip.md "TLS and SRTP"). */
  srtp: boolean;
  rtp: RtpStats;
  dtmfIn: number;
  dtmfOut: number;
  playedMs: number;
}

export interface PlayoutState {
  /** ms of queued audio already sent (the stream position), since the call began. */
  playedMs: number;
  /** ms of audio waiting in the queue. */
  queuedMs: number;
  /** ms of audio ever queued (minus what flushes dropped): playedMs + queuedMs. */
  enqueuedMs: number;
}

export interface SipCallEventMap {
  dtmf: [DtmfDigit];
  ended: [CallEndInfo];
  hold: [boolean];
  drained: [];
  answered: [];
}

/** The call handed to `onCall`. */
export interface SipCall {
  readonly id: string; // ours, logged everywhere
  readonly sipCallId: string;
  readonly from: string; // From URI
  readonly to: string; // To URI
  readonly dialled: string; // user part of the original Request-URI (the dialled number)
  readonly requestUri: string;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly remoteAddress: string;
  readonly headers: Readonly<Record<string, string>>; // selected INVITE headers (lower-case names)
  /** Set on a call Parley placed (sip/uac.ts): what the application gave when dialling (profile, metadata…). */
  readonly outbound?: Readonly<Record<string, unknown>> | undefined;
  readonly log: Logger;
  readonly codec: NegotiatedCodec;
  readonly state: 'ringing' | 'active' | 'ended';
  readonly held: boolean;
  readonly playout: PlayoutState;
  /** playout.enqueuedMs without the snapshot object (read per agent audio frame). */
  readonly enqueuedMs: number;
  /** playout.queuedMs without the snapshot object (read per relayed frame, server/transfer/warm.ts). */
  readonly queuedMs: number;
  /** Choose the application's audio format; G.711 to the same G.711 passes straight through. Default pcmu. */
  setAudioFormat(format: CallAudioFormat): void;
  readonly audioFormat: CallAudioFormat;
  /** Receive the caller's audio: 20 ms chunks in the audio format (views, valid during the callback). */
  onAudio(handler: ((chunk: Uint8Array) => void) | undefined): void;
  /** Queue audio (in the audio format, any length) for real-time playout. */
  play(chunk: Uint8Array): void;
  /** Drop everything queued (barge-in): nothing more leaves within one frame. Returns playout.playedMs. */
  flushPlayout(): number;
  /** Resolves when the playout queue is empty (at once if it is). */
  whenDrained(): Promise<void>;
  /** RFC 4733 digits (0-9 * # A-D, ',' = 500 ms pause); resolves when sent. */
  sendDtmf(digits: string, opts?: { durationMs?: number }): Promise<void>;
  /** BYE (or reject when not answered yet). Idempotent. */
  hangup(reason?: CallEndReason, detail?: string): Promise<void>;
  /**
   * Blind transfer by REFER (RFC 3515): follows the NOTIFY sipfrags until a final status. Resolves on a 2xx sipfrag
   * and hangs up (reason `transferred`); rejects with SIP_ERR_TRANSFER_FAILED (`status`: the REFER's or the
   * sipfrag's code, 408 on timeout) and the call goes on.
   */
  transfer(target: string): Promise<void>;
  stats(): SipCallStats;
  on<K extends keyof SipCallEventMap>(event: K, listener: (...args: SipCallEventMap[K]) => void): this;
  once<K extends keyof SipCallEventMap>(event: K, listener: (...args: SipCallEventMap[K]) => void): this;
  off<K extends keyof SipCallEventMap>(event: K, listener: (...args: SipCallEventMap[K]) => void): this;
}

/** What the call needs from the signalling layer (implemented by the server over a SIP.js session). */
export interface CallSignalling {
  bye(): Promise<void>;
  reject(status: number): Promise<void>;
  refer(target: string): Promise<void>;
}

const FRAME_MS = 20;

export interface SipCallInit {
  id: string;
  sipCallId: string;
  from: string;
  to: string;
  dialled: string;
  requestUri: string;
  transport: 'udp' | 'tcp' | 'tls';
  remoteAddress: string;
  headers: Record<string, string>;
  log: Logger;
  /** PARLEY_SRTP (default off): what the SDP offer/answer accepts and offers. */
  srtp?: SrtpMode;
  rtp: { rtp: Socket; rtcp: Socket; port: number };
  releasePort: (port: number) => void;
  publicAddress: string;
  codecs: readonly CodecName[];
  pacer: FramePacer;
  inactivityTimeoutMs: number;
  maxDurationMs: number;
  receivedAtMs: number;
}

export class SipCallImpl extends EventEmitter implements SipCall {
  readonly id: string;
  readonly sipCallId: string;
  readonly from: string;
  readonly to: string;
  readonly dialled: string;
  readonly requestUri: string;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly remoteAddress: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly log: Logger;
  signalling: CallSignalling | undefined;
  outbound: Readonly<Record<string, unknown>> | undefined;

  private _state: 'ringing' | 'active' | 'ended' = 'ringing';
  private _codec: NegotiatedCodec;
  private remote: RemoteAudio | undefined;
  private localDirection: Direction = 'sendrecv';
  private format: CallAudioFormat = { encoding: 'pcmu' };
  private adapter: MediaAdapter;
  private readonly rtp: RtpSession;
  private readonly init: SipCallInit;
  private audioHandler: ((chunk: Uint8Array) => void) | undefined;
  private playedFrames = 0;
  private enqueuedFrames = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly sessionId = String(Math.floor(Math.random() * 1e9));
  private sdpVersion = 0;
  private lastSdp = '';
  private maxTimer: NodeJS.Timeout | undefined;
  private answeredAtMs: number | undefined;
  private endInfo: CallEndInfo | undefined;
  private readonly pushFrame = (frame: Uint8Array): void => {
    if (this.rtp.queue.push(frame)) this.enqueuedFrames++;
  };
  private readonly deliver = (chunk: Uint8Array): void => {
    this.audioHandler?.(chunk);
  };

  constructor(init: SipCallInit) {
    super();
    this.init = init;
    this.id = init.id;
    this.sipCallId = init.sipCallId;
    this.from = init.from;
    this.to = init.to;
    this.dialled = init.dialled;
    this.requestUri = init.requestUri;
    this.transport = init.transport;
    this.remoteAddress = init.remoteAddress;
    this.headers = init.headers;
    this.log = init.log;
    const first = init.codecs[0] ?? 'PCMU';
    this._codec = first === 'opus' ? { name: 'opus', payloadType: 111, clockRateHz: 48000, frameTimestampStep: 960 } : { name: first, payloadType: first === 'PCMU' ? 0 : 8, clockRateHz: 8000, frameTimestampStep: 160 };
    this.adapter = new MediaAdapter(this._codec, this.format);
    this.rtp = new RtpSession({
      rtp: init.rtp.rtp,
      rtcp: init.rtp.rtcp,
      localPort: init.rtp.port,
      codec: this._codec,
      silence: this.adapter.silence,
      inactivityTimeoutMs: init.inactivityTimeoutMs,
      cname: `parley-${init.id}`,
      events: {
        onAudio: (payload) => {
          if (this.audioHandler) this.adapter.decodeIn(payload, this.deliver);
        },
        onDtmf: (d) => {
          this.log.info({ digit: d.digit, durationMs: d.durationMs, source: d.source }, 'dtmf received');
          this.emit('dtmf', d);
        },
        onTimeout: (silentMs) => {
          this.log.warn({ silentMs }, 'no RTP from the caller: hanging up');
          void this.hangup('rtp-timeout', `no RTP for ${Math.round(silentMs / 1000)} s`);
        },
        onFramePlayed: () => {
          this.playedFrames++;
        },
        onDrained: () => this.resolveDrained(),
      },
    });
  }

  get codec(): NegotiatedCodec {
    return this._codec;
  }

  get state(): 'ringing' | 'active' | 'ended' {
    return this._state;
  }

  get held(): boolean {
    return this.rtp.onHold || this.remote?.direction === 'inactive';
  }

  get audioFormat(): CallAudioFormat {
    return this.format;
  }

  get playout(): PlayoutState {
    return { playedMs: this.playedFrames * FRAME_MS, queuedMs: this.rtp.queue.length * FRAME_MS, enqueuedMs: this.enqueuedFrames * FRAME_MS };
  }

  get enqueuedMs(): number {
    return this.enqueuedFrames * FRAME_MS;
  }

  get queuedMs(): number {
    return this.rtp.queue.length * FRAME_MS;
  }

  /** The port our SDP advertises. */
  get localRtpPort(): number {
    return this.rtp.localPort;
  }

  setAudioFormat(format: CallAudioFormat): void {
    if (sameFormat(format, this.format)) return;
    this.format = format;
    this.adapter = new MediaAdapter(this._codec, format);
  }

  onAudio(handler: ((chunk: Uint8Array) => void) | undefined): void {
    this.audioHandler = handler;
  }

  play(chunk: Uint8Array): void {
    if (this._state === 'ended' || chunk.length === 0) return;
    this.adapter.encodeOut(chunk, this.pushFrame);
  }

  flushPlayout(): number {
    const dropped = this.rtp.queue.clear();
    this.adapter.resetOut();
    this.enqueuedFrames -= dropped;
    if (dropped) this.resolveDrained();
    return this.playedFrames * FRAME_MS;
  }

  whenDrained(): Promise<void> {
    if (this.rtp.queue.length === 0 || this._state === 'ended') return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private resolveDrained(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
    this.emit('drained');
  }

  async sendDtmf(digits: string, opts: { durationMs?: number } = {}): Promise<void> {
    if (this._state !== 'active') throw new SipError('SIP_ERR_CALL_ENDED', 'the call is not active');
    if (!isValidDtmf(digits)) throw new SipError('SIP_ERR_BAD_DTMF', `invalid DTMF digits "${digits}" (0-9 * # A-D and ',' only)`);
    this.log.info({ digits: digits.length }, 'sending dtmf');
    await this.rtp.sendDtmf(digits, opts.durationMs ?? 100);
  }

  async hangup(reason: CallEndReason = 'local-hangup', detail?: string): Promise<void> {
    if (this._state === 'ended') return;
    const sig = this.signalling;
    const wasActive = this._state === 'active';
    this.end({ reason, by: 'local', ...(detail ? { detail } : {}) });
    try {
      if (wasActive) await sig?.bye();
      else await sig?.reject(reason === 'server-stop' ? 503 : 480);
    } catch (err) {
      this.log.warn({ err }, 'hangup signalling failed');
    }
  }

  async transfer(target: string): Promise<void> {
    if (this._state !== 'active' || !this.signalling) throw new SipError('SIP_ERR_CALL_ENDED', 'the call is not active');
    if (!/^sips?:[^\s<>]+$|^tel:[^\s<>]+$/i.test(target)) {
      throw new SipError('SIP_ERR_TRANSFER_FAILED', `invalid transfer target "${target}" (want sip:user@host)`);
    }
    this.log.info({ target }, 'blind transfer (REFER)');
    await this.signalling.refer(target);
    await this.hangup('transferred', target);
  }

  stats(): SipCallStats {
    const rtp = this.rtp.stats();
    return {
      callId: this.id,
      durationMs: this.answeredAtMs ? Date.now() - this.answeredAtMs : 0,
      setupMs: this.answeredAtMs ? this.answeredAtMs - this.init.receivedAtMs : undefined,
      codec: this._codec.name,
      held: this.held,
      srtp: this.rtp.secure,
      rtp,
      dtmfIn: rtp.dtmfIn,
      dtmfOut: rtp.dtmfOut,
      playedMs: this.playedFrames * FRAME_MS,
    };
  }

  // ------------------------------------------------------------- driven by the server / SDH

  /** SDH.setDescription: an offer (initial, re-INVITE) or the answer to our late offer. */
  applyRemoteSdp(sdp: string): void {
    const remote = readRemoteAudio(sdp, this.init.codecs, this.init.srtp ?? 'off');
    const prevHeld = this.held;
    this.remote = remote;
    this.localDirection = mirrorDirection(remote.direction);
    const codecChanged = remote.codec.name !== this._codec.name || remote.codec.payloadType !== this._codec.payloadType;
    if (codecChanged) {
      this._codec = remote.codec;
      this.adapter = new MediaAdapter(remote.codec, this.format);
    }
    this.rtp.update(remote, this.localDirection, this.adapter.silence);
    if (codecChanged) this.enqueuedFrames = this.playedFrames; // the queue was dropped with the old codec
    const held = this.held;
    if (held !== prevHeld && this._state === 'active') {
      this.log.info({ held, direction: remote.direction }, held ? 'call on hold' : 'call resumed');
      this.emit('hold', held);
    }
  }

  /** SDH.getDescription: our answer, or our offer when the INVITE had none. */
  localSdp(): string {
    const body = buildLocalSdp({
      address: this.init.publicAddress,
      port: this.rtp.localPort,
      sessionId: this.sessionId,
      version: this.sdpVersion,
      direction: this.remote ? this.localDirection : 'sendrecv',
      ...(this.remote ? { codec: this._codec, telephoneEvent: this.remote.telephoneEvent } : { offerCodecs: this.init.codecs }),
      srtp: this.localSrtp(),
    });
    // RFC 3264 §8: the o= version changes only when the SDP does
    if (body !== this.lastSdp) {
      if (this.lastSdp) {
        this.sdpVersion++;
        this.lastSdp = body.replace(/^(o=\S+ \S+ )\d+/m, `$1${this.sdpVersion}`);
        return this.lastSdp;
      }
      this.lastSdp = body;
    }
    return this.lastSdp;
  }

  /** SRTP in our SDP: in an answer the offer's profile and tag with our key; in an offer (PARLEY_SRTP on) tag 1, RTP/SAVP when required. */
  private localSrtp(): { profile: 'RTP/AVP' | 'RTP/SAVP'; tag: number; keySalt: Uint8Array } | undefined {
    const mode = this.init.srtp ?? 'off';
    if (this.remote) return this.remote.srtp ? { profile: this.remote.profile ?? 'RTP/AVP', tag: this.remote.srtp.tag, keySalt: this.rtp.srtpKey } : undefined;
    return mode === 'off' ? undefined : { profile: mode === 'required' ? 'RTP/SAVP' : 'RTP/AVP', tag: 1, keySalt: this.rtp.srtpKey };
  }

  /** Early media on an outbound call (183 with SDP): RTP flows both ways before the answer. */
  startEarlyMedia(): void {
    if (this._state === 'ringing') this.rtp.start(this.init.pacer);
  }

  /** 200 OK sent and ACKed (or sent, for the media to start at once). */
  markAnswered(): void {
    if (this._state !== 'ringing') return;
    this._state = 'active';
    this.answeredAtMs = Date.now();
    this.rtp.start(this.init.pacer);
    if (this.init.maxDurationMs > 0) {
      this.maxTimer = setTimeout(() => {
        this.log.info({ maxDurationMs: this.init.maxDurationMs }, 'maximum call duration reached');
        void this.hangup('max-duration');
      }, this.init.maxDurationMs);
      this.maxTimer.unref();
    }
    this.log.info({ codec: this._codec.name, srtp: this.rtp.secure, setupMs: this.answeredAtMs - this.init.receivedAtMs, rtpPort: this.rtp.localPort }, 'call answered');
    this.emit('answered');
  }

  /** The call is over (either side). Idempotent; frees the RTP port; emits `ended` once. */
  end(info: CallEndInfo): void {
    if (this._state === 'ended') return;
    this._state = 'ended';
    this.endInfo = info;
    if (this.maxTimer) clearTimeout(this.maxTimer);
    const stats = this.stats();
    this.rtp.close();
    this.init.releasePort(this.rtp.localPort);
    this.resolveDrained();
    this.log.info({ ...info, durationMs: stats.durationMs, packetsIn: stats.rtp.packetsIn, packetsOut: stats.rtp.packetsOut, lost: stats.rtp.lost, jitterMs: Math.round(stats.rtp.jitterMs * 10) / 10, dtmfIn: stats.dtmfIn, dtmfOut: stats.dtmfOut }, 'call ended');
    this.emit('ended', info);
  }

  get ended(): CallEndInfo | undefined {
    return this.endInfo;
  }
}
