/**
 * The server process: the only reader of process.env, and one user of the package entry
 * (server/parley.ts, `createParley`). Loads the config (env + the JSON file named by PARLEY_CONFIG),
 * creates Parley, listens, starts the SIP door when enabled, and on SIGTERM/SIGINT stops accepting,
 * lets live sessions finish (PARLEY_SHUTDOWN_GRACE_MS), exits.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ParleyError, createLogger, createParley, loadConfig, newServerKey, type Parley, type ParleyConfig } from './parley.ts';

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
  const log = createLogger(config);

  // The signal handlers go in before anything else starts: a SIGTERM/SIGINT while the key is
  // printed, Parley is built, HTTP already answers or SIP is still starting drains like any other.
  let parley: Parley | null = null;
  let starting: Promise<void> = Promise.resolve();
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      // a second signal: stop waiting for live sessions
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, sessions: parley?.sessions.active ?? 0, graceMs: config.limits.shutdownGraceMs }, 'shutting down');
    // a start in progress finishes its current step, then sees `stopping` and goes no further
    await starting.catch(() => undefined);
    await parley?.close({ graceMs: config.limits.shutdownGraceMs });
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  if (config.apiKeys.length === 0) {
    const key = newServerKey();
    config = { ...config, apiKeys: [key] };
    // printed once, to the terminal, never to the log
    process.stdout.write(`\nparley: no PARLEY_API_KEYS set; this run's API key is:\n\n    ${key}\n\n`);
  }
  const cfg = config;
  starting = (async () => {
    const built = await createParley({ config: cfg, logger: log, sip: cfg.sip.enabled });
    parley = built;
    if (stopping) return;
    await built.listen({ host: cfg.host, port: cfg.port });
  })();
  await starting;
}

main().catch((err: unknown) => {
  // a setting only buildApp can check (a profile naming an unknown tool or engine) is bad configuration too
  if (err instanceof ConfigError) {
    process.stderr.write(`parley: bad configuration: ${err.message}\n`);
    process.exit(2);
  }
  const code = ParleyError.is(err) ? err.code : 'INTERNAL';
  process.stderr.write(`parley: failed to start (${code}): ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
