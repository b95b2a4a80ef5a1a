/**
 * The server process: the only reader of process.env, and one user of the package entry
 * (server/parley.ts, `createParley`). Loads the config (env + the JSON file named by PARLEY_CONFIG),
 * creates Parley, listens, starts the SIP door when enabled.
 *
 * Stopping (docs/notes/cluster-drain.md): SIGTERM/SIGINT, or `POST /v1/admin/drain`, starts a drain —
 * no new calls or sessions (SIP OPTIONS and INVITE 503, /readyz 503, WS upgrades 503), live ones go on
 * for up to PARLEY_DRAIN_LIMIT_S; when the last one ends the process exits 0. At the limit, or on a second
 * signal, the fast path: live sessions get PARLEY_SHUTDOWN_GRACE_MS, then are ended, and the process
 * exits 0. A third signal exits 1 at once. PARLEY_DRAIN_LIMIT_S=0 makes the first signal the fast path.
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
  // printed, Parley is built, HTTP already answers or SIP is still starting stops like any other.
  let parley: Parley | null = null;
  let starting: Promise<void> = Promise.resolve();
  /** running → draining (first signal or the admin call) → closing (drain over, limit, or second signal). */
  let phase: 'running' | 'draining' | 'closing' = 'running';
  let signals = 0;

  // the fast path: live sessions get the shutdown grace, then are ended; the process exits 0
  const close = async (why: string): Promise<void> => {
    if (phase === 'closing') return;
    phase = 'closing';
    log.info({ why, sessions: parley?.sessions.active ?? 0, graceMs: config.limits.shutdownGraceMs }, 'shutting down');
    // a start in progress finishes its current step, then sees the phase and goes no further
    await starting.catch(() => undefined);
    await parley?.close({ graceMs: config.limits.shutdownGraceMs });
    log.info('stopped');
    process.exit(0);
  };

  // a drain, whoever began it: wait for the last call (or the limit), then close
  const drained = async (source: string): Promise<void> => {
    if (phase !== 'running') return;
    phase = 'draining';
    await starting.catch(() => undefined);
    const drain = parley?.app.parleyDrain;
    if (!drain || phase !== 'draining') return void close('not started');
    drain.start(source); // no-op when the admin call began it
    const how = await drain.idle();
    if (phase !== 'draining') return; // a second signal took the fast path meanwhile
    log.info({ how, active: drain.active }, how === 'idle' ? 'drained: the last call ended' : 'drain limit reached');
    await close(how === 'idle' ? 'drained' : 'drain limit');
  };

  // the first signal drains (also when the admin call began the drain: a preStop hook that drains, then
  // Kubernetes' SIGTERM); the second takes the fast path; one during the fast path exits at once
  const onSignal = (signal: string): void => {
    signals++;
    if (phase === 'closing') {
      log.warn({ signal }, 'signal during shutdown: exiting now');
      process.exit(1);
    }
    if (signals === 1 && config.limits.drainLimitS > 0) {
      log.info({ signal, sessions: parley?.sessions.active ?? 0, limitS: config.limits.drainLimitS }, 'signal: draining');
      void drained(signal);
      return;
    }
    void close(signals > 1 ? `second signal (${signal})` : signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

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
    // POST /v1/admin/drain: the same drain as SIGTERM, and the process exits when it is over
    built.app.parleyDrain.onStart((source) => {
      void drained(source); // a no-op when a signal began it
    });
    if (phase !== 'running') return;
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
