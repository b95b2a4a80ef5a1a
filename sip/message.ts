/**
 * Small, allocation-light helpers over SIP message text (RFC 3261 §7). SIP.js parses messages fully;
 * these helpers only do what the transport needs before SIP.js sees a message (validation, Via stamping,
 * routing) and after it built one (port and transport fix-ups), plus stateless responses.
 */
import { randomBytes } from 'node:crypto';

/** RFC 3261 §7.3.3 compact header forms. */
const COMPACT: Record<string, string> = {
  via: 'v',
  from: 'f',
  to: 't',
  'call-id': 'i',
  contact: 'm',
  'content-length': 'l',
  'content-type': 'c',
  supported: 'k',
};

export interface SipHeaderLine {
  name: string; // as written
  lname: string; // lower-case long form
  value: string;
}

export interface ParsedSipMessage {
  kind: 'request' | 'response';
  method: string; // request method, or the CSeq method of a response
  requestUri: string; // '' for responses
  status: number; // 0 for requests
  reason: string;
  headers: SipHeaderLine[];
  body: string;
}

const LONG_OF: Record<string, string> = Object.fromEntries(Object.entries(COMPACT).map(([l, c]) => [c, l]));
const REQUEST_LINE = /^([A-Za-z]+) (\S+) SIP\/2\.0$/;
const STATUS_LINE = /^SIP\/2\.0 (\d{3}) ?(.*)$/;
const CSEQ = /^(\d{1,10})\s+([A-Za-z]+)$/;

/** Parse and validate the framing and the mandatory headers (RFC 3261 §8.1.1, §7.3); returns a reason on failure. */
export function parseSipMessage(text: string): ParsedSipMessage | { error: string; partial?: Partial<ParsedSipMessage> } {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const body = headEnd < 0 ? '' : text.slice(headEnd + 4);
  // header folding (RFC 3261 §7.3.1): join continuation lines
  const lines = head.replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  const first = lines[0] ?? '';
  const headers: SipHeaderLine[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0) return { error: `malformed header line ${i}`, partial: { headers } };
    const name = line.slice(0, colon).trim();
    if (!/^[A-Za-z0-9\-.!%*_+`'~]+$/.test(name)) return { error: `bad header name "${name}"`, partial: { headers } };
    const lower = name.toLowerCase();
    headers.push({ name, lname: LONG_OF[lower] ?? lower, value: line.slice(colon + 1).trim() });
  }
  let kind: 'request' | 'response';
  let method = '';
  let requestUri = '';
  let status = 0;
  let reason = '';
  const rl = REQUEST_LINE.exec(first);
  const sl = rl ? null : STATUS_LINE.exec(first);
  if (rl) {
    kind = 'request';
    method = (rl[1] ?? '').toUpperCase();
    requestUri = rl[2] ?? '';
    if (!/^sips?:/i.test(requestUri) && !/^tel:/i.test(requestUri)) return { error: 'bad Request-URI', partial: { headers, kind } };
  } else if (sl) {
    kind = 'response';
    status = Number(sl[1]);
    reason = sl[2] ?? '';
  } else {
    return { error: 'bad start line', partial: { headers } };
  }
  const partial = { headers, kind, method, requestUri };
  for (const h of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!headers.some((x) => x.lname === h && x.value !== '')) return { error: `missing ${h}`, partial };
  }
  const cseq = CSEQ.exec(headers.find((x) => x.lname === 'cseq')?.value ?? '');
  if (!cseq) return { error: 'bad CSeq', partial };
  const cseqMethod = (cseq[2] ?? '').toUpperCase();
  if (kind === 'request' && cseqMethod !== method) return { error: 'CSeq method does not match', partial };
  if (kind === 'response') method = cseqMethod;
  if (!/^SIP\/2\.0\/[A-Za-z]+\s+\S/i.test(headers.find((x) => x.lname === 'via')?.value ?? '')) return { error: 'bad Via', partial };
  const cl = headers.find((x) => x.lname === 'content-length');
  if (cl && !/^\d+$/.test(cl.value)) return { error: 'bad Content-Length', partial };
  return { kind, method, requestUri, status, reason, headers, body };
}

export function isParseError(p: ReturnType<typeof parseSipMessage>): p is { error: string; partial?: Partial<ParsedSipMessage> } {
  return 'error' in p;
}

export function headerValue(msg: { headers: SipHeaderLine[] }, lname: string): string | undefined {
  return msg.headers.find((h) => h.lname === lname)?.value;
}

/** Find one header's value in raw text (first occurrence; long or compact form). */
export function findHeader(text: string, lname: string): string | undefined {
  const compact = COMPACT[lname];
  const re = new RegExp(`^(?:${escapeRe(lname)}${compact ? `|${compact}` : ''})[ \\t]*:[ \\t]*(.*)$`, 'im');
  const headEnd = text.indexOf('\r\n\r\n');
  return re.exec(headEnd < 0 ? text : text.slice(0, headEnd))?.[1]?.trim();
}

export interface Via {
  transport: string; // UDP | TCP | TLS
  host: string;
  port: number | undefined;
  params: Map<string, string>; // branch, received, rport ('' when present without value)
}

/** Parse one Via value (the first, if several are comma-joined). RFC 3261 §20.42, RFC 3581. */
export function parseVia(value: string): Via | undefined {
  const first = splitTopLevelComma(value)[0] ?? '';
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[^\]]+\]|[^;:\s]+)(?::(\d+))?\s*(.*)$/i.exec(first.trim());
  if (!m) return undefined;
  const params = new Map<string, string>();
  for (const p of (m[4] ?? '').split(';')) {
    const t = p.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq < 0) params.set(t.toLowerCase(), '');
    else params.set(t.slice(0, eq).trim().toLowerCase(), t.slice(eq + 1).trim());
  }
  return { transport: (m[1] ?? '').toUpperCase(), host: m[2] ?? '', port: m[3] ? Number(m[3]) : undefined, params };
}

/** Where a response to this request goes (RFC 3261 §18.2.2 with RFC 3581 rport). */
export function responseDestination(via: Via): { address: string; port: number } {
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  const maddr = via.params.get('maddr');
  return {
    address: maddr || received || via.host.replace(/^\[|\]$/g, ''),
    port: rport ? Number(rport) : (via.port ?? (via.transport === 'TLS' ? 5061 : 5060)),
  };
}

/**
 * RFC 3261 §18.2.1 + RFC 3581 §4: stamp `received` and fill `rport` in the top Via of an incoming request.
 * Always adds received (harmless when equal) so responses route to the real source.
 */
export function stampTopVia(text: string, address: string, port: number): string {
  return text.replace(/^((?:Via|v)[ \t]*:[ \t]*)([^\r\n]*)/im, (_m, prefix: string, value: string) => {
    const parts = splitTopLevelComma(value);
    let top = parts[0] ?? '';
    if (/;\s*rport(?=\s*(;|$))/i.test(top)) top = top.replace(/;\s*rport(?=\s*(;|$))/i, `;rport=${port}`);
    top = top.replace(/;\s*received=[^;,\s]*/i, '');
    top = `${top};received=${address}`;
    parts[0] = top;
    return prefix + parts.join(',');
  });
}

/** Split a header value on commas that are not inside quotes or angle brackets. */
export function splitTopLevelComma(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out;
}

export function branchOf(text: string): string | undefined {
  const via = findHeader(text, 'via');
  return via ? parseVia(via)?.params.get('branch') : undefined;
}

export function callIdOf(text: string): string | undefined {
  return findHeader(text, 'call-id');
}

export function cseqOf(text: string): { seq: number; method: string } | undefined {
  const m = CSEQ.exec(findHeader(text, 'cseq') ?? '');
  return m ? { seq: Number(m[1]), method: (m[2] ?? '').toUpperCase() } : undefined;
}

export function startLine(text: string): string {
  const i = text.indexOf('\r\n');
  return i < 0 ? text : text.slice(0, i);
}

/** Status code of a response, 0 for a request. */
export function statusOf(text: string): number {
  return text.startsWith('SIP/2.0 ') ? Number(text.slice(8, 11)) || 0 : 0;
}

/** Method of a request ('' for a response). */
export function methodOf(text: string): string {
  if (text.startsWith('SIP/2.0 ')) return '';
  const sp = text.indexOf(' ');
  return sp > 0 ? text.slice(0, sp).toUpperCase() : '';
}

/**
 * A stateless response to a request (RFC 3261 §8.2.6): Via (all), From, To (+tag), Call-ID, CSeq copied.
 * Works on a partially valid request (for 400 Bad Request), copying what is there.
 */
export function buildStatelessResponse(
  headers: SipHeaderLine[],
  status: number,
  reason: string,
  extraHeaders: string[] = [],
): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const h of headers) {
    if (h.lname === 'via' || h.lname === 'from' || h.lname === 'call-id' || h.lname === 'cseq') lines.push(`${canonical(h.lname)}: ${h.value}`);
    else if (h.lname === 'to') lines.push(`To: ${/;\s*tag=/i.test(h.value) ? h.value : `${h.value};tag=${randomBytes(5).toString('hex')}`}`);
  }
  lines.push(...extraHeaders, 'Server: Parley', 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}

function canonical(lname: string): string {
  if (lname === 'call-id') return 'Call-ID';
  if (lname === 'cseq') return 'CSeq';
  return lname.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replace the user part of a SIP Request-URI; returns the new text and the original URI. */
export function mapRequestUriUser(text: string, user: string): { text: string; originalUri: string } | undefined {
  const m = /^([A-Z]+) (sips?:)(?:([^@;>\s]+)@)?(\S+) SIP\/2\.0\r\n/i.exec(text);
  if (!m) return undefined;
  const originalUri = `${m[2]}${m[3] ? `${m[3]}@` : ''}${m[4]}`;
  if (m[3] === user) return { text, originalUri };
  return { text: `${m[1]} ${m[2]}${user}@${m[4]} SIP/2.0\r\n${text.slice(m[0].length)}`, originalUri };
}

/** The user part (dialled number) of a SIP URI, '' when none. */
export function uriUser(uri: string): string {
  const m = /^(?:<)?(?:sips?|tel):([^@;>?]+)@/i.exec(uri.trim());
  if (m) return decodeURIComponent(m[1] ?? '');
  const t = /^(?:<)?tel:([^;>?]+)/i.exec(uri.trim());
  return t ? (t[1] ?? '') : '';
}
