/**
 * A Node backend embedding Parley (docs/notes/embedding.md): the voice agent runs in this process,
 * with one tool of ours (the model may look up an order), one session observer (a line per call
 * opened and closed, where a real backend would write its own records) and an incoming-call hook
 * (asked before each call is answered: it tags the call here; a real backend looks the caller up and
 * may pick the agent profile).
 *
 *   npm install && npm run build && PARLEY_API_KEYS=<a key of 16+ characters> npm start
 *
 * Settings come from the environment as for the Parley server (PARLEY_ENGINE, OPENAI_API_KEY, …).
 * It listens on 127.0.0.1 on a free port and prints one JSON line per event; SIGTERM or SIGINT stops
 * it gracefully (live calls may finish for PARLEY_SHUTDOWN_GRACE_MS).
 */
import { createParley, type IncomingCallHook, type SessionObserverFactory, type ToolDefinition } from 'parley';

const print = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n');
};

/** A server-side tool: Parley offers it to every session and runs it here when the model calls it. */
const orderStatus: ToolDefinition = {
  name: 'get_order_status',
  description: 'Looks up an order by its number and tells where it is.',
  parameters: {
    type: 'object',
    properties: { order_number: { type: 'string', description: 'The order number, e.g. A-1042' } },
    required: ['order_number'],
  },
  timeoutMs: 2000,
  handler: (args, ctx) => {
    const { order_number } = args as { order_number: string };
    ctx.log.info({ order_number }, 'order looked up');
    return { order_number, status: 'shipped', arriving_in_days: 2 };
  },
};

/** A session observer: called synchronously on the session's path, so it only prints (never blocks). */
const callLog: SessionObserverFactory = () => ({
  opened: (info, engine) => print({ event: 'call.opened', id: info.id, leg: info.leg, engine, metadata: info.metadata }),
  toolCall: (r) => print({ event: 'call.tool', name: r.name, ok: r.ok, durationMs: r.durationMs }),
  closed: (info, end) => print({ event: 'call.closed', id: info.id, endReason: end.endReason, durationMs: end.durationMs }),
});

/** Before a call is answered (SIP: before the 200 OK; WS: before the upgrade); null = no opinion. */
const onIncomingCall: IncomingCallHook = (facts) => ({ metadata: { tagged_by: 'embed-basic', door: facts.door } });

const parley = await createParley({
  env: process.env,
  tools: [orderStatus],
  observers: [callLog],
  onIncomingCall,
  sip: false,
});
const { port, realtimeUrl } = await parley.listen({ host: '127.0.0.1', port: 0 });
print({ event: 'listening', port, realtimeUrl, engine: parley.config.engine });
if (parley.generatedApiKey !== null) print({ event: 'api_key', note: 'no PARLEY_API_KEYS set; this run made one', key: parley.generatedApiKey });

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  print({ event: 'stopping', signal, activeCalls: parley.sessions.active });
  parley.close().then(
    () => print({ event: 'stopped' }), // nothing is left running: the process exits by itself
    (err: unknown) => {
      print({ event: 'stop_failed', error: String(err) });
      process.exitCode = 1;
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
