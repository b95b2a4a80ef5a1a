/**
 * RFC 4475 torture suite against a real Parley SIP server on 127.0.0.1: every case of test/fakes/sip-torture.ts
 * is sent over UDP (and the framing cases over TCP) from a real socket; the exact final status must come back
 * (or nothing, for responses and ACKs), and after each case the server must still answer an OPTIONS.
 * Calls that get answered are ACKed and hung up by the test.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { SipCall, SipServer } from '../../sip/index.ts';
import { rtpRange, testLog, waitFor } from '../fakes/sip-harness.ts';
import { INVALID_CASES, RESPONSE_CASES, VALID_CASES } from '../fakes/sip-torture.ts';
import type { TortureCase, TortureContext } from '../fakes/sip-torture.ts';

const SILENCE_MS = 400; // how long "no answer" is waited for

let server: SipServer;
const calls: SipCall[] = [];
let sip: dgram.Socket;
let rtpSink: dgram.Socket;
const inbox: string[] = [];

beforeAll(async () => {
  server = await startSipServer(
    { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange() },
    {
      log: testLog,
      onCall: (c) => {
        calls.push(c);
      },
    },
  );
  sip = dgram.createSocket('udp4');
  rtpSink = dgram.createSocket('udp4');
  await new Promise<void>((r) => sip.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => rtpSink.bind(0, '127.0.0.1', () => r()));
  sip.on('message', (m) => {
    const text = m.toString();
    inbox.push(text);
    // answer the server's own requests (a BYE when it stops) so that it does not retransmit
    if (!text.startsWith('SIP/2.0')) sip.send(responseTo(text, 200, 'OK'), server.port, '127.0.0.1');
  });
});

afterAll(async () => {
  await server.stop();
  sip.close();
  rtpSink.close();
});

function responseTo(req: string, status: number, reason: string): string {
  const copy = (re: RegExp): string[] => req.split('\r\n').filter((l) => re.test(l));
  return [`SIP/2.0 ${status} ${reason}`, ...copy(/^(Via|v):/i), ...copy(/^(From|f):/i), ...copy(/^(To|t):/i), ...copy(/^(Call-ID|i):/i), ...copy(/^CSeq:/i), 'Content-Length: 0', '', ''].join('\r\n');
}

const header = (msg: string, re: RegExp): string => msg.split('\r\n').find((l) => re.test(l)) ?? '';
const statusOf = (m: string): number => (m.startsWith('SIP/2.0 ') ? Number(m.slice(8, 11)) : 0);

function context(transport: 'UDP' | 'TCP', port: number): TortureContext {
  return { port, server: server.port, rtp: rtpSink.address().port, id: `t${randomBytes(6).toString('hex')}`, transport };
}

/** Wait for the first final (≥ 200) response carrying `id`. */
async function answerTo(box: string[], id: string): Promise<string | undefined> {
  const mine = (): string | undefined => box.find((m) => m.includes(id) && statusOf(m) >= 200);
  await waitFor(() => mine() !== undefined, 5000, `an answer to ${id}`);
  return mine();
}

/** ACK a final response to an INVITE (and hang up a 2xx with BYE), so that nothing is left retransmitting. */
async function finishInvite(resp: string, c: TortureContext): Promise<void> {
  const cseq = /^CSeq:\s*(\d+)\s+INVITE/im.exec(resp);
  if (!cseq) return;
  const lines = (method: string, n: string, branch: string): string[] => [
    `Via: SIP/2.0/UDP 127.0.0.1:${c.port};branch=${branch}`,
    header(resp, /^(From|f):/i),
    header(resp, /^(To|t):/i),
    header(resp, /^(Call-ID|i):/i),
    `CSeq: ${n} ${method}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
  ];
  const target = /^(?:Contact|m):\s*<([^>]+)>/im.exec(resp)?.[1] ?? `sip:parley@127.0.0.1:${c.server}`;
  const status = statusOf(resp);
  const inviteBranch = /branch=([^;\s,]+)/.exec(header(resp, /^(Via|v):/i))?.[1] ?? 'z9hG4bKx';
  // a non-2xx ACK reuses the INVITE's branch (RFC 3261 §17.1.1.3); a 2xx ACK is a new transaction
  const ackBranch = status >= 300 ? inviteBranch : `z9hG4bK${randomBytes(5).toString('hex')}`;
  sip.send([`ACK ${status >= 300 ? `sip:1000@127.0.0.1:${c.server}` : target} SIP/2.0`, ...lines('ACK', cseq[1] ?? '1', ackBranch), '', ''].join('\r\n'), c.server, '127.0.0.1');
  if (status >= 300) return;
  const byeBranch = `z9hG4bK${randomBytes(5).toString('hex')}`;
  sip.send([`BYE ${target} SIP/2.0`, ...lines('BYE', String(Number(cseq[1]) + 1), byeBranch), '', ''].join('\r\n'), c.server, '127.0.0.1');
  await waitFor(() => inbox.some((m) => m.startsWith('SIP/2.0 200') && m.includes(byeBranch)), 3000, '200 to our BYE');
}

/** The server still answers: an OPTIONS over UDP gets 200. */
async function stillServing(): Promise<void> {
  const id = `alive${randomBytes(4).toString('hex')}`;
  sip.send(
    [
      `OPTIONS sip:127.0.0.1:${server.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${sip.address().port};branch=z9hG4bK${id};rport`,
      'From: <sip:probe@127.0.0.1>;tag=p',
      'To: <sip:127.0.0.1>',
      `Call-ID: ${id}`,
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    server.port,
    '127.0.0.1',
  );
  await waitFor(() => inbox.some((m) => m.startsWith('SIP/2.0 200') && m.includes(id)), 3000, 'OPTIONS 200 after the case');
}

async function runUdp(tc: TortureCase): Promise<void> {
  if (tc.expect === 'none') {
    // from a socket of its own: anything at all that comes back to it is an answer (with or without our id)
    const own = dgram.createSocket('udp4');
    await new Promise<void>((r) => own.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    own.on('message', (m) => got.push(m.toString()));
    const c = context('UDP', own.address().port);
    const raw = tc.message(c);
    own.send(typeof raw === 'string' ? Buffer.from(raw) : raw, server.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, SILENCE_MS));
    own.close();
    expect(got, `${tc.name}: must not be answered`).toEqual([]);
    await stillServing();
    return;
  }
  const c = context('UDP', sip.address().port);
  const raw = tc.message(c);
  sip.send(typeof raw === 'string' ? Buffer.from(raw) : raw, server.port, '127.0.0.1');
  const resp = await answerTo(inbox, c.id);
  {
    expect(resp, `${tc.name}: no answer`).toBeDefined();
    expect(statusOf(resp ?? ''), `${tc.name}: ${resp?.split('\r\n')[0]}`).toBe(tc.expect);
    const problem = tc.check?.(resp ?? '', c);
    if (problem) expect.fail(`${tc.name}: ${problem}\n${resp}`);
    if (/^CSeq:\s*\d+\s+INVITE/im.test(resp ?? '')) await finishInvite(resp ?? '', c);
  }
  await stillServing();
}

describe('RFC 4475 torture messages over UDP', () => {
  it.each(VALID_CASES.map((tc) => [tc.name, tc.section || 'ours', tc] as const))('valid %s (%s) is answered as it should', async (_n, _s, tc) => runUdp(tc));
  it.each(INVALID_CASES.map((tc) => [tc.name, tc.section || 'ours', tc] as const))('malformed %s (%s) is refused and the server goes on', async (_n, _s, tc) => runUdp(tc));
  it.each(RESPONSE_CASES.map((tc) => [tc.name, tc.section || 'ours', tc] as const))('stray response %s (%s) is never answered', async (_n, _s, tc) => runUdp(tc));

  it('a call set up by a tel: caller is seen with its tel: URI, and the dialled number is the Request-URI user', async () => {
    const tc = VALID_CASES.find((x) => x.name === 'unksm2-invite') as TortureCase;
    const before = calls.length;
    await runUdp(tc);
    const call = calls[before];
    expect(call?.from).toBe('tel:+12015550142;phone-context=torture.example.org');
    expect(call?.to).toBe('urn:service:sos');
    expect(call?.dialled).toBe('sos');
  });
});

// ------------------------------------------------------------------------------------------------ TCP

interface TcpPeer {
  sock: net.Socket;
  box: string[];
  closed: () => boolean;
  port: number;
}

async function tcpPeer(): Promise<TcpPeer> {
  const sock = net.connect(server.port, '127.0.0.1');
  await new Promise<void>((r, j) => {
    sock.once('connect', () => r());
    sock.once('error', j);
  });
  const box: string[] = [];
  let buf = '';
  let closed = false;
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    for (;;) {
      const sep = buf.indexOf('\r\n\r\n');
      if (sep < 0) break;
      const cl = Number(/^(?:content-length|l)\s*:\s*(\d+)/im.exec(buf.slice(0, sep))?.[1] ?? 0);
      if (buf.length < sep + 4 + cl) break;
      box.push(buf.slice(0, sep + 4 + cl));
      buf = buf.slice(sep + 4 + cl);
    }
  });
  sock.on('close', () => (closed = true));
  sock.on('error', () => undefined);
  return { sock, box, closed: () => closed, port: sock.localPort ?? 0 };
}

const options = (c: TortureContext, body = ''): string =>
  [
    `OPTIONS sip:127.0.0.1:${c.server};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP 127.0.0.1:${c.port};branch=z9hG4bK${c.id}`,
    'From: <sip:probe@127.0.0.1>;tag=tc',
    'To: <sip:127.0.0.1>',
    `Call-ID: ${c.id}`,
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');

describe('RFC 4475 framing cases over TCP', () => {
  it.each([['mcl01'], ['scalar02']])('%s: 400, then the connection is closed (its framing is lost); the server goes on', async (name) => {
    const tc = INVALID_CASES.find((x) => x.name === name) as TortureCase;
    const peer = await tcpPeer();
    const c = context('TCP', peer.port);
    peer.sock.write(tc.message(c));
    await waitFor(() => peer.box.some((m) => m.includes(c.id)), 3000, `an answer to ${name}`);
    expect(statusOf(peer.box.find((m) => m.includes(c.id)) ?? '')).toBe(400);
    await waitFor(() => peer.closed(), 3000, 'the server to close the connection');
    await stillServing();
    const again = await tcpPeer();
    const c2 = context('TCP', again.port);
    again.sock.write(options(c2));
    await waitFor(() => again.box.some((m) => m.includes(c2.id)), 3000, 'OPTIONS over a new connection');
    expect(statusOf(again.box.find((m) => m.includes(c2.id)) ?? '')).toBe(200);
    again.sock.destroy();
  });

  it('two requests in one segment and one split across segments are framed by Content-Length; a body still missing is waited for', async () => {
    const peer = await tcpPeer();
    const a = context('TCP', peer.port);
    const b = context('TCP', peer.port);
    const d = context('TCP', peer.port);
    peer.sock.write(options(a) + options(b, 'twelve bytes'));
    await waitFor(() => [a, b].every((x) => peer.box.some((m) => m.includes(x.id) && statusOf(m) === 200)), 3000, 'both pipelined OPTIONS answered');
    const split = options(d, 'a body that arrives late');
    peer.sock.write(split.slice(0, split.length - 10));
    await new Promise((r) => setTimeout(r, SILENCE_MS));
    expect(peer.box.some((m) => m.includes(d.id))).toBe(false); // clerr over a stream: wait for the rest
    peer.sock.write(split.slice(split.length - 10));
    await waitFor(() => peer.box.some((m) => m.includes(d.id) && statusOf(m) === 200), 3000, 'the split OPTIONS answered');
    expect(peer.closed()).toBe(false);
    peer.sock.destroy();
  });
});
