/**
 * The browser voice demo (client-demo/), served at `/` when `demo.enabled` (PARLEY_DEMO, default on).
 *
 *   GET  /                             the page
 *   GET  /demo/assets/style.css        its stylesheet
 *   GET  /demo/assets/app.js           the page script        } TypeScript in client-demo/src, bundled
 *   GET  /demo/assets/mic-worklet.js   the microphone worklet } by esbuild on first request and kept
 *   GET  /demo/assets/playback-worklet.js                     } in memory (no CDN: works offline)
 *   GET  /demo/config                  { passwordRequired, model }
 *   POST /demo/session                 { password? } → { value: "ek_…", expires_at, model }
 *
 * The page never sees the server's keys: it gets a short-lived ephemeral key minted in-process
 * (`app.parley.clientSecrets.mint`) and opens `/v1/realtime` with it as a WebSocket subprotocol.
 *
 * Who gets a key (README.md, "Talk to it from the browser"):
 * - a browser's `Origin` is required (curl and other non-browser clients send none: 403);
 * - with PARLEY_DEMO_ORIGINS, the Origin must be one of them; without, it must be this server's own
 *   host (`Origin` = `Host`) and, unless a password is set, a loopback one (127.0.0.1, localhost,
 *   [::1]): a DNS-rebinding page (`evil.example` resolving to 127.0.0.1) has neither;
 * - when HOST is beyond loopback and neither PARLEY_DEMO_ORIGINS nor PARLEY_DEMO_PASSWORD is set,
 *   nobody: a forged Origin is easy outside a browser, so such a server mints no demo key
 *   (403 `demo_locked`, and a warning at start);
 * - JSON bodies only (a cross-site form cannot post), the optional PARLEY_DEMO_PASSWORD checked in
 *   constant time, a rate limit per client address.
 * A demo key lives PARLEY_DEMO_KEY_TTL_S (120 s) and holds at most PARLEY_DEMO_MAX_SESSIONS_PER_KEY
 * (1) sessions; all ephemeral keys together are held to PARLEY_EPHEMERAL_MAX_SESSIONS (server/auth.ts).
 * Demo off: none of these routes exist (404).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DemoConfig } from '../config/demo.ts';
import { isLoopbackHost } from '../config.ts';
import { pageAssets, type PageBundle } from './page-assets.ts';

/** Default lifetime of the page's key (PARLEY_DEMO_KEY_TTL_S): long enough to connect; the session may outlive it. */
export const DEMO_KEY_TTL_S = 120;

const DEFAULT_DEMO: DemoConfig = { enabled: true, password: null, origins: [], keyTtlS: DEMO_KEY_TTL_S, maxSessionsPerKey: 1 };

type MintFn = (opts: { ttlS: number; maxSessions?: number }) => { value: string; expires_at: number };
/** Keys a client address may get per minute, and wrong passwords it may try per minute. */
const MINTS_PER_MINUTE = 30;
const BAD_PASSWORDS_PER_MINUTE = 10;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
  // same-origin scripts, worklets and sockets only
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

export interface DemoRouteOptions {
  demo?: DemoConfig;
  /** Mints an ephemeral key (default: `app.parley.clientSecrets.mint`). */
  mint?: MintFn;
  /** Model the page asks for (default: the server's default session model). */
  model?: string;
  /** The address the server listens on (default: `app.parley.config.host`, else 127.0.0.1). */
  host?: string;
}

interface ParleyDecoration {
  config?: { host?: string; demo?: DemoConfig; session?: { defaults?: { model?: unknown } } };
  clientSecrets?: { mint: MintFn };
}

/** The demo page's files (server/routes/page-assets.ts: bundled from source, or prebuilt in the built package). */
export const DEMO_PAGE: PageBundle = {
  name: 'demo',
  entryPoints: {
    app: 'src/main.ts',
    'mic-worklet': 'src/worklets/mic-processor.ts',
    'playback-worklet': 'src/worklets/playback-processor.ts',
  },
  files: [
    ['index.html', 'text/html; charset=utf-8'],
    ['style.css', 'text/css; charset=utf-8'],
  ],
};

/** Fixed-window counter per client address (small, self-cleaning). */
export class RateLimiter {
  readonly #hits = new Map<string, { windowStartMs: number; count: number }>();
  constructor(readonly limit: number, readonly windowMs = 60_000) {}

  /** Counts one hit; false when the address is over its limit. */
  hit(key: string, nowMs = Date.now()): boolean {
    if (this.#hits.size > 10_000) {
      for (const [k, v] of this.#hits) if (nowMs - v.windowStartMs >= this.windowMs) this.#hits.delete(k);
    }
    const entry = this.#hits.get(key);
    if (!entry || nowMs - entry.windowStartMs >= this.windowMs) {
      this.#hits.set(key, { windowStartMs: nowMs, count: 1 });
      return true;
    }
    entry.count++;
    return entry.count <= this.limit;
  }

  over(key: string, nowMs = Date.now()): boolean {
    const entry = this.#hits.get(key);
    return !!entry && nowMs - entry.windowStartMs < this.windowMs && entry.count >= this.limit;
  }
}

export function passwordMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** Why a key request's `Origin` is refused, or null when it may have a key (the rules at the top). */
function originRefusal(req: FastifyRequest, origins: readonly string[], passwordSet: boolean): Refusal | null {
  const header = req.headers.origin;
  if (header === undefined || header === '' || header === 'null') {
    return { status: 403, code: 'origin_required', message: 'The demo key endpoint answers browsers only (no Origin header was sent).' };
  }
  let origin: URL;
  try {
    origin = new URL(header);
  } catch {
    return { status: 403, code: 'cross_origin', message: 'The demo key endpoint is same-origin only.' };
  }
  if (origins.length > 0) {
    if (origins.includes(origin.origin)) return null;
    return { status: 403, code: 'cross_origin', message: 'This page\'s origin is not one of PARLEY_DEMO_ORIGINS.' };
  }
  if (origin.host !== req.headers.host) return { status: 403, code: 'cross_origin', message: 'The demo key endpoint is same-origin only.' };
  if (!passwordSet && !isLoopbackHost(origin.hostname)) {
    return { status: 403, code: 'cross_origin', message: 'Without PARLEY_DEMO_ORIGINS or PARLEY_DEMO_PASSWORD, the demo serves pages opened at a loopback address only (e.g. http://127.0.0.1:8080/).' };
  }
  return null;
}

function demoError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send({ error: { type: 'invalid_request_error', code, message } });
}

export default async function demoRoutes(app: FastifyInstance, opts: DemoRouteOptions = {}): Promise<void> {
  const parley = (app as unknown as { parley?: ParleyDecoration }).parley;
  const demo = { ...DEFAULT_DEMO, ...(opts.demo ?? parley?.config?.demo) };
  if (!demo.enabled) return; // demo off: nothing is served (404)
  const host = opts.host ?? parley?.config?.host ?? '127.0.0.1';
  const defaultModel = parley?.config?.session?.defaults?.model;
  const model = opts.model ?? (typeof defaultModel === 'string' ? defaultModel : 'gpt-realtime');
  const mint =
    opts.mint ??
    ((o: { ttlS: number; maxSessions?: number }) => {
      if (!parley?.clientSecrets) throw new Error('app.parley.clientSecrets is not available');
      return parley.clientSecrets.mint(o);
    });
  const password = demo.password && demo.password.length > 0 ? demo.password : null;
  // beyond loopback with neither an origin list nor a password, anyone who can reach the port could
  // forge an Origin: mint nothing, and say so now rather than at the first refused click
  const locked = !isLoopbackHost(host) && demo.origins.length === 0 && password === null;
  if (locked) {
    app.log.warn(
      { host },
      'PARLEY_DEMO is on and HOST is beyond loopback, but neither PARLEY_DEMO_ORIGINS nor PARLEY_DEMO_PASSWORD is set: the demo page will not get session keys (set one of them, or PARLEY_DEMO=off)',
    );
  }
  const mints = new RateLimiter(MINTS_PER_MINUTE);
  const badPasswords = new RateLimiter(BAD_PASSWORDS_PER_MINUTE);

  const serve = pageAssets(DEMO_PAGE, {
    headers: SECURITY_HEADERS,
    error: demoError,
    buildFailed: { code: 'demo_build_failed', message: 'The demo page could not be built.', log: 'demo page bundle failed' },
    notFound: 'No such demo asset.',
  });

  app.get('/', serve('index.html'));
  app.get('/index.html', serve('index.html'));
  app.get('/demo/assets/style.css', serve('style.css'));
  app.get('/demo/assets/app.js', serve('app.js'));
  app.get('/demo/assets/mic-worklet.js', serve('mic-worklet.js'));
  app.get('/demo/assets/playback-worklet.js', serve('playback-worklet.js'));

  app.get('/demo/config', async (_req, reply) =>
    reply.header('cache-control', 'no-store').send({ passwordRequired: password !== null, model }),
  );

  app.post('/demo/session', async (req, reply) => {
    if (locked) {
      return demoError(reply, 403, 'demo_locked', 'This server listens beyond loopback: its demo gives out session keys only when PARLEY_DEMO_ORIGINS or PARLEY_DEMO_PASSWORD is set.');
    }
    const refusal = originRefusal(req, demo.origins, password !== null);
    if (refusal) return demoError(reply, refusal.status, refusal.code, refusal.message);
    // JSON only: a cross-site HTML form cannot send application/json without a CORS preflight
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return demoError(reply, 415, 'unsupported_media_type', 'Send the request as application/json.');
    }
    const ip = req.ip;
    if (password !== null) {
      if (badPasswords.over(ip)) return demoError(reply, 429, 'rate_limited', 'Too many wrong passwords; wait a minute.');
      const body = (req.body ?? {}) as { password?: unknown };
      const header = req.headers['x-parley-demo-password'];
      const given = typeof body.password === 'string' ? body.password : typeof header === 'string' ? header : '';
      if (!passwordMatches(given, password)) {
        badPasswords.hit(ip);
        return demoError(reply, 401, 'wrong_password', 'Wrong or missing demo password.');
      }
    }
    if (!mints.hit(ip)) return demoError(reply, 429, 'rate_limited', 'Too many session keys; wait a minute.');
    const secret = mint({ ttlS: demo.keyTtlS, maxSessions: demo.maxSessionsPerKey });
    req.log.info({ demo: true }, 'demo key minted');
    return reply.header('cache-control', 'no-store').send({ value: secret.value, expires_at: secret.expires_at, model });
  });
}
