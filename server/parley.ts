/**
 * The package entry: `import { createParley } from 'parley'` (docs/notes/embedding.md).
 *
 * A Node backend embeds Parley with its own tools, session observers and incoming-call hook:
 *
 *   const parley = await createParley({ env: process.env, tools: [myTool], observers: [myObserver] });
 *   const { port } = await parley.listen({ host: '127.0.0.1', port: 0 });
 *   …
 *   await parley.close();   // stops taking calls, lets live ones finish (limits.shutdownGraceMs), closes
 *
 * The server process (server/main.ts, `npm start`) is one user of this entry. Everything a backend
 * needs is exported from here, and only from here: package.json's `exports` has no other door.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp, createLogger, type AppDeps, type ParleyContext } from './app.ts';
import { loadConfig, type Env, type ParleyConfig } from './config.ts';
import { ConfigError, ParleyError } from './errors.ts';
import { newServerKey } from './protocol/index.ts';
import { startSipBridge, type SipBridge, type SipBridgeOptions } from './sip-bridge.ts';
import type { EngineFactory, EngineName } from './engines/index.ts';
import type { FallbackPolicy, SessionManager, SessionObserverFactory } from './session/index.ts';
import type { IncomingCallHook } from './profiles/index.ts';
import type { ToolDefinition } from './tools/index.ts';

// ------------------------------------------------------------------ what a backend imports

export { loadConfig, DEFAULT_INSTRUCTIONS, BUILTIN_VOICES } from './config.ts';
export type {
  ParleyConfig,
  Env,
  EngineSetting,
  ResolvedEngine,
  OpenAIConfig,
  SessionConfig,
  ToolsConfig,
  LimitsConfig,
  MetricsConfig,
  SipConfig,
  CascadeConfig,
  LocalConfig,
  DemoConfig,
} from './config.ts';
export { createLogger, type ParleyContext } from './app.ts';
export {
  ParleyError,
  ConfigError,
  ProtocolError,
  EngineError,
  ToolError,
  AudioError,
  SipError,
  PARLEY_ERROR_CODES,
  type ParleyErrorCode,
} from './errors.ts';
export { CapacityError } from './engines/index.ts';
export type {
  Engine,
  EngineName,
  EngineOpenOptions,
  EngineCallbacks,
  EngineCloseInfo,
  EngineConnection,
  EngineDeps,
  EngineFactory,
} from './engines/index.ts';
export type {
  Session,
  SessionClient,
  SessionOpenOptions,
  Leg,
  EndReason,
  RecordingMode,
  CallFacts,
  SessionObserver,
  SessionObserverFactory,
  SessionInfo,
  SessionEnd,
  TurnMark,
  ToolCallReport,
  EngineSwitchReport,
  AgentAudioPosition,
  FallbackPolicy,
  SwitchReason,
  SessionManager,
  RealtimeSessionHandle,
} from './session/index.ts';
export type { ToolDefinition, ToolContext, JSONSchema } from './tools/index.ts';
export { AudioChunk, newServerKey } from './protocol/index.ts';
export type {
  ServerEvent,
  ServerEventType,
  ServerEventOf,
  ClientEvent,
  ClientEventType,
  RealtimeSession,
  SessionPatch,
  AudioFormat,
  TurnDetection,
  TranscriptionConfig,
  FunctionTool,
  RealtimeTool,
  ConversationItem,
  ContentPart,
  Usage,
  RealtimeResponse,
  ResponseParams,
  ErrorBody,
} from './protocol/index.ts';
export type { SipBridge } from './sip-bridge.ts';
export type {
  IncomingCallHook,
  IncomingCallFacts,
  IncomingCallAnswer,
  IncomingCallOverrides,
  ProfileConfig,
  RouteConfig,
  Matcher,
  IncomingCallConfig,
} from './profiles/index.ts';
export type { FastifyInstance } from 'fastify';
export type { Logger } from 'pino';

// ------------------------------------------------------------------ createParley

/** The config file's shape (PARLEY_CONFIG): nested keys such as `{ engine: 'local', sip: { port: 5070 } }`. */
export type ParleySettings = Record<string, unknown>;

/** The SIP door's options a backend may set (the rest comes from `config.sip`). */
export type SipOptions = Pick<SipBridgeOptions, 'sip' | 'dtmfMode' | 'transferTarget' | 'engine' | 'g711Passthrough'>;

export interface CreateParleyOptions {
  /**
   * The configuration, one of three ways (default: all defaults, as with an empty environment):
   * - `config`: a loaded config (`loadConfig(env, file)`), used as is;
   * - `env`: environment-style settings (`HOST`, `PORT`, `PARLEY_*`, `OPENAI_API_KEY`, …). Not read
   *   from process.env unless you pass it: `env: process.env`;
   * - `settings`: the config file's shape (what `PARLEY_CONFIG` names), e.g. `{ engine: 'local' }`.
   * `env` and `settings` combine (env wins, as in the server); `config` excludes both.
   * A bad setting rejects with ConfigError naming it.
   */
  config?: ParleyConfig;
  env?: Env;
  settings?: ParleySettings;
  /** Server-side tools offered to every session (besides the built-in ones enabled by `tools.enabled`). */
  tools?: ToolDefinition[];
  /** App-wide session observers (call records, metrics, live views): one factory per observer kind. */
  observers?: SessionObserverFactory[];
  /**
   * Decides a call's profile, overrides and metadata before it is answered (SIP: before the 200 OK;
   * WS: before the upgrade): the in-process twin of the incoming-call webhook, same facts, same answer,
   * same timeout (`incomingCall.timeoutMs`); it replaces the webhook URL. A throw, a timeout or a bad
   * answer keeps the route's profile and the session's metadata says why (server/profiles/incoming-call.ts).
   */
  onIncomingCall?: IncomingCallHook;
  /** A pino logger (default: JSON lines on stdout at `logLevel`). */
  logger?: Logger;
  /** Engines added to, or replacing, the built-in ones (`openai`, `cascade`, `local`). */
  engines?: Partial<Record<EngineName, EngineFactory>>;
  /** Where a session goes when its engine fails (null: nowhere). Default: config `fallbackEngine`. */
  fallback?: FallbackPolicy | null;
  /**
   * The SIP door, started by `listen()`: true / options = start it, false = not (call `startSip()`
   * yourself). Default: config `sip.enabled` (PARLEY_SIP_ENABLED, on unless set off).
   */
  sip?: boolean | SipOptions;
}

export interface ListenOptions {
  /** Default: config `host` (HOST, 127.0.0.1). */
  host?: string;
  /** Default: config `port` (PORT, 8080); 0 = a free port. */
  port?: number;
}

export interface ParleyAddress {
  host: string;
  port: number;
  /** http(s)://host:port */
  url: string;
  /** ws(s)://host:port/v1/realtime: where GA clients connect. */
  realtimeUrl: string;
}

export interface CloseOptions {
  /** How long live sessions may go on before they are ended (default: config `limits.shutdownGraceMs`). */
  graceMs?: number;
}

export interface Parley {
  /** The Fastify instance: add routes, hooks, plugins before `listen()`. `app.parley` holds the parts. */
  readonly app: FastifyInstance;
  readonly config: ParleyConfig;
  /** Every live session: `sessions.active`, `sessions.list()`, `sessions.observe(factory)`, `sessions.open(…)`. */
  readonly sessions: SessionManager;
  readonly log: Logger;
  /** The API key made for this instance when the config named none (clients must present a key); else null. */
  readonly generatedApiKey: string | null;
  /** Where it listens (null before `listen()`). */
  readonly address: ParleyAddress | null;
  /** The SIP door (null until started). */
  readonly sip: SipBridge | null;
  /**
   * Serves HTTP and WebSocket, loads the default engine (the local engine's models load now, not on
   * the first call), then starts the SIP door when asked (option `sip`); a SIP door that cannot start
   * (port taken) is logged and HTTP goes on serving, as in the server.
   */
  listen(opts?: ListenOptions): Promise<ParleyAddress>;
  /** Starts the SIP door now (rejects with SipError when it cannot bind). */
  startSip(opts?: SipOptions): Promise<SipBridge>;
  /**
   * Graceful stop: takes no new sessions or calls, stops the SIP door, lets live sessions finish for
   * up to `graceMs`, ends the rest (close 1001), closes the HTTP server. Idempotent.
   */
  close(opts?: CloseOptions): Promise<void>;
}

function resolveConfig(opts: CreateParleyOptions): ParleyConfig {
  if (opts.config !== undefined) {
    if (opts.env !== undefined || opts.settings !== undefined) {
      throw new ConfigError('createParley', 'pass either `config` or `env` / `settings`, not both');
    }
    return opts.config;
  }
  return loadConfig(opts.env ?? {}, opts.settings);
}

/** Builds Parley (the app, its engines, tools and observers). Does not listen: call `listen()`. */
export async function createParley(opts: CreateParleyOptions = {}): Promise<Parley> {
  let config = resolveConfig(opts);
  let generatedApiKey: string | null = null;
  if (config.apiKeys.length === 0) {
    // never an open server: with no key configured, this instance has one of its own
    generatedApiKey = newServerKey();
    config = { ...config, apiKeys: [generatedApiKey] };
  }
  const log = opts.logger ?? createLogger(config);
  const deps: AppDeps = {
    logger: log,
    ...(opts.tools ? { tools: opts.tools } : {}),
    ...(opts.engines ? { engines: opts.engines } : {}),
    ...(opts.fallback !== undefined ? { fallback: opts.fallback } : {}),
    ...(opts.onIncomingCall ? { onIncomingCall: opts.onIncomingCall } : {}),
  };
  const app = await buildApp(config, deps);
  const ctx: ParleyContext = app.parley;
  for (const factory of opts.observers ?? []) ctx.sessions.observe(factory);

  const sipOption = opts.sip ?? config.sip.enabled;
  let address: ParleyAddress | null = null;
  let sip: SipBridge | null = null;
  let sipStarting: Promise<SipBridge> | null = null;
  let listening: Promise<ParleyAddress> | null = null;
  let closing: Promise<void> | null = null;

  const startSip = (sipOpts: SipOptions = {}): Promise<SipBridge> => {
    if (closing) return Promise.reject(new ParleyError('SERVER_SHUTTING_DOWN', 'Parley is closing.', { retryable: false }));
    sipStarting ??= startSipBridge(app, sipOpts).then(
      (bridge) => {
        // OPTIONS answers carry the load, and a drain begun before the door started covers it too (server/cluster/drain.ts)
        app.parleyDrain.attachSip(bridge.server);
        return (sip = bridge);
      },
      (err: unknown) => {
        sipStarting = null;
        throw err;
      },
    );
    return sipStarting;
  };

  const listen = (listenOpts: ListenOptions = {}): Promise<ParleyAddress> => {
    if (closing) return Promise.reject(new ParleyError('SERVER_SHUTTING_DOWN', 'Parley is closing.', { retryable: false }));
    listening ??= (async () => {
      await app.listen({ host: listenOpts.host ?? config.host, port: listenOpts.port ?? config.port });
      const a = app.server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      const tls = config.tls !== null;
      address = { host: a.address, port: a.port, url: `${tls ? 'https' : 'http'}://${host}:${a.port}`, realtimeUrl: `${tls ? 'wss' : 'ws'}://${host}:${a.port}/v1/realtime` };
      log.info({ engine: config.engine, tls, port: a.port }, 'parley listening');
      // build the default engine now: the local engine loads its models (decoder pool) at start, not on the first call
      try { ctx.engines.get(config.engine); } catch { /* not registered: the first session reports it */ }
      if (sipOption !== false && !closing) {
        try {
          await startSip(sipOption === true ? {} : sipOption);
        } catch (err) {
          // e.g. port 5060 taken: keep serving HTTP/WS, say why SIP is off
          log.error({ err, port: config.sip.port }, 'SIP door could not start (set PARLEY_SIP_PORT, or PARLEY_SIP_ENABLED=off)');
        }
      }
      return address;
    })();
    return listening;
  };

  const close = (closeOpts: CloseOptions = {}): Promise<void> => {
    closing ??= (async () => {
      const graceMs = closeOpts.graceMs ?? config.limits.shutdownGraceMs;
      ctx.sessions.stopAccepting();
      // a listen or SIP start under way finishes its step first (nothing new starts once closing is set)
      await listening?.catch(() => undefined);
      await sipStarting?.catch(() => undefined);
      await sip?.close();
      await ctx.sessions.closeAll(graceMs);
      await app.close();
    })();
    return closing;
  };

  return {
    app,
    config,
    sessions: ctx.sessions,
    log,
    generatedApiKey,
    get address() { return address; },
    get sip() { return sip; },
    listen,
    startSip,
    close,
  };
}
