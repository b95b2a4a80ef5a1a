/**
 * One out-of-dialog SIP request over UDP from a fresh socket on 127.0.0.1, and its final answer: an OPTIONS
 * (what a proxy's health probe sends) or an INVITE that is expected to be refused (it is ACKed as RFC 3261
 * §17.1.1.3 says for a non-2xx final answer; a 2xx is ACKed and BYE'd so no call is left up).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';

export interface SipAnswer {
  status: number;
  text: string;
  header(name: string): string | undefined;
}

export async function sipProbe(port: number, method: 'OPTIONS' | 'INVITE', timeoutMs = 5000): Promise<SipAnswer> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const local = sock.address().port;
  const callId = `${randomBytes(6).toString('hex')}@probe`;
  const tag = randomBytes(4).toString('hex');
  const branch = `z9hG4bK${randomBytes(5).toString('hex')}`;
  const head = (m: string, toTag = ''): string =>
    [
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
      `From: <sip:probe@127.0.0.1:${local}>;tag=${tag}`,
      `To: <sip:parley@127.0.0.1:${port}>${toTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${m}`,
      `Contact: <sip:probe@127.0.0.1:${local}>`,
      'Max-Forwards: 70',
    ].join('\r\n');
  const sdp = ['v=0', 'o=probe 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
  const req =
    method === 'INVITE'
      ? `INVITE sip:parley@127.0.0.1:${port} SIP/2.0\r\n${head('INVITE')}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`
      : `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n${head('OPTIONS')}\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n`;
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no final answer to ${method} on port ${port} within ${timeoutMs} ms`)), timeoutMs);
      sock.on('message', (m) => {
        const s = m.toString();
        const code = Number(/^SIP\/2\.0 (\d{3})/.exec(s)?.[1] ?? 0);
        if (code >= 200) {
          clearTimeout(t);
          resolve(s);
        }
      });
      sock.send(req, port, '127.0.0.1');
    });
    const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
    if (method === 'INVITE') {
      const toTag = /^To:.*;tag=([^;\s]+)/im.exec(text)?.[1] ?? '';
      sock.send(`ACK sip:parley@127.0.0.1:${port} SIP/2.0\r\n${head('ACK', toTag)}\r\nContent-Length: 0\r\n\r\n`, port, '127.0.0.1');
      if (status < 300) sock.send(`BYE sip:parley@127.0.0.1:${port} SIP/2.0\r\n${head('BYE', toTag).replace('CSeq: 1 BYE', 'CSeq: 2 BYE')}\r\nContent-Length: 0\r\n\r\n`, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      status,
      text,
      header: (name) => new RegExp(`^${name}:[ \\t]*(.*?)\\r?$`, 'im').exec(text)?.[1],
    };
  } finally {
    sock.close();
  }
}
