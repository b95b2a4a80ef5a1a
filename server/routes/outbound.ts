/**
 * Outbound calls over HTTP (docs/notes/outbound.md). Takes a server API key (`Authorization: Bearer`).
 *
 *   POST /v1/calls  {to, from?, profile?, metadata?, ring_timeout_s?, machine_detection?}
 *                   → 201 {id, status: "queued"}; the id is the call record's (and the session's, once answered)
 *                   → 400 naming the field; 429 over PARLEY_OUTBOUND_MAX_CALLS (Retry-After); 503 without SIP
 *
 * The status (`queued → ringing → answered | busy | no_answer | failed`) is read with GET /v1/calls/{id}
 * (server/routes/calls.ts) and told by the `call.ringing` / `call.answered` / `call.failed` webhooks.
 */
import type { FastifyInstance } from 'fastify';
import { NUMBER_RE, SIP_URI_RE } from '../../sip/config.ts';
import type { MachineDetectionAction, MachineDetectionOptions } from '../outbound/amd-hook.ts';
import { OutboundRefused, outboundCalls, type PlaceCall } from '../outbound/calls.ts';
import { BadParam, failBadParam, refuseWithoutServerKey } from './request-errors.ts';

const FIELDS = new Set(['to', 'from', 'profile', 'metadata', 'ring_timeout_s', 'machine_detection']);
const AMD_ACTIONS: readonly MachineDetectionAction[] = ['hangup', 'leave_message', 'continue'];
export const RING_TIMEOUT_RANGE_S = { min: 1, max: 300 } as const;

/** The body of POST /v1/calls, checked; throws BadParam naming the first bad field. */
export function parsePlaceCall(body: unknown, o: { hasTrunk: boolean; hasProfile: (name: string) => boolean }): PlaceCall {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadParam('body', 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw new BadParam(k, `unknown field ${k} (known: ${[...FIELDS].join(', ')})`);
  const to = b['to'];
  if (to === undefined || to === null || to === '') throw new BadParam('to', 'to is required: a sip: URI (sip:user@host[:port]) or, with a trunk, a phone number');
  if (typeof to !== 'string' || to.length > 512) throw new BadParam('to', 'to must be a string (a sip: URI or a phone number)');
  const t = to.trim();
  if (/^sips?:/i.test(t)) {
    if (!SIP_URI_RE.test(t)) throw new BadParam('to', `to is not a valid SIP URI: ${JSON.stringify(to)} (want sip:user@host[:port])`);
  } else if (NUMBER_RE.test(t)) {
    if (!o.hasTrunk) throw new BadParam('to', 'a phone number needs a trunk (PARLEY_SIP_TRUNK_URI); without one give a sip: URI');
  } else throw new BadParam('to', `to is neither a SIP URI nor a phone number: ${JSON.stringify(to)}`);
  const out: PlaceCall = { to: t };
  const from = b['from'];
  if (from !== undefined && from !== null) {
    if (typeof from !== 'string' || !(SIP_URI_RE.test(from.trim()) || NUMBER_RE.test(from.trim()))) throw new BadParam('from', 'from must be a sip: URI or a phone number');
    out.from = from.trim();
  }
  const profile = b['profile'];
  if (profile !== undefined && profile !== null) {
    if (typeof profile !== 'string' || profile === '') throw new BadParam('profile', 'profile must be a profile name');
    if (!o.hasProfile(profile)) throw new BadParam('profile', `unknown profile ${JSON.stringify(profile)}`);
    out.profile = profile;
  }
  const metadata = b['metadata'];
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new BadParam('metadata', 'metadata must be an object of strings');
    const entries = Object.entries(metadata as Record<string, unknown>);
    if (entries.length > 32) throw new BadParam('metadata', 'metadata may have at most 32 keys');
    const m: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (k.length > 64 || typeof v !== 'string' || v.length > 512) throw new BadParam('metadata', `metadata.${k} must be a string (keys ≤ 64, values ≤ 512 characters)`);
      m[k] = v;
    }
    out.metadata = m;
  }
  const ring = b['ring_timeout_s'];
  if (ring !== undefined && ring !== null) {
    if (typeof ring !== 'number' || !Number.isFinite(ring) || ring < RING_TIMEOUT_RANGE_S.min || ring > RING_TIMEOUT_RANGE_S.max) {
      throw new BadParam('ring_timeout_s', `ring_timeout_s must be a number of seconds from ${RING_TIMEOUT_RANGE_S.min} to ${RING_TIMEOUT_RANGE_S.max}`);
    }
    out.ringTimeoutS = ring;
  }
  const md = b['machine_detection'];
  if (md !== undefined && md !== null && md !== false) {
    const opts: MachineDetectionOptions = { action: 'continue' };
    if (md !== true) {
      if (typeof md !== 'object' || Array.isArray(md)) throw new BadParam('machine_detection', 'machine_detection must be true or {action?, message?, timeout_ms?}');
      const m = md as Record<string, unknown>;
      for (const k of Object.keys(m)) if (!['action', 'message', 'timeout_ms'].includes(k)) throw new BadParam(`machine_detection.${k}`, `unknown field machine_detection.${k}`);
      if (m['action'] !== undefined) {
        if (!AMD_ACTIONS.includes(m['action'] as MachineDetectionAction)) throw new BadParam('machine_detection.action', `machine_detection.action must be one of ${AMD_ACTIONS.join(', ')}`);
        opts.action = m['action'] as MachineDetectionAction;
      }
      if (m['message'] !== undefined) {
        if (typeof m['message'] !== 'string' || m['message'].length > 2000) throw new BadParam('machine_detection.message', 'machine_detection.message must be a string (≤ 2000 characters)');
        opts.message = m['message'];
      }
      if (opts.action === 'leave_message' && !opts.message) throw new BadParam('machine_detection.message', 'machine_detection.action leave_message needs a message');
      if (m['timeout_ms'] !== undefined) {
        const v = m['timeout_ms'];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 500 || v > 30_000) throw new BadParam('machine_detection.timeout_ms', 'machine_detection.timeout_ms must be an integer from 500 to 30000');
        opts.timeoutMs = v;
      }
    }
    out.machineDetection = opts;
  }
  return out;
}

export function registerOutboundRoutes(app: FastifyInstance): void {
  app.post('/v1/calls', async (req, reply) => {
    const refused = refuseWithoutServerKey(app, req, reply);
    if (refused) return refused;
    const calls = outboundCalls(app);
    let place: PlaceCall;
    try {
      place = parsePlaceCall(req.body, { hasTrunk: calls.trunk !== null, hasProfile: (n) => app.parley.profiles.has(n) });
    } catch (err) {
      if (err instanceof BadParam) return failBadParam(reply, err);
      throw err;
    }
    try {
      const { id, state } = calls.place(place);
      return reply.code(201).header('cache-control', 'no-store').send({ id, object: 'call', status: state.status });
    } catch (err) {
      if (err instanceof OutboundRefused) {
        if (err.retryAfterS !== undefined) void reply.header('retry-after', String(err.retryAfterS));
        return reply.code(err.status).header('cache-control', 'no-store').send({ error: { type: err.status === 429 ? 'rate_limit_error' : 'server_error', code: err.code, message: err.message, param: null } });
      }
      throw err;
    }
  });
}
