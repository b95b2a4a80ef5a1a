/**
 * A raw SIP UAC over UDP for the chaos suite: it sends each request of a dialog by hand so a test can
 * put them in hostile orders (CANCEL racing the answer, BYE in the early dialog, INVITE retransmitted,
 * requests for dialogs that do not exist, a caller that vanishes). It answers the server's in-dialog
 * requests (BYE) with 200 while it is alive. Real sockets on 127.0.0.1; RFC 3261 §8.1.1, §9.1, §17.1.1.3.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

const hex = (n: number): string => randomBytes(n).toString('hex');

export class ChaosUac {
  readonly sip = dgram.createSocket('udp4');
  readonly rtp = dgram.createSocket('udp4');
  readonly serverPort: number;
  readonly callId = `${hex(6)}@chaos-uac`;
  readonly fromTag = hex(4);
  toTag = '';
  cseq = 1;
  inviteBranch = `z9hG4bK${hex(5)}`;
  /** Everything received, in order. */
  readonly messages: string[] = [];
  /** Parley's RTP port from its answer (0 before a 200). */
  remoteRtpPort = 0;
  #waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];
  #closed = false;
  #rtpSeq = 1;
  #rtpTs = 0;
  readonly #ssrc = randomBytes(4).readUInt32BE(0);

  constructor(serverPort: number) {
    this.serverPort = serverPort;
    this.sip.on('message', (b) => this.#onSip(b.toString('latin1')));
    this.sip.on('error', () => undefined);
    this.rtp.on('message', () => undefined);
    this.rtp.on('error', () => undefined);
  }

  async bind(): Promise<this> {
    await new Promise<void>((r) => this.sip.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.rtp.bind(0, '127.0.0.1', () => r()));
    return this;
  }

  get port(): number {
    return this.sip.address().port;
  }

  #onSip(m: string): void {
    this.messages.push(m);
    if (!m.startsWith('SIP/2.0')) {
      // a request from the server (BYE, OPTIONS, …): 200 OK, echoing the transaction headers (§8.2.6.2)
      const copy = (h: string): string => m.match(new RegExp(`^${h}:.*$`, 'gim'))?.join('\r\n') ?? '';
      if (!m.startsWith('ACK ')) this.send(`SIP/2.0 200 OK\r\n${copy('Via')}\r\n${copy('From')}\r\n${copy('To')}\r\n${copy('Call-ID')}\r\n${copy('CSeq')}\r\nContent-Length: 0\r\n\r\n`);
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (w.pred(m)) {
        w.resolve(m);
        return false;
      }
      return true;
    });
  }

  send(text: string): void {
    if (this.#closed) return;
    this.#pending++;
    this.sip.send(text, this.serverPort, '127.0.0.1', () => this.#sent());
  }

  /** Sends still queued in the socket (a close right after a send would drop it: close waits for them). */
  #pending = 0;
  #closeWhenSent = false;
  #sent(): void {
    this.#pending--;
    if (this.#pending === 0 && this.#closeWhenSent) this.#closeSockets();
  }

  /** The first message (already received or to come) matching pred; null after timeoutMs. */
  wait(pred: (m: string) => boolean, timeoutMs: number): Promise<string | null> {
    const have = this.messages.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => {
      const w = {
        pred,
        resolve: (m: string) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        resolve(null);
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  /** A response to (cseq, method), with a status in [lo, hi]. */
  response(cseq: number, method: string, lo: number, hi: number, timeoutMs: number): Promise<string | null> {
    return this.wait((m) => {
      const st = /^SIP\/2\.0 (\d{3})/.exec(m);
      return st !== null && Number(st[1]) >= lo && Number(st[1]) <= hi && new RegExp(`^CSeq:\\s*${cseq} ${method}\\b`, 'im').test(m);
    }, timeoutMs);
  }

  headers(method: string, cseq: number, branch: string, toTag = this.toTag): string {
    return [
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      `From: <sip:chaos@127.0.0.1:${this.port}>;tag=${this.fromTag}`,
      `To: <sip:1000@127.0.0.1:${this.serverPort}>${toTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:chaos@127.0.0.1:${this.port}>`,
      'Max-Forwards: 70',
    ].join('\r\n');
  }

  /** The INVITE (kept, to retransmit it byte for byte). */
  inviteText(): string {
    const sdp = ['v=0', 'o=chaos 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.rtp.address().port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
    return `INVITE sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('INVITE', 1, this.inviteBranch, '')}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`;
  }

  invite(): void {
    this.send(this.inviteText());
  }

  /** Takes the To tag and the SDP answer from a response. */
  learn(resp: string): void {
    const tag = /^To:.*;tag=([^;\s]+)/im.exec(resp)?.[1];
    if (tag) this.toTag = tag;
    const port = /m=audio (\d+)/.exec(resp)?.[1];
    if (port) this.remoteRtpPort = Number(port);
  }

  /** CANCEL of the INVITE: same branch, CSeq number and Request-URI (§9.1). */
  cancel(): void {
    this.send(`CANCEL sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('CANCEL', 1, this.inviteBranch, '')}\r\nContent-Length: 0\r\n\r\n`);
  }

  /** ACK of the INVITE's final response: same branch for a non-2xx (§17.1.1.3), a new one for a 2xx (§13.2.2.4). */
  ack(final: string): void {
    this.learn(final);
    const ok = /^SIP\/2\.0 2/.test(final);
    this.send(`ACK sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('ACK', 1, ok ? `z9hG4bK${hex(5)}` : this.inviteBranch)}\r\nContent-Length: 0\r\n\r\n`);
  }

  /** BYE in the dialog (early or confirmed); resolves with its final response or null. */
  async bye(timeoutMs = 3000): Promise<string | null> {
    const cseq = ++this.cseq;
    const resp = this.response(cseq, 'BYE', 200, 699, timeoutMs);
    this.send(`BYE sip:1000@127.0.0.1:${this.serverPort} SIP/2.0\r\n${this.headers('BYE', cseq, `z9hG4bK${hex(5)}`)}\r\nContent-Length: 0\r\n\r\n`);
    return resp;
  }

  /** One RTP packet of 160 PCMU bytes to `port` (default: Parley's port for this call). */
  sendRtp(port = this.remoteRtpPort, payload?: Buffer): void {
    if (this.#closed || port === 0) return;
    const p = payload ?? Buffer.alloc(160, 0xff);
    const b = Buffer.alloc(12 + p.length);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(this.#rtpSeq++ & 0xffff, 2);
    b.writeUInt32BE((this.#rtpTs += 160) >>> 0, 4);
    b.writeUInt32BE(this.#ssrc, 8);
    p.copy(b, 12);
    this.rtp.send(b, port, '127.0.0.1');
  }

  /** Raw bytes to a UDP port (garbage, RTCP-ish, truncated headers). */
  sendUdp(port: number, bytes: Buffer): void {
    if (!this.#closed) this.rtp.send(bytes, port, '127.0.0.1');
  }

  /** Stops sending now; the sockets close once what was already sent has left (the last ACK or BYE). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pending > 0) this.#closeWhenSent = true;
    else this.#closeSockets();
  }

  /** Gone at once, whatever is still queued (a caller whose machine died). */
  vanish(): void {
    this.#closed = true;
    this.#closeSockets();
  }

  #closeSockets(): void {
    try {
      this.sip.close();
      this.rtp.close();
    } catch {
      /* already closed */
    }
  }
}
