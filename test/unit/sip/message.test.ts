import { describe, expect, it } from 'vitest';
import {
  buildStatelessResponse,
  isParseError,
  mapRequestUriUser,
  parseSipMessage,
  parseVia,
  responseDestination,
  stampTopVia,
  uriUser,
} from '../../../sip/message.ts';

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
