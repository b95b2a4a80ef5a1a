/**
 * SIP transport for SIP.js 0.21.2 used as a server: UDP and TCP on one port, TLS on its own (5061).
 *
 * SIP.js's Transport is "one connection to one proxy": `send(message)` has no destination, it never writes
 * a port into Via/Contact, it drops responses whose Via carries a port, it 404s Request-URIs whose user is
 * not its own, and over UDP it has no Timer A/E/G. This class fills those gaps (docs/notes/sip.md):
 *
 *  - receive: validate (a malformed request gets a stateless 400, the server keeps serving), stamp
 *    `received`/`rport` into the top Via (RFC 3261 §18.2.1, RFC 3581), remember the flow per Call-ID,
 *    map the Request-URI user to ours (the dialled URI goes in `X-Parley-Request-URI`), absorb INVITE
 *    retransmissions (resend our last response; RFC 3261 §17.2.1, RFC 6026 "Accepted" state);
 *  - send: responses by the top Via (received/rport) or the TCP connection they came on, requests by
 *    the dialog's flow, else the first Route, else the Request-URI; add our port to Via/Contact and the
 *    right transport token per flow;
 *  - UDP retransmissions: Timer A (INVITE client, doubling), Timer E (non-INVITE client, capped at T2),
 *    Timer G (non-2xx final responses to INVITE, until the ACK). SIP.js retransmits its own 2xx.
 *
 * TLS (RFC 3261 §26, RFC 5630; docs/notes/sip.md "TLS and SRTP"): a TLS listener framed like TCP. A request
 * that came over TLS is answered on its connection; our requests over a TLS flow carry `SIP/2.0/TLS` and the
 * TLS port in Via, and every Contact we send on it names the TLS port with `transport=tls` (with the `sips:`
 * scheme when the dialog's Request-URI was `sips:`). A `sips:` Request-URI is taken only over TLS (SIP.js sees
 * it as `sip:`, the original goes in X-Parley-Request-URI); over UDP/TCP it gets 416. A route (Route header or
 * Request-URI) with `transport=tls` or the `sips:` scheme is reached over TLS, port 5061 by default.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { EmitterImpl, TransportState } from 'sip.js';
import type { Transport, Emitter } from 'sip.js';
import { SipError } from './errors.ts';
import {
  branchOf,
  buildStatelessResponse,
  callIdOf,
  contentLengths,
  cseqOf,
  escapeRe,
  findHeader,
  isParseError,
  mapRequestUriUser,
  maskForeignUris,
  methodOf,
  parseSipMessage,
  parseVia,
  responseDestination,
  stampTopVia,
  serializeSipMessage,
  startLine,
  statusOf,
  unmaskUris,
} from './message.ts';
import type { ParsedSipMessage } from './message.ts';

export const T1_MS = 500;
export const T2_MS = 4000;
export const TIMER_B_MS = 64 * T1_MS;
const MAX_TCP_HEADER_BYTES = 64 * 1024;
const MAX_MESSAGE_BYTES = 256 * 1024;

export type SipTransportName = 'udp' | 'tcp' | 'tls';

/** Where a message came from / goes to. */
export interface SipFlow {
  transport: SipTransportName;
  address: string;
  port: number;
  socket?: net.Socket; // TCP or TLS connection
}

/** Decision of the pre-filter on an incoming request (before SIP.js sees it). */
export type SipFilterResult =
  | { action: 'pass' }
  | { action: 'drop' }
  | { action: 'reply'; status: number; reason: string; headers?: string[] };

export interface SipTransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SipTransportOptions {
  host: string;
  port: number; // 0 = ephemeral (UDP picks, TCP binds the same number)
  transports: SipTransportName[];
  publicAddress: string; // goes in Via and Contact
  localUser: string; // the UA's own user; every Request-URI is mapped to it
  log: SipTransportLogger;
  /** Called with every valid incoming request before SIP.js; may drop it or answer it statelessly. */
  filter?: (msg: ParsedSipMessage, flow: SipFlow, text: string) => SipFilterResult;
  /** Test hook: return true to drop this outgoing UDP message once (simulated loss). */
  dropOutgoing?: (firstLine: string) => boolean;
  /** SIP over TLS: PEM certificate and key, the port to listen on (0 = ephemeral). */
  tls?: { cert: Buffer | string; key: Buffer | string; port: number } | undefined;
  /** Called once the sockets are bound, with the port actually bound. */
  onListening?: (port: number) => void;
}

interface Retransmission {
  timer: NodeJS.Timeout;
  invite: boolean;
  kind: 'client' | 'timer-g';
}

interface AbsorbEntry {
  lastResponse: string | undefined;
  flow: SipFlow;
  expiresAtMs: number;
}

export const ORIGINAL_URI_HEADER = 'X-Parley-Request-URI';

export class SipServerTransport implements Transport {
  readonly protocol = 'UDP';
  readonly stateChange: Emitter<TransportState>;
  onConnect: (() => void) | undefined = undefined;
  onDisconnect: ((error?: Error) => void) | undefined = undefined;
  onMessage: ((message: string) => void) | undefined = undefined;

  private _state: TransportState = TransportState.Disconnected;
  private readonly stateEmitter = new EmitterImpl<TransportState>();
  private readonly opts: SipTransportOptions;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private boundTlsPort = 0;
  /** Call-IDs whose INVITE came with a `sips:` Request-URI (over TLS): our Contact in them is `sips:`. */
  private readonly sipsCalls = new Set<string>();
  /** Call-IDs ended → when to drop their flow (forgetCall). */
  private readonly forgetting = new Map<string, number>();
  private readonly tcpSockets = new Set<net.Socket>();
  private boundPort = 0;
  /** Call-ID → the flow its requests came on (in-dialog requests go back the same way). */
  private readonly flows = new Map<string, SipFlow>();
  /** Request branch → retransmission timer (Timers A, E, G). */
  private readonly retrans = new Map<string, Retransmission>();
  /** INVITE branch → last response, to absorb retransmitted INVITEs. */
  private readonly absorb = new Map<string, AbsorbEntry>();
  private sweepTimer: NodeJS.Timeout | undefined;

  readonly counters = { received: 0, sent: 0, retransmitted: 0, malformed: 0, absorbed: 0 };

  constructor(_logger: unknown, options: unknown) {
    this.opts = options as SipTransportOptions;
    this.stateChange = this.stateEmitter;
  }

  get state(): TransportState {
    return this._state;
  }

  /** The port actually bound (after connect). */
  get port(): number {
    return this.boundPort;
  }

  /** The TLS port actually bound (0 = no TLS). */
  get tlsPort(): number {
    return this.boundTlsPort;
  }

  isConnected(): boolean {
    return this._state === TransportState.Connected;
  }

  async connect(): Promise<void> {
    if (this._state === TransportState.Connected) return;
    const { host, transports } = this.opts;
    let lastErr: unknown;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        let port = this.opts.port;
        if (transports.includes('udp')) {
          const udp = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
          await new Promise<void>((resolve, reject) => {
            udp.once('error', reject);
            udp.bind(port, host, () => {
              udp.off('error', reject);
              resolve();
            });
          });
          port = udp.address().port;
          udp.on('message', (buf, rinfo) => this.receive(buf, { transport: 'udp', address: rinfo.address, port: rinfo.port }));
          udp.on('error', (err) => this.opts.log.warn({ err }, 'sip udp socket error'));
          this.udp = udp;
        }
        if (transports.includes('tcp')) {
          const tcp = net.createServer((sock) => this.acceptTcp(sock));
          try {
            await new Promise<void>((resolve, reject) => {
              tcp.once('error', reject);
              tcp.listen(port, host, () => {
                tcp.off('error', reject);
                resolve();
              });
            });
          } catch (err) {
            this.udp?.close();
            this.udp = undefined;
            throw err;
          }
          port = (tcp.address() as net.AddressInfo).port;
          this.tcp = tcp;
        }
        this.boundPort = port;
        break;
      } catch (err) {
        lastErr = err;
        if (this.opts.port !== 0) break; // a fixed port that is taken will not free itself
      }
    }
    if (!this.boundPort) {
      throw new SipError('SIP_ERR_BIND', `cannot bind SIP on ${host}:${this.opts.port}`, { cause: lastErr });
    }
    if (this.opts.tls) await this.listenTls(this.opts.tls);
    this.sweepTimer = setInterval(() => this.sweep(), 5000); // housekeeping only (not media)
    this.sweepTimer.unref();
    this._state = TransportState.Connected;
    this.stateEmitter.emit(this._state);
    this.opts.onListening?.(this.boundPort);
    this.onConnect?.();
  }

  private async listenTls(o: { cert: Buffer | string; key: Buffer | string; port: number }): Promise<void> {
    const { host } = this.opts;
    let server: tls.Server;
    try {
      server = tls.createServer({ cert: o.cert, key: o.key }, (sock) => this.acceptTcp(sock, 'tls'));
    } catch (err) {
      throw new SipError('SIP_ERR_CONFIG', 'the SIP TLS certificate or key was refused', { cause: err });
    }
    // a client that fails the handshake (a scanner, a peer that does not trust us) costs a log line, nothing more
    server.on('tlsClientError', (err, sock) => {
      this.opts.log.debug({ err: err.message, from: sock.remoteAddress }, 'sip tls handshake failed');
      sock.destroy();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(o.port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await this.disconnect();
      throw new SipError('SIP_ERR_BIND', `cannot bind SIP over TLS on ${host}:${o.port}`, { cause: err });
    }
    this.tlsServer = server;
    this.boundTlsPort = (server.address() as net.AddressInfo).port;
  }

  async disconnect(): Promise<void> {
    for (const r of this.retrans.values()) clearTimeout(r.timer);
    this.retrans.clear();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const s of this.tcpSockets) s.destroy();
    this.tcpSockets.clear();
    const closing: Promise<void>[] = [];
    if (this.udp) {
      const u = this.udp;
      closing.push(new Promise((r) => u.close(() => r())));
    }
    if (this.tcp) {
      const t = this.tcp;
      closing.push(new Promise((r) => t.close(() => r())));
    }
    if (this.tlsServer) {
      const t = this.tlsServer;
      closing.push(new Promise((r) => t.close(() => r())));
    }
    this.udp = undefined;
    this.tcp = undefined;
    this.tlsServer = undefined;
    await Promise.all(closing);
    if (this._state !== TransportState.Disconnected) {
      this._state = TransportState.Disconnected;
      this.stateEmitter.emit(this._state);
    }
  }

  dispose(): Promise<void> {
    return this.disconnect();
  }

  /**
   * Forget a call's flow (the call ended) — after 64·T1: a call ends (`ended`) before its BYE is sent, and the
   * BYE, its retransmissions and their answers must still go over the connection the call came on. A TLS
   * caller usually cannot take a new connection to its Contact (a phone behind NAT, a UA with no server
   * certificate), and over TCP that is a second connection for nothing.
   */
  forgetCall(callId: string): void {
    this.forgetting.set(callId, Date.now() + TIMER_B_MS);
  }

  flowOf(callId: string): SipFlow | undefined {
    return this.flows.get(callId);
  }

  // ---------------------------------------------------------------- receive

  private acceptTcp(sock: net.Socket, transport: 'tcp' | 'tls' = 'tcp'): void {
    this.tcpSockets.add(sock);
    sock.setNoDelay(true);
    const flow: SipFlow = { transport, address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0, socket: sock };
    let buf = Buffer.alloc(0);
    let framingLost = false;
    sock.on('data', (chunk) => {
      if (framingLost) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // RFC 3261 §18.3: framing by Content-Length; RFC 5626 §3.5.1: CRLF keep-alives
      for (;;) {
        let skip = 0;
        while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
        if (skip) {
          if (skip === 4) sock.write('\r\n'); // RFC 5626 §4.4.1: pong (CRLF) to a CRLFCRLF ping, nothing to a lone CRLF
          buf = buf.subarray(skip);
        }
        const sep = buf.indexOf('\r\n\r\n');
        if (sep < 0) {
          if (buf.length > MAX_TCP_HEADER_BYTES) sock.destroy();
          return;
        }
        const cls = contentLengths(buf.subarray(0, sep).toString('utf8'));
        if (cls.length > 1 || (cls.length === 1 && !/^\d+$/.test(cls[0] ?? ''))) {
          // two Content-Lengths, or one that is not a number (RFC 4475 mcl01, scalar02): where this message ends
          // is unknown, so the stream cannot be read on: a request gets its 400, then the connection is closed
          this.receive(buf.subarray(0, sep + 4), flow);
          framingLost = true;
          buf = Buffer.alloc(0);
          sock.end();
          return;
        }
        const cl = cls.length ? Number(cls[0]) : 0;
        if (cl > MAX_MESSAGE_BYTES) {
          sock.destroy();
          return;
        }
        const total = sep + 4 + cl;
        if (buf.length < total) return;
        const msg = buf.subarray(0, total);
        buf = buf.subarray(total);
        this.receive(msg, flow);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.opts.log.debug({ from: `${flow.transport}:${flow.address}:${flow.port}` }, 'sip connection closed');
      this.tcpSockets.delete(sock);
      for (const [cid, f] of this.flows) if (f.socket === sock) this.flows.delete(cid);
    });
  }

  private receive(input: Buffer, flow: SipFlow): void {
    if (input.length <= 4 && input.every((b) => b === 13 || b === 10)) {
      if (flow.transport === 'udp' && input.length === 4) this.udp?.send('\r\n', flow.port, flow.address);
      return; // keep-alive
    }
    this.counters.received++;
    // RFC 3261 §7.5: CRLFs before the start line are ignored
    let off = 0;
    while (off + 1 < input.length && input[off] === 13 && input[off + 1] === 10) off += 2;
    let buf = off ? input.subarray(off) : input;
    // RFC 3261 §18.3 over UDP: the body is Content-Length bytes; what follows it in the datagram is discarded
    // (RFC 4475 dblreq), a body shorter than that is an error (clerr)
    let shortBody = false;
    if (flow.transport === 'udp') {
      const sep = buf.indexOf('\r\n\r\n');
      const cls = sep >= 0 ? contentLengths(buf.toString('utf8', 0, sep)) : [];
      if (sep >= 0 && cls.length === 1 && /^\d+$/.test(cls[0] ?? '')) {
        const cl = Number(cls[0]);
        const have = buf.length - sep - 4;
        if (have > cl) buf = buf.subarray(0, sep + 4 + cl);
        else if (have < cl) shortBody = true;
      }
    }
    let text = buf.toString('utf8');
    this.opts.log.debug({ line: startLine(text), from: `${flow.transport}:${flow.address}:${flow.port}` }, 'sip in');
    let parsed = parseSipMessage(text);
    if (shortBody && !isParseError(parsed)) parsed = { error: 'body shorter than its Content-Length', status: 400, partial: parsed };
    if (isParseError(parsed)) {
      this.counters.malformed++;
      const p = parsed.partial;
      this.opts.log.warn({ reason: parsed.error, from: `${flow.address}:${flow.port}`, transport: flow.transport }, 'malformed SIP message');
      // a malformed response is discarded, never answered (RFC 3261 §18.1.2, §18.3); so is an ACK (§17.2.1)
      if (p?.kind === 'request' && p.method !== 'ACK') {
        const reason = parsed.status === 505 ? 'Version Not Supported' : `Bad Request (${parsed.error.replace(/[^\x20-\x7e]/g, '?')})`;
        const resp = buildStatelessResponse(p.headers ?? [], parsed.status, reason);
        this.write(resp, this.routeStatelessResponse(p.headers ?? [], flow));
      }
      return;
    }
    // a sips: Request-URI over TLS (RFC 5630): SIP.js and the checks see sip:, the dialog remembers sips
    let sipsUri = false;
    if (parsed.kind === 'request' && flow.transport === 'tls' && /^sips:/i.test(parsed.requestUri)) {
      sipsUri = true;
      parsed.requestUri = `sip:${parsed.requestUri.slice(5)}`;
    }
    // SIP.js gets the message with its folding undone and any URI it cannot parse replaced (maskForeignUris)
    const firstLine = parsed.kind === 'request' ? `${parsed.method} ${parsed.requestUri} SIP/2.0` : `SIP/2.0 ${parsed.status} ${parsed.reason}`;
    text = serializeSipMessage(parsed, firstLine);
    if (parsed.kind === 'response') {
      if (maskForeignUris(parsed.headers)) text = serializeSipMessage(parsed, firstLine);
      this.onResponse(text, parsed);
      return;
    }
    // ----- request
    const via = parseVia(parsed.headers.find((h) => h.lname === 'via')?.value ?? '');
    const branch = via?.params.get('branch');
    const callId = parsed.headers.find((h) => h.lname === 'call-id')?.value ?? '';
    if (parsed.method === 'ACK' && branch) {
      // ACK to a non-2xx final response has the INVITE's branch: stop Timer G
      const r = this.retrans.get(`g:${branch}`);
      if (r) {
        clearTimeout(r.timer);
        this.retrans.delete(`g:${branch}`);
      }
    }
    if (parsed.method === 'INVITE' && branch) {
      const known = this.absorb.get(branch);
      if (known) {
        // a retransmitted INVITE: resend our last response (or stay quiet until we have one)
        this.counters.absorbed++;
        if (known.lastResponse) this.write(known.lastResponse, known.flow);
        return;
      }
      this.absorb.set(branch, { lastResponse: undefined, flow, expiresAtMs: Date.now() + TIMER_B_MS });
    }
    if (flow.transport === 'udp' || !this.flows.has(callId) || parsed.method === 'INVITE') this.flows.set(callId, flow);
    if (sipsUri && parsed.method === 'INVITE') this.sipsCalls.add(callId);
    if (this.opts.filter) {
      const verdict = this.opts.filter(parsed, flow, text);
      if (verdict.action === 'drop') {
        if (branch) this.absorb.delete(branch);
        return;
      }
      if (verdict.action === 'reply') {
        const resp = buildStatelessResponse(parsed.headers, verdict.status, verdict.reason, verdict.headers ?? []);
        const stamped = stampTopVia(text, flow.address, flow.port);
        const sp = parseSipMessage(stamped);
        const dest = this.routeStatelessResponse(isParseError(sp) ? parsed.headers : sp.headers, flow);
        this.write(resp, dest);
        if (parsed.method === 'INVITE' && branch) {
          const a = this.absorb.get(branch);
          if (a) a.lastResponse = resp;
          if (flow.transport === 'udp') this.startTimerG(branch, resp, dest);
        }
        return;
      }
    }
    if (maskForeignUris(parsed.headers)) text = serializeSipMessage(parsed, firstLine);
    text = stampTopVia(text, flow.address, flow.port);
    const hasToTag = /;\s*tag=/i.test(parsed.headers.find((h) => h.lname === 'to')?.value ?? '');
    const mapped = mapRequestUriUser(text, this.opts.localUser);
    if (mapped) {
      text = mapped.text;
      if (!hasToTag && parsed.method !== 'ACK') {
        const eol = text.indexOf('\r\n');
        const original = sipsUri ? `sips:${mapped.originalUri.slice(4)}` : mapped.originalUri;
        text = `${text.slice(0, eol + 2)}${ORIGINAL_URI_HEADER}: ${original}\r\n${text.slice(eol + 2)}`;
      }
    }
    this.onMessage?.(text);
  }

  private onResponse(text: string, parsed: ParsedSipMessage): void {
    const branch = branchOf(text);
    if (branch) {
      const r = this.retrans.get(`c:${branch}`);
      if (r) {
        if (parsed.status >= 200 || r.invite) {
          // final response (or any response to INVITE: Timer A stops, RFC 3261 §17.1.1.2)
          clearTimeout(r.timer);
          this.retrans.delete(`c:${branch}`);
        }
      }
    }
    // SIP.js drops responses whose top Via carries a port: strip ours (we added it on the way out)
    const host = escapeRe(this.opts.publicAddress);
    const ports = this.boundTlsPort ? `(?:${this.boundPort}|${this.boundTlsPort})` : String(this.boundPort);
    text = text.replace(new RegExp(`^((?:Via|v)[ \\t]*:[ \\t]*SIP\\/2\\.0\\/)([A-Za-z]+)([ \\t]+${host}):${ports}(?=[;\\s])`, 'im'), '$1UDP$3');
    if (parsed.method === 'REGISTER') {
      // the registrar echoes our Contact (with the port we added): SIP.js looks for its own, port-less one
      text = text.replace(new RegExp(`(<sips?:[^@>]+@${host}):${ports}([;>])`, 'g'), '$1$2');
    }
    this.onMessage?.(text);
  }

  // ---------------------------------------------------------------- send

  send(message: string): Promise<void> {
    let text = unmaskUris(message);
    const status = statusOf(text);
    if (status) {
      const flow = this.routeResponse(text);
      if (!flow) return Promise.reject(new SipError('SIP_ERR_NO_ROUTE', `no route for response ${startLine(text)}`));
      text = this.fixContact(text, flow);
      const cseq = cseqOf(text);
      if (cseq?.method === 'INVITE') {
        const branch = branchOf(text);
        if (branch) {
          const a = this.absorb.get(branch);
          if (a) a.lastResponse = text;
          if (status >= 300 && flow.transport === 'udp') this.startTimerG(branch, text, flow);
        }
      }
      this.write(text, flow);
      return Promise.resolve();
    }
    // request
    const flow = this.routeRequest(text);
    if (!flow) return Promise.reject(new SipError('SIP_ERR_NO_ROUTE', `no route for request ${startLine(text)}`));
    const token = flow.transport.toUpperCase();
    const viaPort = flow.transport === 'tls' ? this.boundTlsPort : this.boundPort;
    text = text.replace(/^((?:Via|v)[ \t]*:[ \t]*SIP\/2\.0\/)[A-Za-z]+([ \t]+[^;:\s\r\n]+)(?=[;\s\r])/im, `$1${token}$2:${viaPort}`);
    text = this.fixContact(text, flow);
    this.write(text, flow);
    const method = methodOf(text);
    if (flow.transport === 'udp' && method !== 'ACK') this.startClientTimer(text, flow, method === 'INVITE');
    return Promise.resolve();
  }

  private fixContact(text: string, flow: SipFlow): string {
    const host = escapeRe(this.opts.publicAddress);
    const port = flow.transport === 'tls' ? this.boundTlsPort : this.boundPort;
    let out = text.replace(new RegExp(`^((?:Contact|m)[ \\t]*:[ \\t]*<sips?:[^@>]+@${host})(?::\\d+)?([;>])`, 'im'), `$1:${port}$2`).replace(
      /^((?:Contact|m)[ \t]*:[^\r\n]*;transport=)(udp|tcp|tls)/im,
      `$1${flow.transport}`,
    );
    if (flow.transport === 'tls') {
      const callId = callIdOf(out);
      if (callId && this.sipsCalls.has(callId)) out = out.replace(new RegExp(`^((?:Contact|m)[ \\t]*:[ \\t]*<)sip:([^@>]+@${host})`, 'im'), '$1sips:$2');
    }
    return out;
  }

  private routeResponse(text: string): SipFlow | undefined {
    const viaValue = findHeader(text, 'via');
    const via = viaValue ? parseVia(viaValue) : undefined;
    if (!via) return undefined;
    const callId = callIdOf(text);
    const known = callId ? this.flows.get(callId) : undefined;
    if (via.transport === 'TCP' || via.transport === 'TLS') {
      if (known?.socket && !known.socket.destroyed) return known;
      const dest = responseDestination(via);
      const sock = this.findTcp(dest.address, dest.port, via.transport === 'TLS');
      return sock ? { transport: via.transport === 'TLS' ? 'tls' : 'tcp', address: dest.address, port: dest.port, socket: sock } : undefined;
    }
    const dest = responseDestination(via);
    return { transport: 'udp', address: dest.address, port: dest.port };
  }

  private routeStatelessResponse(headers: { lname: string; value: string }[], flow: SipFlow): SipFlow {
    if (flow.transport !== 'udp') return flow;
    const via = parseVia(headers.find((h) => h.lname === 'via')?.value ?? '');
    if (!via) return flow;
    const d = responseDestination(via);
    return { transport: 'udp', address: d.address, port: d.port };
  }

  private routeRequest(text: string): SipFlow | undefined {
    const callId = callIdOf(text);
    const known = callId ? this.flows.get(callId) : undefined;
    // RFC 3261 §8.1.2 / §12.2.1.1: a route set (from Record-Route) wins: first Route (loose routing);
    // otherwise back over the flow the dialog came on (NAT friendly), else the Request-URI
    const route = findHeader(text, 'route');
    if (!route && known && (known.transport === 'udp' || (known.socket && !known.socket.destroyed))) return known;
    const uri = route ? (/<([^>]+)>/.exec(route)?.[1] ?? route) : (/^[A-Z]+ (\S+) SIP/.exec(text)?.[1] ?? '');
    const m = /^(sips?):(?:[^@]+@)?(\[[^\]]+\]|[^;:>]+)(?::(\d+))?(.*)$/i.exec(uri);
    if (!m) return undefined;
    const param = /;transport=(tcp|tls)/i.exec(m[4] ?? '')?.[1]?.toLowerCase();
    const transport: SipTransportName = m[1]?.toLowerCase() === 'sips' || param === 'tls' ? 'tls' : param === 'tcp' ? 'tcp' : 'udp';
    const address = (m[2] ?? '').replace(/^\[|\]$/g, '');
    const port = m[3] ? Number(m[3]) : transport === 'tls' ? 5061 : 5060;
    if (known && known.address === address && known.port === port) return known; // the proxy is the flow
    if (transport !== 'udp') {
      const sock = this.findTcp(address, port, transport === 'tls') ?? this.openTcp(address, port, transport === 'tls');
      return { transport, address, port, socket: sock };
    }
    return { transport, address, port };
  }

  private findTcp(address: string, port: number, secure = false): net.Socket | undefined {
    for (const s of this.tcpSockets) if (s.remoteAddress === address && s.remotePort === port && !s.destroyed && s instanceof tls.TLSSocket === secure) return s;
    return undefined;
  }

  /** A new connection to a route; over TLS the peer's certificate is verified against the system's CAs (Node's default). */
  private openTcp(address: string, port: number, secure = false): net.Socket {
    const sock = secure ? tls.connect({ host: address, port, ...(net.isIP(address) ? {} : { servername: address }) }) : net.connect({ host: address, port });
    this.acceptTcp(sock, secure ? 'tls' : 'tcp');
    return sock;
  }

  private write(text: string, flow: SipFlow): void {
    this.counters.sent++;
    this.opts.log.debug({ line: startLine(text), to: `${flow.transport}:${flow.address}:${flow.port}` }, 'sip out');
    if (flow.transport !== 'udp') {
      if (flow.socket && !flow.socket.destroyed) flow.socket.write(text);
      return;
    }
    if (this.opts.dropOutgoing?.(startLine(text))) {
      this.opts.log.info({ line: startLine(text) }, 'test: dropping outgoing SIP message (simulated loss)');
      return;
    }
    this.udp?.send(text, flow.port, flow.address);
  }

  /** Timer A (INVITE, doubling without cap) / Timer E (non-INVITE, capped at T2); both give up at 64·T1. */
  private startClientTimer(text: string, flow: SipFlow, invite: boolean): void {
    const branch = branchOf(text);
    if (!branch) return;
    this.startRetransmit(`c:${branch}`, text, flow, { invite, capAtT2: !invite, kind: 'client' });
  }

  /** Timer G: retransmit a non-2xx final response to INVITE until the ACK (Timer H = 64·T1). */
  private startTimerG(branch: string, text: string, flow: SipFlow): void {
    this.startRetransmit(`g:${branch}`, text, flow, { invite: true, capAtT2: true, kind: 'timer-g' });
  }

  /** RFC 3261 §17: resend `text` at T1, 2·T1, 4·T1… (capped at T2 when asked) until 64·T1 or until cancelled. */
  private startRetransmit(key: string, text: string, flow: SipFlow, opts: { invite: boolean; capAtT2: boolean; kind: 'client' | 'timer-g' }): void {
    const prev = this.retrans.get(key);
    if (prev) clearTimeout(prev.timer);
    const startMs = Date.now();
    let intervalMs = T1_MS;
    const fire = (): void => {
      if (Date.now() - startMs >= TIMER_B_MS) {
        this.retrans.delete(key);
        return;
      }
      this.counters.retransmitted++;
      this.write(text, flow);
      intervalMs = opts.capAtT2 ? Math.min(intervalMs * 2, T2_MS) : intervalMs * 2;
      const r = this.retrans.get(key);
      if (r) r.timer = setTimeout(fire, intervalMs);
    };
    this.retrans.set(key, { timer: setTimeout(fire, intervalMs), invite: opts.invite, kind: opts.kind });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [cid, at] of this.forgetting) {
      if (at > now) continue;
      this.forgetting.delete(cid);
      this.flows.delete(cid);
      this.sipsCalls.delete(cid);
    }
    for (const [b, a] of this.absorb) if (a.expiresAtMs < now) this.absorb.delete(b);
  }
}
