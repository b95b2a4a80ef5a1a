/**
 * Parley's configuration: one typed, validated object, built from env (+ an optional JSON file
 * named by PARLEY_CONFIG, read by main.ts). Env wins over the file. Only main.ts reads
 * process.env; everything below gets this object (or its sections).
 *
 * Every bad setting throws ConfigError naming the setting and why.
 */
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from './errors.ts';
import type { RealtimeSession, TurnDetection } from './protocol/index.ts';
import { ConfigReader, type Env } from './config/reader.ts';
import { readSipConfig, type SipConfig } from './config/sip.ts';
import { readCascadeConfig, type CascadeConfig } from './config/cascade.ts';
import { readInterruptionsConfig, type InterruptionsConfig } from './config/interruptions.ts';
import { readTransferConfig, type TransferConfig } from './config/transfer.ts';
import { readLocalConfig, type LocalConfig } from './config/local.ts';
import { readDemoConfig, type DemoConfig } from './config/demo.ts';
import { readHttpToolsConfig, type HttpToolConfig } from './config/http-tools.ts';
import { readWebhooksConfig, type WebhooksConfig } from './config/webhooks.ts';
import { readRecordingConfig, type RecordingMode } from './config/recording.ts';
import { readProfilesConfig, type ProfileConfig, type RouteConfig, type IncomingCallConfig } from './config/profiles.ts';
import { readStoreConfig } from './config/store.ts';
import { readMediaStreamsConfig, type MediaStreamsConfig } from './config/media-streams.ts';
import type { Pricing } from './calls/pricing.ts';

export { ConfigReader, type Env } from './config/reader.ts';
export type { SipConfig } from './config/sip.ts';
export type { CascadeConfig, CascadeStageConfig } from './config/cascade.ts';
export type { LocalConfig } from './config/local.ts';
export type { DemoConfig } from './config/demo.ts';
export type { HttpToolConfig } from './config/http-tools.ts';
export type { WebhooksConfig, WebhookEventType } from './config/webhooks.ts';
export type { ProfileConfig, RouteConfig, IncomingCallConfig } from './config/profiles.ts';
export type { StoreConfig } from './config/store.ts';
export type { MediaStreamsConfig } from './config/media-streams.ts';

export type EngineSetting = 'auto' | 'openai' | 'cascade' | 'local';
export type ResolvedEngine = 'openai' | 'cascade' | 'local';

export const BUILTIN_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;
export const DEFAULT_INSTRUCTIONS =
  'You are Parley, a friendly voice assistant. Answer briefly and naturally, in the language the caller uses.';

export interface OpenAIConfig {
  /** OPENAI_API_KEY: the server's key for the upstream (never sent to clients, never logged). */
  apiKey: string | null;
  /** OPENAI_BASE_URL (default https://api.openai.com/v1): any GA-compatible server. */
  baseUrl: string;
  /** PARLEY_OPENAI_CONNECT_TIMEOUT_MS (default 10000). */
  connectTimeoutMs: number;
  /**
   * PARLEY_OPENAI_ROTATE_AFTER_MS (default 3300000 = 55 min; 0 = never): after this long on one
   * upstream session, move to a fresh one at the next turn boundary (history replayed as text),
   * before OpenAI's 60-minute cap cuts the call mid-sentence.
   */
  rotateAfterMs: number;
  /**
   * PARLEY_OPENAI_RETRIES (default 1, 0..5): retries before the session falls back, at connect (a 5xx,
   * 429 or network error) and mid-call (a dropped upstream reconnects with the conversation replayed).
   * 0 = fall back at once.
   */
  retries: number;
  /**
   * PARLEY_OPENAI_RETRY_MAX_WAIT_MS (default 1000, 0..60000): the longest wait an upstream may ask
   * for (Retry-After, x-ratelimit-reset-*, a rate limit's reset) that is still waited out; a longer
   * one falls back at once.
   */
  retryMaxWaitMs: number;
}

export interface SessionConfig {
  /** The default GA session (PARLEY_MODEL, PARLEY_INSTRUCTIONS, PARLEY_VOICE, PARLEY_TURN_DETECTION, …). */
  defaults: RealtimeSession;
  /** PARLEY_ALLOWED_MODELS: models a client may ask for (default: the default model only). */
  allowedModels: string[];
  /** PARLEY_ALLOWED_VOICES: voices a client may pick (default: the built-in voices). */
  allowedVoices: string[];
  /** PARLEY_MAX_OUTPUT_TOKENS: the cap a client cannot raise (default 'inf'). */
  maxOutputTokens: number | 'inf';
}

export interface ToolsConfig {
  /** PARLEY_TOOLS: built-in server tools to enable (default get_current_time; 'none' for none). */
  enabled: string[];
  /** PARLEY_TOOL_TIMEOUT_MS: default per-call timeout (default 10000). */
  timeoutMs: number;
  /**
   * PARLEY_SERVER_TOOL_EVENTS: `relay` (default) shows clients the server tools' calls and
   * outputs like any other items; `hide` keeps them out of what clients see (for clients that
   * fail on calls to tools they did not declare).
   */
  events: 'relay' | 'hide';
  /** `tools.http` (PARLEY_CONFIG file): tools Parley runs by calling the backend (server/config/http-tools.ts). */
  http?: HttpToolConfig[];
}

export interface LimitsConfig {
  /** PARLEY_MAX_MESSAGE_BYTES: largest client message (default and max 16 MiB). */
  maxMessageBytes: number;
  /** PARLEY_MAX_SESSIONS: concurrent sessions (default 200); more get HTTP 503. */
  maxSessions: number;
  /** PARLEY_SHUTDOWN_GRACE_MS: how long live sessions may finish on a second SIGTERM, or when the drain limit is reached (default 10000). */
  shutdownGraceMs: number;
  /**
   * PARLEY_DRAIN_LIMIT_S: on SIGTERM (or POST /v1/admin/drain) the instance takes no new work and lets live
   * calls and sessions go on this long at most before the shutdown grace (default 3600; 0 = no drain:
   * SIGTERM goes straight to the shutdown grace). docs/notes/cluster-drain.md.
   */
  drainLimitS: number;
  /** PARLEY_EPHEMERAL_TTL_S: default lifetime of an ephemeral key (default 600, 10..7200). */
  ephemeralTtlDefaultS: number;
  /** PARLEY_SEND_HIGH_WATER_BYTES: outbound buffer above which the other side is paused (default 1 MiB). */
  sendHighWaterBytes: number;
  /**
   * PARLEY_EPHEMERAL_MAX_SESSIONS: sessions all ephemeral (`ek_…`) keys together may hold, so keys
   * handed to browsers never take every slot from server-key clients (default 90% of
   * PARLEY_MAX_SESSIONS, at least 1; 0 = no separate cap).
   */
  ephemeralMaxSessions: number;
  /** PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY: sessions one ephemeral key may hold at once (default 0 = no cap). */
  ephemeralMaxSessionsPerKey: number;
  /**
   * PARLEY_WS_PING_INTERVAL_MS: a WS ping this often; a client that has not answered (pong or any
   * message) by the next one is cut and its session closed (default 20000; 0 = off).
   */
  wsPingIntervalMs: number;
}

export interface MetricsConfig {
  /**
   * PARLEY_METRICS_AUTH=auto|none|bearer (default auto), resolved: `none` serves `/metrics` to
   * anyone; `bearer` asks for `Authorization: Bearer <a PARLEY_API_KEYS key or PARLEY_METRICS_TOKEN>`.
   * auto = none when HOST is a loopback address, bearer when the server listens beyond it.
   */
  auth: 'none' | 'bearer';
  /** PARLEY_METRICS_TOKEN: a scrape-only token (≥ 16 chars) accepted besides the server keys. */
  token: string | null;
}

/** True for hosts only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function readMetricsConfig(r: ConfigReader, host: string): MetricsConfig {
  const auth = r.oneOf('PARLEY_METRICS_AUTH', 'metrics.auth', ['auto', 'none', 'bearer'] as const, 'auto');
  const token = r.optStr('PARLEY_METRICS_TOKEN', 'metrics.token');
  if (token !== null && (token.length < 16 || /\s/.test(token))) {
    throw new ConfigError('PARLEY_METRICS_TOKEN', 'must be at least 16 characters, without spaces');
  }
  return { auth: auth === 'auto' ? (isLoopbackHost(host) ? 'none' : 'bearer') : auth, token };
}

/** The default instance id: `<hostname>-<pid>`, with anything outside [A-Za-z0-9._-] made `_`. */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128);
}

function readInstanceId(r: ConfigReader): string {
  const id = r.optStr('PARLEY_INSTANCE_ID', 'instanceId');
  if (id === null) return defaultInstanceId();
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
    throw new ConfigError(r.raw('PARLEY_INSTANCE_ID', 'instanceId')!.setting, 'must be 1–128 characters of A–Z a–z 0–9 . _ : -');
  }
  return id;
}

export interface ParleyConfig {
  /**
   * PARLEY_INSTANCE_ID (default `<hostname>-<pid>`): this process's name among the instances sharing
   * one database (issue 13): call records carry it, its heartbeat row is keyed by it, logs name it.
   * Two live processes must never share one (the other's calls would look like its own).
   */
  instanceId: string;
  /**
   * PARLEY_INSTANCE_TTL_MS (default 20000, 2000..600000): an instance whose heartbeat is older than this
   * is dead; a survivor closes its open calls as `interrupted`. It beats every TTL/4 and sweeps every TTL/2
   * (docs/notes/calls.md "Several instances").
   */
  instanceTtlMs: number;
  /** HOST (default 127.0.0.1). */
  host: string;
  /** PORT (default 8080; 0 = ephemeral). */
  port: number;
  /** PARLEY_TLS_CERT + PARLEY_TLS_KEY: PEM file paths; serve HTTPS/WSS. Both or neither. */
  tls: { certPath: string; keyPath: string } | null;
  /** PARLEY_API_KEYS: comma-separated keys clients may use. Empty: main.ts makes one at start. */
  apiKeys: string[];
  /** PARLEY_ENGINE as set (auto|openai|cascade|local; default auto). */
  engineSetting: EngineSetting;
  /** The engine sessions start on: auto = openai when OPENAI_API_KEY is set, else local. */
  engine: ResolvedEngine;
  /** PARLEY_FALLBACK_ENGINE: where a session goes when its engine fails (cascade|local|none; default cascade). */
  fallbackEngine: ResolvedEngine | null;
  openai: OpenAIConfig;
  session: SessionConfig;
  tools: ToolsConfig;
  limits: LimitsConfig;
  /** LOG_LEVEL (default info). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  sip: SipConfig;
  cascade: CascadeConfig;
  local: LocalConfig;
  /** `interruptions` (PARLEY_MIN_INTERRUPTION_*, …): which speech over the agent stops it on the cascade/local engines (server/config/interruptions.ts). Optional so configs built by hand need not name it. */
  interruptions?: InterruptionsConfig;
  /** `transfer` (PARLEY_HOLD_WAV, PARLEY_WARM_TRANSFER_RING_TIMEOUT_S): the warm_transfer tool (server/config/transfer.ts). Optional so configs built by hand need not name it. */
  transfer?: TransferConfig;
  demo: DemoConfig;
  metrics: MetricsConfig;
  /** Signed webhooks (server/config/webhooks.ts). */
  webhooks: WebhooksConfig;
  /** PARLEY_RECORDING = off (default) | mono | stereo: the recording mode of calls whose profile does not set one (server/recording/). */
  recording: RecordingMode;
  /** `profiles` (PARLEY_CONFIG): named agent profiles (server/config/profiles.ts, docs/notes/profiles.md). */
  profiles: Record<string, ProfileConfig>;
  /** `routes` (PARLEY_CONFIG): which profile a call gets; first match wins, then the profile named `default`. */
  routes: RouteConfig[];
  /** `incomingCall` (PARLEY_CONFIG) + PARLEY_WEBHOOK_SECRET: the backend asked before a call is answered. */
  incomingCall: IncomingCallConfig;
  /** PARLEY_DATA_DIR (default ./data): the SQLite file and recordings (server/config/store.ts). */
  dataDir: string;
  /** PARLEY_DATABASE_URL: postgres://… → PostgreSQL; null → SQLite at <dataDir>/parley.db. */
  databaseUrl: string | null;
  /** PARLEY_REDIS_URL: redis://… → ephemeral keys and cluster-wide limits shared through Redis (server/cluster/redis.ts); null → in process. */
  redisUrl: string | null;
  /** PARLEY_RETENTION_DAYS: calls older than this are swept; null = kept forever. */
  retentionDays: number | null;
  /** `pricing` in the config file, merged over the defaults (server/calls/pricing.ts). */
  pricing: Pricing;
  /** Twilio / Telnyx media-stream doors: TWILIO_AUTH_TOKEN, TELNYX_STREAM_TOKEN, TELNYX_PUBLIC_KEY, PARLEY_PUBLIC_URL (server/config/media-streams.ts). */
  mediaStreams: MediaStreamsConfig;
}

function checkReadable(setting: string, path: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new ConfigError(setting, `cannot read the file ${JSON.stringify(path)}`);
  }
}

function readTurnDetection(r: ConfigReader): TurnDetection | null {
  const kind = r.oneOf('PARLEY_TURN_DETECTION', 'session.turnDetection', ['server_vad', 'semantic_vad', 'none'] as const, 'server_vad');
  if (kind === 'none') return null;
  if (kind === 'semantic_vad') {
    return {
      type: 'semantic_vad',
      eagerness: r.oneOf('PARLEY_VAD_EAGERNESS', 'session.eagerness', ['low', 'medium', 'high', 'auto'] as const, 'auto'),
      create_response: true,
      interrupt_response: true,
    };
  }
  return {
    type: 'server_vad',
    threshold: r.num('PARLEY_VAD_THRESHOLD', 'session.vadThreshold', 0.5, { min: 0, max: 1 }),
    prefix_padding_ms: r.int('PARLEY_VAD_PREFIX_MS', 'session.vadPrefixPaddingMs', 300, { min: 0, max: 10_000 }),
    silence_duration_ms: r.int('PARLEY_VAD_SILENCE_MS', 'session.vadSilenceDurationMs', 500, { min: 0, max: 10_000 }),
    create_response: true,
    interrupt_response: true,
  };
}

/** Builds and validates the configuration. Throws ConfigError naming the bad setting. */
export function loadConfig(env: Env, file?: unknown): ParleyConfig {
  const r = new ConfigReader(env, file);
  const host = r.str('HOST', 'host', '127.0.0.1');
  const port = r.int('PORT', 'port', 8080, { min: 0, max: 65535 });

  const certPath = r.optStr('PARLEY_TLS_CERT', 'tls.cert');
  const keyPath = r.optStr('PARLEY_TLS_KEY', 'tls.key');
  if ((certPath === null) !== (keyPath === null)) {
    throw new ConfigError(certPath === null ? 'PARLEY_TLS_CERT' : 'PARLEY_TLS_KEY', 'PARLEY_TLS_CERT and PARLEY_TLS_KEY must be set together');
  }
  if (certPath !== null) checkReadable('PARLEY_TLS_CERT', certPath);
  if (keyPath !== null) checkReadable('PARLEY_TLS_KEY', keyPath);

  const apiKeys = r.list('PARLEY_API_KEYS', 'apiKeys', []);
  for (const k of apiKeys) {
    if (k.length < 16 || /\s/.test(k)) throw new ConfigError('PARLEY_API_KEYS', 'each key must be at least 16 characters, without spaces');
  }

  const openai: OpenAIConfig = {
    apiKey: r.optStr('OPENAI_API_KEY', 'openai.apiKey'),
    baseUrl: r.url('OPENAI_BASE_URL', 'openai.baseUrl', 'https://api.openai.com/v1', ['http:', 'https:', 'ws:', 'wss:']) ?? 'https://api.openai.com/v1',
    connectTimeoutMs: r.int('PARLEY_OPENAI_CONNECT_TIMEOUT_MS', 'openai.connectTimeoutMs', 10_000, { min: 100, max: 120_000 }),
    rotateAfterMs: r.int('PARLEY_OPENAI_ROTATE_AFTER_MS', 'openai.rotateAfterMs', 55 * 60_000, { min: 0, max: 24 * 3_600_000 }),
    retries: r.int('PARLEY_OPENAI_RETRIES', 'openai.retries', 1, { min: 0, max: 5 }),
    retryMaxWaitMs: r.int('PARLEY_OPENAI_RETRY_MAX_WAIT_MS', 'openai.retryMaxWaitMs', 1000, { min: 0, max: 60_000 }),
  };

  const engineSetting = r.oneOf('PARLEY_ENGINE', 'engine', ['auto', 'openai', 'cascade', 'local'] as const, 'auto');
  const engine: ResolvedEngine = engineSetting === 'auto' ? (openai.apiKey !== null ? 'openai' : 'local') : engineSetting;
  if (engine === 'openai' && openai.apiKey === null) {
    throw new ConfigError('PARLEY_ENGINE', "is 'openai' but OPENAI_API_KEY is not set");
  }
  const fb = r.oneOf('PARLEY_FALLBACK_ENGINE', 'fallbackEngine', ['cascade', 'local', 'none'] as const, 'cascade');

  const model = r.str('PARLEY_MODEL', 'session.model', 'gpt-realtime');
  const voice = r.str('PARLEY_VOICE', 'session.voice', 'marin');
  const allowedVoices = r.list('PARLEY_ALLOWED_VOICES', 'session.allowedVoices', [...BUILTIN_VOICES]);
  if (!allowedVoices.includes(voice)) throw new ConfigError('PARLEY_VOICE', `must be one of the allowed voices (${allowedVoices.join(', ')})`);
  const allowedModels = r.list('PARLEY_ALLOWED_MODELS', 'session.allowedModels', [model]);
  if (!allowedModels.includes(model)) allowedModels.unshift(model);
  const transcriptionModel = r.str('PARLEY_TRANSCRIPTION_MODEL', 'session.transcriptionModel', 'gpt-4o-mini-transcribe');
  const maxOutRaw = r.optStr('PARLEY_MAX_OUTPUT_TOKENS', null) ?? (r.raw(null, 'session.maxOutputTokens')?.value as string | number | undefined);
  let maxOutputTokens: number | 'inf' = 'inf';
  if (maxOutRaw !== undefined && maxOutRaw !== 'inf') {
    maxOutputTokens = r.int('PARLEY_MAX_OUTPUT_TOKENS', 'session.maxOutputTokens', 4096, { min: 1, max: 100_000 });
  }

  const defaults: RealtimeSession = {
    type: 'realtime',
    model,
    instructions: r.str('PARLEY_INSTRUCTIONS', 'session.instructions', DEFAULT_INSTRUCTIONS),
    output_modalities: ['audio'],
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 24000 },
        transcription: transcriptionModel === 'none' ? null : { model: transcriptionModel },
        turn_detection: readTurnDetection(r),
      },
      output: { format: { type: 'audio/pcm', rate: 24000 }, voice },
    },
    max_output_tokens: maxOutputTokens,
  };

  const maxSessions = r.int('PARLEY_MAX_SESSIONS', 'limits.maxSessions', 200, { min: 1, max: 100_000 });

  const profiles = readProfilesConfig(r, { allowedVoices, openaiKey: openai.apiKey !== null, autoEngine: engine }, allowedModels);

  const toolsEnabled = r.list('PARLEY_TOOLS', 'tools.enabled', ['get_current_time']).filter((t) => t !== 'none');

  const config: ParleyConfig = {
    instanceId: readInstanceId(r),
    instanceTtlMs: r.int('PARLEY_INSTANCE_TTL_MS', 'instanceTtlMs', 20_000, { min: 2000, max: 600_000 }),
    host,
    port,
    tls: certPath !== null && keyPath !== null ? { certPath, keyPath } : null,
    apiKeys,
    engineSetting,
    engine,
    fallbackEngine: fb === 'none' || fb === engine ? null : fb,
    openai,
    session: { defaults, allowedModels, allowedVoices, maxOutputTokens },
    tools: {
      enabled: toolsEnabled,
      timeoutMs: r.int('PARLEY_TOOL_TIMEOUT_MS', 'tools.timeoutMs', 10_000, { min: 10, max: 600_000 }),
      events: r.oneOf('PARLEY_SERVER_TOOL_EVENTS', 'tools.events', ['relay', 'hide'] as const, 'relay'),
      http: readHttpToolsConfig(r),
    },
    limits: {
      maxMessageBytes: r.int('PARLEY_MAX_MESSAGE_BYTES', 'limits.maxMessageBytes', 16 * 1024 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
      maxSessions,
      shutdownGraceMs: r.int('PARLEY_SHUTDOWN_GRACE_MS', 'limits.shutdownGraceMs', 10_000, { min: 0, max: 3_600_000 }),
      drainLimitS: r.int('PARLEY_DRAIN_LIMIT_S', 'limits.drainLimitS', 3600, { min: 0, max: 7 * 86400 }),
      ephemeralTtlDefaultS: r.int('PARLEY_EPHEMERAL_TTL_S', 'limits.ephemeralTtlDefaultS', 600, { min: 10, max: 7200 }),
      sendHighWaterBytes: r.int('PARLEY_SEND_HIGH_WATER_BYTES', 'limits.sendHighWaterBytes', 1024 * 1024, { min: 16 * 1024, max: 256 * 1024 * 1024 }),
      ephemeralMaxSessions: r.int('PARLEY_EPHEMERAL_MAX_SESSIONS', 'limits.ephemeralMaxSessions', Math.max(1, Math.floor(maxSessions * 0.9)), { min: 0, max: 100_000 }),
      ephemeralMaxSessionsPerKey: r.int('PARLEY_EPHEMERAL_MAX_SESSIONS_PER_KEY', 'limits.ephemeralMaxSessionsPerKey', 0, { min: 0, max: 100_000 }),
      wsPingIntervalMs: r.int('PARLEY_WS_PING_INTERVAL_MS', 'limits.wsPingIntervalMs', 20_000, { min: 0, max: 3_600_000 }),
    },
    logLevel: r.oneOf('LOG_LEVEL', 'logLevel', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    sip: readSipConfig(r, host),
    cascade: readCascadeConfig(r, { baseUrl: openai.baseUrl, apiKey: openai.apiKey }),
    local: readLocalConfig(r),
    interruptions: readInterruptionsConfig(r),
    transfer: readTransferConfig(r),
    demo: readDemoConfig(r),
    metrics: readMetricsConfig(r, host),
    webhooks: readWebhooksConfig(r),
    recording: readRecordingConfig(r),
    profiles: profiles.profiles,
    routes: profiles.routes,
    incomingCall: profiles.incomingCall,
    ...readStoreConfig(r),
    redisUrl: r.url('PARLEY_REDIS_URL', 'redisUrl', null, ['redis:', 'rediss:']),
    mediaStreams: readMediaStreamsConfig(r),
  };
  return config;
}
