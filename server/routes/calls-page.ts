/**
 * The calls page (client-demo/calls.html, docs/notes/calls-page.md), served next to the demo:
 *
 *   GET    /calls                          the page
 *   GET    /calls/assets/calls.js          its script (client-demo/src/calls/, bundled by esbuild on first request)
 *   GET    /calls/assets/style.css, calls.css
 *   GET    /calls/session                  { logged_in, password_login, key_login }
 *   POST   /calls/session                  { secret: <server API key or demo password> } → login cookie
 *   DELETE /calls/session                  log out
 *
 * and the live view it shows (server/live/): the observer on every session, GET /v1/calls/live and
 * GET /v1/calls/{id}/live. The page reads calls with its login cookie (HttpOnly, SameSite=Strict, never
 * a key in a URL): GET /v1/calls, /v1/calls/{id}, /v1/calls/{id}/recording (the `<audio>` source) and the
 * live stream all accept it (server/live/page-auth.ts `authorizeCallsRead`).
 *
 * Login guards, as the demo's key endpoint (server/routes/demo.ts): a browser `Origin` equal to `Host`
 * (or one of PARLEY_DEMO_ORIGINS), JSON bodies only, the password compared in constant time, 10 wrong
 * secrets a minute per address. Without PARLEY_API_KEYS nor PARLEY_DEMO_PASSWORD nobody can log in.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LiveCalls } from '../live/live-calls.ts';
import { registerLiveRoutes } from '../live/routes.ts';
import { PAGE_COOKIE, pageSessionsOf, pageToken } from '../live/page-auth.ts';
import { RateLimiter, passwordMatches } from './demo.ts';
import { pageAssets, type PageBundle } from './page-assets.ts';
import { fail } from './request-errors.ts';

const BAD_SECRETS_PER_MINUTE = 10;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
  // same-origin script, styles, fetches, event streams and recordings only
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

/** The calls page's files (server/routes/page-assets.ts: bundled from source, or prebuilt in the built package). */
export const CALLS_PAGE: PageBundle = {
  name: 'calls',
  entryPoints: { calls: 'src/calls/main.ts' },
  files: [
    ['calls.html', 'text/html; charset=utf-8'],
    ['style.css', 'text/css; charset=utf-8'],
    ['calls.css', 'text/css; charset=utf-8'],
  ],
};

/** Same-origin (or a PARLEY_DEMO_ORIGINS page) browsers only may log in: no Origin, or another one → refused. */
function originAllowed(req: FastifyRequest, origins: readonly string[]): boolean {
  const header = req.headers.origin;
  if (header === undefined || header === '' || header === 'null') return false;
  let origin: URL;
  try {
    origin = new URL(header);
  } catch {
    return false;
  }
  return origins.includes(origin.origin) || origin.host === req.headers.host;
}

export interface CallsPageHandle {
  live: LiveCalls;
}

/** Registers the live view (observer + routes) and the calls page. */
export async function registerCallsPage(app: FastifyInstance): Promise<CallsPageHandle> {
  const { config, sessions, keys } = app.parley;
  const live = new LiveCalls();
  sessions.observe(live.observer);
  registerLiveRoutes(app, live);

  const pages = pageSessionsOf(app);
  const password = config.demo.password !== null && config.demo.password.length > 0 ? config.demo.password : null;
  const badSecrets = new RateLimiter(BAD_SECRETS_PER_MINUTE);
  const secure = config.tls !== null;

  const serve = pageAssets(CALLS_PAGE, {
    headers: SECURITY_HEADERS,
    error: fail,
    buildFailed: { code: 'calls_page_build_failed', message: 'The calls page could not be built.', log: 'calls page bundle failed' },
    notFound: 'No such asset.',
  });
  app.get('/calls', serve('calls.html'));
  app.get('/calls/assets/calls.js', serve('calls.js'));
  app.get('/calls/assets/style.css', serve('style.css'));
  app.get('/calls/assets/calls.css', serve('calls.css'));

  const cookie = (value: string, maxAgeS: number): string =>
    `${PAGE_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;

  app.get('/calls/session', async (req, reply) =>
    reply.header('cache-control', 'no-store').send({
      logged_in: pages.check(pageToken(req)),
      password_login: password !== null,
      key_login: config.apiKeys.length > 0,
    }),
  );

  app.post('/calls/session', async (req, reply) => {
    if (!originAllowed(req, config.demo.origins)) return fail(reply, 403, 'cross_origin', 'The calls page login is same-origin only.');
    // JSON only: a cross-site HTML form cannot send application/json without a CORS preflight
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return fail(reply, 415, 'unsupported_media_type', 'Send the request as application/json.');
    if (password === null && config.apiKeys.length === 0) {
      return fail(reply, 403, 'calls_page_locked', 'Nobody can log in: set PARLEY_API_KEYS or PARLEY_DEMO_PASSWORD.');
    }
    const ip = req.ip;
    if (badSecrets.over(ip)) return fail(reply, 429, 'rate_limited', 'Too many wrong secrets; wait a minute.');
    const body = (req.body ?? {}) as { secret?: unknown };
    const secret = typeof body.secret === 'string' ? body.secret : '';
    // a server key, or the demo password (both checked: no timing hint which one it was)
    const isKey = secret !== '' && keys.isServerKey(secret);
    const isPassword = password !== null && passwordMatches(secret, password);
    if (!isKey && !isPassword) {
      badSecrets.hit(ip);
      return fail(reply, 401, 'wrong_secret', 'Wrong or missing API key or password.');
    }
    const { token, expiresAtMs } = pages.mint();
    req.log.info({ via: isKey ? 'key' : 'password' }, 'calls page login');
    return reply
      .header('cache-control', 'no-store')
      .header('set-cookie', cookie(token, pages.ttlS))
      .send({ logged_in: true, expires_at: Math.floor(expiresAtMs / 1000) });
  });

  app.delete('/calls/session', async (req, reply) => {
    pages.revoke(pageToken(req));
    return reply.header('cache-control', 'no-store').header('set-cookie', cookie('', 0)).send({ logged_in: false });
  });

  return { live };
}
