/**
 * A minimal SIP UAC over UDP with its own RTP socket, for tests and the benchmark that need to control and
 * measure media exactly (barge-in timing, byte-exact passthrough, DTMF out). Real sockets on 127.0.0.1.
 * It answers in-dialog BYE/REFER/NOTIFY/INFO with 200 (REFER: `referStatus`) and records them; after a
 * REFER it accepted it reports the transfer's progress in NOTIFYs (`referNotifies`, RFC 3515 sipfrags).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface RtpIn {
  arrivalMs: number;
  seq: number;
  ts: number;
  pt: number;
  marker: boolean;
  ssrc: number;
  payload: Buffer;
}

export interface CallOptions {
  pts?: number[];
  user?: string;
  extraHeaders?: string[];
  sdpAddress?: string;
  /** extra media-level SDP lines, e.g. `a=rtcp:…` */
  sdpLines?: string[];
}

/** One NOTIFY reporting a transfer's progress (RFC 3515 §2.4.5): a sipfrag status line and the subscription's state. */
export interface ReferNotify {
  frag: string; // e.g. 'SIP/2.0 100 Trying'
  state: 'active' | 'terminated';
  /** Wait this long after the previous NOTIFY (or the 202). */
  afterMs?: number;
}

export class MiniUac {
  readonly sip = dgram.createSocket('udp4');
  readonly rtp = dgram.createSocket('udp4');
  readonly received: RtpIn[] = [];
  readonly requests: string[] = [];
  referStatus = 202;
  /** What the transferee reports after a 202 (default: 100 Trying, then 200 OK and the end of the subscription). */
  referNotifies: ReferNotify[] = [
    { frag: 'SIP/2.0 100 Trying', state: 'active' },
    { frag: 'SIP/2.0 200 OK', state: 'terminated', afterMs: 50 },
  ];
  /** Responses Parley sent to this UAC's requests (other than the INVITE's). */
  readonly responses: string[] = [];
  keepPayloads = true;
  onRtp: ((p: RtpIn) => void) | undefined;
  private serverPort: number;
  private callId = `${randomBytes(6).toString('hex')}@uac`;
  private fromTag = randomBytes(4).toString('hex');
  private toTag = '';
  private cseq = 1;
  private remoteRtpPort = 0;
  private seq = 1000;
  private ts = 5000;
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
  answerSdp = '';
  lastInviteResponse = '';
  lastInvite = '';
  receivedCount = 0;

  /** Parley's RTP port for this call (from its SDP answer). */
  get serverRtpPort(): number {
    return this.remoteRtpPort;
  }

  constructor(serverPort: number) {
    this.serverPort = serverPort;
    this.sip.on('message', (m) => this.onSip(m.toString()));
    this.rtp.on('message', (m) => {
      this.receivedCount++;
      if (m.length < 12 || (m[1]! >= 200 && m[1]! <= 204)) return;
      const p: RtpIn = { arrivalMs: performance.now(), seq: m.readUInt16BE(2), ts: m.readUInt32BE(4), pt: m[1]! & 0x7f, marker: (m[1]! & 0x80) !== 0, ssrc: m.readUInt32BE(8), payload: this.keepPayloads ? Buffer.from(m.subarray(12)) : Buffer.alloc(0) };
      if (this.keepPayloads) this.received.push(p);
      this.onRtp?.(p);
    });
  }

  async bind(): Promise<void> {
    await new Promise<void>((r) => this.sip.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.rtp.bind(0, '127.0.0.1', () => r()));
  }

  get sipPort(): number {
    return this.sip.address().port;
  }

  private headers(method: string, cseq: number, branch = `z9hG4bK${randomBytes(5).toString('hex')}`): string {
    return [
      `Via: SIP/2.0/UDP 127.0.0.1:${this.sipPort};branch=${branch};rport`,
      `From: <sip:uac@127.0.0.1:${this.sipPort}>;tag=${this.fromTag}`,
      `To: <sip:1000@127.0.0.1:${this.serverPort}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:uac@127.0.0.1:${this.sipPort}>`,
      'Max-Forwards: 70',
    ].join('\r\n');
  }

  private onSip(m: string): void {
    if (!m.startsWith('SIP/2.0')) {
      this.requests.push(m);
      const method = m.slice(0, m.indexOf(' '));
      const copy = (h: string): string => m.match(new RegExp(`^${h}:.*$`, 'gim'))?.join('\r\n') ?? '';
      const status = method === 'REFER' ? `${this.referStatus} ${this.referStatus < 300 ? 'Accepted' : 'Forbidden'}` : '200 OK';
      this.sip.send(`SIP/2.0 ${status}\r\n${copy('Via')}\r\n${copy('From')}\r\n${copy('To')}\r\n${copy('Call-ID')}\r\n${copy('CSeq')}\r\nContent-Length: 0\r\n\r\n`, this.serverPort, '127.0.0.1');
      if (method === 'REFER' && this.referStatus < 300) void this.reportTransfer();
    } else if (!/CSeq: 1 INVITE/.test(m)) this.responses.push(m);
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(m)) {
        w.resolve(m);
        return false;
      }
      return true;
    });
  }

  waitSip(pred: (m: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const have = this.requests.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`uac: timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      });
    });
  }

  /** An INVITE offering `pts` (PT list) with this UAC's RTP port, on a fresh branch. */
  private invite(opts: CallOptions, branch: string): string {
    const pts = opts.pts ?? [0, 101];
    const addr = opts.sdpAddress ?? '127.0.0.1';
    const sdp = [
      'v=0',
      'o=uac 1 1 IN IP4 127.0.0.1',
      's=-',
      `c=IN IP4 ${addr}`,
      't=0 0',
      `m=audio ${opts.sdpAddress ? 40000 : this.rtp.address().port} RTP/AVP ${pts.join(' ')}`,
      ...pts.map((p) => (p === 0 ? 'a=rtpmap:0 PCMU/8000' : p === 8 ? 'a=rtpmap:8 PCMA/8000' : `a=rtpmap:${p} telephone-event/8000`)),
      'a=sendrecv',
      ...(opts.sdpLines ?? []),
      '',
    ].join('\r\n');
    const extra = (opts.extraHeaders ?? []).map((h) => `${h}\r\n`).join('');
    return `INVITE sip:${opts.user ?? '1000'}@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('INVITE', this.cseq, branch)}\r\n${extra}Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`;
  }

  /**
   * INVITE, then CANCEL (RFC 3261 §9.1: same branch, CSeq number and Request-URI) once the server has
   * answered 180 Ringing and `afterMs` has passed; resolves with the INVITE's final response (487 expected).
   */
  async inviteAndCancel(afterMs = 0): Promise<string> {
    const branch = `z9hG4bK${randomBytes(5).toString('hex')}`;
    const ringing = this.waitSip((m) => m.startsWith('SIP/2.0 180') && m.includes(this.callId), 15_000, '180 Ringing');
    const final = this.waitSip((m) => /^SIP\/2\.0 [2-6]\d\d/.test(m) && m.includes(this.callId) && /CSeq: 1 INVITE/.test(m), 15_000, 'final INVITE response');
    this.sip.send(this.invite({}, branch), this.serverPort, '127.0.0.1');
    await ringing;
    if (afterMs > 0) await new Promise((r) => setTimeout(r, afterMs));
    this.sip.send(`CANCEL sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('CANCEL', this.cseq, branch)}\r\nContent-Length: 0\r\n\r\n`, this.serverPort, '127.0.0.1');
    const resp = await final;
    // ACK the non-2xx final response (same branch, RFC 3261 §17.1.1.3)
    const toTag = /^To:.*;tag=([^;\s]+)/im.exec(resp)?.[1] ?? '';
    this.toTag = toTag;
    this.sip.send(`ACK sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('ACK', this.cseq, branch)}\r\nContent-Length: 0\r\n\r\n`, this.serverPort, '127.0.0.1');
    return resp;
  }

  /** INVITE with an offer of `codecs` (PT list), wait for 200, ACK. */
  async call(opts: CallOptions = {}): Promise<void> {
    const branch = `z9hG4bK${randomBytes(5).toString('hex')}`;
    const invite = this.invite(opts, branch);
    const ok = this.waitSip((m) => m.startsWith('SIP/2.0 200') && m.includes(this.callId) && /CSeq: 1 INVITE/.test(m), 15_000, '200 OK');
    this.sip.send(invite, this.serverPort, '127.0.0.1');
    const resp = await ok;
    this.toTag = /^To:.*;tag=([^;\s]+)/im.exec(resp)?.[1] ?? '';
    this.answerSdp = resp.slice(resp.indexOf('\r\n\r\n') + 4);
    this.lastInviteResponse = resp;
    this.lastInvite = invite;
    this.remoteRtpPort = Number(/m=audio (\d+)/.exec(this.answerSdp)?.[1]);
    this.sip.send(`ACK sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('ACK', this.cseq)}\r\nContent-Length: 0\r\n\r\n`, this.serverPort, '127.0.0.1');
    this.cseq++;
  }

  /** re-INVITE with the same offer and `direction` (hold: sendonly; resume: sendrecv); returns the answer SDP. */
  async reinvite(direction: 'sendonly' | 'sendrecv' | 'inactive', pt: 0 | 8 = 0): Promise<string> {
    const cseq = ++this.cseq;
    const map = pt === 0 ? 'a=rtpmap:0 PCMU/8000' : 'a=rtpmap:8 PCMA/8000';
    const sdp = ['v=0', `o=uac 1 ${cseq} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.rtp.address().port} RTP/AVP ${pt} 101`, map, 'a=rtpmap:101 telephone-event/8000', `a=${direction}`, ''].join('\r\n');
    const ok = this.waitSip((m) => m.startsWith('SIP/2.0 200') && m.includes(`CSeq: ${cseq} INVITE`), 5000, '200 to re-INVITE');
    this.raw(`INVITE sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('INVITE', cseq)}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`);
    const resp = await ok;
    this.raw(`ACK sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('ACK', cseq)}\r\nContent-Length: 0\r\n\r\n`);
    return resp.slice(resp.indexOf('\r\n\r\n') + 4);
  }

  private async reportTransfer(): Promise<void> {
    for (const n of this.referNotifies) {
      if (n.afterMs) await new Promise((r) => setTimeout(r, n.afterMs));
      this.notify(n.frag, n.state);
    }
  }

  /** NOTIFY with a message/sipfrag body (RFC 3515 §2.4.4); returns its CSeq number. */
  notify(frag: string, state: 'active' | 'terminated' = 'terminated'): number {
    const cseq = ++this.cseq;
    const body = `${frag}\r\n`;
    const sub = state === 'active' ? 'active;expires=60' : 'terminated;reason=noresource';
    this.sip.send(
      `NOTIFY sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('NOTIFY', cseq)}\r\nEvent: refer\r\nSubscription-State: ${sub}\r\nContent-Type: message/sipfrag;version=2.0\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      this.serverPort,
      '127.0.0.1',
    );
    return cseq;
  }

  /** One RTP packet to the server. */
  sendRtp(payload: Uint8Array, pt = 0, marker = false, ts?: number): void {
    const b = Buffer.alloc(12 + payload.length);
    b[0] = 0x80;
    b[1] = (marker ? 0x80 : 0) | pt;
    b.writeUInt16BE(this.seq & 0xffff, 2);
    b.writeUInt32BE((ts ?? this.ts) >>> 0, 4);
    b.writeUInt32BE(this.ssrc, 8);
    b.set(payload, 12);
    this.seq++;
    if (ts === undefined) this.ts += 160;
    this.rtp.send(b, this.remoteRtpPort, '127.0.0.1');
  }

  /** Send one 20 ms frame every 20 ms (deadline-paced) from `frame(i)` until stop() is called. */
  stream(frame: (i: number) => Uint8Array, pt = 0): () => void {
    let stopped = false;
    const t0 = performance.now();
    let i = 0;
    const tick = (): void => {
      if (stopped) return;
      this.sendRtp(frame(i), pt);
      i++;
      setTimeout(tick, Math.max(0, t0 + i * 20 - performance.now()));
    };
    tick();
    return () => {
      stopped = true;
    };
  }

  /** Send raw text to the server's SIP port. */
  raw(text: string): void {
    this.sip.send(text, this.serverPort, '127.0.0.1');
  }

  /** SIP INFO with an application/dtmf-relay body. */
  info(signal: string): void {
    const cseq = ++this.cseq;
    const body = `Signal=${signal}\r\nDuration=160\r\n`;
    this.raw(`INFO sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('INFO', cseq)}\r\nContent-Type: application/dtmf-relay\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  async bye(): Promise<void> {
    const cseq = ++this.cseq;
    const ok = this.waitSip((m) => m.startsWith('SIP/2.0 200') && m.includes(`CSeq: ${cseq} BYE`), 5000, '200 to BYE');
    this.sip.send(`BYE sip:parley@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('BYE', cseq)}\r\nContent-Length: 0\r\n\r\n`, this.serverPort, '127.0.0.1');
    await ok;
  }

  close(): void {
    this.sip.close();
    this.rtp.close();
  }
}
