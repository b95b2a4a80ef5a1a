/**
 * Parley's metrics on prom-client (the standard Prometheus client for Node): its Registry renders
 * /metrics (exposition format 0.0.4: names, HELP/TYPE, label escaping, histogram buckets).
 *
 * Counters are counted here and handed to prom-client when /metrics is scraped (its `collect` hook):
 * an increment is one Map update keyed by the raw label values (one label: the value itself, so it
 * allocates nothing). prom-client's own `inc(labels)` hashes and validates the labels object on every
 * call, about 10× the cost, and the per-event counters (client and server events by type) run on every
 * audio frame of every session. Gauges hold a value or read a function at scrape time; histograms
 * observe straight into prom-client (tool calls: not per frame).
 */
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry, prometheusContentType, type Metric as PromMetric } from 'prom-client';

type Labels = Record<string, string>;

const SEP = '\u0001';

function keyOf(labelValues: readonly string[]): string {
  return labelValues.length === 0 ? '' : labelValues.length === 1 ? labelValues[0]! : labelValues.join(SEP);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** The prom-client metric that renders this one (registered by Metrics). */
  abstract readonly prom: PromMetric;
  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }
}

/** A counter: `inc(...labelValues)` in labelNames order. */
export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  readonly prom: PromCounter;
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    this.prom = new PromCounter({ name, help, labelNames, registers: [], collect: () => this.#publish() });
  }
  /** One increment of a single-label counter (per-event counters: no rest array on the hot path). */
  incOne(labelValue: string): void {
    this.#values.set(labelValue, (this.#values.get(labelValue) ?? 0) + 1);
  }
  /** Label values in labelNames order. */
  inc(...labelValues: string[]): void {
    this.add(1, ...labelValues);
  }
  add(n: number, ...labelValues: string[]): void {
    const key = keyOf(labelValues);
    this.#values.set(key, (this.#values.get(key) ?? 0) + n);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(this.labelNames.map((n) => labels[n] ?? ''))) ?? 0;
  }
  /** At scrape time: the counts so far become prom-client's values. */
  #publish(): void {
    this.prom.reset();
    const names = this.labelNames;
    for (const [key, v] of this.#values) {
      if (names.length === 0) {
        this.prom.inc(v);
        continue;
      }
      const values = names.length === 1 ? [key] : key.split(SEP);
      const labels: Labels = {};
      for (let i = 0; i < names.length; i++) labels[names[i]!] = values[i] ?? '';
      this.prom.inc(labels, v);
    }
  }
}

/** A gauge without labels: set/inc/dec, or a function read at scrape time (`collect`). */
export class Gauge extends Metric {
  #value = 0;
  #collect: (() => number) | null = null;
  readonly prom: PromGauge;
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames);
    this.prom = new PromGauge({ name, help, registers: [], collect: () => this.prom.set(this.get()) });
  }
  set(v: number): void {
    this.#value = v;
  }
  inc(n = 1): void {
    this.#value += n;
  }
  dec(n = 1): void {
    this.#value -= n;
  }
  /** Read the value from a function at scrape time. */
  collect(fn: () => number): void {
    this.#collect = fn;
  }
  get(): number {
    return this.#collect ? this.#collect() : this.#value;
  }
}

export class Histogram extends Metric {
  readonly buckets: readonly number[];
  readonly prom: PromHistogram;
  readonly #counts = new Map<string, number>();
  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = buckets;
    this.prom = new PromHistogram({ name, help, labelNames, buckets: [...buckets], registers: [] });
  }
  /** Label values in labelNames order. */
  observe(value: number, ...labelValues: string[]): void {
    const key = keyOf(labelValues);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    if (labelValues.length === 0) {
      this.prom.observe(value);
      return;
    }
    const labels: Labels = {};
    for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = labelValues[i] ?? '';
    this.prom.observe(labels, value);
  }
  count(labels: Labels = {}): number {
    return this.#counts.get(keyOf(this.labelNames.map((n) => labels[n] ?? ''))) ?? 0;
  }
}

/** Parley's metrics. One per app. */
export class Metrics {
  /** The prom-client registry behind /metrics (one per app, not prom-client's global one). */
  readonly registry = new Registry();
  /** Content type of render()'s text (Prometheus text format 0.0.4). */
  readonly contentType: string = prometheusContentType;

  readonly sessionsActive = this.register(new Gauge('parley_sessions_active', 'Sessions open now', []));
  readonly sessionsTotal = this.register(new Counter('parley_sessions_total', 'Sessions opened, by door (leg) and engine', ['leg', 'engine']));
  readonly upstreamErrors = this.register(new Counter('parley_upstream_errors_total', 'Engine/upstream errors, by engine and code', ['engine', 'code']));
  readonly eventsIn = this.register(new Counter('parley_client_events_total', 'Client events received, by type', ['type']));
  readonly eventsOut = this.register(new Counter('parley_server_events_total', 'Server events sent to clients, by type', ['type']));
  readonly invalidEvents = this.register(new Counter('parley_invalid_client_events_total', 'Client events rejected, by error code', ['code']));
  readonly toolCalls = this.register(new Counter('parley_tool_calls_total', 'Server tool calls, by tool and outcome', ['tool', 'outcome']));
  readonly toolLatency = this.register(new Histogram('parley_tool_call_duration_seconds', 'Server tool call duration', ['tool'], [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]));
  readonly engineSwitches = this.register(new Counter('parley_engine_switches_total', 'Engine changes inside a session (fallback, rotation)', ['from', 'to', 'reason']));
  readonly authFailures = this.register(new Counter('parley_auth_failures_total', 'Rejected connections/requests, by reason', ['reason']));
  readonly clientSecretsMinted = this.register(new Counter('parley_client_secrets_total', 'Ephemeral keys minted', []));
  readonly backpressurePauses = this.register(new Counter('parley_backpressure_pauses_total', 'Relay pauses because one side could not keep up, by the side that was slow', ['slow']));
  readonly upstreamRetries = this.register(
    new Counter(
      'parley_upstream_retries_total',
      'Upstream retries before a fallback, by engine, reason (server_error: 5xx/408/409/425 at connect, rate_limit: 429, network: connect failed, drop: reconnect after a mid-call drop) and outcome (ok: the retry connected, failed: it did not, too_long: the upstream asked for a wait above PARLEY_OPENAI_RETRY_MAX_WAIT_MS, so no retry)',
      ['engine', 'reason', 'outcome'],
    ),
  );

  /** Add a metric of another module (e.g. SIP); it is rendered at /metrics. A metric of the same name is replaced. */
  register<M extends Metric>(m: M): M {
    if (this.registry.getSingleMetric(m.name)) this.registry.removeSingleMetric(m.name);
    this.registry.registerMetric(m.prom);
    return m;
  }

  /** The Prometheus text of every metric (what /metrics serves). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
