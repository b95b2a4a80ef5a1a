/**
 * A call's recording over HTTP, with a server API key (`Authorization: Bearer`, PARLEY_API_KEYS; the GET also
 * takes the calls page's login cookie, server/live/page-auth.ts):
 *
 * - `GET /v1/calls/{id}/recording` → `audio/wav` (HEAD too). Single byte ranges (RFC 9110 §14):
 *   `Range: bytes=a-b`, `bytes=a-`, `bytes=-n` → 206 with `Content-Range: bytes a-b/size`; a range that
 *   starts past the end → 416 with `Content-Range: bytes *\/size`; anything else (several ranges, a
 *   malformed header) is ignored and the whole file is sent (200), as §14.2 allows. 404 when there is no
 *   recording. A recording still being made is served as it is on disk (its header's sizes are patched
 *   every few seconds: docs/notes/recording.md).
 * - `POST /v1/calls/{id}/recording/pause` and `/resume` → `{ id, status: 'paused' | 'recording', changed }`;
 *   404 when the call is not live or not recorded. Paused time is written as silence.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerKey, type KeyStore } from '../auth.ts';
import type { Metrics } from '../metrics.ts';
import { recordingPath, type Recordings } from '../recording/index.ts';
import { authorizeCallsRead, refuseCallsRead } from '../live/index.ts';

export interface RecordingRouteDeps {
  keys: KeyStore;
  recordings: Recordings;
  metrics: Metrics;
}

type Params = { id: string };

function error(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { type: 'invalid_request_error', code, message, param: null } });
}

/** A single `bytes=` range of a `size`-byte file: the inclusive [start, end], 'unsatisfiable', or null (ignore the header). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null) return null; // several ranges, another unit, garbage: send it all
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return null; // invalid: ignored (RFC 9110 §14.1.1)
  if (start >= size) return 'unsatisfiable';
  return { start, end: b === '' ? size - 1 : Math.min(Number(b), size - 1) };
}

export function registerRecordingRoutes(app: FastifyInstance, deps: RecordingRouteDeps): void {
  const { keys, recordings, metrics } = deps;

  const authorised = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const key = bearerKey(req.headers);
    if (key !== null && keys.isServerKey(key)) return true;
    metrics.authFailures.inc(key === null ? 'missing' : 'invalid');
    void error(reply, 401, key === null ? 'missing_api_key' : 'invalid_api_key', 'A server API key is required.');
    return false;
  };

  app.get<{ Params: Params }>('/v1/calls/:id/recording', async (req, reply) => {
    // a server key, or the calls page's login cookie (its <audio> cannot send a header: docs/notes/calls-page.md)
    const auth = authorizeCallsRead(app, req);
    if (!auth.ok) return refuseCallsRead(reply, auth);
    const path = recordingPath(recordings.dataDir, req.params.id);
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      size = st.size;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT' || (err as { code?: unknown }).code === 'ENOTDIR') {
        return error(reply, 404, 'recording_not_found', `No recording for call ${JSON.stringify(req.params.id)}.`);
      }
      throw err;
    }
    void reply
      .header('content-type', 'audio/wav')
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'no-store')
      .header('content-disposition', `inline; filename="${encodeURIComponent(req.params.id)}.wav"`);
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${size}`).header('content-type', 'application/json').send({
        error: { type: 'invalid_request_error', code: 'range_not_satisfiable', message: `The recording has ${size} bytes.`, param: null },
      });
    }
    if (range === null) {
      void reply.code(200).header('content-length', size);
      return reply.send(size === 0 ? '' : createReadStream(path, { start: 0, end: size - 1 }));
    }
    void reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', range.end - range.start + 1);
    return reply.send(createReadStream(path, { start: range.start, end: range.end }));
  });

  const control = (action: 'pause' | 'resume') => async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    if (!authorised(req, reply)) return reply;
    const id = req.params.id;
    const changed = action === 'pause' ? recordings.pause(id) : recordings.resume(id);
    if (changed === null) return error(reply, 404, 'recording_not_found', `Call ${JSON.stringify(id)} is not live or not being recorded.`);
    const rec = recordings.get(id);
    reply.header('cache-control', 'no-store');
    return { id, status: rec?.paused === true ? 'paused' : 'recording', changed };
  };
  app.post('/v1/calls/:id/recording/pause', control('pause'));
  app.post('/v1/calls/:id/recording/resume', control('resume'));
}
