/**
 * buildApp(config, deps): the Fastify app with every Parley route. Never listens (main.ts and
 * tests do). Decorates the instance with `parley` (contracts §4).
 */
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { ParleyConfig } from './config.ts';
import { EngineRegistry, type EngineFactory, type EngineName } from './engines/index.ts';
import { createToolRegistry, type ToolDefinition, type ToolRegistry } from './tools/index.ts';
import { metricsObserver } from './metrics-observer.ts';
import { SessionManager, type FallbackPolicy, type SessionPolicy } from './session/index.ts';
import { Metrics } from './metrics.ts';
import { KeyStore } from './auth.ts';
import { SharedRedis, createRateLimiter } from './cluster/redis.ts';
import type { RateLimiter } from './cluster/limits.ts';
import { ClientSecrets } from './client-secrets.ts';
import { REALTIME_PATH, registerRealtimeRoute } from './routes/realtime.ts';
import { registerMediaStreamRoutes } from './routes/twilio.ts';
import { registerClientSecretsRoute } from './routes/client-secrets.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerRecordingRoutes } from './routes/recording.ts';
import { Recordings } from './recording/index.ts';
import demoRoutes from './routes/demo.ts';
import { registerCallsPage } from './routes/calls-page.ts';
import { Profiles, type IncomingCallHook } from './profiles/index.ts';
import { openStore, type Store } from './store/index.ts';
import { CallRecords } from './calls/index.ts';
import { registerCallsRoutes } from './routes/calls.ts';
import { registerOutboundRoutes } from './routes/outbound.ts';
import { startWebhooks, type Webhooks } from './webhooks/index.ts';

export interface AppDeps {
  /** A pino logger (default: one at config.logLevel on stdout). */
  logger?: Logger;
  /** Engine factories overriding or adding to the built-in ones. */
  engines?: Partial<Record<EngineName, EngineFactory>>;
  /** Fallback policy override (null: never switch engines). */
  fallback?: FallbackPolicy | null;
  /** Extra global server tools. */
  tools?: ToolDefinition[];
  /**
   * The incoming-call hook in process (replaces incomingCall.url): before a call is answered, pick its
   * profile, override fields, add metadata; null = no opinion. Bounded by incomingCall.timeoutMs
   * (server/profiles/incoming-call.ts, docs/notes/profiles.md).
   */
  onIncomingCall?: IncomingCallHook;
  /** The database of call records and the webhook outbox (default: opened from config; null: none). The caller closes one it passes. */
  store?: Store | null;
}

/** What `app.parley` holds. */
export interface ParleyContext {
  config: ParleyConfig;
  sessions: SessionManager;
  tools: ToolRegistry;
  engines: EngineRegistry;
  metrics: Metrics;
  keys: KeyStore;
  /** In-process ephemeral key mint: `app.parley.clientSecrets.mint({ ttlS, session })`. */
  clientSecrets: ClientSecrets;
  /** Call recordings (server/recording/): live recorders, pause/resume, `idle()` once files are complete. */
  recordings: Recordings;
  /** Agent profiles, routes, the incoming-call hook (server/profiles/). */
  profiles: Profiles;
  log: Logger;
  /** Call records and the webhook outbox (server/store/); null when the app was built without one. */
  store: Store | null;
  /** Call records (server/calls/): `onEnded(record => …)`, get/list/delete; null without a store. */
  calls: CallRecords | null;
  /** Signed webhooks (server/webhooks/); null when no PARLEY_WEBHOOK_URL (or no store). */
  webhooks: Webhooks | null;
  /** Shared state in Redis (PARLEY_REDIS_URL); null: in process. */
  redis: SharedRedis | null;
  /** Calls per second per name (e.g. per trunk), cluster-wide with Redis (server/cluster/limits.ts). */
  rateLimiter: RateLimiter;
}

declare module 'fastify' {
  interface FastifyInstance {
    parley: ParleyContext;
  }
}

/** Pino redaction: keys and audio never reach the logs. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'headers.authorization',
  'apiKey',
  '*.apiKey',
  'value',
  'audio',
  'delta',
];

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createLogger(config: ParleyConfig): Logger {
  return pino({ level: config.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } });
}

export async function buildApp(config: ParleyConfig, deps: AppDeps = {}): Promise<FastifyInstance> {
  const log = deps.logger ?? createLogger(config);
  const https = config.tls ? { cert: readFileSync(config.tls.certPath), key: readFileSync(config.tls.keyPath) } : null;
  // probes and scrapes are not worth a log line each
  const logController = new LogController({ disableRequestLogging: (req) => QUIET_PATHS.has(req.url ?? '') });
  const app = (https
    ? Fastify({ loggerInstance: log, https, bodyLimit: 1024 * 1024, logController })
    : Fastify({ loggerInstance: log, bodyLimit: 1024 * 1024, logController })) as unknown as FastifyInstance;

  const metrics = new Metrics();
  const tools = createToolRegistry(config.tools);
  for (const t of deps.tools ?? []) tools.register(t);
  const engines = new EngineRegistry({ config, log, metrics }, deps.engines ?? {});
  const sessions = new SessionManager({ config, engines, tools, metrics, log, ...(deps.fallback !== undefined ? { fallback: deps.fallback } : {}) });
  sessions.observe(metricsObserver(metrics));
  // recordings (issue 11 §4): every session whose mode (its profile's, else PARLEY_RECORDING) is not off
  const recordings = new Recordings({ dataDir: config.dataDir, log });
  sessions.observe(recordings.observer);
  // the agent's pause/resume tools, when any call may be recorded (a call that is not answers "not recorded")
  const mayRecord = config.recording !== 'off' || Object.values(config.profiles).some((p) => p.recording !== undefined && p.recording !== 'off');
  if (mayRecord) for (const t of recordings.tools()) tools.register(t);
  // after every tool and engine is registered: a profile naming an unknown one is a ConfigError here
  const profiles = new Profiles({
    settings: config,
    check: { allowedVoices: config.session.allowedVoices, openaiKey: config.openai.apiKey !== null, autoEngine: config.engine },
    tools,
    engines,
    log,
    metrics,
    hook: deps.onIncomingCall ?? null,
  });
  // shared state for a cluster (PARLEY_REDIS_URL, server/cluster/redis.ts, docs/cluster.md); none: this process alone
  const redis = config.redisUrl !== null ? new SharedRedis({ url: config.redisUrl, log }) : null;
  const keys = new KeyStore(config.apiKeys, { shared: redis });
  const rateLimiter = createRateLimiter(redis);
  app.addHook('onClose', async () => {
    keys.close();
    rateLimiter.close();
    await redis?.close();
  });
  const policy = (): SessionPolicy => ({
    defaults: config.session.defaults,
    allowedModels: config.session.allowedModels,
    allowedVoices: config.session.allowedVoices,
    maxOutputTokens: config.session.maxOutputTokens,
    serverTools: tools.realtimeTools(),
  });
  const clientSecrets = new ClientSecrets(keys, policy, config.limits.ephemeralTtlDefaultS, metrics, profiles);

  // the database (docs/contracts.md §7): opened here, closed after the server (queued writes flushed)
  const store = deps.store !== undefined ? deps.store : await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, log });
  // call records (server/calls/): every session's record written as it goes; open records a dead process left are closed
  const calls = store ? new CallRecords({ store, config, log }) : null;
  if (calls) sessions.observe(calls.observer);
  // signed webhooks (docs/notes/webhooks.md): events into the store's outbox, delivered by a worker;
  // subscribed to the records' ends before calls.start() closes the calls a crash left open
  const webhooks = startWebhooks({ config: config.webhooks, outbox: store?.outbox ?? null, records: calls, sessions, metrics, log });
  if (calls) await calls.start();
  app.addHook('onClose', async () => {
    // the last events are stored before the store closes
    await webhooks?.stop();
    await calls?.stop();
    if (deps.store === undefined) await store?.close();
  });

  app.decorate('parley', { config, sessions, tools, engines, metrics, keys, clientSecrets, recordings, profiles, log, store, calls, webhooks, redis, rateLimiter });

  // errors in OpenAI's shape: { error: { type, code, message, param } }
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    const code = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalid_json' : status >= 500 ? 'server_error' : (err.code ?? 'invalid_request').toLowerCase();
    void reply.code(status).send({
      error: { type: status >= 500 ? 'server_error' : 'invalid_request_error', code, message: status >= 500 ? 'Internal server error.' : err.message, param: null },
    });
  });

  registerHealthRoutes(app, { sessions, metrics, engine: config.engine });
  registerClientSecretsRoute(app, { keys, secrets: clientSecrets, metrics });
  if (calls) registerCallsRoutes(app, calls);
  registerOutboundRoutes(app); // POST /v1/calls (docs/notes/outbound.md)
  registerRecordingRoutes(app, { keys, recordings, metrics });
  // after the sessions ended (preClose): the last recordings are written and closed
  app.addHook('onClose', async () => recordings.close());
  const realtime = registerRealtimeRoute(app, { config, keys, sessions, metrics, log, profiles });
  app.addHook('preClose', async () => {
    sessions.stopAccepting();
    for (const s of sessions.list()) s.end(1001, 'server shutting down');
    realtime.close();
  });
  // Twilio / Telnyx media streams (server/media-streams/, docs/notes/media-streams.md): each door is off until its secret is set
  await registerMediaStreamRoutes(app, [REALTIME_PATH]);

  // The browser demo (server/routes/demo.ts): the page at / and POST /demo/session.
  if (config.demo.enabled) await app.register(demoRoutes);
  // The calls page at /calls and the live view of calls in progress (server/live/, docs/notes/calls-page.md).
  await registerCallsPage(app);

  return app;
}
