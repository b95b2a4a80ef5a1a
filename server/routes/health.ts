/**
 * `/healthz` (process alive), `/readyz` (accepting sessions, with the load: 200 `{ready:true, active_calls,
 * max_calls, offline_capacity?}`, 503 when draining or shutting down), `/metrics` (Prometheus text), and
 * `POST /v1/admin/drain` (server key: start draining, 202 `{draining:true, active}`; server/cluster/drain.ts).
 * `/metrics` asks for a bearer token when `config.metrics.auth` is `bearer` (PARLEY_METRICS_AUTH;
 * by default when HOST is beyond loopback): a server key or PARLEY_METRICS_TOKEN. The probes stay open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { bearerKey } from '../auth.ts';
import type { SessionManager } from '../session/index.ts';
import { Gauge, type Metrics } from '../metrics.ts';
import { Drain } from '../cluster/drain.ts';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function registerHealthRoutes(app: FastifyInstance, deps: { sessions: SessionManager; metrics: Metrics; engine: string }): void {
  // the config and key store from app.parley (decorated before the routes are registered)
  const parley = (app as Partial<Pick<FastifyInstance, 'parley'>>).parley;
  const metricsAuth = parley?.config.metrics?.auth ?? 'none';
  const tokenDigest = parley?.config.metrics?.token ? sha256(parley.config.metrics.token) : null;
  const mayScrape = (key: string): boolean =>
    (parley?.keys.isServerKey(key) ?? false) || (tokenDigest !== null && timingSafeEqual(sha256(key), tokenDigest));

  // the drain and load report of this instance (the SIP door attaches itself when it starts: server/parley.ts)
  const drain = parley
    ? new Drain({ config: parley.config, sessions: deps.sessions, engines: parley.engines, log: parley.log })
    : null;
  if (drain) {
    app.decorate('parleyDrain', drain);
    const g = new Gauge('parley_draining', '1 while this instance drains (SIGTERM or POST /v1/admin/drain): no new calls, live ones go on', []);
    g.collect(() => (drain.draining ? 1 : 0));
    deps.metrics.register(g);
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const load = drain?.load() ?? { active_calls: deps.sessions.active, max_calls: parley?.config.limits.maxSessions ?? 0 };
    if (drain?.draining) return reply.code(503).send({ ready: false, status: 'draining', draining: true, sessions: deps.sessions.active, ...load });
    if (!deps.sessions.accepting) return reply.code(503).send({ ready: false, status: 'shutting_down', sessions: deps.sessions.active, ...load });
    return { ready: true, status: 'ready', engine: deps.engine, sessions: deps.sessions.active, ...load };
  });
  app.post('/v1/admin/drain', async (req, reply) => {
    const key = bearerKey(req.headers);
    if (key === null || !(parley?.keys.isServerKey(key) ?? false)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="parley-admin"')
        .send({ error: { type: 'invalid_request_error', code: key === null ? 'missing_api_key' : 'invalid_api_key', message: 'Draining needs Authorization: Bearer <a server key>.', param: null } });
    }
    if (!drain) return reply.code(503).send({ error: { type: 'server_error', code: 'drain_unavailable', message: 'This app has no drain.', param: null } });
    return reply.code(202).send(drain.start('admin'));
  });
  app.get('/metrics', async (req, reply) => {
    if (metricsAuth === 'bearer') {
      const key = bearerKey(req.headers);
      if (key === null || !mayScrape(key)) {
        deps.metrics.authFailures.inc(key === null ? 'missing' : 'invalid');
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="parley-metrics"')
          .send({ error: { type: 'invalid_request_error', code: key === null ? 'missing_api_key' : 'invalid_api_key', message: '/metrics needs Authorization: Bearer <a server key or PARLEY_METRICS_TOKEN>.', param: null } });
      }
    }
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return deps.metrics.render();
  });
}
