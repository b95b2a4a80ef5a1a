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
  method: string; // request method (case-sensitive, RFC 3261 §7.1), or the CSeq method of a response
  requestUri: string; // '' for responses
  status: number; // 0 for requests
  reason: string;
  headers: SipHeaderLine[];
  body: string;
}

/** Why a message is malformed, and the status a request gets for it (400, or 505 for another SIP version). */
export interface SipParseError {
  error: string;
  status: number;
  partial?: Partial<ParsedSipMessage>;
}

const LONG_OF: Record<string, string> = Object.fromEntries(Object.entries(COMPACT).map(([l, c]) => [c, l]));
const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";
const TOKEN = new RegExp(`^[${TOKEN_CHARS}]+$`);
const CSEQ = new RegExp(`^(\\d{1,10})[ \\t]+([${TOKEN_CHARS}]+)$`);
const MAX_CSEQ = 0xffffffff; // RFC 3261 §8.1.1.5: a 32-bit unsigned integer
/** RFC 3261 §25.1 word (Call-ID): token characters plus ( ) < > : \ " / [ ] ? { }. */
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;
/** absoluteURI / SIP-URI: a scheme, a colon, and no whitespace, quotes or angle brackets (RFC 3261 §25.1, RFC 3986 §3.1). */
const URI = /^[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>"]+$/;
/** rfc1123-date in GMT (RFC 3261 §20.17). */
const DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
/** Header fields that carry one value (RFC 3261 §7.3.1, §20): a second one makes the message malformed (RFC 4475 multi01, mcl01). */
const SINGLE = new Set(['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type']);
const GEN_VALUE = new RegExp(`^(?:[${TOKEN_CHARS}:\\[\\]]+|"(?:[^"\\\\]|\\\\.)*")$`);

/**
 * Parse and validate a message: the start line, the framing headers and the syntax of the header fields the
 * server relies on (RFC 3261 §7, §8.1.1, §20, §25; the malformed cases of RFC 4475 §3.1.2). Returns the reason
 * on failure; a request gets `status` back (400, or 505 for another SIP version), a response is never answered.
 * Leading CRLFs are skipped (RFC 3261 §7.5).
 */
export function parseSipMessage(text: string): ParsedSipMessage | SipParseError {
  let start = 0;
  while (text.startsWith('\r\n', start)) start += 2;
  const headEnd = text.indexOf('\r\n\r\n', start);
  const head = headEnd < 0 ? text.slice(start) : text.slice(start, headEnd);
  const body = headEnd < 0 ? '' : text.slice(headEnd + 4);
  const firstEnd = head.indexOf('\r\n');
  const first = firstEnd < 0 ? head : head.slice(0, firstEnd);
  const bad = (error: string, partial?: Partial<ParsedSipMessage>, status = 400): SipParseError => ({ error, status, ...(partial ? { partial } : {}) });

  // header fields (RFC 3261 §7.3.1: folded lines are joined), collected first so that even a request with a
  // broken start line gets a 400 that carries its Via, Call-ID and CSeq
  const headers: SipHeaderLine[] = [];
  let headerErr: string | undefined;
  const lines = firstEnd < 0 ? [] : head.slice(firstEnd + 2).replace(/\r\n[ \t]+/g, ' ').split('\r\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).replace(/[ \t]+$/, '') : ''; // HCOLON = *( SP / HTAB ) ":" SWS
    if (colon <= 0 || !TOKEN.test(name)) {
      headerErr = colon <= 0 ? `malformed header line ${i + 1}` : `bad header name "${name}"`;
      break;
    }
    const lower = name.toLowerCase();
    headers.push({ name, lname: LONG_OF[lower] ?? lower, value: line.slice(colon + 1).trim() });
  }

  // the start line: what the message is decides whether it is ever answered
  let kind: 'request' | 'response';
  let method = '';
  let requestUri = '';
  let status = 0;
  let reason = '';
  if (/^SIP\//i.test(first)) {
    kind = 'response';
    const sl = /^SIP\/(\d+\.\d+) (\d{3})(?: (.*))?$/i.exec(first);
    if (!sl) return bad('bad Status-Line', { kind, headers });
    if (sl[1] !== '2.0') return bad(`SIP version ${sl[1]}`, { kind, headers });
    status = Number(sl[2]);
    reason = sl[3] ?? '';
    if (status < 100) return bad('bad Status-Code', { kind, headers });
  } else {
    kind = 'request';
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP each, nothing after (RFC 4475 lwsstart, trws, lwsruri)
    const rl = /^([^ ]+) ([^ ]+) ([^ ]+)$/.exec(first);
    if (!rl) return bad('bad Request-Line', { kind, headers, method: /^([^ ]*)/.exec(first)?.[1] ?? '' });
    method = rl[1] ?? '';
    requestUri = rl[2] ?? '';
    const version = rl[3] ?? '';
    if (!TOKEN.test(method)) return bad('bad method', { kind, headers, method });
    const v = /^SIP\/(\d+\.\d+)$/i.exec(version);
    if (!v) return bad('bad SIP-Version', { kind, headers, method });
    if (!URI.test(requestUri)) return bad('bad Request-URI', { kind, headers, method }); // e.g. <sip:…> (RFC 4475 ltgtruri)
    // RFC 3261 §19.1.1 table: no header fields in a Request-URI (RFC 4475 escruri); a "?" in the user part is fine
    if (/^sips?:/i.test(requestUri) && requestUri.slice(requestUri.indexOf('@') + 1).includes('?')) {
      return bad('header fields in the Request-URI', { kind, headers, method });
    }
    if (v[1] !== '2.0') return bad('SIP Version Not Supported', { kind, headers, method }, 505);
  }
  if (headerErr) return bad(headerErr, { headers, kind, method });

  const partial = { headers, kind, method, requestUri };
  for (const h of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!headers.some((x) => x.lname === h && x.value !== '')) return bad(`missing ${h}`, partial);
  }
  const seen = new Set<string>();
  for (const h of headers) {
    if (SINGLE.has(h.lname)) {
      if (seen.has(h.lname)) return bad(`more than one ${h.lname}`, partial);
      seen.add(h.lname);
    }
    const err = headerError(h);
    if (err) return bad(err, partial);
  }
  const cseq = CSEQ.exec(headers.find((x) => x.lname === 'cseq')?.value ?? '');
  if (!cseq || Number(cseq[1]) > MAX_CSEQ) return bad('bad CSeq', partial);
  const cseqMethod = cseq[2] ?? '';
  if (kind === 'request' && cseqMethod !== method) return bad('CSeq method does not match', partial);
  if (kind === 'response') method = cseqMethod;
  return { kind, method, requestUri, status, reason, headers, body };
}

/** The syntax error in one header field value, if any (only the fields the server reads or relies on). */
function headerError(h: SipHeaderLine): string | undefined {
  const v = h.value;
  switch (h.lname) {
    case 'via':
      return viaError(v);
    case 'from':
    case 'to': {
      const r = parseNameAddr(v);
      return typeof r === 'string' ? `${h.lname}: ${r}` : undefined;
    }
    case 'contact': {
      if (v === '*') return undefined;
      for (const part of splitTopLevelComma(v)) {
        const r = parseNameAddr(part);
        if (typeof r === 'string') return `contact: ${r}`;
      }
      return undefined;
    }
    case 'call-id':
      return CALL_ID.test(v) ? undefined : 'bad Call-ID';
    case 'content-length':
      return /^\d+$/.test(v) ? undefined : 'bad Content-Length';
    case 'max-forwards':
      return /^\d+$/.test(v) ? undefined : 'bad Max-Forwards';
    case 'date':
      return DATE.test(v) ? undefined : 'bad Date (RFC 1123, GMT)';
    case 'require':
    case 'proxy-require':
      return optionTags(v).every((t) => TOKEN.test(t)) ? undefined : `bad ${h.lname}`;
    default:
      return undefined;
  }
}

/** via-parm list (RFC 3261 §20.42): SIP/2.0/transport sent-by *( ";" param ), LWS allowed around the separators. */
function viaError(value: string): string | undefined {
  for (const part of splitTopLevelComma(value)) {
    const m = new RegExp(`^SIP\\s*/\\s*2\\.0\\s*/\\s*[${TOKEN_CHARS}]+\\s+(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9\\-.]+)(?:\\s*:\\s*\\d{1,5})?(.*)$`, 'i').exec(part);
    if (!m) return 'bad Via';
    const err = paramsError(m[1] ?? '');
    if (err) return `Via: ${err}`;
  }
  return undefined;
}

/** `*( SEMI generic-param )` after a URI or a sent-by: every parameter a token with an optional value, none empty. */
function paramsError(rest: string): string | undefined {
  const s = rest.trim();
  if (s === '') return undefined;
  if (s[0] !== ';') return 'junk after the URI';
  for (const p of splitOutsideQuotes(s.slice(1), ';')) {
    const t = p.trim();
    if (t === '') return 'empty parameter';
    const eq = t.indexOf('=');
    const name = (eq < 0 ? t : t.slice(0, eq)).trim();
    if (!TOKEN.test(name)) return `bad parameter "${name}"`;
    if (eq >= 0 && !GEN_VALUE.test(t.slice(eq + 1).trim())) return `bad value of parameter "${name}"`;
  }
  return undefined;
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === sep) {
      out.push(s.slice(from, i));
      from = i + 1;
    }
  }
  out.push(s.slice(from));
  return out;
}

function optionTags(v: string): string[] {
  return v
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** One From/To/Contact value: `[display-name] <URI> *(;param)` or `URI *(;param)`. */
export interface NameAddr {
  display: string; // as written (quoted or tokens), '' when none
  uri: string;
  bracketed: boolean;
  params: string; // ';tag=…' etc. as written
}

/**
 * Parse a name-addr / addr-spec with its parameters (RFC 3261 §20.10, §25.1); returns the reason when malformed:
 * an unterminated quoted display name (RFC 4475 quotbal), non-token characters in an unquoted one (baddn),
 * whitespace inside <…> (badaspec), a URI with "?" or "," outside <…> (regbadct, §20), empty parameters (badinv01).
 * Any URI scheme is valid here (RFC 4475 unksm2): a scheme we cannot use is still a well-formed message.
 */
export function parseNameAddr(value: string): NameAddr | string {
  const v = value.trim();
  let lt: number;
  let display = '';
  if (v.startsWith('"')) {
    let j = 1;
    for (; j < v.length; j++) {
      if (v[j] === '\\') j++;
      else if (v[j] === '"') break;
    }
    if (j >= v.length) return 'unterminated quoted display name';
    display = v.slice(0, j + 1);
    lt = j + 1;
    while (v[lt] === ' ' || v[lt] === '\t') lt++;
    if (v[lt] !== '<') return 'a display name without <URI>';
  } else {
    lt = v.indexOf('<');
    if (lt >= 0) {
      display = v.slice(0, lt).trim();
      if (display !== '' && !new RegExp(`^[${TOKEN_CHARS}]+(?:[ \\t]+[${TOKEN_CHARS}]+)*$`).test(display)) return 'non-token characters in an unquoted display name';
    }
  }
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return 'unterminated <URI>';
    const uri = v.slice(lt + 1, gt);
    if (!URI.test(uri)) return /\s/.test(uri) ? 'whitespace inside <URI>' : 'bad URI';
    const params = v.slice(gt + 1);
    const err = paramsError(params);
    return err ?? { display, uri, bracketed: true, params };
  }
  // addr-spec: after the URI, ";…" are header parameters (RFC 3261 §20)
  const semi = v.indexOf(';');
  const uri = (semi < 0 ? v : v.slice(0, semi)).trim();
  if (!URI.test(uri)) return /\s/.test(uri) ? 'whitespace inside the URI' : 'bad URI';
  if (/[?,]/.test(uri)) return 'a URI with "?" or "," outside <…>';
  const params = semi < 0 ? '' : v.slice(semi);
  const err = paramsError(params);
  return err ?? { display: '', uri, bracketed: false, params };
}

export function isParseError(p: ReturnType<typeof parseSipMessage>): p is SipParseError {
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
  // the user part ends at the first "@" (a host and URI parameters hold none): it may hold ";" (RFC 4475 semiuri)
  const m = /^(\S+) (sips?:)(?:([^@\s]+)@)?(\S+) SIP\/2\.0\r\n/i.exec(text);
  if (!m) return undefined;
  const originalUri = `${m[2]}${m[3] ? `${m[3]}@` : ''}${m[4]}`;
  if (m[3] === user) return { text, originalUri };
  return { text: `${m[1]} ${m[2]}${user}@${m[4]} SIP/2.0\r\n${text.slice(m[0].length)}`, originalUri };
}

/** The user part (dialled number) of a SIP URI, '' when none. */
export function uriUser(uri: string): string {
  const m = /^(?:<)?(?:sips?|tel):([^@>?]+)@/i.exec(uri.trim());
  if (m) {
    const user = (m[1] ?? '').split(';')[0] ?? ''; // telephone-subscriber parameters (";npdi", ";rn=…") are not the number
    try {
      return decodeURIComponent(user);
    } catch {
      return user; // "%" not followed by two hex digits
    }
  }
  const t = /^(?:<)?tel:([^;>?]+)/i.exec(uri.trim());
  return t ? (t[1] ?? '') : '';
}

// ------------------------------------------------------------------------------ UAS checks (RFC 3261 §8.2)

/** Methods defined by RFC 3261 and its extensions: one we do not allow gets 405, any other 501. */
const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'REGISTER', 'INFO', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'UPDATE', 'MESSAGE', 'REFER', 'PUBLISH']);

export interface UasRejection {
  status: number;
  reason: string;
  headers: string[];
}

/**
 * The checks a UAS makes before it looks at a request's meaning, in the order of RFC 3261 §8.2: the method
 * (405 with Allow when we know it, 501 when we do not), the Request-URI scheme (416), `Require` (420 with
 * `Unsupported` listing the option tags we do not support; never for CANCEL, §8.2.2.3), and for INVITE the
 * body type (415 with Accept) and `Accept` (406). An ACK is never answered. Undefined: go on.
 */
export function uasChecks(msg: ParsedSipMessage, opts: { allow: readonly string[]; supported: readonly string[] }): UasRejection | undefined {
  const method = msg.method;
  if (method === 'ACK') return undefined;
  const allowHeader = `Allow: ${opts.allow.join(', ')}`;
  if (!opts.allow.includes(method)) {
    return KNOWN_METHODS.has(method)
      ? { status: 405, reason: 'Method Not Allowed', headers: [allowHeader] }
      : { status: 501, reason: 'Not Implemented', headers: [allowHeader] };
  }
  if (!/^sip:/i.test(msg.requestUri)) return { status: 416, reason: 'Unsupported URI Scheme', headers: [] };
  if (method !== 'CANCEL') {
    const unsupported: string[] = [];
    for (const h of msg.headers) {
      if (h.lname !== 'require') continue;
      for (const tag of optionTags(h.value)) if (!opts.supported.includes(tag) && !unsupported.includes(tag)) unsupported.push(tag);
    }
    if (unsupported.length) return { status: 420, reason: 'Bad Extension', headers: [`Unsupported: ${unsupported.join(', ')}`] };
  }
  if (method === 'INVITE') {
    const type = (headerValue(msg, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (msg.body !== '' && type !== 'application/sdp' && !type.startsWith('multipart/')) {
      return { status: 415, reason: 'Unsupported Media Type', headers: ['Accept: application/sdp'] };
    }
    const accept = headerValue(msg, 'accept');
    if (accept !== undefined && accept !== '') {
      const types = accept.split(',').map((t) => t.split(';')[0]?.trim().toLowerCase() ?? '');
      if (!types.some((t) => t === 'application/sdp' || t === 'application/*' || t === '*/*')) {
        return { status: 406, reason: 'Not Acceptable', headers: ['Accept: application/sdp'] };
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------- URIs SIP.js cannot parse

/**
 * SIP.js 0.21 parses From/To/Contact with a grammar that knows only sip: and sips: URIs and drops a message
 * with any other scheme (tel:, urn:, http:, …) without an answer, though such a message is valid (RFC 3261
 * §8.2.2.1, RFC 4475 unksm2). Before SIP.js sees a message we replace each such URI by a SIP URI that carries
 * it (hex in the user part, host `invalid`), and every message we send gets the original back.
 */
const MASK_USER = 'x-parley-uri-';
const MASK_RE = /sip:x-parley-uri-([0-9a-f]+)@invalid/g;

/** Replace foreign-scheme URIs in From/To/Contact (in place); true when one was replaced. */
export function maskForeignUris(headers: SipHeaderLine[]): boolean {
  let changed = false;
  for (const h of headers) {
    if (h.lname !== 'from' && h.lname !== 'to' && h.lname !== 'contact') continue;
    if (h.value === '*') continue;
    const parts = h.lname === 'contact' ? splitTopLevelComma(h.value) : [h.value];
    let touched = false;
    const out = parts.map((p) => {
      const na = parseNameAddr(p);
      if (typeof na === 'string' || /^sips?:/i.test(na.uri)) return p;
      touched = true;
      const masked = `sip:${MASK_USER}${Buffer.from(na.uri).toString('hex')}@invalid`;
      return `${na.display ? `${na.display} ` : ''}<${masked}>${na.params}`;
    });
    if (touched) {
      h.value = out.join(', ');
      changed = true;
    }
  }
  return changed;
}

/** Put the original URIs back into an outgoing message (see maskForeignUris). */
export function unmaskUris(text: string): string {
  if (!text.includes(MASK_USER)) return text;
  return text.replace(MASK_RE, (_m, hex: string) => Buffer.from(hex, 'hex').toString());
}

/** The message as SIP.js gets it: start line, one `Name: value` line per header field (folding undone), body. */
export function serializeSipMessage(msg: ParsedSipMessage, firstLine: string): string {
  let s = `${firstLine}\r\n`;
  for (const h of msg.headers) s += `${h.name}: ${h.value}\r\n`;
  return `${s}\r\n${msg.body}`;
}

/** The values of every Content-Length header field (long or compact form) in a message head. */
export function contentLengths(head: string): string[] {
  const out: string[] = [];
  for (const m of head.matchAll(/^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)$/gim)) out.push((m[1] ?? '').trim());
  return out;
}
