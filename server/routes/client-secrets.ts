/** `POST /v1/realtime/client_secrets`: mint an ephemeral key (needs a server key, not an ephemeral one). */
import type { FastifyInstance } from 'fastify';
import { ProtocolError } from '../errors.ts';
import { bearerKey, type KeyStore } from '../auth.ts';
import type { ClientSecrets } from '../client-secrets.ts';
import type { Metrics } from '../metrics.ts';

export function registerClientSecretsRoute(app: FastifyInstance, deps: { keys: KeyStore; secrets: ClientSecrets; metrics: Metrics }): void {
  // the key store sweeps expired keys on a timer: stop it with the app
  app.addHook('onClose', async () => deps.keys.close());
  app.post('/v1/realtime/client_secrets', async (req, reply) => {
    const key = bearerKey(req.headers);
    if (key === null || !deps.keys.isServerKey(key)) {
      deps.metrics.authFailures.inc(key === null ? 'missing' : 'invalid');
      return reply.code(401).send({
        error: { type: 'invalid_request_error', code: key === null ? 'missing_api_key' : 'invalid_api_key', message: 'A server API key is required to mint client secrets.', param: null },
      });
    }
    try {
      const secret = deps.secrets.mintFromBody(req.body);
      // with Redis: answered once the key is stored there, so it works at once on every instance
      await deps.keys.whenStored(secret.value);
      reply.header('cache-control', 'no-store');
      return secret;
    } catch (err) {
      if (err instanceof ProtocolError) {
        return reply.code(400).send({ error: { type: 'invalid_request_error', code: err.gaCode, message: err.message, param: err.param } });
      }
      throw err;
    }
  });
}
