/**
 * A small Prometheus text-format registry (exposition format 0.0.4): counters, gauges and
 * histograms with labels. Increments are a Map lookup: cheap enough for per-event counters.
 */

type Labels = Record<string, string>;

function labelKey(names: readonly string[], values: readonly string[]): string {
  let s = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) s += ',';
    s += `${names[i]}="${String(values[i] ?? '').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  }
  return s;
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }
  abstract render(): string;
}

const SEP = '\u0001';

/**
 * A counter. Series are keyed by the raw label values (one label: the value itself, so an
 * increment allocates nothing); label escaping happens only when rendering.
 */
export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  /** Label values in labelNames order. */
  inc(...labelValues: string[]): void {
    this.add(1, ...labelValues);
  }
  add(n: number, ...labelValues: string[]): void {
    const key = labelValues.length === 0 ? '' : labelValues.length === 1 ? labelValues[0]! : labelValues.join(SEP);
    this.#values.set(key, (this.#values.get(key) ?? 0) + n);
  }
  get(labels: Labels = {}): number {
    const vals = this.labelNames.map((n) => labels[n] ?? '');
    return this.#values.get(vals.length === 1 ? vals[0]! : vals.join(SEP)) ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.#values.size === 0 && this.labelNames.length === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.#values) {
      out += this.labelNames.length === 0 ? `${this.name} ${v}\n` : `${this.name}{${labelKey(this.labelNames, k.split(SEP))}} ${v}\n`;
    }
    return out;
  }
}

export class Gauge extends Metric {
  #value = 0;
  #collect: (() => number) | null = null;
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
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.get()}\n`;
  }
}

export class Histogram extends Metric {
  readonly buckets: readonly number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = buckets;
  }
  observe(value: number, ...labelValues: string[]): void {
    const key = labelKey(this.labelNames, labelValues);
    let s = this.#series.get(key);
    if (!s) {
      s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.#series.get(labelKey(this.labelNames, this.labelNames.map((n) => labels[n] ?? '')))?.count ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const [k, s] of this.#series) {
      const sep = k === '' ? '' : `${k},`;
      this.buckets.forEach((b, i) => {
        out += `${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket{${sep}le="+Inf"} ${s.count}\n`;
      const lbl = k === '' ? '' : `{${k}}`;
      out += `${this.name}_sum${lbl} ${s.sum}\n${this.name}_count${lbl} ${s.count}\n`;
    }
    return out;
  }
}

/** Parley's metrics. One per app. */
export class Metrics {
  readonly sessionsActive = new Gauge('parley_sessions_active', 'Sessions open now', []);
  readonly sessionsTotal = new Counter('parley_sessions_total', 'Sessions opened, by door (leg) and engine', ['leg', 'engine']);
  readonly upstreamErrors = new Counter('parley_upstream_errors_total', 'Engine/upstream errors, by engine and code', ['engine', 'code']);
  readonly eventsIn = new Counter('parley_client_events_total', 'Client events received, by type', ['type']);
  readonly eventsOut = new Counter('parley_server_events_total', 'Server events sent to clients, by type', ['type']);
  readonly invalidEvents = new Counter('parley_invalid_client_events_total', 'Client events rejected, by error code', ['code']);
  readonly toolCalls = new Counter('parley_tool_calls_total', 'Server tool calls, by tool and outcome', ['tool', 'outcome']);
  readonly toolLatency = new Histogram('parley_tool_call_duration_seconds', 'Server tool call duration', ['tool'], [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  readonly engineSwitches = new Counter('parley_engine_switches_total', 'Engine changes inside a session (fallback, rotation)', ['from', 'to', 'reason']);
  readonly authFailures = new Counter('parley_auth_failures_total', 'Rejected connections/requests, by reason', ['reason']);
  readonly clientSecretsMinted = new Counter('parley_client_secrets_total', 'Ephemeral keys minted', []);
  readonly backpressurePauses = new Counter('parley_backpressure_pauses_total', 'Relay pauses because one side could not keep up, by the side that was slow', ['slow']);

  readonly #all: Metric[] = [
    this.sessionsActive,
    this.sessionsTotal,
    this.upstreamErrors,
    this.eventsIn,
    this.eventsOut,
    this.invalidEvents,
    this.toolCalls,
    this.toolLatency,
    this.engineSwitches,
    this.authFailures,
    this.clientSecretsMinted,
    this.backpressurePauses,
  ];

  /** Add a metric of another module (e.g. SIP); it is rendered at /metrics. */
  register<M extends Metric>(m: M): M {
    this.#all.push(m);
    return m;
  }

  render(): string {
    return this.#all.map((m) => m.render()).join('');
  }
}
