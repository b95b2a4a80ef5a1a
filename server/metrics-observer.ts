/**
 * The session metrics, kept by a session observer (server/session/observer.ts): the session itself
 * knows nothing of Prometheus. Names and labels as documented in the README.
 */
import type { Metrics } from './metrics.ts';
import type { SessionObserver, SessionObserverFactory } from './session/index.ts';

export function metricsObserver(metrics: Metrics): SessionObserverFactory {
  return (): SessionObserver => ({
    clientEvent(ev) {
      metrics.eventsIn.incOne(ev.type);
    },
    serverEvent(ev) {
      metrics.eventsOut.incOne(ev.type === 'parley.passthrough' ? ev.event.type : ev.type);
    },
    toolCall(r) {
      metrics.toolCalls.inc(r.name, r.ok ? 'ok' : (r.errorCode ?? 'error').toLowerCase());
      metrics.toolLatency.observe(r.durationMs / 1000, r.name);
    },
    engineSwitch(r) {
      metrics.engineSwitches.inc(r.from, r.to, r.reason);
    },
    engineError(r) {
      metrics.upstreamErrors.inc(r.engine, r.code);
    },
    backpressure(slow) {
      metrics.backpressurePauses.inc(slow);
    },
  });
}
