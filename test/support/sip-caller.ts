/**
 * A SIP caller over UDP that goes through a proxy (Kamailio): INVITE to the proxy, the dialog's route set
 * from the 200's Record-Route (RFC 3261 §12.1.2: reversed for the caller), ACK and BYE to the remote target
 * (the 200's Contact) through that route set, so in-dialog requests pass the proxy as they must. Media goes
 * straight to the address in the SDP answer: μ-law frames every 20 ms (a loud stretch then silence, a turn
 * for the fake upstream's VAD), and every RTP payload it gets back is counted.
 * Real sockets on 127.0.0.1, for test/cluster/kamailio.test.ts and bench/cluster-setup.ts.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface CallResult {
  status: number;
  /** The INVITE's final answer, as received. */
  answer: string;
  /** ms from the INVITE sent to its final answer. */
  setupMs: number;
}

const rand = (n: number): string => randomBytes(n).toString('hex');
const header = (m: string, name: string): string[] => [...m.matchAll(new RegExp(`^${name}:[ \\t]*(.*?)\\r?$`, 'gim'))].map((x) => x[1] ?? '');
const statusOf = (m: string): number => Number(/^SIP\/2\.0 (\d{3})/.exec(m)?.[1] ?? 0);

export class ProxiedCaller {
  readonly sip = dgram.createSocket('udp4');
  readonly rtp = dgram.createSocket('udp4');
  /** RTP packets received, and those whose payload is all `replyByte` (an engine's reply, byte for byte). */
  rtpIn = 0;
  replyPackets = 0;
  readonly #audio: Buffer[] = [];
  /** Every RTP payload received, in arrival order (with `keepAudio`). */
  heard(): Buffer {
    return Buffer.concat(this.#audio);
  }
  /** Requests the far end sent us (e.g. a BYE from Parley). */
  readonly requests: string[] = [];
  readonly callId = `${rand(8)}@caller`;
  /** The instance that answered: the port in the 200's Contact. */
  answeredBy = 0;
  private readonly fromTag = rand(4);
  private toTag = '';
  private routeSet: string[] = [];
  private remoteTarget = '';
  private remoteRtp: { host: string; port: number } | null = null;
  private cseq = 1;
  private rtpTimer: NodeJS.Timeout | null = null;
  private seq = 1;
  private ts = 0;
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private waiters: Array<{ pred: (m: string) => boolean; resolve: (m: string) => void }> = [];

  constructor(
    private readonly proxyPort: number,
    private readonly opts: {
      user?: string;
      replyByte?: number;
      /** keep every RTP payload received (`heard()`) */
      keepAudio?: boolean;
      /**
       * the caller speaks 600 ms every this many ms (default 2000); longer than the agent's reply plus a
       * turn's latency, so that no burst barges in on the reply (a whole reply reaches the caller)
       */
      speakEveryMs?: number;
    } = {},
  ) {
    this.sip.on('message', (b) => this.onSip(b.toString()));
    this.rtp.on('message', (b) => {
      if (b.length <= 12) return;
      this.rtpIn++;
      if (this.opts.keepAudio) this.#audio.push(Buffer.from(b.subarray(12)));
      const rb = this.opts.replyByte ?? 0x55;
      let all = true;
      for (let i = 12; i < b.length; i++) if (b[i] !== rb) { all = false; break; }
      if (all) this.replyPackets++;
    });
  }

  async bind(): Promise<this> {
    await new Promise<void>((r) => this.sip.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.rtp.bind(0, '127.0.0.1', () => r()));
    return this;
  }

  private get port(): number {
    return this.sip.address().port;
  }

  private onSip(m: string): void {
    if (!m.startsWith('SIP/2.0')) {
      this.requests.push(m);
      // answer in-dialog requests (BYE from the far end) with 200, back the way they came (the proxy)
      const copy = (h: string): string => header(m, h).map((v) => `${h}: ${v}`).join('\r\n');
      this.sip.send(`SIP/2.0 200 OK\r\n${copy('Via')}\r\n${copy('From')}\r\n${copy('To')}\r\n${copy('Call-ID')}\r\n${copy('CSeq')}\r\nContent-Length: 0\r\n\r\n`, this.proxyPort, '127.0.0.1');
      if (m.startsWith('BYE ')) this.stopRtp();
    }
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(m)) {
        w.resolve(m);
        return false;
      }
      return true;
    });
  }

  private wait(pred: (m: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`caller ${this.callId}: timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (x) => { clearTimeout(t); resolve(x); } });
    });
  }

  private via(branch: string): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`;
  }

  private common(method: string, cseq: number): string {
    return [
      `From: <sip:caller@127.0.0.1:${this.port}>;tag=${this.fromTag}`,
      `To: <sip:${this.opts.user ?? 'agent'}@127.0.0.1:${this.proxyPort}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:caller@127.0.0.1:${this.port}>`,
      'Max-Forwards: 70',
    ].join('\r\n');
  }

  /** In-dialog request: Request-URI = remote target, Route = route set, sent to the proxy (loose routing). */
  private inDialog(method: string, cseq: number): string {
    const routes = this.routeSet.map((r) => `Route: ${r}\r\n`).join('');
    return `${method} ${this.remoteTarget} SIP/2.0\r\n${this.via(`z9hG4bK${rand(5)}`)}\r\n${routes}${this.common(method, cseq)}\r\nContent-Length: 0\r\n\r\n`;
  }

  /** INVITE through the proxy; on 200: ACK, media starts. Resolves with the final answer (any status). */
  async invite(timeoutMs = 15_000): Promise<CallResult> {
    const branch = `z9hG4bK${rand(5)}`;
    const sdp = ['v=0', 'o=caller 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${this.rtp.address().port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
    const user = this.opts.user ?? 'agent';
    const req = `INVITE sip:${user}@127.0.0.1:${this.proxyPort} SIP/2.0\r\n${this.via(branch)}\r\n${this.common('INVITE', 1)}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`;
    const final = this.wait((m) => statusOf(m) >= 200 && header(m, 'CSeq')[0] === '1 INVITE', timeoutMs, 'the INVITE final answer');
    const t0 = performance.now();
    this.sip.send(req, this.proxyPort, '127.0.0.1');
    const answer = await final;
    const setupMs = performance.now() - t0;
    const status = statusOf(answer);
    this.toTag = /;\s*tag=([^;>\s]+)/.exec(header(answer, 'To')[0] ?? '')?.[1] ?? '';
    if (status >= 300) {
      // ACK of a non-2xx: same branch, hop by hop to the proxy (RFC 3261 §17.1.1.3)
      this.sip.send(`ACK sip:${user}@127.0.0.1:${this.proxyPort} SIP/2.0\r\n${this.via(branch)}\r\n${this.common('ACK', 1)}\r\nContent-Length: 0\r\n\r\n`, this.proxyPort, '127.0.0.1');
      return { status, answer, setupMs };
    }
    // the dialog: route set = Record-Route reversed, remote target = Contact
    this.routeSet = header(answer, 'Record-Route').flatMap((v) => v.split(/,(?=\s*<)/).map((s) => s.trim())).reverse();
    this.remoteTarget = /<([^>]+)>/.exec(header(answer, 'Contact')[0] ?? '')?.[1] ?? '';
    this.answeredBy = Number(/:(\d+)(?:;|$)/.exec(this.remoteTarget)?.[1] ?? 0);
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    const host = /^c=IN IP4 (\S+)/m.exec(body)?.[1] ?? '127.0.0.1';
    const port = Number(/^m=audio (\d+)/m.exec(body)?.[1] ?? 0);
    this.remoteRtp = { host, port };
    this.sip.send(this.inDialog('ACK', 1), this.proxyPort, '127.0.0.1');
    this.startRtp(600, this.opts.speakEveryMs ?? 2000);
    return { status, answer, setupMs };
  }

  /** Caller audio: 20 ms μ-law frames, `loudMs` of a loud signal every `periodMs`, silence between. */
  private startRtp(loudMs = 600, periodMs = 2000): void {
    const loud = Buffer.alloc(172);
    const quiet = Buffer.alloc(172, 0xff);
    for (let i = 12; i < 172; i++) loud[i] = i % 2 === 0 ? 0x10 : 0x90;
    let n = 0;
    this.rtpTimer = setInterval(() => {
      if (!this.remoteRtp) return;
      const pkt = (n * 20) % periodMs < loudMs ? loud : quiet;
      pkt[0] = 0x80;
      pkt[1] = 0;
      pkt.writeUInt16BE(this.seq++ & 0xffff, 2);
      pkt.writeUInt32BE(this.ts >>> 0, 4);
      pkt.writeUInt32BE(this.ssrc, 8);
      this.ts += 160;
      n++;
      this.rtp.send(pkt, this.remoteRtp.port, this.remoteRtp.host);
    }, 20);
  }

  private stopRtp(): void {
    if (this.rtpTimer) clearInterval(this.rtpTimer);
    this.rtpTimer = null;
  }

  /** BYE through the route set; resolves with the status of its answer. */
  async bye(timeoutMs = 5000): Promise<number> {
    this.stopRtp();
    const cseq = ++this.cseq;
    const ok = this.wait((m) => statusOf(m) >= 200 && header(m, 'CSeq')[0] === `${cseq} BYE`, timeoutMs, 'the answer to BYE');
    this.sip.send(this.inDialog('BYE', cseq), this.proxyPort, '127.0.0.1');
    return statusOf(await ok);
  }

  close(): void {
    this.stopRtp();
    try { this.sip.close(); } catch { /* closed */ }
    try { this.rtp.close(); } catch { /* closed */ }
  }
}
