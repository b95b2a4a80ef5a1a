import { describe, expect, it } from 'vitest';
import {
  buildStatelessResponse,
  isParseError,
  mapRequestUriUser,
  maskForeignUris,
  parseNameAddr,
  parseSipMessage,
  parseVia,
  responseDestination,
  serializeSipMessage,
  stampTopVia,
  uasChecks,
  unmaskUris,
  uriUser,
} from '../../../sip/message.ts';
import type { ParsedSipMessage } from '../../../sip/message.ts';

const INVITE = [
  'INVITE sip:1000@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK776;rport',
  'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKproxy',
  'From: <sip:alice@example.com>;tag=a1',
  't: <sip:1000@example.com>',
  'Call-ID: abc@10.0.0.5',
  'CSeq: 1 INVITE',
  'Max-Forwards: 70',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

describe('SIP message helpers', () => {
  it('parses a request with compact headers', () => {
    const p = parseSipMessage(INVITE);
    if (isParseError(p)) throw new Error(p.error);
    expect(p.kind).toBe('request');
    expect(p.method).toBe('INVITE');
    expect(p.headers.find((h) => h.lname === 'to')?.value).toBe('<sip:1000@example.com>');
  });

  it.each([
    ['bad start line', INVITE.replace('INVITE sip:1000@127.0.0.1:5060 SIP/2.0', 'HELLO WORLD')],
    ['missing call-id', INVITE.replace('Call-ID: abc@10.0.0.5\r\n', '')],
    ['bad CSeq', INVITE.replace('CSeq: 1 INVITE', 'CSeq: one INVITE')],
    ['CSeq method mismatch', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE')],
    ['bad Content-Length', INVITE.replace('Content-Length: 0', 'Content-Length: x')],
    ['header without colon', INVITE.replace('Max-Forwards: 70', 'Max-Forwards 70')],
  ])('rejects %s', (_name, text) => {
    expect(isParseError(parseSipMessage(text))).toBe(true);
  });

  it('stamps received and rport into the top Via only (RFC 3581)', () => {
    const out = stampTopVia(INVITE, '192.0.2.9', 40001);
    expect(out).toContain('Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK776;rport=40001;received=192.0.2.9');
    expect(out).toContain('Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKproxy\r\n');
    const via = parseVia('SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK776;rport=40001;received=192.0.2.9');
    expect(via && responseDestination(via)).toEqual({ address: '192.0.2.9', port: 40001 });
    const plain = parseVia('SIP/2.0/TCP example.com;branch=z9');
    expect(plain && responseDestination(plain)).toEqual({ address: 'example.com', port: 5060 });
  });

  it('maps the Request-URI user and keeps the dialled URI', () => {
    const m = mapRequestUriUser(INVITE, 'parley');
    expect(m?.originalUri).toBe('sip:1000@127.0.0.1:5060');
    expect(m?.text.startsWith('INVITE sip:parley@127.0.0.1:5060 SIP/2.0\r\n')).toBe(true);
    const noUser = mapRequestUriUser('OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: x\r\n\r\n', 'parley');
    expect(noUser?.text.startsWith('OPTIONS sip:parley@127.0.0.1:5060 SIP/2.0')).toBe(true);
    expect(uriUser('sip:+4930123@trunk.example;user=phone')).toBe('+4930123');
  });

  it('builds a stateless response that copies the routing headers and adds a To tag', () => {
    const p = parseSipMessage(INVITE);
    if (isParseError(p)) throw new Error(p.error);
    const r = buildStatelessResponse(p.headers, 486, 'Busy Here');
    expect(r.startsWith('SIP/2.0 486 Busy Here\r\n')).toBe(true);
    expect(r.match(/^Via:/gm)?.length).toBe(2);
    expect(r).toMatch(/^To: <sip:1000@example.com>;tag=[0-9a-f]+$/m);
    expect(r).toContain('CSeq: 1 INVITE');
    expect(r.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });
});

describe('SIP message validation (RFC 3261 §20/§25, RFC 4475)', () => {
  const ok = (text: string): ParsedSipMessage => {
    const p = parseSipMessage(text);
    if (isParseError(p)) throw new Error(p.error);
    return p;
  };

  it.each([
    ['two Content-Lengths', INVITE.replace('Content-Length: 0', 'Content-Length: 0\r\nl: 4')],
    ['two Call-IDs', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 INVITE\r\ni: other@x')],
    ['spaces inside <addr-spec>', INVITE.replace('t: <sip:1000@example.com>', 't: < sip:1000@example.com >')],
    ['a comma in an unquoted display name', INVITE.replace('From: <sip:alice@example.com>;tag=a1', 'From: Doe, Jane <sip:alice@example.com>;tag=a1')],
    ['an unterminated quoted display name', INVITE.replace('t: <sip:1000@example.com>', 't: "Open <sip:1000@example.com>')],
    ['an empty Via parameter', INVITE.replace('branch=z9hG4bK776;rport', 'branch=z9hG4bK776;;rport')],
    ['"?" in an addr-spec outside <>', INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nContact: sip:a@b?Route=x')],
    ['a CSeq beyond 2^32-1', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 4294967296 INVITE')],
    ['a non-GMT Date', INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nDate: Sat, 13 Nov 2010 23:29:00 EST')],
    ['headers in the Request-URI', INVITE.replace('sip:1000@127.0.0.1:5060 SIP', 'sip:1000@127.0.0.1:5060?Subject=x SIP')],
  ])('rejects %s with 400', (_name, text) => {
    const p = parseSipMessage(text);
    expect(isParseError(p) && p.status).toBe(400);
  });

  it('answers another SIP version with 505, keeps the headers of a request with a broken start line, and knows a response when it sees one', () => {
    const v = parseSipMessage(INVITE.replace('SIP/2.0\r\n', 'SIP/3.0\r\n'));
    expect(isParseError(v) && v.status).toBe(505);
    const b = parseSipMessage(INVITE.replace('INVITE sip:', 'INVITE  sip:'));
    expect(isParseError(b) && b.partial?.headers?.some((h) => h.lname === 'call-id')).toBe(true);
    for (const r of ['sip/2.0 200 OK\r\n', '\r\nSIP/2.0 200 OK\r\n', 'SIP/7.0 200 OK\r\n']) {
      const p = parseSipMessage(r + INVITE.slice(INVITE.indexOf('\r\n') + 2).replace('CSeq: 1 INVITE', 'CSeq: 1 INVITE'));
      if (isParseError(p)) expect(p.partial?.kind).toBe('response');
      else expect(p.kind).toBe('response');
    }
  });

  it('accepts folding, LWS around separators, unknown URI schemes and odd but valid tokens', () => {
    const p = ok(INVITE.replace('t: <sip:1000@example.com>', 'To :\r\n <isbn:9780262510875> ;  tag =  x1').replace('From: <sip:alice@example.com>;tag=a1', 'From: tok1~` tok2 <tel:+1-201-555-0142>;tag=a1'));
    expect(p.headers.find((h) => h.lname === 'to')?.value).toBe('<isbn:9780262510875> ;  tag =  x1');
    expect(parseNameAddr('caller<sip:c@example.com>;tag=1')).toMatchObject({ display: 'caller', uri: 'sip:c@example.com', params: ';tag=1' });
    expect(parseNameAddr('"A \\"B\\"" <http://x.example/>')).toMatchObject({ uri: 'http://x.example/' });
    expect(parseNameAddr('sip:a@b;tag=1')).toMatchObject({ uri: 'sip:a@b', bracketed: false, params: ';tag=1' });
  });

  it('masks URIs SIP.js cannot parse and gives them back on the way out', () => {
    const p = ok(INVITE.replace('From: <sip:alice@example.com>;tag=a1', 'From: "Carrier" <tel:+4930123;phone-context=example.com>;tag=a1'));
    expect(maskForeignUris(p.headers)).toBe(true);
    const text = serializeSipMessage(p, 'INVITE sip:1000@127.0.0.1:5060 SIP/2.0');
    expect(text).toMatch(/^From: "Carrier" <sip:x-parley-uri-[0-9a-f]+@invalid>;tag=a1$/m);
    expect(unmaskUris(text)).toContain('From: "Carrier" <tel:+4930123;phone-context=example.com>;tag=a1');
    expect(maskForeignUris(ok(INVITE).headers)).toBe(false);
  });

  it('checks method, Request-URI scheme, Require and body type in RFC 3261 §8.2 order', () => {
    const opts = { allow: ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS'], supported: ['outbound'] };
    const req = (over: Partial<ParsedSipMessage>, extra: Array<[string, string]> = []): ParsedSipMessage => {
      const p = ok(INVITE);
      return { ...p, ...over, headers: [...p.headers, ...extra.map(([lname, value]) => ({ name: lname, lname, value }))] };
    };
    expect(uasChecks(req({ method: 'REGISTER' }), opts)).toMatchObject({ status: 405, headers: ['Allow: INVITE, ACK, CANCEL, BYE, OPTIONS'] });
    expect(uasChecks(req({ method: 'FROBNICATE' }), opts)?.status).toBe(501);
    expect(uasChecks(req({ requestUri: 'tel:+123' }), opts)?.status).toBe(416);
    expect(uasChecks(req({}, [['require', 'outbound, 100rel'], ['require', 'timer'], ['proxy-require', 'x']]), opts)).toMatchObject({ status: 420, headers: ['Unsupported: 100rel, timer'] });
    expect(uasChecks(req({ method: 'CANCEL' }, [['require', '100rel']]), opts)).toBeUndefined();
    expect(uasChecks(req({ method: 'ACK' }, [['require', '100rel']]), opts)).toBeUndefined();
    expect(uasChecks(req({ body: 'x' }, [['content-type', 'text/plain']]), opts)?.status).toBe(415);
    expect(uasChecks(req({}, [['accept', 'text/html']]), opts)?.status).toBe(406);
    expect(uasChecks(req({}, [['require', 'outbound'], ['accept', 'application/sdp']]), opts)).toBeUndefined();
  });

  it('maps a Request-URI user that holds ";" whole, and reads the dialled number before its parameters', () => {
    const text = INVITE.replace('INVITE sip:1000@127.0.0.1:5060', 'INVITE sip:+4930123;npdi@127.0.0.1:5060');
    expect(mapRequestUriUser(text, 'parley')?.text.startsWith('INVITE sip:parley@127.0.0.1:5060 SIP/2.0')).toBe(true);
    expect(uriUser('sip:+4930123;npdi;rn=+49301@trunk.example')).toBe('+4930123');
    expect(uriUser('sip:bad%ZZescape@x')).toBe('bad%ZZescape');
  });
});
