/**
 * Who may read calls (docs/notes/calls-page.md, "Auth"): a server API key (`Authorization: Bearer`,
 * PARLEY_API_KEYS), or the calls page's login session — a random token in an `HttpOnly`,
 * `SameSite=Strict` cookie, minted by `POST /calls/session` for whoever gives a server key or the demo
 * password (PARLEY_DEMO_PASSWORD). A cookie, because the page's `EventSource` and `<audio>` cannot send
 * headers, and a key in a URL would end in access logs and browser history.
 *
 * Tokens are kept as SHA-256 digests, expire after PAGE_SESSION_TTL_S, and are bounded in number
 * (the oldest go first). `authorizeCallsRead(app, req)` is the one check every `/v1/calls…` route can
 * use (server/live/routes.ts; the record and recording routes too).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerKey } from '../auth.ts';

export const PAGE_COOKIE = 'parley_calls';
/** How long a login lasts (a working shift); the page asks again after it. */
export const PAGE_SESSION_TTL_S = 8 * 3600;
/** Logins held at once; past this the oldest is forgotten. */
const MAX_PAGE_SESSIONS = 1000;

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class PageSessions {
  readonly #tokens = new Map<string, number>(); // digest → expires at (ms)
  readonly #now: () => number;
  constructor(readonly ttlS = PAGE_SESSION_TTL_S, now: () => number = () => Date.now()) {
    this.#now = now;
  }

  mint(): { token: string; expiresAtMs: number } {
    const now = this.#now();
    for (const [d, exp] of this.#tokens) if (exp <= now) this.#tokens.delete(d);
    while (this.#tokens.size >= MAX_PAGE_SESSIONS) {
      const oldest = this.#tokens.keys().next();
      if (oldest.done) break;
      this.#tokens.delete(oldest.value);
    }
    const token = `pcs_${randomBytes(32).toString('base64url')}`;
    const expiresAtMs = now + this.ttlS * 1000;
    this.#tokens.set(digest(token), expiresAtMs);
    return { token, expiresAtMs };
  }

  check(token: string | null): boolean {
    if (token === null || token === '') return false;
    const d = digest(token);
    const exp = this.#tokens.get(d);
    if (exp === undefined) return false;
    if (exp <= this.#now()) {
      this.#tokens.delete(d);
      return false;
    }
    return true;
  }

  revoke(token: string | null): void {
    if (token !== null) this.#tokens.delete(digest(token));
  }

  get size(): number {
    return this.#tokens.size;
  }
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function pageToken(req: FastifyRequest): string | null {
  return cookieValue(req.headers.cookie, PAGE_COOKIE);
}

/** The page logins of an app, keyed by its `app.parley` (one object in every plugin context of the app). */
const SESSIONS = new WeakMap<object, PageSessions>();

export function pageSessionsOf(app: FastifyInstance): PageSessions {
  let s = SESSIONS.get(app.parley);
  if (!s) {
    s = new PageSessions();
    SESSIONS.set(app.parley, s);
  }
  return s;
}

export type CallsReadAuth = { ok: true; via: 'key' | 'page' } | { ok: false; status: 401; code: 'missing_api_key' | 'invalid_api_key'; message: string };

/**
 * May this request read call records and live transcripts? A server API key (Bearer), or a valid page
 * login cookie. Ephemeral client keys (`ek_…`) may not: they are handed to browsers for one conversation.
 */
export function authorizeCallsRead(app: FastifyInstance, req: FastifyRequest): CallsReadAuth {
  const key = bearerKey(req.headers);
  if (key !== null) {
    if (app.parley.keys.isServerKey(key)) return { ok: true, via: 'key' };
    app.parley.metrics.authFailures.inc('invalid');
    return { ok: false, status: 401, code: 'invalid_api_key', message: 'Incorrect API key provided.' };
  }
  const token = pageToken(req);
  if (pageSessionsOf(app).check(token)) return { ok: true, via: 'page' };
  app.parley.metrics.authFailures.inc(token === null ? 'missing' : 'invalid');
  return { ok: false, status: 401, code: token === null ? 'missing_api_key' : 'invalid_api_key', message: 'A server API key (Authorization: Bearer) or a calls page login is required.' };
}

/** Sends the 401 for a refused CallsReadAuth (OpenAI's error shape). */
export function refuseCallsRead(reply: FastifyReply, auth: Extract<CallsReadAuth, { ok: false }>): FastifyReply {
  return reply
    .code(auth.status)
    .header('cache-control', 'no-store')
    .header('www-authenticate', 'Bearer')
    .send({ error: { type: 'invalid_request_error', code: auth.code, message: auth.message, param: null } });
}

/** A Fastify preHandler doing both: `app.get(url, { preHandler: requireCallsRead(app) }, handler)`. */
export function requireCallsRead(app: FastifyInstance) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const auth = authorizeCallsRead(app, req);
    if (!auth.ok) await refuseCallsRead(reply, auth);
  };
}
