/**
 * Call records over HTTP (docs/notes/calls.md). Reading takes a server API key (`Authorization:
 * Bearer`) or the calls page's login (server/live/page-auth.ts); deleting takes a server key.
 *
 *   GET    /v1/calls            ?from=&to= (ISO-8601 or epoch ms; on started_at) &door= &number= &end_reason=
 *                               &profile= &limit= (1-100, default 20) &cursor=   → {"data": [records, newest first], "next_cursor"}
 *   GET    /v1/calls/{id}       → the record (transcript, tool_calls, turns, usage, cost, recording_url …)
 *   DELETE /v1/calls/{id}       → {"id", "object": "call.deleted", "deleted": true}; the record, its events,
 *                                 its webhook outbox rows and its recording are gone. 404 unknown, 409 in progress.
 *
 * Errors in the app's OpenAI shape: { error: { type, code, message, param } }. The recording routes are
 * server/routes/recording.ts; the live view is server/live/routes.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authorizeCallsRead, refuseCallsRead } from '../live/index.ts';
import type { CallRecords } from '../calls/index.ts';
import { decodeCursor, type CallFilter } from '../store/index.ts';
import { outboundView } from '../outbound/calls.ts';
import { BadParam, fail, failBadParam, refuseWithoutServerKey } from './request-errors.ts';

const DOORS = ['ws', 'sip', 'media-stream'] as const;
const END_REASONS = ['caller_hangup', 'agent_ended', 'transferred', 'max_duration', 'rtp_timeout', 'error', 'shutdown', 'rejected', 'interrupted'] as const;
const QUERY_KEYS = new Set(['from', 'to', 'door', 'number', 'end_reason', 'profile', 'limit', 'cursor']);
export const CALLS_DEFAULT_LIMIT = 20;
export const CALLS_MAX_LIMIT = 100;

/** ISO-8601 (with a zone or a date) or integer epoch ms. */
function timeParam(name: string, v: string): number {
  if (/^\d{1,16}$/.test(v)) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new BadParam(name, `${name} must be an ISO-8601 time (2025-01-31T12:00:00Z) or epoch milliseconds`);
}

function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadParam(name, `${name} may be given once`);
  return v;
}

/** The query of GET /v1/calls, checked. */
export function parseListQuery(q: Record<string, unknown>): { filter: CallFilter; limit: number; cursor: string | null } {
  for (const k of Object.keys(q)) if (!QUERY_KEYS.has(k)) throw new BadParam(k, `unknown parameter ${k} (known: ${[...QUERY_KEYS].join(', ')})`);
  const filter: CallFilter = {};
  const from = one(q, 'from');
  const to = one(q, 'to');
  if (from !== undefined) filter.fromMs = timeParam('from', from);
  if (to !== undefined) filter.toMs = timeParam('to', to);
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.fromMs > filter.toMs) throw new BadParam('to', 'to must not be before from');
  const door = one(q, 'door');
  if (door !== undefined) {
    if (!(DOORS as readonly string[]).includes(door)) throw new BadParam('door', `door must be one of ${DOORS.join(', ')}`);
    filter.door = door;
  }
  const endReason = one(q, 'end_reason');
  if (endReason !== undefined) {
    if (!(END_REASONS as readonly string[]).includes(endReason)) throw new BadParam('end_reason', `end_reason must be one of ${END_REASONS.join(', ')}`);
    filter.endReason = endReason;
  }
  const number = one(q, 'number');
  if (number !== undefined) {
    if (number.trim() === '' || number.length > 128) throw new BadParam('number', 'number must be 1 to 128 characters');
    filter.number = number.trim();
  }
  const profile = one(q, 'profile');
  if (profile !== undefined) {
    if (profile === '' || profile.length > 128) throw new BadParam('profile', 'profile must be 1 to 128 characters');
    filter.profile = profile;
  }
  let limit = CALLS_DEFAULT_LIMIT;
  const l = one(q, 'limit');
  if (l !== undefined) {
    if (!/^\d{1,4}$/.test(l) || Number(l) < 1 || Number(l) > CALLS_MAX_LIMIT) throw new BadParam('limit', `limit must be an integer from 1 to ${CALLS_MAX_LIMIT}`);
    limit = Number(l);
  }
  const cursor = one(q, 'cursor') ?? null;
  if (cursor !== null && decodeCursor(cursor) === null) throw new BadParam('cursor', 'cursor is not one this server gave (use next_cursor as it is)');
  return { filter, limit, cursor };
}

export function registerCallsRoutes(app: FastifyInstance, calls: CallRecords): void {
  const read = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const auth = authorizeCallsRead(app, req);
    if (auth.ok) return true;
    void refuseCallsRead(reply, auth);
    return false;
  };

  app.get('/v1/calls', async (req, reply) => {
    if (!read(req, reply)) return reply;
    let parsed: ReturnType<typeof parseListQuery>;
    try {
      parsed = parseListQuery((req.query ?? {}) as Record<string, unknown>);
    } catch (err) {
      if (err instanceof BadParam) return failBadParam(reply, err);
      throw err;
    }
    const page = await calls.list(parsed.filter, parsed.limit, parsed.cursor);
    return reply.header('cache-control', 'no-store').send({ object: 'list', data: page.data, next_cursor: page.next_cursor });
  });

  app.get<{ Params: { id: string } }>('/v1/calls/:id', async (req, reply) => {
    if (!read(req, reply)) return reply;
    const record = await calls.get(req.params.id);
    // an outbound call (docs/notes/outbound.md): its status, also before (or without) a session
    const outbound = outboundView(app, req.params.id);
    if (record === null && outbound === null) return fail(reply, 404, 'call_not_found', `No call with id ${JSON.stringify(req.params.id)}.`, 'id');
    if (outbound !== null) {
      const base = record ?? { id: req.params.id, object: 'call', door: 'sip', profile: outbound.profile, metadata: outbound.metadata, started_at: null, ended_at: outbound.ended_at };
      return reply.header('cache-control', 'no-store').send({ ...base, direction: 'outbound', status: outbound.status, outbound });
    }
    return reply.header('cache-control', 'no-store').send(record);
  });

  app.delete<{ Params: { id: string } }>('/v1/calls/:id', async (req, reply) => {
    const refused = refuseWithoutServerKey(app, req, reply);
    if (refused) return refused;
    const r = await calls.delete(req.params.id);
    if (r === 'not_found') return fail(reply, 404, 'call_not_found', `No call with id ${JSON.stringify(req.params.id)}.`, 'id');
    if (r === 'live') return fail(reply, 409, 'call_in_progress', 'The call is in progress; delete it once it has ended.', 'id');
    return reply.send({ id: req.params.id, object: 'call.deleted', deleted: true });
  });
}
