/** server: the public face for tests, bench and other modules. */
export { buildApp, createLogger, type AppDeps, type ParleyContext } from './app.ts';
export { loadConfig, type ParleyConfig } from './config.ts';
export * from './errors.ts';
export * from './protocol/index.ts';
export * from './engines/index.ts';
export * from './session/index.ts';
export * from './tools/index.ts';
export { Metrics, Counter, Gauge, Histogram } from './metrics.ts';
export { KeyStore } from './auth.ts';
export { ClientSecrets, type ClientSecret, type MintOptions } from './client-secrets.ts';
