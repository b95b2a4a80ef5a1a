/**
 * The HTTP routes' request errors, in the app's OpenAI shape `{ error: { type, code, message, param } }`
 * (docs/contracts.md), shared by server/routes/calls.ts, server/routes/outbound.ts and server/routes/calls-page.ts:
 * a parser throws BadParam naming the parameter (or body field) it refused; the route answers it with `fail`,
 * never cached. `refuseWithoutServerKey` is the 401 of the routes that take a server API key only.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerKey } from '../auth.ts';

/** A query parameter or body field a route refuses; answered 400 `invalid_value` naming `param`. */
export class BadParam extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

/** An `invalid_request_error` with `status`, not cached. */
export function fail(reply: FastifyReply, status: number, code: string, message: string, param: string | null = null): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send({ error: { type: 'invalid_request_error', code, message, param } });
}

/** 400 `invalid_value` for a refused parameter. */
export function failBadParam(reply: FastifyReply, err: BadParam): FastifyReply {
  return fail(reply, 400, 'invalid_value', err.message, err.param);
}

/**
 * A server API key in `Authorization: Bearer`, else 401 `missing_api_key` / `invalid_api_key` with
 * `WWW-Authenticate: Bearer` (counted in the auth-failure metric): the refusal sent, or null when the key is good.
 */
export function refuseWithoutServerKey(app: FastifyInstance, req: FastifyRequest, reply: FastifyReply): FastifyReply | null {
  const key = bearerKey(req.headers);
  if (key !== null && app.parley.keys.isServerKey(key)) return null;
  app.parley.metrics.authFailures.inc(key === null ? 'missing' : 'invalid');
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer')
    .send({ error: { type: 'invalid_request_error', code: key === null ? 'missing_api_key' : 'invalid_api_key', message: 'A server API key is required.', param: null } });
}
