/**
 * A new engine, added without touching Parley's code: `EngineName` is open, so an embedder registers an
 * engine under its own name (process-wide with registerEngine, or per app through buildApp's deps) and
 * a session opens on it by name and holds a conversation through it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { BUILTIN_ENGINES, EngineRegistry, registerEngine, type Engine, type EngineFactory, type EngineName, type EngineOpenOptions } from '../../server/engines/index.ts';
import type { ClientEvent, ServerEvent } from '../../server/protocol/index.ts';
import type { SessionClient } from '../../server/session/index.ts';

let seq = 0;
const nextId = (p: string): string => `${p}_custom${++seq}`;

/** A minimal GA engine: every user text message is answered with the same text, upper-cased by `shout`. */
function echoEngine(name: EngineName, shout: boolean): EngineFactory {
  return (): Engine => ({
    name,
    open: async (opts: EngineOpenOptions) => {
      const emit = (ev: Record<string, unknown>): void => opts.callbacks.onEvent({ event_id: nextId('evt'), ...ev } as ServerEvent);
      let lastUserText = '';
      queueMicrotask(() => {
        emit({ type: 'session.created', session: opts.session });
        emit({ type: 'conversation.created', conversation: { id: nextId('conv'), object: 'realtime.conversation' } });
      });
      return {
        send(event: ClientEvent): void {
          if (event.type === 'session.update') emit({ type: 'session.updated', session: event['session'] });
          else if (event.type === 'conversation.item.create') {
            const item = { id: nextId('item'), status: 'completed', ...(event['item'] as Record<string, unknown>) };
            const content = (item as { content?: Array<{ text?: string }> }).content;
            lastUserText = content?.[0]?.text ?? '';
            emit({ type: 'conversation.item.added', previous_item_id: null, item });
            emit({ type: 'conversation.item.done', previous_item_id: null, item });
          } else if (event.type === 'response.create') {
            const responseId = nextId('resp');
            const text = `${name} says: ${shout ? lastUserText.toUpperCase() : lastUserText}`;
            const item = { id: nextId('item'), object: 'realtime.item', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text }] };
            emit({ type: 'response.created', response: { id: responseId, object: 'realtime.response', status: 'in_progress', output: [] } });
            emit({ type: 'response.output_item.added', response_id: responseId, output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
            emit({ type: 'response.output_text.delta', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, delta: text });
            emit({ type: 'response.output_text.done', response_id: responseId, item_id: item.id, output_index: 0, content_index: 0, text });
            emit({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item });
            emit({ type: 'conversation.item.done', previous_item_id: null, item });
            emit({ type: 'response.done', response: { id: responseId, object: 'realtime.response', status: 'completed', output: [item] } });
          }
        },
        close(): void {},
      };
    },
  });
}

class Collector implements SessionClient {
  readonly events: ServerEvent[] = [];
  #waiters: Array<{ type: string; n: number; resolve: () => void }> = [];
  send(event: ServerEvent): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.count(w.type) < w.n) return true;
      w.resolve();
      return false;
    });
  }
  close(): void {}
  count(type: string): number {
    return this.events.filter((e) => e.type === type).length;
  }
  until(type: string, n: number): Promise<void> {
    if (this.count(type) >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ type, n, resolve });
      setTimeout(() => reject(new Error(`no ${n}× ${type}: got ${this.events.map((e) => e.type).join(', ')}`)), 5000).unref();
    });
  }
}

function userText(text: string): ClientEvent {
  return { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } };
}

const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: 'pk_test_custom_engine_0123456789', PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent' });
const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

describe('a registered engine', () => {
  it('is opened by name and holds a conversation (registerEngine, process-wide)', async () => {
    registerEngine('shout', echoEngine('shout', true));
    const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
    apps.push(app);
    expect(app.parley.engines.has('shout')).toBe(true);

    const client = new Collector();
    const session = await app.parley.sessions.open({ leg: 'ws', client, engine: 'shout' });
    expect(session.engineName).toBe('shout');
    await client.until('parley.engine', 1);
    expect(client.events.find((e) => e.type === 'parley.engine')).toMatchObject({ engine: 'shout', reason: 'initial' });

    for (const [i, said] of ['hello there', 'what time is it'].entries()) {
      session.handleClientEvent(userText(said));
      session.handleClientEvent({ type: 'response.create' });
      await client.until('response.done', i + 1);
    }
    const replies = client.events.filter((e) => e.type === 'response.done').map((e) => (e['response'] as { output: Array<{ content: Array<{ text: string }> }> }).output[0]!.content[0]!.text);
    expect(replies).toEqual(['shout says: HELLO THERE', 'shout says: WHAT TIME IS IT']);
    // the session kept the whole conversation: two user turns, two agent turns
    expect(session.history.map((it) => (it as { role?: string }).role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    session.close('done');
  });

  it('is opened by name when given to one app only (buildApp deps), and other apps do not have it', async () => {
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), engines: { echo: echoEngine('echo', false) } });
    apps.push(app);
    const client = new Collector();
    const session = await app.parley.sessions.open({ leg: 'ws', client, engine: 'echo' });
    session.handleClientEvent(userText('one'));
    session.handleClientEvent({ type: 'response.create' });
    await client.until('response.done', 1);
    expect(client.events.filter((e) => e.type === 'response.output_text.done').map((e) => e['text'])).toEqual(['echo says: one']);

    const other = new EngineRegistry({ config, log: pino({ level: 'silent' }) });
    expect(other.has('echo')).toBe(false);
    expect(() => other.get('echo')).toThrow(expect.objectContaining({ code: 'ENGINE_UNAVAILABLE' }));
    session.close('done');
  });

  it('leaves the built-in engines all defined', () => {
    expect(Object.entries(BUILTIN_ENGINES).map(([name, f]) => [name, typeof f])).toEqual([
      ['openai', 'function'],
      ['cascade', 'function'],
      ['local', 'function'],
    ]);
  });
});
