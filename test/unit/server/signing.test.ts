import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  MAX_SIGNATURE_HEADER_CHARS,
  PARLEY_SIGNATURE_HEADER,
  computeSignature,
  parseSignatureHeader,
  signPayload,
  verifySignature,
} from '../../../server/signing.ts';

/** HMAC-SHA256 by OpenSSL's command line: an implementation independent of node:crypto's API use here. */
function opensslHmac(data: string | Buffer, secret: string): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', secret, '-r'], { input: data }).toString('utf8');
  return out.split(' ')[0]!.trim();
}

const BODY = '{"id":"evt_1","type":"call.started","created_at":"2024-01-01T00:00:00.000Z","data":{"n":"ünïcødé"}}';
const SECRET = 'whsec_test';
const T = 1_700_000_000;

describe('signing (Stripe scheme)', () => {
  it('uses the header name the issue fixes', () => {
    expect(PARLEY_SIGNATURE_HEADER).toBe('Parley-Signature');
  });

  it('matches a known vector (computed by openssl dgst -hmac) for t=<t>,v1=<hex of "<t>.<body>">', () => {
    // fixed vector, made once with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    expect(signPayload('{"a":1}', SECRET, T)).toBe('t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789');
    // and for a body with non-ASCII bytes, computed now by openssl over the UTF-8 bytes
    const expected = opensslHmac(Buffer.from(`${T}.${BODY}`, 'utf8'), SECRET);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    expect(signPayload(BODY, SECRET, T)).toBe(`t=${T},v1=${expected}`);
    // a Buffer body signs the same bytes
    expect(signPayload(Buffer.from(BODY, 'utf8'), SECRET, T)).toBe(`t=${T},v1=${expected}`);
    expect(computeSignature(T, BODY, SECRET)).toBe(expected);
  });

  it('signs with the current time by default', () => {
    const before = Math.floor(Date.now() / 1000);
    const h = signPayload(BODY, SECRET);
    const t = parseSignatureHeader(h)!.timestampS;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(before + 2);
    expect(verifySignature(h, BODY, SECRET)).toEqual({ ok: true, timestampS: t });
  });

  it('verifies a good signature, refuses a changed body, another secret, a bad header', () => {
    const h = signPayload(BODY, SECRET, T);
    expect(verifySignature(h, BODY, SECRET, { nowS: T })).toEqual({ ok: true, timestampS: T });
    expect(verifySignature(h, Buffer.from(BODY), SECRET, { nowS: T }).ok).toBe(true);
    expect(verifySignature(h, BODY + ' ', SECRET, { nowS: T })).toEqual({ ok: false, code: 'mismatch' });
    expect(verifySignature(h, BODY, 'whsec_other', { nowS: T })).toEqual({ ok: false, code: 'mismatch' });
    // the timestamp is part of what is signed: changing it breaks the signature
    expect(verifySignature(h.replace(`t=${T}`, `t=${T + 1}`), BODY, SECRET, { nowS: T })).toEqual({ ok: false, code: 'mismatch' });
    expect(verifySignature(undefined, BODY, SECRET)).toEqual({ ok: false, code: 'missing' });
    expect(verifySignature('', BODY, SECRET)).toEqual({ ok: false, code: 'missing' });
    for (const bad of ['garbage', `t=${T}`, `v1=${'a'.repeat(64)}`, `t=abc,v1=${'a'.repeat(64)}`, `t=${T},v1=xyz`, `t=${T},t=${T},v1=${'a'.repeat(64)}`, `t=${T},v1=${'a'.repeat(63)}`]) {
      expect(verifySignature(bad, BODY, SECRET, { nowS: T })).toEqual({ ok: false, code: 'malformed' });
    }
    expect(verifySignature(`t=${T},v1=${'a'.repeat(64)}` + ',v0=x'.repeat(MAX_SIGNATURE_HEADER_CHARS), BODY, SECRET, { nowS: T })).toEqual({ ok: false, code: 'malformed' });
  });

  it('refuses a timestamp outside the tolerance (both ways), default 300 s', () => {
    const h = signPayload(BODY, SECRET, T);
    expect(verifySignature(h, BODY, SECRET, { nowS: T + 300 }).ok).toBe(true);
    expect(verifySignature(h, BODY, SECRET, { nowS: T + 301 })).toEqual({ ok: false, code: 'timestamp_out_of_tolerance' });
    expect(verifySignature(h, BODY, SECRET, { nowS: T - 301 })).toEqual({ ok: false, code: 'timestamp_out_of_tolerance' });
    expect(verifySignature(h, BODY, SECRET, { nowS: T + 3600, toleranceS: 7200 }).ok).toBe(true);
    expect(verifySignature(h, BODY, SECRET, { nowS: T + 10 ** 9, toleranceS: Infinity }).ok).toBe(true);
  });

  it('secret rotation: several v1 entries, several secrets, unknown schemes ignored', () => {
    const both = signPayload(BODY, ['whsec_new', 'whsec_old'], T);
    expect(both).toBe(`t=${T},v1=${computeSignature(T, BODY, 'whsec_new')},v1=${computeSignature(T, BODY, 'whsec_old')}`);
    // a receiver still on the old secret, one already on the new, one holding both
    expect(verifySignature(both, BODY, 'whsec_old', { nowS: T }).ok).toBe(true);
    expect(verifySignature(both, BODY, 'whsec_new', { nowS: T }).ok).toBe(true);
    expect(verifySignature(signPayload(BODY, 'whsec_old', T), BODY, ['whsec_new', 'whsec_old'], { nowS: T }).ok).toBe(true);
    expect(verifySignature(both, BODY, ['whsec_x', ''], { nowS: T })).toEqual({ ok: false, code: 'mismatch' });
    // spaces, upper-case hex, a v0 entry and a header sent twice (Node gives an array or joins with ', ')
    const one = computeSignature(T, BODY, SECRET);
    expect(verifySignature(` t=${T} , v0=deadbeef , v1=${one.toUpperCase()} `, BODY, SECRET, { nowS: T }).ok).toBe(true);
    expect(verifySignature([`t=${T},v1=${'0'.repeat(64)}`, `v1=${one}`], BODY, SECRET, { nowS: T }).ok).toBe(true);
  });

  it('refuses empty secrets and bad timestamps when signing', () => {
    expect(() => signPayload(BODY, '')).toThrow(TypeError);
    expect(() => signPayload(BODY, [])).toThrow(TypeError);
    expect(() => signPayload(BODY, SECRET, 1.5)).toThrow(TypeError);
  });
});
