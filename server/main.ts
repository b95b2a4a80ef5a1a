/**
 * The server process: the only reader of process.env. Loads the config (env + the JSON file
 * named by PARLEY_CONFIG), builds the app, listens, starts the SIP door when enabled, and on
 * SIGTERM/SIGINT stops accepting, lets live sessions finish (PARLEY_SHUTDOWN_GRACE_MS), exits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, ParleyError } from './errors.ts';
import { loadConfig, type ParleyConfig } from './config.ts';
import { buildApp, createLogger } from './app.ts';
import { newServerKey } from './protocol/index.ts';

function readConfigFile(path: string | undefined): unknown {
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError('PARLEY_CONFIG', `cannot read ${JSON.stringify(path)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError('PARLEY_CONFIG', `${JSON.stringify(path)} is not valid JSON`);
  }
}

interface SipBridgeHandle {
  close(): Promise<void> | void;
}

async function main(): Promise<void> {
  let config: ParleyConfig;
  try {
    config = loadConfig(process.env, readConfigFile(process.env['PARLEY_CONFIG']));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: bad configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.apiKeys.length === 0) {
    const key = newServerKey();
    config = { ...config, apiKeys: [key] };
    // printed once, to the terminal, never to the log
    process.stdout.write(`\nparley: no PARLEY_API_KEYS set; this run's API key is:\n\n    ${key}\n\n`);
  }
  const log = createLogger(config);
  const app = await buildApp(config, { logger: log });
  await app.listen({ host: config.host, port: config.port });
  log.info({ engine: config.engine, tls: config.tls !== null }, 'parley listening');

  let sip: SipBridgeHandle | null = null;
  if (config.sip.enabled) {
    // server/sip-bridge.ts (the SIP work) exports startSipBridge(app): Promise<{ close() }>
    if (existsSync(new URL('./sip-bridge.ts', import.meta.url))) {
      const mod = (await import('./sip-bridge.ts' as string)) as { startSipBridge?: (app: unknown) => Promise<SipBridgeHandle> };
      if (typeof mod.startSipBridge === 'function') {
        try {
          sip = await mod.startSipBridge(app);
        } catch (err) {
          // e.g. port 5060 taken: keep serving HTTP/WS, say why SIP is off
          log.error({ err, port: config.sip.port }, 'SIP door could not start (set PARLEY_SIP_PORT, or PARLEY_SIP_ENABLED=off)');
        }
      }
    } else {
      log.warn('PARLEY_SIP=on but this build has no SIP bridge');
    }
  }

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      // a second signal: stop waiting for live sessions
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, sessions: app.parley.sessions.active, graceMs: config.limits.shutdownGraceMs }, 'shutting down');
    app.parley.sessions.stopAccepting();
    await sip?.close();
    await app.parley.sessions.closeAll(config.limits.shutdownGraceMs);
    await app.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  const code = ParleyError.is(err) ? err.code : 'INTERNAL';
  process.stderr.write(`parley: failed to start (${code}): ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
