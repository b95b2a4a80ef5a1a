/**
 * SIP torture messages after RFC 4475 ("SIP Torture Test Messages"), written for this project from the RFC's
 * descriptions of each case (the RFC's own message texts are not reproduced): each keeps the property the RFC
 * case exercises (the tortuous whitespace, the escapes, the malformed field…), with our own names, hosts and
 * values, its top Via pointing at the test's socket so that an answer comes back to it, and a unique id in
 * its branch and Call-ID so that answers are matched to the case. `expect` is the status Parley (a UAS that
 * only takes calls) must answer with, or 'none' when it must stay silent (responses, ACKs, framing we wait on).
 * Some cases are ours (no RFC 4475 name): they press on the same rules from another side.
 */

export interface TortureContext {
  /** The test's SIP socket port (the top Via points here). */
  port: number;
  /** Parley's SIP port. */
  server: number;
  /** A UDP port that swallows the RTP of the calls that get answered. */
  rtp: number;
  /** Unique per case and run: goes in the branch and the Call-ID. */
  id: string;
  transport: 'UDP' | 'TCP';
}

export interface TortureCase {
  name: string;
  /** RFC 4475 section, or '' for a case of ours. */
  section: string;
  what: string;
  message(c: TortureContext): string | Buffer;
  /** Final status Parley must answer, or 'none'. */
  expect: number | 'none';
  /** Further checks on the answer (the full response text). */
  check?: (response: string, c: TortureContext) => void | string;
  /** Only over this transport (default: UDP). */
  transport?: 'UDP' | 'TCP';
  /** TCP: the server must close the connection after answering. */
  closes?: boolean;
}

const CRLF = '\r\n';

/** Header lines + blank line + body, with a Content-Length computed from the body's bytes unless the lines carry one. */
function msg(lines: string[], body: string | Buffer = ''): Buffer {
  const hasCl = lines.some((l) => /^(content-length|l)\s*:/i.test(l));
  const bodyBuf = typeof body === 'string' ? Buffer.from(body) : body;
  const head = [...lines, ...(hasCl ? [] : [`Content-Length: ${bodyBuf.length}`])].join(CRLF);
  return Buffer.concat([Buffer.from(head + CRLF + CRLF), bodyBuf]);
}

const via = (c: TortureContext, extra = ''): string => `Via: SIP/2.0/${c.transport} 127.0.0.1:${c.port};branch=z9hG4bK${c.id}${extra}`;

function sdp(c: TortureContext): string {
  return ['v=0', 'o=tort 3300 3300 IN IP4 127.0.0.1', 's=torture', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${c.rtp} RTP/AVP 0 8`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', ''].join(CRLF);
}

const repeat = (s: string, n: number): string => s.repeat(n);

/** Valid messages (RFC 4475 §3.1.1 and §3.3): each must be answered, and not with 400. */
export const VALID_CASES: TortureCase[] = [
  {
    name: 'wsinv',
    section: '3.1.1.1',
    what: 'short tortuous INVITE: odd case, LWS and folding everywhere, escaped quotes, unknown headers; its To carries a tag (no such dialog → 481)',
    expect: 481,
    message: (c) =>
      msg(
        [
          `INVITE sip:agent@127.0.0.1:${c.server};someparam SIP/2.0`,
          'TO :',
          ' <sip:agent@torture.example.org> ;   tag    = 7731x',
          'fRoM   : "Quinn \\"Q\\" Torture \\\\"       <sip:quinn@torture.example.org>',
          '  ;',
          '  tag = 1w2e3r',
          'MaX-fOrWaRdS: 0066',
          `Call-ID: ${c.id}@192.0.2.77`,
          'cseq: 0021',
          '  INVITE',
          'Via  : SIP  /   2.0',
          ` /${c.transport}`,
          `    127.0.0.1:${c.port};rport;branch=z9hG4bK${c.id}`,
          's :',
          'OddExtension:   first part of a value',
          ' that goes on on the next line',
          'HeaderWithPunctuation: ;;,,;;,;',
          'Content-Type: application/sdp',
          'Route:',
          ' <sip:edge.torture.example.org;lr;opaque=yes;flag>',
          'v:  SIP  / 2.0  / TCP     relay.torture.example.org   ;',
          '  branch  =   z9hG4bKrelay1  ,',
          ' SIP  /    2.0   / UDP  192.0.2.91   ; branch=',
          ' z9hG4bKrelay2',
          'm:"Quoted \\"\\"" <sip:quinn@192.0.2.55> ; aparam =',
          '      avalue ;',
          '  flagparam ; q = 0.5',
        ],
        sdp(c),
      ),
  },
  {
    name: 'intmeth',
    section: '3.1.1.2',
    what: 'every valid token character in the method, the URI, tags, the Call-ID and a header name; quoted-pairs of control characters; UTF-8 values (an unknown method → 501)',
    expect: 501,
    message: (c) =>
      msg([
        `~odd.Method-0123456789_*+\`%'! sip:a_strange.user~(sure!)&it's+here$/odd?,/;;*:&pass+word=1,yes!*pa$$~_x.(y)@127.0.0.1:${c.server} SIP/2.0`,
        `${via(c)}-.!%66*_+\`'~`,
        'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:a_strange.user~(sure!)&it\'s+here$/odd?,/;;*@torture.example.org>',
        "From: tok1~` tok2'+_ tok3*%!.- <sip:plain@torture.example.org>;odd''~+*_!.-%=\"значение\";tag=_t~1'+`*%!-.",
        `Call-ID: ${c.id}.w%ZK-!.*_+'@w\`~)(><:\\/"][?}{`,
        "CSeq: 4242 ~odd.Method-0123456789_*+`%'!",
        'Max-Forwards: 255',
        "ext-Header-!.%*+_`'~:\uFEFF電話の会話",
      ]),
  },
  {
    name: 'esc01',
    section: '3.1.1.3',
    what: '% escapes in the Request-URI user, To, From and Contact (parameter names and values too): a call, answered 200',
    expect: 200,
    message: (c) =>
      msg(
        [
          `INVITE sip:sip%3Aroom%40torture.example.org@127.0.0.1:${c.server} SIP/2.0`,
          'To: sip:%72oo%6D@torture.example.org',
          'From: <sip:has%20two%20spaces@torture.example.org>;tag=e5c',
          'Max-Forwards: 69',
          `i: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          `Contact: <sip:c%61ller@127.0.0.1:${c.port};%6C%72;k%65y=v%61l%25%34%31>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'escnull',
    section: '3.1.1.4',
    what: 'escaped NULs (%00) in To, From and two Contacts of a REGISTER (we are no registrar → 405)',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:nul-%00-nul@torture.example.org',
        'From: sip:nul-%00-nul@torture.example.org;tag=n0n0',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        'CSeq: 77 REGISTER',
        via(c),
        'Expires: 600',
        'Contact: <sip:%00@192.0.2.5>',
        'Contact: <sip:%00%00@192.0.2.5>',
        'L:0',
      ]),
  },
  {
    name: 'esc02',
    section: '3.1.1.5',
    what: '"%" that is no escape: in the method (not REGISTER!), in a header name and in display names (unknown method → 501)',
    expect: 501,
    message: (c) =>
      msg([
        `RE%47IST%45R sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: "%Y%51" <sip:thing@torture.example.org>',
        'From: "%Y%51" <sip:thing@torture.example.org>;tag=pq9',
        `Call-ID: ${c.id}`,
        via(c),
        'Contact: <sip:one@192.0.2.6>',
        'C%6Fntact: <sip:two@192.0.2.7>',
        'Contact: <sip:three@192.0.2.8>',
        'l: 0',
        'CSeq: 5 RE%47IST%45R',
        'Max-Forwards: 70',
      ]),
  },
  {
    name: 'lwsdisp',
    section: '3.1.1.6',
    what: 'no LWS between a token display name and "<"',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: caller<sip:caller@torture.example.org>;tag=d1sp',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        'CSeq: 3 OPTIONS',
        via(c),
        'l: 0',
      ]),
  },
  {
    name: 'longreq',
    section: '3.1.1.7',
    what: 'very long display name, URI parameters, tags, Call-ID, header name and value, 30 Vias: a call, answered 200',
    expect: 200,
    message: (c) =>
      msg(
        [
          `INVITE sip:longuser@127.0.0.1:${c.server} SIP/2.0`,
          `To: "A display name of ${repeat('enormous', 60)} length"<sip:longuser@torture.example.org:5070;p1=${repeat('longvalue', 40)};${repeat('longparamname', 20)}=short;${repeat('flagname', 30)}>`,
          `f: sip:${repeat('verylongcaller', 25)}@torture.example.org;tag=${repeat('9', 200)};${repeat('hparam', 30)}=${repeat('hvalue', 30)};${repeat('hflag', 40)}`,
          `Call-ID: ${c.id}.${repeat('callidpart', 50)}`,
          'CSeq: 1234567 INVITE',
          `X-${repeat('Long', 40)}-Header: ${repeat('long-value-', 80)}; ${repeat('pname', 20)} = ${repeat('pvalue', 20)}`,
          via(c),
          ...Array.from({ length: 30 }, (_v, i) => `${i % 2 ? 'v' : 'Via'}: SIP/2.0/TCP hop${30 - i}.torture.example.org;branch=z9hG4bKhop${30 - i}`),
          'Max-Forwards: 40',
          `Contact: <sip:${repeat('verylongcaller', 25)}@127.0.0.1:${c.port}>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'dblreq',
    section: '3.1.1.8',
    what: 'a REGISTER (Content-Length: 0) and an INVITE in one datagram: only the REGISTER is processed (405), the trailing INVITE is discarded',
    expect: 405,
    message: (c) => {
      const reg = msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:dbl@torture.example.org',
        'From: sip:dbl@torture.example.org;tag=dbl1',
        'Max-Forwards: 9',
        `I: ${c.id}`,
        'Contact: sip:dbl@192.0.2.9',
        'CSeq: 9 REGISTER',
        via(c),
        'Content-Length: 0',
      ]);
      const inv = msg(
        [
          `INVITE sip:dbl@127.0.0.1:${c.server} SIP/2.0`,
          't: sip:dbl@torture.example.org',
          'From: sip:dblcaller@torture.example.org;tag=dbl2',
          'Max-Forwards: 9',
          `Call-ID: ${c.id}-trailing`,
          'CSeq: 9 INVITE',
          `Via: SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bK${c.id}-trailing`,
          `Contact: <sip:dblcaller@127.0.0.1:${c.port}>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      );
      return Buffer.concat([reg, inv]);
    },
    check: (_r, c) => (_r.includes(`${c.id}-trailing`) ? 'the trailing INVITE was answered' : undefined),
  },
  {
    name: 'semiuri',
    section: '3.1.1.9',
    what: 'a ";" inside the user part of the Request-URI (a parameter-like user, not URI parameters)',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:room;par=v%40torture.example.org@127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:room@torture.example.org',
        'From: sip:asker@torture.example.org;tag=s3m1',
        'Max-Forwards: 3',
        `Call-ID: ${c.id}`,
        'CSeq: 11 OPTIONS',
        'Accept: application/sdp, application/pkcs7-mime, multipart/mixed, message/sipfrag',
        via(c),
        'l: 0',
      ]),
  },
  {
    name: 'semiuri-invite',
    section: '',
    what: 'an INVITE to a Request-URI whose user holds ";": the call is answered (the user part is mapped whole)',
    expect: 200,
    message: (c) =>
      msg(
        [
          `INVITE sip:+4930123;npdi;rn=+4930999@127.0.0.1:${c.server};user=phone SIP/2.0`,
          'To: <sip:+4930123@torture.example.org;user=phone>',
          'From: <sip:caller@torture.example.org>;tag=s3m2',
          'Max-Forwards: 70',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          `Contact: <sip:caller@127.0.0.1:${c.port}>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'transports',
    section: '3.1.1.10',
    what: 'Vias with SCTP, TLS, an unknown transport token and TCP below ours',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: <sip:caller@torture.example.org>;tag=tr4',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        via(c),
        'Via: SIP/2.0/SCTP s1.torture.example.org;branch=z9hG4bKs1',
        'Via: SIP/2.0/TLS s2.torture.example.org;branch=z9hG4bKs2, SIP/2.0/WHATEVER s3.torture.example.org;branch=z9hG4bKs3',
        'Via: SIP/2.0/TCP s4.torture.example.org;branch=z9hG4bKs4',
        'CSeq: 60 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'mpart01',
    section: '3.1.1.11',
    what: 'a MESSAGE with a multipart body holding raw binary octets, framed by its byte length (MESSAGE not allowed → 405 with Allow)',
    expect: 405,
    check: (r) => (/^Allow: .*INVITE/m.test(r) ? undefined : 'no Allow header'),
    message: (c) => {
      const binary = Buffer.from(Array.from({ length: 256 }, (_v, i) => (i * 7 + 3) & 0xff));
      const body = Buffer.concat([
        Buffer.from(`--b0undary${CRLF}Content-Type: text/plain${CRLF}${CRLF}hello${CRLF}--b0undary${CRLF}Content-Type: application/octet-stream${CRLF}Content-Transfer-Encoding: binary${CRLF}${CRLF}`),
        binary,
        Buffer.from(`${CRLF}--b0undary--${CRLF}`),
      ]);
      return msg(
        [
          `MESSAGE sip:someone@127.0.0.1:${c.server} SIP/2.0`,
          via(c),
          'Max-Forwards: 70',
          'From: <sip:sender@torture.example.org>;tag=mp1',
          'To: <sip:someone@torture.example.org>',
          `Call-ID: ${c.id}`,
          'CSeq: 1 MESSAGE',
          'Content-Type: multipart/mixed;boundary=b0undary',
        ],
        body,
      );
    },
  },
  {
    name: 'unksm2',
    section: '3.3.4',
    what: 'URIs of other schemes in To (isbn:), From (http:) and Contact (name:) of a REGISTER: valid, answered (405), not 400 and not silence',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'To: isbn:9780262510875',
        'From: <http://www.torture.example.org>;tag=u2k',
        `Call-ID: ${c.id}`,
        'CSeq: 8 REGISTER',
        'Contact: <name:Ada_Lovelace>',
        'l: 0',
      ]),
  },
  {
    name: 'unksm2-options',
    section: '',
    what: 'an OPTIONS with a tel: To, an http: From and a mailto: Contact: answered 200',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'To: tel:+1-201-555-0142',
        'From: "Web" <http://www.torture.example.org/caller>;tag=u2o',
        `Call-ID: ${c.id}`,
        'CSeq: 8 OPTIONS',
        'Contact: <mailto:someone@torture.example.org>',
        'l: 0',
      ]),
  },
  {
    name: 'unksm2-invite',
    section: '',
    what: 'an INVITE from a tel: URI to a urn: URI (as carriers and emergency calls send): a call, answered 200, the URIs given back unchanged',
    expect: 200,
    check: (r) => {
      if (/x-parley/i.test(r)) return 'a masked URI leaked into the response';
      if (!/^From: "Carrier" <tel:\+12015550142;phone-context=torture\.example\.org>;tag=u2i$/m.test(r)) return 'From not given back unchanged';
      if (!/^To: <urn:service:sos>;tag=/m.test(r)) return 'To not given back unchanged (with our tag)';
      return undefined;
    },
    message: (c) =>
      msg(
        [
          `INVITE sip:sos@127.0.0.1:${c.server} SIP/2.0`,
          via(c),
          'Max-Forwards: 70',
          'To: <urn:service:sos>',
          'From: "Carrier" <tel:+12015550142;phone-context=torture.example.org>;tag=u2i',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          `Contact: <sip:trunk@127.0.0.1:${c.port}>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'unkscm',
    section: '3.3.2',
    what: 'a Request-URI of an unknown scheme: 416',
    expect: 416,
    message: (c) =>
      msg([
        'OPTIONS noSuchScheme:opaque-content-here SIP/2.0',
        'To: noSuchScheme:opaque-content-here',
        'From: <sip:asker@torture.example.org>;tag=us1',
        via(c),
        `Call-ID: ${c.id}`,
        'CSeq: 3 OPTIONS',
        'Max-Forwards: 70',
        'l: 0',
      ]),
  },
  {
    name: 'novelsc',
    section: '3.3.3',
    what: 'a Request-URI of a registered but atypical scheme: 416',
    expect: 416,
    message: (c) =>
      msg([
        'OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0',
        'To: sip:svc@torture.example.org',
        'From: <sip:asker@torture.example.org>;tag=nv1',
        via(c),
        `Call-ID: ${c.id}`,
        'CSeq: 4 OPTIONS',
        'Max-Forwards: 70',
        'l: 0',
      ]),
  },
  {
    name: 'bext01',
    section: '3.3.5',
    what: 'Require with two option tags nobody supports, and Proxy-Require (ignored by a UAS): 420 with Unsupported listing exactly the Require tags',
    expect: 420,
    check: (r) => (/^Unsupported: noOneHasThis, norThisEither\r$/m.test(r) ? undefined : 'Unsupported does not list the two Require tags'),
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: sip:asker@torture.example.org;tag=bx1',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        'CSeq: 8 OPTIONS',
        via(c),
        'Require: noOneHasThis, norThisEither',
        'Proxy-Require: proxiesLackThis, andThis',
        'l: 0',
      ]),
  },
  {
    name: 'bext01-invite',
    section: '',
    what: 'an INVITE requiring session timers (which we do, RFC 4028) and 100rel (which we do not): 420 with Unsupported: 100rel only',
    expect: 420,
    check: (r) => (/^Unsupported: 100rel\r$/m.test(r) ? undefined : 'Unsupported does not list exactly 100rel'),
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          via(c),
          'Max-Forwards: 70',
          'To: <sip:1000@torture.example.org>',
          'From: <sip:caller@torture.example.org>;tag=bx2',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          `Contact: <sip:caller@127.0.0.1:${c.port}>`,
          'Require: timer',
          'Require: 100rel, timer',
          'Session-Expires: 1800',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'bext01-in-dialog',
    section: '',
    what: 'an in-dialog (To-tagged) request with an unknown Require tag gets 420 too, before dialog matching',
    expect: 420,
    message: (c) =>
      msg([
        `INFO sip:parley@127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'To: <sip:parley@127.0.0.1>;tag=nosuchdialog',
        'From: <sip:caller@torture.example.org>;tag=bx3',
        `Call-ID: ${c.id}`,
        'CSeq: 2 INFO',
        'Require: somethingNew',
        'l: 0',
      ]),
  },
  {
    name: 'bext01-cancel',
    section: '',
    what: 'a CANCEL carrying Require never gets 420 (RFC 3261 §8.2.2.3): it matches no transaction → 481',
    expect: 481,
    message: (c) =>
      msg([
        `CANCEL sip:1000@127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'To: <sip:1000@torture.example.org>',
        'From: <sip:caller@torture.example.org>;tag=bx4',
        `Call-ID: ${c.id}`,
        'CSeq: 1 CANCEL',
        'Require: noOneHasThis',
        'l: 0',
      ]),
  },
  {
    name: 'bext01-ack',
    section: '',
    what: 'an ACK carrying Require is never answered',
    expect: 'none',
    message: (c) =>
      msg([
        `ACK sip:1000@127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'To: <sip:1000@torture.example.org>;tag=x1',
        'From: <sip:caller@torture.example.org>;tag=bx5',
        `Call-ID: ${c.id}`,
        'CSeq: 1 ACK',
        'Require: noOneHasThis',
        'l: 0',
      ]),
  },
  {
    name: 'invut',
    section: '3.3.6',
    what: 'an INVITE whose body is of an unknown type: 415 with Accept: application/sdp',
    expect: 415,
    check: (r) => (/^Accept: application\/sdp\r$/m.test(r) ? undefined : 'no Accept: application/sdp'),
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'Contact: <sip:caller@127.0.0.1>',
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=iv1',
          'Max-Forwards: 70',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          'Content-Type: application/no-such-format',
        ],
        '<blob>0123456789abcdef0123456789abcdef</blob>',
      ),
  },
  {
    name: 'regaut01',
    section: '3.3.7',
    what: 'a REGISTER with an Authorization of an unknown scheme (no registrar here → 405)',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:reg@torture.example.org',
        'From: sip:reg@torture.example.org;tag=ra1',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        'CSeq: 2 REGISTER',
        via(c),
        'Authorization: SchemeNobodyKnows opaque-token=abc, more=def',
        'l: 0',
      ]),
  },
  {
    name: 'zeromf',
    section: '3.3.11',
    what: 'Max-Forwards: 0 to a UAS: processed as usual (only a proxy answers 483)',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 0',
        'To: <sip:someone@torture.example.org>',
        'From: <sip:asker@torture.example.org>;tag=zm0',
        `Call-ID: ${c.id}`,
        'CSeq: 14 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'sdp01',
    section: '3.3.15',
    what: 'an INVITE whose Accept rules out SDP: 406',
    expect: 406,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=sd1',
          'Max-Forwards: 70',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          `Contact: <sip:caller@127.0.0.1:${c.port}>`,
          'Accept: text/nothing-knows-this',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'cparam01',
    section: '3.3.12',
    what: 'a REGISTER whose Contact carries a header parameter outside <> (we are no registrar → 405)',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: sip:reg@torture.example.org;tag=cp1',
        'To: sip:reg@torture.example.org',
        `Call-ID: ${c.id}`,
        'CSeq: 3 REGISTER',
        'Contact: sip:+1-201-555-0142@192.0.2.20;user=phone',
        'l: 0',
      ]),
  },
  {
    name: 'cparam02',
    section: '3.3.13',
    what: 'a REGISTER whose Contact has URI parameters inside <> and header parameters outside (405)',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: sip:reg@torture.example.org;tag=cp2',
        'To: sip:reg@torture.example.org',
        `Call-ID: ${c.id}`,
        'CSeq: 4 REGISTER',
        'Contact: <sip:reg@192.0.2.21;user=phone;ttl=3>;expires=900;q=0.7',
        'l: 0',
      ]),
  },
  {
    name: 'regescrt',
    section: '3.3.14',
    what: 'a REGISTER whose Contact URI, inside <>, carries an escaped Route header (405)',
    expect: 405,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: sip:reg@torture.example.org;tag=re1',
        'To: sip:reg@torture.example.org',
        `Call-ID: ${c.id}`,
        'CSeq: 5 REGISTER',
        'Contact: <sip:reg@192.0.2.22?Route=%3Csip:edge.torture.example.org;lr%3E>',
        'l: 0',
      ]),
  },
  {
    name: 'inv2543',
    section: '3.4.1',
    what: 'an INVITE in RFC 2543 style: no branch, no From tag, no Max-Forwards — still answered (a call, 200)',
    expect: 200,
    message: (c) =>
      msg(
        [
          `INVITE sip:old@127.0.0.1:${c.server} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${c.port}`,
          'From: <sip:oldcaller@torture.example.org>',
          'To: <sip:old@torture.example.org>',
          `Call-ID: ${c.id}@192.0.2.23`,
          'CSeq: 1 INVITE',
          `Contact: <sip:oldcaller@127.0.0.1:${c.port}>`,
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'badbranch',
    section: '3.2.1',
    what: 'a branch without the RFC 3261 magic cookie: still a valid request',
    expect: 200,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: sip:asker@torture.example.org;tag=bb1',
        'Max-Forwards: 70',
        `Call-ID: ${c.id}`,
        'CSeq: 8 OPTIONS',
        `Via: SIP/2.0/${c.transport} 127.0.0.1:${c.port};branch=old-style-${c.id}`,
        'l: 0',
      ]),
  },
];

/** Malformed requests (RFC 4475 §3.1.2, §3.3): 400 (505 for another SIP version), and the server goes on. */
export const INVALID_CASES: TortureCase[] = [
  {
    name: 'badinv01',
    section: '3.1.2.1',
    what: 'empty parameters and list elements in Via (";;,;,,") and Contact (";;;;")',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=bi1',
          'Max-Forwards: 7',
          `Call-ID: ${c.id}`,
          'CSeq: 8 INVITE',
          `Via: SIP/2.0/UDP 127.0.0.1:${c.port};;,;,,`,
          'Contact: "Caller" <sip:caller@192.0.2.4>;;;;',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'clerr',
    section: '3.1.2.2',
    what: 'Content-Length larger than the body in the datagram',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'Max-Forwards: 80',
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=ce1',
          `Call-ID: ${c.id}`,
          'CSeq: 17 INVITE',
          via(c),
          'Content-Type: application/sdp',
          'Content-Length: 8888',
        ],
        sdp(c),
      ),
  },
  {
    name: 'scalar02',
    section: '3.1.2.3',
    what: 'a negative Content-Length',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'Max-Forwards: 70',
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=sc2',
          `Call-ID: ${c.id}`,
          'CSeq: 2 INVITE',
          via(c),
          'Content-Type: application/sdp',
          'Content-Length: -777',
        ],
        sdp(c),
      ),
  },
  {
    name: 'scalarlg',
    section: '3.1.2.4',
    what: 'a CSeq number beyond 2^32−1 (with an oversized Max-Forwards and expiries too)',
    expect: 400,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'To: sip:big@torture.example.org',
        'From: sip:big@torture.example.org;tag=lg1',
        `Call-ID: ${c.id}`,
        'CSeq: 98765432109876543210 REGISTER',
        'Max-Forwards: 600',
        'Expires: 99999999999999',
        'Contact: <sip:big@192.0.2.10>;expires=555555555555555',
        'l: 0',
      ]),
  },
  {
    name: 'scalarlg-10digits',
    section: '',
    what: 'a 10-digit CSeq number just beyond 2^32−1',
    expect: 400,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'To: sip:big@torture.example.org',
        'From: sip:big@torture.example.org;tag=lg2',
        `Call-ID: ${c.id}`,
        'CSeq: 4294967296 OPTIONS',
        'Max-Forwards: 70',
        'l: 0',
      ]),
  },
  {
    name: 'quotbal',
    section: '3.1.2.6',
    what: 'an unterminated quoted display name in To',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'To: "Ms. Unbalanced <sip:1000@torture.example.org>',
          'From: sip:caller@torture.example.org;tag=qb1',
          `Call-ID: ${c.id}`,
          'Max-Forwards: 70',
          'CSeq: 8 INVITE',
          via(c),
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'ltgtruri',
    section: '3.1.2.7',
    what: 'the Request-URI enclosed in "<>"',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE <sip:1000@127.0.0.1:${c.server}> SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=lt1',
          `Call-ID: ${c.id}`,
          'CSeq: 23 INVITE',
          via(c),
          'Max-Forwards: 70',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'lwsruri',
    section: '3.1.2.8',
    what: 'LWS inside the Request-URI ("; lr")',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server}; lr SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=lw1',
          `Call-ID: ${c.id}`,
          'CSeq: 2 INVITE',
          via(c),
          'Max-Forwards: 70',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'lwsstart',
    section: '3.1.2.9',
    what: 'two SPs between the Request-Line elements',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE  sip:1000@127.0.0.1:${c.server}  SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=ls1',
          `Call-ID: ${c.id}`,
          'CSeq: 2 INVITE',
          via(c),
          'Max-Forwards: 70',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'trws',
    section: '3.1.2.10',
    what: 'SP after SIP/2.0 at the end of the Request-Line',
    expect: 400,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0  `,
        via(c),
        'Max-Forwards: 70',
        'From: <sip:asker@torture.example.org>;tag=tw1',
        'To: <sip:someone@torture.example.org>',
        `Call-ID: ${c.id}`,
        'CSeq: 1 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'escruri',
    section: '3.1.2.11',
    what: 'an escaped header field in the Request-URI',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server}?Route=%3Csip:torture.example.org%3E SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=er1',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          'Max-Forwards: 70',
          'Contact: <sip:caller@192.0.2.4>',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'baddate',
    section: '3.1.2.12',
    what: 'a Date with a time zone other than GMT',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=bd1',
          `Call-ID: ${c.id}`,
          'CSeq: 1 INVITE',
          via(c),
          'Max-Forwards: 70',
          'Date: Tue, 13 Mar 2012 08:30:00 PST',
          'Contact: <sip:caller@192.0.2.4>',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'regbadct',
    section: '3.1.2.13',
    what: 'a Contact URI with an escaped header ("?") not enclosed in "<>"',
    expect: 400,
    message: (c) =>
      msg([
        `REGISTER sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: sip:reg@torture.example.org;tag=rb1',
        'To: sip:reg@torture.example.org',
        `Call-ID: ${c.id}`,
        'CSeq: 1 REGISTER',
        'Contact: sip:reg@192.0.2.4?Route=%3Csip:edge.torture.example.org%3E',
        'l: 0',
      ]),
  },
  {
    name: 'badaspec',
    section: '3.1.2.14',
    what: 'spaces inside "<…>" around the addr-spec',
    expect: 400,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: "Doe, Jane" <sip:jane@torture.example.org>;tag=ba1',
        'To: "Roe, Richard" < sip:richard@torture.example.org >',
        `Call-ID: ${c.id}`,
        'CSeq: 1 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'baddn',
    section: '3.1.2.15',
    what: 'non-token characters (",") in an unquoted display name',
    expect: 400,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        via(c),
        'Max-Forwards: 70',
        'From: Doe, Jane <sip:jane@torture.example.org>;tag=dn1',
        'To: sip:someone@torture.example.org',
        `Call-ID: ${c.id}`,
        'CSeq: 1 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'badvers',
    section: '3.1.2.16',
    what: 'SIP/7.0: 505 Version Not Supported',
    expect: 505,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/7.0`,
        via(c),
        'Max-Forwards: 70',
        'From: <sip:asker@torture.example.org>;tag=bv1',
        'To: <sip:someone@torture.example.org>',
        `Call-ID: ${c.id}`,
        'CSeq: 1 OPTIONS',
        'l: 0',
      ]),
  },
  {
    name: 'mismatch01',
    section: '3.1.2.17',
    what: 'OPTIONS with a CSeq method of INVITE',
    expect: 400,
    message: (c) =>
      msg([
        `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: sip:asker@torture.example.org;tag=mm1',
        `Call-ID: ${c.id}`,
        'CSeq: 8 INVITE',
        via(c),
        'Max-Forwards: 70',
        'l: 0',
      ]),
  },
  {
    name: 'mismatch02',
    section: '3.1.2.18',
    what: 'an unknown method with a CSeq method of INVITE',
    expect: 400,
    message: (c) =>
      msg([
        `BRANDNEWMETHOD sip:127.0.0.1:${c.server} SIP/2.0`,
        'To: sip:someone@torture.example.org',
        'From: sip:asker@torture.example.org;tag=mm2',
        `Call-ID: ${c.id}`,
        'CSeq: 8 INVITE',
        via(c),
        'Max-Forwards: 70',
        'l: 0',
      ]),
  },
  {
    name: 'insuf',
    section: '3.3.1',
    what: 'no Call-ID, From or To',
    expect: 400,
    message: (c) => msg([`INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`, 'CSeq: 193 INVITE', via(c), 'Content-Type: application/sdp'], sdp(c)),
  },
  {
    name: 'multi01',
    section: '3.3.8',
    what: 'two values each for Call-ID, To, From, Max-Forwards and CSeq',
    expect: 400,
    message: (c) =>
      msg(
        [
          `INVITE sip:1000@127.0.0.1:${c.server} SIP/2.0`,
          'Contact: <sip:caller@192.0.2.4>',
          via(c),
          'Max-Forwards: 70',
          `Call-ID: ${c.id}`,
          'CSeq: 8 INVITE',
          'To: sip:1000@torture.example.org',
          'From: sip:caller@torture.example.org;tag=mu1',
          'Max-Forwards: 70',
          `Call-ID: ${c.id}-second`,
          'CSeq: 9 INVITE',
          'To: sip:other@torture.example.org',
          'From: sip:caller@torture.example.org;tag=mu2',
          'Content-Type: application/sdp',
        ],
        sdp(c),
      ),
  },
  {
    name: 'mcl01',
    section: '3.3.9',
    what: 'two different Content-Length values (and a compact third)',
    expect: 400,
    message: (c) =>
      msg(
        [
          `OPTIONS sip:127.0.0.1:${c.server} SIP/2.0`,
          via(c),
          'To: sip:someone@torture.example.org',
          'From: sip:asker@torture.example.org;tag=mc1',
          `Call-ID: ${c.id}`,
          'CSeq: 5 OPTIONS',
          'Max-Forwards: 70',
          'Content-Length: 0',
          'Content-Length: 4',
          'l: 0',
          'Content-Type: text/plain',
        ],
        'data',
      ),
  },
];

/** A response that matches no transaction of ours; `startLine` and `extra` make it valid or not. */
function strayResponse(c: TortureContext, startLine: string, extra: string[] = [], prefix = '', topVia = `127.0.0.1:${c.port}`): Buffer {
  return Buffer.concat([
    Buffer.from(prefix),
    msg([
      startLine,
      `Via: SIP/2.0/UDP ${topVia};branch=z9hG4bK${c.id}`,
      'To: <sip:someone@torture.example.org>;tag=r2',
      'From: <sip:parley@127.0.0.1>;tag=r1',
      `Call-ID: ${c.id}`,
      'CSeq: 7 INVITE',
      ...extra,
    ]),
  ]);
}

/** Responses that match no transaction: discarded, never answered — valid ones and malformed ones alike. */
export const RESPONSE_CASES: TortureCase[] = [
  { name: 'unreason', section: '3.1.1.12', what: 'a 200 with a UTF-8, punctuation-laden reason phrase', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 200 = 2^3 · 5^2 — двести, 二百, ¡bien!') },
  { name: 'noreason', section: '3.1.1.13', what: 'a response with an empty reason phrase', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 180 ') },
  { name: 'bigcode', section: '3.1.2.19', what: 'an overlarge status code', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 4294967299 must not break anything') },
  {
    name: 'bcast',
    section: '3.3.10',
    what: 'a 200 whose Via sent-by is the broadcast address',
    expect: 'none',
    message: (c) => strayResponse(c, 'SIP/2.0 200 OK', [], '', '255.255.255.255'),
  },
  { name: 'resp-lowercase', section: '', what: 'a response whose SIP-Version is in lower case ("sip/2.0", valid: ABNF strings are case-insensitive)', expect: 'none', message: (c) => strayResponse(c, 'sip/2.0 200 OK') },
  { name: 'resp-crlf', section: '', what: 'a response preceded by CRLFs (RFC 3261 §7.5)', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 200 OK', [], '\r\n\r\n\r\n') },
  { name: 'resp-version', section: '', what: 'a response of another SIP version', expect: 'none', message: (c) => strayResponse(c, 'SIP/3.0 200 OK') },
  { name: 'resp-mcl', section: '', what: 'a malformed response: two Content-Lengths', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 486 Busy Here', ['Content-Length: 0', 'l: 5']) },
  { name: 'resp-badaspec', section: '', what: 'a malformed response: spaces inside <…> in Contact', expect: 'none', message: (c) => strayResponse(c, 'SIP/2.0 200 OK', ['Contact: < sip:x@192.0.2.1 >']) },
  { name: 'resp-noheaders', section: '', what: 'a malformed response: no Call-ID line, a header without a colon', expect: 'none', message: (c) => Buffer.from(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK${c.id}\r\nnot a header\r\n\r\n`) },
];
