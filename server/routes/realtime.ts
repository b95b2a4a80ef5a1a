/**
 * WS `GET /v1/realtime?model=…&profile=…`: authenticate before the upgrade (401 otherwise), then relay the
 * GA protocol between the client and its session. Each message is validated; a bad one gets a
 * GA `error` event and the session goes on.
 *
 * Agent profiles (server/profiles/, docs/notes/profiles.md): a server-key client may name one with
 * `?profile=<name>` (an unknown name: 400 before the upgrade); an ephemeral key minted with a profile gets
 * that one and may not name another (403); otherwise the routes pick (then `default`). The incoming-call hook,
 * when configured, runs before the upgrade. The profile's first message is asked for once the session is
 * open, and its maximum length ends the session (close 1000, end reason max_duration).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { ParleyError, ProtocolError } from '../errors.ts';
import { errorEvent, fastParseAppendBytes, parseClientEvent, protocolErrorEvent, encodeServerEvent, type ServerEvent, type SessionPatch } from '../protocol/index.ts';
import { SendBackpressure } from '../backpressure.ts';
import { chooseSubprotocol, offeredSubprotocols, upgradeKey, type Admission, type AuthResult, type KeyStore } from '../auth.ts';
import { mergeSession, type RealtimeSessionHandle, type SessionClient, type SessionManager } from '../session/index.ts';
import type { Metrics } from '../metrics.ts';
import { admitSession } from '../engines/index.ts';
import type { ParleyConfig } from '../config.ts';
import { startWsKeepalive } from './ws-keepalive.ts';
import { MaxCallTimer, firstMessageEvent, type CallPlan, type Profiles } from '../profiles/index.ts';

export const REALTIME_PATH = '/v1/realtime';
const TEXT_FRAME = { binary: false } as const;
/** ws closes with 1009 above this; between the configured limit and this, a GA error is sent. */
const HARD_PAYLOAD_FACTOR = 2;
/** Messages held while the engine opens (the socket is paused meanwhile). */
const MAX_PENDING_MESSAGES = 256;

export interface RealtimeRouteDeps {
  config: ParleyConfig;
  keys: KeyStore;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  profiles: Profiles;
}

function reject(socket: Duplex, status: number, statusText: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { type: 'invalid_request_error', code, message, param: null, event_id: null } });
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function registerRealtimeRoute(app: FastifyInstance, deps: RealtimeRouteDeps): { close(): void } {
  const { config, keys, sessions, metrics, log, profiles } = deps;
  const highWater = config.limits.sendHighWaterBytes;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: true,
    maxPayload: config.limits.maxMessageBytes * HARD_PAYLOAD_FACTOR,
    // `realtime` when offered; never the key subprotocol (server/auth.ts)
    handleProtocols: chooseSubprotocol,
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== REALTIME_PATH && url.pathname !== `${REALTIME_PATH}/`) {
      if (app.server.listenerCount('upgrade') <= 1) reject(socket, 404, 'Not Found', 'not_found', `No WebSocket endpoint at ${url.pathname}.`);
      return;
    }
    socket.on('error', () => socket.destroy());
    // a key known here answers at once; one minted on another instance is looked up in Redis (server/auth.ts)
    const checked = keys.verify(upgradeKey(req.headers));
    if (checked instanceof Promise) {
      checked.then(
        (auth) => {
          if (!socket.destroyed) authorized(req, socket, head, url, auth);
        },
        () => reject(socket, 500, 'Internal Server Error', 'server_error', 'The key could not be checked.'),
      );
    } else authorized(req, socket, head, url, checked);
  };

  const authorized = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, auth: AuthResult): void => {
    if (!auth.ok) {
      metrics.authFailures.inc(auth.reason);
      const code = auth.reason === 'expired' ? 'expired_api_key' : auth.reason === 'missing' ? 'missing_api_key' : auth.reason === 'unverifiable' ? 'key_store_unavailable' : 'invalid_api_key';
      reject(socket, 401, 'Unauthorized', code, auth.message);
      return;
    }
    if (req.headers['openai-beta'] !== undefined || offeredSubprotocols(req.headers).some((p) => p.startsWith('openai-beta.'))) {
      // as OpenAI does: accept, send the error, close with 4000
      metrics.invalidEvents.inc('beta_api_shape_disabled');
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => undefined);
        ws.send(JSON.stringify(errorEvent({ code: 'beta_api_shape_disabled', message: 'The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.' })));
        ws.close(4000, 'beta_api_shape_disabled');
      });
      return;
    }
    // the profile: a server key may name one; an ephemeral key minted with one gets it (and may name only it)
    const asked = url.searchParams.get('profile');
    const bound = auth.credential.kind === 'ephemeral' ? auth.credential.profile : null;
    if (asked !== null && !profiles.has(asked)) {
      const known = profiles.names;
      reject(socket, 400, 'Bad Request', 'unknown_profile', `Unknown profile ${JSON.stringify(asked.slice(0, 64))}. Known profiles: ${known.length ? known.join(', ') : 'none are configured'}.`);
      return;
    }
    if (asked !== null && auth.credential.kind === 'ephemeral' && asked !== bound) {
      const why = bound !== null ? `This key is bound to the profile ${JSON.stringify(bound)}; it cannot pick another.` : 'Only a server API key may pick a profile; mint the ephemeral key with {"profile": …} instead.';
      reject(socket, 403, 'Forbidden', 'profile_not_allowed', why);
      return;
    }
    try {
      sessions.checkCanOpen();
    } catch (err) {
      reject(socket, 503, 'Service Unavailable', ParleyError.is(err) && err.code === 'SESSION_LIMIT' ? 'session_limit' : 'shutting_down', err instanceof Error ? err.message : 'unavailable');
      return;
    }
    const credential = auth.credential;
    // per-key and all-ephemeral-keys session caps (server/auth.ts); the slot is freed when the socket closes
    const taken = keys.admit(auth.credential, config.limits);
    if (taken instanceof Promise) {
      // the key's cap across the cluster (Redis): the socket may close while it is asked
      taken.then(
        (slot) => {
          if (!socket.destroyed) admitted(slot);
          else if (slot.ok) slot.release();
        },
        () => reject(socket, 500, 'Internal Server Error', 'server_error', 'The session could not be admitted.'),
      );
    } else admitted(taken);
    function admitted(slot: Admission): void {
      if (!slot.ok) return reject(socket, slot.status, slot.status === 429 ? 'Too Many Requests' : 'Service Unavailable', slot.code, slot.message);
      socket.once('close', slot.release);
      const upgrade = (plan: CallPlan): void => {
        if (socket.destroyed) return;
        // the profile's config first, the key's bound session config over it, then ?model=
        let initial: SessionPatch | undefined = plan.session;
        if (credential.kind === 'ephemeral' && credential.session) initial = initial ? mergeSession({ ...initial, type: 'realtime' }, credential.session) : { ...credential.session };
        const model = url.searchParams.get('model');
        if (model) initial = { ...initial, model };
        const engine = plan.engine ?? config.engine;
        // admission control (server/engines/admission.ts): an engine at capacity refuses with a GA error, close 1013
        const admission = admitSession(app.parley.engines, engine);
        if (!admission.ok) {
          wss.handleUpgrade(req, socket, head, (ws) => {
            ws.on('error', () => undefined);
            ws.send(JSON.stringify(errorEvent({ type: 'server_error', code: admission.code, message: admission.reason })));
            ws.close(1013, admission.code);
          });
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, initial, credential.kind, plan, admission.release));
      };
      if (!profiles.hookEnabled) {
        upgrade(profiles.plan(bound ?? asked ?? profiles.route({ door: 'ws' })));
        return;
      }
      // the incoming-call hook (bounded by its timeout) decides before the upgrade
      profiles.resolve({ door: 'ws', chosen: bound ?? asked }).then(upgrade, (err: unknown) => {
        log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'incoming-call planning failed');
        if (!socket.destroyed) reject(socket, 500, 'Internal Server Error', 'server_error', 'The session could not be planned.');
      });
    }
  };

  const onConnection = (ws: WebSocket, initial: SessionPatch | undefined, credential: 'server' | 'ephemeral', plan: CallPlan, releaseAdmission: () => void): void => {
    let session: RealtimeSessionHandle | null = null;
    let pending: Array<{ data: RawData; isBinary: boolean }> | null = [];
    let closed = false;
    const backpressure = new SendBackpressure(ws, highWater, (congested) => session?.setClientCongested(congested));

    const client: SessionClient = {
      send(event: ServerEvent) {
        if (ws.readyState !== WebSocket.OPEN) return;
        // the wire edge: typed event → GA JSON (audio as base64, made once, or relayed as the bytes it came in)
        ws.send(encodeServerEvent(event), TEXT_FRAME);
        backpressure.sent();
      },
      close(code: number, reason: string) {
        if (closed) return;
        closed = true;
        backpressure.close();
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason.slice(0, 120));
      },
      pause() {
        ws.pause();
      },
      resume() {
        ws.resume();
      },
    };

    const handle = (data: RawData, isBinary: boolean): void => {
      if (closed || !session) return;
      if (isBinary) {
        metrics.invalidEvents.inc('invalid_event');
        client.send(errorEvent({ code: 'invalid_event', message: 'Binary frames are not supported; send GA events as JSON text.' }));
        return;
      }
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      try {
        // the hot event straight from the bytes (no string made); anything else parsed and validated in full
        const fast = buf.byteLength <= config.limits.maxMessageBytes ? fastParseAppendBytes(buf) : null;
        const ev = fast ?? parseClientEvent(buf.byteLength > config.limits.maxMessageBytes ? '' : buf.toString('utf8'), buf.byteLength, config.limits.maxMessageBytes);
        session.handleClientEvent(ev);
      } catch (err) {
        if (err instanceof ProtocolError) {
          metrics.invalidEvents.inc(err.gaCode);
          client.send(protocolErrorEvent(err));
          return;
        }
        // a bug must not take the process (or the session) down: report it and go on
        log.error({ err: { message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined }, sessionId: session.id }, 'internal error handling a client event');
        client.send(errorEvent({ type: 'server_error', code: 'internal_error', message: 'The server failed to handle this event.' }));
      }
    };

    ws.on('message', (data, isBinary) => {
      if (pending) {
        // the engine is still opening: hold a little, and stop reading until it is open
        if (pending.length < MAX_PENDING_MESSAGES) pending.push({ data, isBinary });
        if (!ws.isPaused) ws.pause();
      } else handle(data, isBinary);
    });
    ws.on('error', (err) => log.debug({ err: { message: err.message } }, 'client socket error'));
    const gaveUp = new AbortController();
    ws.on('close', () => {
      closed = true;
      gaveUp.abort();
      backpressure.close();
      pending = null;
      session?.close('client disconnected');
    });

    const maxCall = new MaxCallTimer(plan.maxCallS);
    sessions
      .open({
        leg: 'ws',
        client,
        signal: gaveUp.signal,
        ...(initial ? { session: initial } : {}),
        metadata: { ...plan.metadata, credential },
        ...(plan.profile !== null ? { profile: plan.profile } : {}),
        ...(plan.engine !== undefined ? { engine: plan.engine } : {}),
        ...(plan.recording !== undefined ? { recording: plan.recording } : {}),
        ...(plan.toolNames !== undefined ? { toolNames: plan.toolNames } : {}),
        ...(plan.tools.length > 0 ? { tools: plan.tools } : {}),
        observers: [maxCall.observer],
      })
      .then((s) => {
        releaseAdmission();
        if (closed) {
          s.close('client disconnected');
          return;
        }
        session = s;
        s.markAnswered();
        const queued = pending ?? [];
        pending = null;
        for (const m of queued) handle(m.data, m.isBinary);
        // the profile's first message, after what the client sent while the engine opened (its session.update)
        if (plan.firstMessage !== null) s.handleClientEvent(firstMessageEvent(plan.firstMessage));
        maxCall.arm(s);
        if (ws.isPaused) ws.resume();
      })
      .catch((err: unknown) => {
        releaseAdmission();
        if (closed) return;
        const code = ParleyError.is(err) ? ((err as { upstreamCode?: string }).upstreamCode ?? err.code.toLowerCase()) : 'internal';
        client.send(errorEvent({ type: 'server_error', code, message: err instanceof Error ? err.message : 'The session could not start.' }));
        // 1013 "try again later" when the failure is temporary, 1011 otherwise
        client.close(ParleyError.is(err) && err.retryable ? 1013 : 1011, 'session could not start');
      });
  };

  app.server.on('upgrade', onUpgrade);
  const keepalive = startWsKeepalive(wss, config.limits.wsPingIntervalMs);
  return {
    close() {
      keepalive.stop();
      app.server.off('upgrade', onUpgrade);
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}
