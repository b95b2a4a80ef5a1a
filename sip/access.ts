/**
 * Inbound trust: source address allow-list (CIDRs) and a digest challenge on INVITE
 * (RFC 3261 §22.4 with RFC 2617 MD5 digest, qop=auth; nonces are HMAC-signed timestamps, valid 5 minutes).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { SipError } from './errors.ts';

interface Cidr {
  family: 4 | 6;
  bytes: Buffer;
  prefix: number;
}

function ipBytes(ip: string): { family: 4 | 6; bytes: Buffer } | undefined {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4mapped) ip = v4mapped[1] as string;
  if (net.isIPv4(ip)) return { family: 4, bytes: Buffer.from(ip.split('.').map(Number)) };
  if (net.isIPv6(ip)) {
    const [head = '', tail = ''] = ip.split('::') as [string, string?];
    const h = head ? head.split(':') : [];
    const t = ip.includes('::') && tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
    return { family: 6, bytes: b };
  }
  return undefined;
}

export function parseCidr(text: string): Cidr {
  const [ip = '', len] = text.trim().split('/');
  const b = ipBytes(ip);
  if (!b) throw new SipError('SIP_ERR_CONFIG', `bad address in PARLEY_SIP_ALLOWED_SOURCES: "${text}"`);
  const max = b.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new SipError('SIP_ERR_CONFIG', `bad prefix length in "${text}"`);
  return { ...b, prefix };
}

export class SourceFilter {
  private readonly cidrs: Cidr[];
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs.map(parseCidr);
  }
  get enabled(): boolean {
    return this.cidrs.length > 0;
  }
  allows(address: string): boolean {
    if (!this.cidrs.length) return true;
    const a = ipBytes(address);
    if (!a) return false;
    return this.cidrs.some((c) => {
      if (c.family !== a.family) return false;
      const full = Math.floor(c.prefix / 8);
      if (!a.bytes.subarray(0, full).equals(c.bytes.subarray(0, full))) return false;
      const rem = c.prefix % 8;
      if (!rem) return true;
      const mask = (0xff << (8 - rem)) & 0xff;
      return ((a.bytes[full] as number) & mask) === ((c.bytes[full] as number) & mask);
    });
  }
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const NONCE_TTL_MS = 5 * 60_000;

export function parseDigestParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = header.replace(/^\s*Digest\s+/i, '');
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let m = re.exec(body); m; m = re.exec(body)) out[(m[1] as string).toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

/** Server side of an MD5 digest challenge. */
export class DigestAuthenticator {
  readonly realm: string;
  private readonly user: string;
  private readonly password: string;
  private readonly secret = randomBytes(16);

  constructor(opts: { realm: string; user: string; password: string }) {
    this.realm = opts.realm;
    this.user = opts.user;
    this.password = opts.password;
  }

  private nonce(nowMs = Date.now()): string {
    const ts = nowMs.toString(16);
    return `${ts}.${createHmac('sha256', this.secret).update(ts).digest('hex').slice(0, 24)}`;
  }

  private nonceValid(nonce: string, nowMs = Date.now()): 'ok' | 'stale' | 'bad' {
    const [ts = '', mac = ''] = nonce.split('.');
    const want = createHmac('sha256', this.secret).update(ts).digest('hex').slice(0, 24);
    if (mac.length !== want.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(want))) return 'bad';
    return nowMs - parseInt(ts, 16) > NONCE_TTL_MS ? 'stale' : 'ok';
  }

  /** The WWW-Authenticate header for a 401. */
  challenge(stale = false): string {
    return `WWW-Authenticate: Digest realm="${this.realm}", nonce="${this.nonce()}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /** Check an Authorization header for `method`; 'stale' means challenge again with stale=true. */
  verify(authorization: string | undefined, method: string): 'ok' | 'stale' | 'missing' | 'bad' {
    if (!authorization) return 'missing';
    const p = parseDigestParams(authorization);
    if (!p.username || !p.nonce || !p.uri || !p.response) return 'bad';
    if (p.username !== this.user || (p.realm ?? '') !== this.realm) return 'bad';
    if (p.algorithm && p.algorithm.toUpperCase() !== 'MD5') return 'bad';
    const nv = this.nonceValid(p.nonce);
    if (nv === 'bad') return 'bad';
    const ha1 = md5(`${this.user}:${this.realm}:${this.password}`);
    const ha2 = md5(`${method}:${p.uri}`);
    const expected = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc ?? ''}:${p.cnonce ?? ''}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    if (expected.length !== p.response.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(p.response.toLowerCase()))) return 'bad';
    return nv === 'stale' ? 'stale' : 'ok';
  }
}
