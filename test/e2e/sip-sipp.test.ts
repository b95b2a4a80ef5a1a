/**
 * The SIP door against SIPp (a real SIP peer): codec choice, DTMF, late offer, hold/resume, CANCEL,
 * a lost 200 OK, 488, malformed requests, REFER, digest auth, the call limit, OPTIONS.
 * No session here: the test's onCall records what the call sees.
 */
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIP_CONFIG, startSipServer } from '../../sip/index.ts';
import type { CallEndInfo, DtmfDigit, SipCall, SipServer, SipConfig } from '../../sip/index.ts';
import { killAll, rtpRange, runSipp, testLog, waitFor } from '../fakes/sip-harness.ts';
import { sippOk as ok } from '../support/sipp.ts';

interface Seen {
  call: SipCall;
  dtmf: DtmfDigit[];
  hold: boolean[];
  ended?: CallEndInfo;
  audioChunks: number;
  answered: boolean;
}

async function start(
  over: Partial<SipConfig> = {},
  hooks: { onCall?: (call: SipCall) => Promise<void> | void; dropOutgoing?: (line: string) => boolean } = {},
): Promise<{ server: SipServer; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = await startSipServer(
    { ...DEFAULT_SIP_CONFIG, port: 0, rtpPorts: rtpRange(), ...over },
    {
      log: testLog,
      ...(hooks.dropOutgoing ? { dropOutgoing: hooks.dropOutgoing } : {}),
      onCall: async (call) => {
        const s: Seen = { call, dtmf: [], hold: [], audioChunks: 0, answered: false };
        seen.push(s);
        call.on('dtmf', (d) => s.dtmf.push(d));
        call.on('hold', (h) => s.hold.push(h));
        call.on('answered', () => (s.answered = true));
        call.on('ended', (e) => (s.ended = e));
        call.onAudio(() => s.audioChunks++);
        await hooks.onCall?.(call);
      },
    },
  );
  servers.push(server);
  return { server, seen };
}

const servers: SipServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
afterAll(() => killAll());
beforeAll(() => undefined);


describe('SIP door with SIPp', () => {
  it('answers a PCMA call, receives its audio and the RFC 4733 digits once each', async () => {
    const { server, seen } = await start();
    const r = await runSipp({ scenario: 'uac-pcma-dtmf.xml', serverPort: server.port, service: '4930123' });
    ok(r);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    const s = seen[0] as Seen;
    expect(s.call.codec.name).toBe('PCMA');
    expect(s.call.dialled).toBe('4930123');
    expect(s.dtmf.map((d) => d.digit)).toEqual(['1', '5']);
    expect(s.audioChunks).toBeGreaterThan(50); // g711a.pcap carries ~236 packets
    expect(s.ended).toMatchObject({ reason: 'remote-hangup', by: 'remote' });
    expect(server.metrics()).toMatchObject({ callsTotal: 1, callsActive: 0, dtmfIn: 2 });
  });

  it('handles a late offer (SDP in the ACK)', async () => {
    const { server, seen } = await start();
    ok(await runSipp({ scenario: 'uac-late-offer.xml', serverPort: server.port }));
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]?.answered).toBe(true);
    expect(seen[0]?.call.codec.name).toBe('PCMA'); // what the ACK's answer chose from our offer
  });

  it.each(['udp', 'tcp'] as const)('answers hold with recvonly and resume with sendrecv over %s', async (transport) => {
    const { server, seen } = await start();
    ok(await runSipp({ scenario: 'uac-hold-resume.xml', serverPort: server.port, transport }));
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]?.hold).toEqual([true, false]);
    expect(seen[0]?.call.transport).toBe(transport);
  });

  it('answers CANCEL before answer with 487 and ends the call', async () => {
    const { server, seen } = await start({}, { onCall: () => new Promise((r) => setTimeout(r, 3000)) });
    ok(await runSipp({ scenario: 'uac-cancel.xml', serverPort: server.port }));
    await waitFor(() => seen[0]?.ended !== undefined, 4000, 'call end');
    expect(seen[0]?.ended?.reason).toBe('cancelled');
    expect(seen[0]?.answered).toBe(false);
    expect(server.activeCalls).toBe(0);
  });

  it('retransmits a lost 200 OK until the ACK', async () => {
    let dropped = 0;
    const { server, seen } = await start(
      {},
      {
        dropOutgoing: (line) => {
          if (line.startsWith('SIP/2.0 200') && dropped === 0) {
            dropped++;
            return true;
          }
          return false;
        },
      },
    );
    const r = await runSipp({ scenario: 'uac-lost-200.xml', serverPort: server.port });
    ok(r);
    expect(dropped).toBe(1);
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]?.answered).toBe(true);
    expect(seen[0]?.ended?.reason).toBe('remote-hangup');
  });

  it('rejects an offer without a supported codec with 488', async () => {
    const { server, seen } = await start();
    ok(await runSipp({ scenario: 'uac-488.xml', serverPort: server.port }));
    await waitFor(() => seen.length === 0 || seen[0]?.ended !== undefined, 2000, 'reject');
    expect(seen.length).toBe(0); // onCall is never bothered
    expect(server.metrics().callsRejected).toBe(1);
  });

  it('answers malformed SIP with 400 and keeps serving (SIPp and raw UDP)', async () => {
    const { server, seen } = await start();
    ok(await runSipp({ scenario: 'uac-malformed.xml', serverPort: server.port }));
    // raw garbage over UDP: a 400 for what looks like a request, nothing for noise, and the server lives on
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const replies: string[] = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const badCseq = 'INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:' + sock.address().port + ';branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@c>\r\nCall-ID: raw1\r\nCSeq: x INVITE\r\n\r\n';
    sock.send(badCseq, server.port, '127.0.0.1');
    sock.send(Buffer.from([0, 1, 2, 3, 255, 254]), server.port, '127.0.0.1');
    await waitFor(() => replies.length >= 1, 2000, '400');
    expect(replies[0]).toMatch(/^SIP\/2\.0 400 /);
    expect(replies[0]).toContain('Call-ID: raw1');
    sock.close();
    ok(await runSipp({ scenario: 'uac-late-offer.xml', serverPort: server.port }));
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call after garbage');
    expect(server.metrics().malformed).toBeGreaterThanOrEqual(2);
  });

  it('transfers a call by REFER (the peer sees Refer-To) and hangs up after the NOTIFY 200', async () => {
    let transferred: Promise<void> | undefined;
    const { server, seen } = await start({}, {
      onCall: (call) => {
        call.once('answered', () => {
          transferred = call.transfer('sip:operator@127.0.0.1:5999');
        });
      },
    });
    const r = await runSipp({ scenario: 'uac-refer.xml', serverPort: server.port });
    ok(r);
    expect(r.messages).toMatch(/REFER sip:sipp@/);
    expect(r.messages).toMatch(/Refer-To: <?sip:operator@127\.0\.0\.1:5999/);
    await expect(transferred).resolves.toBeUndefined();
    expect(seen[0]?.ended?.reason).toBe('transferred');
  });

  it('challenges INVITE with digest auth and accepts the right credentials', async () => {
    const { server, seen } = await start({ auth: { user: 'pbx', password: 's3cret', realm: 'parley' } });
    ok(await runSipp({ scenario: 'uac-auth.xml', serverPort: server.port, extraArgs: ['-au', 'pbx', '-ap', 's3cret'] }));
    await waitFor(() => seen[0]?.ended !== undefined, 3000, 'call end');
    expect(seen[0]?.answered).toBe(true);
    // wrong password: 401 again, never a call
    const bad = await runSipp({ scenario: 'uac-auth.xml', serverPort: server.port, extraArgs: ['-au', 'pbx', '-ap', 'wrong'], timeoutS: 4 });
    expect(bad.code).not.toBe(0);
    expect(seen.length).toBe(1);
  });

  it('answers 486 beyond the call limit and 403 to a source outside the allowed list', async () => {
    const { server } = await start({ maxCalls: 0 });
    const { server: closed } = await start({ allowedSources: ['10.0.0.0/8'] });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const replies: string[] = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const invite = (callId: string): string =>
      `INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK${callId};rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@c>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    sock.send(invite('busy1'), server.port, '127.0.0.1');
    sock.send(invite('forbidden1'), closed.port, '127.0.0.1');
    await waitFor(() => replies.some((x) => x.includes('busy1')) && replies.some((x) => x.includes('forbidden1')), 3000, 'replies');
    expect(replies.find((x) => x.includes('busy1'))).toMatch(/^SIP\/2\.0 486 /);
    expect(replies.find((x) => x.includes('forbidden1'))).toMatch(/^SIP\/2\.0 403 /);
    sock.close();
  });
});
