/**
 * The live view over HTTP (docs/notes/calls-page.md):
 *
 *   GET /v1/calls/live        { "data": [calls in progress, newest first] }
 *   GET /v1/calls/{id}/live   text/event-stream: the transcript so far, then each new line, until the call ends
 *
 * Both need a server API key (Bearer) or the calls page's login cookie (server/live/page-auth.ts).
 *
 * The stream (Server-Sent Events, WHATWG HTML §9.2; `id:` is the line's seq, so a reconnecting
 * EventSource sends `Last-Event-ID` and gets only the lines after it):
 *   event: call     data: { call: {id, door, started_at, …}, dropped }      first
 *   event: line     data: { seq, role: user|assistant|tool, text, at, … }  each line (same seq again = replaced)
 *   event: partial  data: { item_id, delta }                               a reply as it is spoken
 *   event: end      data: { id, end_reason, ended_at, duration_ms }        last; then the response ends
 * plus a `: ping` comment every LIVE_PING_MS. A watcher that does not read (more than
 * LIVE_MAX_BUFFERED_BYTES waiting) is cut off; the call never waits for it.
 * Unknown id, or a call that has ended: 404 `call_not_in_progress` (its record is at GET /v1/calls/{id}).
 *
 * Several instances on one PostgreSQL database (docs/notes/calls.md "Several instances"): the list adds
 * the calls open on the other live instances (each with its `instance`), and a call that runs on another
 * instance is streamed from its record as it is written (server/live/remote.ts: polled every second,
 * complete lines only, no `partial`).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { LiveCalls, LiveEvent } from './live-calls.ts';
import { authorizeCallsRead, refuseCallsRead } from './page-auth.ts';
import { RemoteLive } from './remote.ts';

export const LIVE_PING_MS = 15_000;
export const LIVE_MAX_BUFFERED_BYTES = 1024 * 1024;
/** EventSource reconnect delay the stream asks for (ms). */
const RETRY_MS = 3000;

function sse(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function encode(ev: LiveEvent): string {
  switch (ev.type) {
    case 'line':
      return sse('line', ev.line, ev.line.seq);
    case 'partial':
      return sse('partial', { item_id: ev.item_id, delta: ev.delta });
    case 'end':
      return sse('end', ev.end);
  }
}

export function registerLiveRoutes(app: FastifyInstance, live: LiveCalls, opts: { pingMs?: number; remotePollMs?: number } = {}): void {
  const pingMs = opts.pingMs ?? LIVE_PING_MS;
  // calls on the other instances sharing this database (PostgreSQL; SQLite is one instance's own)
  const store = app.parley.store;
  const instance = app.parley.calls?.instance ?? null;
  const remote = store !== null && store.dialect === 'postgres' && instance !== null
    ? new RemoteLive({ store, instance, ...(opts.remotePollMs !== undefined ? { pollMs: opts.remotePollMs } : {}) })
    : null;
  const streams = new Set<ServerResponse>();
  let pinger: NodeJS.Timeout | null = null;
  const startPinger = (): void => {
    if (pinger) return;
    pinger = setInterval(() => {
      for (const res of streams) res.write(': ping\n\n');
      if (streams.size === 0 && pinger) {
        clearInterval(pinger);
        pinger = null;
      }
    }, pingMs);
    pinger.unref();
  };
  // open streams would hold app.close() forever: end them first (their calls are ending too)
  app.addHook('preClose', async () => {
    remote?.close();
    for (const res of streams) res.end();
    streams.clear();
    if (pinger) clearInterval(pinger);
    pinger = null;
  });

  app.get('/v1/calls/live', async (req, reply) => {
    const auth = authorizeCallsRead(app, req);
    if (!auth.ok) return refuseCallsRead(reply, auth);
    const here = instance === null ? live.list() : live.list().map((c) => ({ ...c, instance }));
    // the database away: this instance's calls only
    const elsewhere = remote === null ? [] : await remote.list().catch(() => []);
    const data = elsewhere.length === 0 ? here : [...here, ...elsewhere].sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0));
    return reply.header('cache-control', 'no-store').send({ data });
  });

  app.get<{ Params: { id: string } }>('/v1/calls/:id/live', async (req, reply) => {
    const auth = authorizeCallsRead(app, req);
    if (!auth.ok) return refuseCallsRead(reply, auth);
    const { id } = req.params;
    const lastId = Number.parseInt(String(req.headers['last-event-id'] ?? '0'), 10);
    const afterSeq = Number.isFinite(lastId) && lastId > 0 ? lastId : 0;

    const res = reply.raw;
    let ended = false;
    let unwatch: (() => void) | null = null;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      streams.delete(res);
      unwatch?.();
      res.end();
    };
    const write = (chunk: string): void => {
      if (ended) return;
      // a watcher that stopped reading is cut off: memory stays bounded, the call never waits
      if (res.writableLength > LIVE_MAX_BUFFERED_BYTES) {
        req.log.warn({ callId: id }, 'live view watcher too slow; closing its stream');
        finish();
        return;
      }
      res.write(chunk);
    };
    const listener = (ev: LiveEvent): void => {
      write(encode(ev));
      if (ev.type === 'end') finish();
    };
    let watched = live.watch(id, listener, afterSeq);
    if (watched === null && remote !== null) watched = await remote.watch(id, listener, afterSeq).catch(() => null);
    if (watched === null) {
      return reply.code(404).header('cache-control', 'no-store').send({
        error: { type: 'invalid_request_error', code: 'call_not_in_progress', message: `No call ${JSON.stringify(id)} is in progress here (an ended call's record is at GET /v1/calls/{id}).`, param: null },
      });
    }
    if (watched === 'full') {
      return reply.code(429).header('cache-control', 'no-store').send({
        error: { type: 'invalid_request_error', code: 'too_many_watchers', message: 'This call already has its maximum of live watchers.', param: null },
      });
    }
    unwatch = watched.unwatch;
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no', // nginx: do not buffer the stream
      'x-content-type-options': 'nosniff',
    });
    streams.add(res);
    startPinger();
    // the watcher went away (ServerResponse 'close': the connection ended before or after our end)
    res.on('close', finish);
    res.on('error', finish);
    const s = watched.snapshot;
    let head = `retry: ${RETRY_MS}\n\n${sse('call', { call: s.call, dropped: s.dropped })}`;
    for (const line of s.lines) head += sse('line', line, line.seq);
    for (const p of s.partials) head += sse('partial', { item_id: p.item_id, delta: p.text });
    write(head);
  });
}
