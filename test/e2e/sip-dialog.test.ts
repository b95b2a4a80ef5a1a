/**
 * Call control details of the SIP door with real sockets: INVITE retransmissions absorbed, Record-Route
 * honoured for our BYE, RTP inactivity timeout and maximum call duration (BYE), SIP INFO DTMF, OPTIONS,
 * and REGISTER with digest auth to a registrar (SIPp as the registrar).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { CallEndInfo, DtmfDigit, SipCall, SipServer, SipConfig } from '../../sip/index.ts';
import { freePort, killAll, rtpRange, runSipp, testLog, waitFor } from '../fakes/sip-harness.ts';
import { MiniUac } from '../fakes/sip-uac.ts';

const servers: SipServer[] = [];
const uacs: MiniUac[] = [];
afterEach(async () => {
  for (const u of uacs.splice(0)) u.close();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(() => killAll());

async function start(
  over: Partial<SipConfig> = {},
  onCall?: (c: SipCall) => void,
  dropOutgoing?: (line: string) => boolean,
): Promise<{ server: SipServer; calls: SipCall[]; ends: CallEndInfo[] }> {
  const calls: SipCall[] = [];
  const ends: CallEndInfo[] = [];
  const server = await startSipServer(
    { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange(), ...over },
    {
      log: testLog,
      ...(dropOutgoing ? { dropOutgoing } : {}),
      onCall: (c) => {
        calls.push(c);
        c.on('ended', (e) => ends.push(e));
        onCall?.(c);
      },
    },
  );
  servers.push(server);
  return { server, calls, ends };
}

async function uacFor(server: SipServer): Promise<MiniUac> {
  const u = new MiniUac(server.port);
  uacs.push(u);
  await u.bind();
  return u;
}

describe('SIP dialogs', () => {
  it('absorbs a retransmitted INVITE: one call, the same final response again', async () => {
    const { server, calls } = await start();
    const u = await uacFor(server);
    await u.call();
    const responses: string[] = [];
    u.sip.on('message', (m) => responses.push(m.toString()));
    u.raw(u.lastInvite); // the same INVITE (same branch) again
    await waitFor(() => responses.some((r) => r.startsWith('SIP/2.0 200')), 3000, 'repeated 200');
    expect(calls.length).toBe(1);
    expect(server.activeCalls).toBe(1);
    await u.bye();
  });

  it('honours Record-Route: the 200 OK carries it and our BYE goes to the proxy with a Route header', async () => {
    const proxy = dgram.createSocket('udp4');
    await new Promise<void>((r) => proxy.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    proxy.on('message', (m) => got.push(m.toString()));
    const { server, calls } = await start();
    const u = await uacFor(server);
    const rr = `<sip:127.0.0.1:${proxy.address().port};lr>`;
    await u.call({ extraHeaders: [`Record-Route: ${rr}`] });
    expect(u.lastInviteResponse).toContain(`Record-Route: ${rr}`);
    await waitFor(() => calls[0]?.state === 'active', 2000, 'active');
    void calls[0]?.hangup();
    await waitFor(() => got.some((m) => m.startsWith('BYE ')), 3000, 'BYE at the proxy');
    const bye = got.find((m) => m.startsWith('BYE '))!;
    expect(bye).toMatch(new RegExp(`^Route: <sip:127\\.0\\.0\\.1:${proxy.address().port};lr>`, 'm'));
    expect(bye.startsWith('BYE sip:uac@127.0.0.1')).toBe(true); // Request-URI = the caller's Contact
    proxy.close();
  });

  it('symmetric RTP: sends to where the caller RTP comes from, not to the (wrong) SDP address', async () => {
    const { server } = await start();
    const u = await uacFor(server);
    await u.call({ sdpAddress: '192.0.2.2' }); // TEST-NET: nothing would ever arrive there
    const stop = u.stream(() => new Uint8Array(160).fill(0xff));
    await waitFor(() => u.received.length >= 10, 3000, 'RTP back to the real source');
    stop();
    expect(u.received[0]?.pt).toBe(0);
    await u.bye();
  });

  it('retransmits its BYE over UDP when the first is lost (Timer E)', async () => {
    let dropped = 0;
    const { server, calls } = await start({}, undefined, (line) => (line.startsWith('BYE ') && dropped++ === 0 ? true : false));
    const u = await uacFor(server);
    await u.call();
    await waitFor(() => calls[0]?.state === 'active', 2000, 'active');
    const t0 = Date.now();
    void calls[0]?.hangup();
    await u.waitSip((m) => m.startsWith('BYE '), 3000, 'retransmitted BYE');
    expect(dropped).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400); // T1 = 500 ms
  });

  it('hold and resume by re-INVITE: nothing sent on hold, then SSRC, sequence and timestamps continue', async () => {
    const holds: boolean[] = [];
    const { server } = await start({}, (c) => c.on('hold', (h) => holds.push(h)));
    const u = await uacFor(server);
    await u.call();
    const stop = u.stream(() => new Uint8Array(160).fill(0xff));
    await waitFor(() => u.received.length >= 20, 3000, 'media');
    const held = await u.reinvite('sendonly');
    expect(held).toMatch(/^a=recvonly$/m);
    expect(held).toMatch(/^o=parley \S+ 1 /m); // the SDP changed: version bumped once
    await new Promise((r) => setTimeout(r, 300)); // packets already in flight (or not yet read under load)
    const atHold = u.received.length;
    const tHold = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    expect(u.received.length - atHold).toBe(0); // nothing while held
    const resumed = await u.reinvite('sendrecv');
    expect(resumed).toMatch(/^a=sendrecv$/m);
    await waitFor(() => u.received.length >= atHold + 20, 3000, 'media after resume');
    stop();
    const before = u.received[atHold - 1]!;
    const after = u.received[atHold]!; // the first packet after the hold
    expect(new Set(u.received.map((p) => p.ssrc)).size).toBe(1);
    expect((after.seq - before.seq) & 0xffff).toBe(1); // sequence continues: no packets were sent on hold
    const gapMs = ((after.ts - before.ts) >>> 0) / 8; // timestamps follow real time across the hold
    expect(gapMs).toBeGreaterThan(400);
    expect(Math.abs(gapMs - (after.arrivalMs - before.arrivalMs))).toBeLessThan(150);
    expect(after.marker).toBe(true); // talkspurt restarts after hold
    for (let i = 1; i < u.received.length; i++) if (i !== atHold && u.received[i]!.arrivalMs < tHold) expect((u.received[i]!.seq - u.received[i - 1]!.seq) & 0xffff).toBe(1);
    expect(holds).toEqual([true, false]);
    await u.bye();
  });

  it('hangs up a call whose RTP stopped (inactivity timeout), with BYE', async () => {
    const { server, ends } = await start({ rtpTimeoutS: 1 });
    const u = await uacFor(server);
    await u.call();
    for (let i = 0; i < 5; i++) u.sendRtp(new Uint8Array(160).fill(0xff));
    const t0 = Date.now();
    await u.waitSip((m) => m.startsWith('BYE '), 4000, 'BYE on RTP timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    await waitFor(() => ends.length === 1, 2000, 'end');
    expect(ends[0]).toMatchObject({ reason: 'rtp-timeout', by: 'local' });
  });

  it('ends a call at the maximum duration, with BYE', async () => {
    const { server, ends } = await start({ maxCallS: 1 });
    const u = await uacFor(server);
    await u.call();
    const stop = u.stream(() => new Uint8Array(160).fill(0xff));
    await u.waitSip((m) => m.startsWith('BYE '), 4000, 'BYE at max duration');
    stop();
    await waitFor(() => ends.length === 1, 2000, 'end');
    expect(ends[0]?.reason).toBe('max-duration');
  });

  it('answers 503 when the application cannot take the call, and OPTIONS 200 with Allow', async () => {
    const server = await startSipServer(
      { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange() },
      {
        log: testLog,
        onCall: () => {
          throw new Error('no engine');
        },
      },
    );
    servers.push(server);
    const u = await uacFor(server);
    const got = u.waitSip((m) => m.startsWith('SIP/2.0 503'), 3000, '503');
    void u.call().catch(() => undefined);
    await got;
    const opt = u.waitSip((m) => m.startsWith('SIP/2.0 200') && m.includes('CSeq: 9 OPTIONS'), 3000, 'OPTIONS 200');
    u.raw(`OPTIONS sip:127.0.0.1:${server.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${u.sipPort};branch=z9hG4bKopt1;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1:${server.port}>\r\nCall-ID: opt1\r\nCSeq: 9 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`);
    expect(await opt).toMatch(/^Allow: .*INVITE.*BYE/m);
    expect(server.activeCalls).toBe(0);
    expect(server.metrics().callsRejected).toBe(1);
  });

  it('over TCP: frames by Content-Length, answers malformed requests 400 and CRLFCRLF pings, keeps the connection', async () => {
    const { server } = await start();
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    const port = sock.localPort;
    const opts = (cseq: number): string =>
      `OPTIONS sip:127.0.0.1:${server.port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bKt${cseq}\r\nFrom: <sip:probe@127.0.0.1>;tag=t1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: tcp1\r\nCSeq: ${cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    // a malformed request (no From) and a valid one split across two writes, then a keep-alive ping
    const bad = `INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bKbad\r\nTo: <sip:1@x>\r\nCall-ID: tcpbad\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;
    const good = opts(2);
    sock.write(bad + good.slice(0, 40));
    await new Promise((r) => setTimeout(r, 50));
    sock.write(good.slice(40));
    sock.write('\r\n\r\n');
    await waitFor(() => got.includes('CSeq: 2 OPTIONS') && got.includes('Call-ID: tcpbad'), 3000, 'responses over TCP');
    expect(got).toMatch(/SIP\/2\.0 400 [^\r]*\r\n(?:[^\r]+\r\n)*Call-ID: tcpbad/);
    expect(got).toMatch(/SIP\/2\.0 200 OK\r\n(?:[^\r]+\r\n)*CSeq: 2 OPTIONS/);
    await waitFor(() => got.endsWith('\r\n\r\n\r\n') || /\r\n\r\n\r\n$/.test(got), 2000, 'pong');
    sock.destroy();
  });

  it('takes DTMF from SIP INFO (application/dtmf-relay) and answers 200', async () => {
    const digits: DtmfDigit[] = [];
    const { server } = await start({}, (c) => c.on('dtmf', (d) => digits.push(d)));
    const u = await uacFor(server);
    await u.call();
    const ok = u.waitSip((m) => m.startsWith('SIP/2.0 200') && /CSeq: \d+ INFO/.test(m), 3000, '200 to INFO');
    u.info('7');
    await ok;
    await waitFor(() => digits.length === 1, 2000, 'digit');
    expect(digits[0]).toMatchObject({ digit: '7', source: 'info' });
    await u.bye();
  });

  it('registers with a registrar using digest auth (SIPp registrar)', async () => {
    const regPort = await freePort(20000, 10000);
    const sipp = runSipp({ scenario: 'uas-registrar.xml', serverPort: 0, uasPort: regPort, timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 500)); // SIPp listening
    const { server } = await start({ registrar: { uri: `sip:127.0.0.1:${regPort}`, user: 'agent7', password: 's3cret', expiresS: 120 } });
    await waitFor(() => server.registered, 8000, 'registered');
    const r = await sipp;
    expect(r.code).toBe(0);
    expect(r.messages).toMatch(/Authorization: Digest [^\r\n]*username="agent7"/);
  });
});
