/** `/healthz` (process alive), `/readyz` (accepting sessions), `/metrics` (Prometheus text). */
import type { FastifyInstance } from 'fastify';
import type { SessionManager } from '../session/index.ts';
import type { Metrics } from '../metrics.ts';

export function registerHealthRoutes(app: FastifyInstance, deps: { sessions: SessionManager; metrics: Metrics; engine: string }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!deps.sessions.accepting) return reply.code(503).send({ status: 'shutting_down', sessions: deps.sessions.active });
    return { status: 'ready', engine: deps.engine, sessions: deps.sessions.active };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return deps.metrics.render();
  });
}
