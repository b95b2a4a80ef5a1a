/**
 * Chaos part 4: upstream faults. Clients hold text conversations on the `openai` engine (the fake
 * upstream, test/fakes/fake-openai.ts) while a fault loop hits that upstream at random: connections
 * refused with 429 or 500, every socket dropped (mid-response too: replies stream slowly), the
 * 60-minute close (`session_expired`, 1001) after the next turn; and sessions rotate on their own
 * (PARLEY_OPENAI_ROTATE_AFTER_MS). A second fake stands in for the fallback engine. Every session must
 * keep conversing: each turn ends in a completed response within a few attempts (a response cut by a
 * switch ends failed, and is asked again), no request is left without an answer, nothing comes back as
 * server_error, no socket is closed on the client. Without a fallback engine the same faults end
 * sessions cleanly (an error, a close) and leave nothing open.
 * After each: /healthz 200, parley_sessions_active 0 over /metrics, every upstream socket closed, fds
 * back to the start, RSS bounded. Reproduce with CHAOS_SEED=<seed>.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/index.ts';
import { OpenAIEngine } from '../../server/engines/openai/index.ts';
import type { Engine, EngineConnection, EngineOpenOptions } from '../../server/engines/index.ts';
import { EngineError } from '../../server/errors.ts';
import { startParley, TEST_KEY, type Parley } from '../component/helpers.ts';
import { FuzzClient } from './fuzz-client.ts';
import { PartProbe, Rng, SCALE, chaosEngine, chaosSeed, eventually, gaugesToZero, healthz, scaled, sleep } from './harness.ts';

const SEED = chaosSeed();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** The second fake behind the fallback seam (named `cascade`, as upstream-lifecycle.test.ts does). */
function asCascade(fake: FakeOpenAI): Engine {
  const inner = new OpenAIEngine({ apiKey: fake.apiKey, baseUrl: fake.baseUrl, connectTimeoutMs: 2000, highWaterBytes: 1 << 20 });
  return { name: 'cascade', open: (o) => inner.open(o) };
}

type Fault = 'refuse-429' | 'refuse-500' | 'drop' | 'expire' | 'none';
const FAULTS: ReadonlyArray<readonly [number, Fault]> = [[2, 'refuse-429'], [2, 'refuse-500'], [3, 'drop'], [2, 'expire'], [2, 'none']];

/** Hits the upstream every 80–250 ms until stopped; returns the tally. */
function faultLoop(r: Rng, fake: FakeOpenAI): { stop(): Promise<Map<Fault, number>> } {
  const tally = new Map<Fault, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const f = r.weighted(FAULTS);
      tally.set(f, (tally.get(f) ?? 0) + 1);
      if (f === 'refuse-429' || f === 'refuse-500') {
        fake.refuseWith(f === 'refuse-429' ? 429 : 500);
        await sleep(r.range(50, 250));
        fake.refuseWith(null);
      } else if (f === 'drop') fake.dropAll();
      else if (f === 'expire') {
        fake.closeAfterTurns = 1;
        await sleep(r.range(50, 200));
        fake.closeAfterTurns = null;
      }
      await sleep(r.range(80, 250));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      fake.refuseWith(null);
      fake.closeAfterTurns = null;
      return tally;
    },
  };
}

interface ConvStats {
  turns: number;
  attempts: number;
  failedResponses: number;
  switches: Map<string, number>;
  errorCodes: Map<string, number>;
  problems: string[];
  /** Turns whose request was lost in an engine switch (the known defect), asked again. */
  lostAcrossSwitch: number;
  /** Sessions whose first session object came as session.updated (the known defect). */
  noSessionCreated: number;
}

/** How long a response.create may go unanswered (the fake's replies take ~150 ms). */
const ANSWER_MS = 4000;

/** One client: connect, `turns` text turns (each retried up to 4 times when its response is cut), leave. */
async function converse(parley: Parley, r: Rng, turns: number, tag: string, st: ConvStats): Promise<void> {
  const c = new FuzzClient(parley.wsUrl, TEST_KEY);
  try {
    try {
      await c.opened;
      const first = await c.waitFor((e) => e.type === 'session.created' || e.type === 'session.updated', 10_000, 'session.created');
      // GA: session.created comes first, even when the first upstream dropped before sending its own
      if (first.type !== 'session.created') {
        st.noSessionCreated++;
        st.problems.push(`${tag}: the first session event was ${first.type}, not session.created`);
      }
    } catch (err) {
      st.problems.push(`${tag}: ${(err as Error).message}`);
      return;
    }
    for (let t = 0; t < turns; t++) {
      const text = `turn ${tag} ${t}`;
      let ok = false;
      let sendItem = true;
      for (let attempt = 0; attempt < 4 && !ok; attempt++) {
        st.attempts++;
        const id = `rc_${tag}_${t}_${attempt}`;
        // a response.create gets a response.done or an error naming it; never silence
        const answer = c.next((e) => e.type === 'response.done' || (e.type === 'error' && (e['error'] as Record<string, unknown>)['event_id'] === id), ANSWER_MS, `an answer to ${id}`);
        const switchesBefore = c.count('parley.engine');
        if (sendItem) c.sendJson({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
        sendItem = false;
        c.sendJson({ type: 'response.create', event_id: id });
        let ev: Record<string, unknown>;
        try {
          ev = await answer;
        } catch (err) {
          // a response.create in flight when the upstream drops goes to the next engine: it is always answered
          if (c.count('parley.engine') > switchesBefore && !c.closed) st.lostAcrossSwitch++;
          st.problems.push(`${tag}: ${(err as Error).message}`);
          return;
        }
        const resp = ev['response'] as { status?: string } | undefined;
        if (ev['type'] === 'response.done' && resp?.status === 'completed') ok = true;
        else if (ev['type'] === 'response.done') st.failedResponses++;
        else await sleep(50); // an error (e.g. a response already active on the new engine): ask again
      }
      if (!ok) {
        st.problems.push(`${tag}: turn ${t} never completed in 4 attempts`);
        return;
      }
      st.turns++;
      await sleep(r.range(0, 120));
    }
    if (c.closed) st.problems.push(`${tag}: closed by the server (${c.closed.code} ${c.closed.reason})`);
    // a response cut by an engine switch ends `failed` with server_error engine_changed (server/session/session.ts): expected here
    for (const e of c.serverErrors) if (e['code'] !== 'engine_changed') st.problems.push(`${tag}: server_error ${JSON.stringify(e).slice(0, 200)}`);
  } finally {
    for (const [k, n] of c.counts) if (k === 'parley.engine') st.switches.set('engine events', (st.switches.get('engine events') ?? 0) + n);
    for (const errs of c.errorsById.values()) for (const e of errs) st.errorCodes.set(String(e['code']), (st.errorCodes.get(String(e['code'])) ?? 0) + 1);
    c.close();
  }
}

async function settle(parley: Parley, fakes: FakeOpenAI[], probe: PartProbe): Promise<number> {
  expect(await healthz(parley.httpUrl)).toBe(200);
  const g = await gaugesToZero(parley.httpUrl, ['parley_sessions_active'], 8000);
  expect(g, `sessions left open (seed ${SEED})`).toEqual({ parley_sessions_active: 0 });
  const closed = await eventually(() => fakes.every((f) => f.open === 0), 5000);
  expect(closed, `upstream sockets left open: ${fakes.map((f) => f.open).join(', ')} (seed ${SEED})`).toBe(true);
  return probe.settleFds(0, 8000);
}

describe('chaos: upstream faults', () => {
  it(`${Math.round(40 * SCALE)} turns on 4 clients at a time while the upstream refuses, drops, expires and rotates; every session keeps conversing`, async () => {
    // replies of 8 × 100 ms deltas, 15 ms apart: a drop often lands mid-response
    const fake = await new FakeOpenAI({ replyAudioMs: 800, deltaIntervalMs: 15 }).start();
    const second = await new FakeOpenAI({ replyAudioMs: 300 }).start();
    cleanups.push(() => fake.stop(), () => second.stop());
    const parley = await startParley({
      fake,
      env: { PARLEY_FALLBACK_ENGINE: 'cascade', PARLEY_OPENAI_ROTATE_AFTER_MS: '400', PARLEY_WS_PING_INTERVAL_MS: '0' },
      deps: { engines: { cascade: () => asCascade(second) } },
    });
    cleanups.push(() => parley.close());
    // warm-up, then the baseline
    const warm: ConvStats = { turns: 0, attempts: 0, failedResponses: 0, switches: new Map(), errorCodes: new Map(), problems: [], lostAcrossSwitch: 0, noSessionCreated: 0 };
    await converse(parley, new Rng(1), 1, 'warm', warm);
    expect(warm.problems).toEqual([]);
    await eventually(() => parley.app.parley.sessions.active === 0 && fake.open === 0, 5000);
    await sleep(200);
    const probe = new PartProbe('upstream-faults', SEED);
    const r = new Rng(SEED);
    const st: ConvStats = { turns: 0, attempts: 0, failedResponses: 0, switches: new Map(), errorCodes: new Map(), problems: [], lostAcrossSwitch: 0, noSessionCreated: 0 };
    const target = Math.round(40 * SCALE);
    const faults = faultLoop(new Rng(SEED ^ 0xfa17), fake);
    let sessions = 0;
    const worker = async (w: number): Promise<void> => {
      while (st.turns < target && st.problems.length === 0) {
        sessions++;
        await converse(parley, r, r.range(2, 5), `w${w}s${sessions}`, st);
      }
    };
    let tally: Map<Fault, number>;
    try {
      await Promise.all([0, 1, 2, 3].map(worker));
    } finally {
      tally = await faults.stop();
    }
    probe.events = st.attempts;
    probe.errors = [...st.errorCodes.values()].reduce((a, b) => a + b, 0);
    const m = parley.app.parley.metrics;
    const fallbacks = m.engineSwitches.get({ from: 'openai', to: 'cascade', reason: 'fallback' });
    const rotations = m.engineSwitches.get({ from: 'openai', to: 'openai', reason: 'rotation' });
    const fds = await settle(parley, [fake, second], probe);
    const f = probe.finish(
      `sessions=${sessions} turns=${st.turns} failed-responses=${st.failedResponses} lost-in-switch=${st.lostAcrossSwitch} no-session.created=${st.noSessionCreated} fallbacks=${fallbacks} rotations=${rotations} ` +
        `faults ${[...tally].map(([k, n]) => `${k}:${n}`).join(' ')} errors ${[...st.errorCodes].map(([k, n]) => `${k}:${n}`).join(' ') || 'none'}`,
    );
    expect(st.problems, `CHAOS_SEED=${SEED}`).toEqual([]);
    expect(st.turns).toBeGreaterThanOrEqual(target);
    expect(fallbacks + rotations, 'the faults did move sessions').toBeGreaterThan(0);
    expect(fake.violations.concat(second.violations), `the upstreams saw invalid events (seed ${SEED})`).toEqual([]);
    expect(fds, `open fds: ${probe.fdsStart} at the start (seed ${SEED})`).toBeLessThanOrEqual(probe.fdsStart);
    expect(f.rssEnd - f.rssStart).toBeLessThan(150);
  }, scaled(120_000));

  // Found by the chaos loop above: a response.create in flight when the upstream dropped was lost (no
  // response.done, no error). Fixed in server/session/session.ts: the next engine gets what never started.
  it('a response.create in flight when the engine drops is answered after the fallback', async () => {
    const fallback = chaosEngine();
    const dropping: Engine = {
      name: 'local',
      open: async (o: EngineOpenOptions): Promise<EngineConnection> => {
        let gone = false;
        queueMicrotask(() => {
          o.callbacks.onEvent({ type: 'session.created', event_id: 'evt_drop_1', session: o.session });
          o.callbacks.onEvent({ type: 'conversation.created', event_id: 'evt_drop_2', conversation: { id: 'conv_drop' } });
        });
        return {
          send(ev) {
            // the upstream takes the request, then its socket drops before it answers
            if (ev.type === 'response.create' && !gone) {
              gone = true;
              setTimeout(() => o.callbacks.onClose({ code: 1006, reason: 'dropped', error: new EngineError('ENGINE_DROPPED', 'The realtime upstream closed the connection (1006).', { retryable: true, fallbackable: true }) }), 20);
            }
          },
          close() {},
        };
      },
    };
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_FALLBACK_ENGINE: 'cascade' }, deps: { engines: { local: () => dropping, cascade: () => ({ name: 'cascade', open: (o) => fallback.factory().open(o) }) } } });
    cleanups.push(() => parley.close());
    const c = new FuzzClient(parley.wsUrl, TEST_KEY);
    cleanups.push(() => c.close());
    await c.opened;
    await c.seen('session.created', 5000);
    c.sendJson({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
    c.sendJson({ type: 'response.create', event_id: 'in_flight' });
    await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'fallback', 3000, 'the fallback');
    const answer = await c
      .waitFor((e) => e.type === 'response.done' || (e.type === 'error' && (e['error'] as Record<string, unknown>)['event_id'] === 'in_flight'), 2000, 'an answer to the response.create in flight')
      .catch(() => null);
    expect(answer).not.toBeNull();
  });

  // Found by the chaos loop above at CHAOS_SCALE=10: an upstream that dropped after its socket opened but before
  // its session.created left the client without any session.created. Fixed in server/session/engine-link.ts.
  it('an engine that drops before its session.created: the client still gets session.created first', async () => {
    const fallback = chaosEngine();
    const dropping: Engine = {
      name: 'local',
      open: async (o: EngineOpenOptions): Promise<EngineConnection> => {
        // the socket is open; the upstream goes away before it says session.created
        setTimeout(() => o.callbacks.onClose({ code: 1006, reason: 'dropped', error: new EngineError('ENGINE_DROPPED', 'The realtime upstream closed the connection (1006).', { retryable: true, fallbackable: true }) }), 20);
        return { send() {}, close() {} };
      },
    };
    const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_FALLBACK_ENGINE: 'cascade' }, deps: { engines: { local: () => dropping, cascade: () => ({ name: 'cascade', open: (o) => fallback.factory().open(o) }) } } });
    cleanups.push(() => parley.close());
    const c = new FuzzClient(parley.wsUrl, TEST_KEY);
    cleanups.push(() => c.close());
    await c.opened;
    // the fallback engine's session object comes, one way or the other
    await c.waitFor((e) => e.type === 'session.created' || e.type === 'session.updated', 3000, 'a session object');
    await sleep(200);
    expect(c.recent[0]?.type, `first event: ${c.tail.slice(0, 3).join(' | ')}`).toBe('session.created');
  });

  it('without a fallback engine: refusals end sessions cleanly (an error, a close), a first drop reconnects and a second ends the session, the 60-minute close rotates; nothing left open', async () => {
    const fake = await new FakeOpenAI({ replyAudioMs: 800, deltaIntervalMs: 15 }).start();
    cleanups.push(() => fake.stop());
    const parley = await startParley({ fake, env: { PARLEY_FALLBACK_ENGINE: 'none', PARLEY_WS_PING_INTERVAL_MS: '0' } });
    cleanups.push(() => parley.close());
    const probe = new PartProbe('upstream-faults/no-fallback', SEED);
    const r = new Rng(SEED ^ 0xbad);
    const ends = new Map<string, number>();
    const rounds = Math.round(24 * SCALE);
    for (let i = 0; i < rounds; i += 4) {
      const fault = r.pick(['refuse-429', 'refuse-500', 'drop', 'drop-mid', 'expire'] as const);
      const tRound = Date.now();
      if (fault === 'refuse-429') fake.refuseWith(429);
      if (fault === 'refuse-500') fake.refuseWith(500);
      if (fault === 'expire') fake.closeAfterTurns = 1;
      const clients = Array.from({ length: 4 }, () => new FuzzClient(parley.wsUrl, TEST_KEY));
      for (const c of clients) cleanups.push(() => c.close());
      await Promise.all(clients.map((c) => c.opened));
      await Promise.all(clients.map((c) => Promise.race([c.seen('session.created', 5000), c.next((e) => e.type === 'error', 5000, 'error')]).catch(() => undefined)));
      if (!fault.startsWith('refuse')) for (const c of clients) c.sendJson({ type: 'response.create' });
      if (fault === 'drop-mid') await eventually(() => clients.every((c) => c.count('response.output_audio.delta') > 0 || c.closed !== null), 3000);
      if (fault.startsWith('drop')) {
        // the first drop in a minute reconnects to the upstream (PARLEY_OPENAI_RETRIES, default 1): the call goes on
        fake.dropAll();
        for (const c of clients) {
          await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'rotation', 5000, 'the reconnect after a drop');
          expect(c.closed, `${fault}: the client was closed at the first drop (seed ${SEED})`).toBeNull();
        }
        // the second one ends the session: no fallback engine
        if (fault === 'drop-mid') {
          for (const c of clients) c.sendJson({ type: 'response.create' });
          await eventually(() => clients.every((c) => c.count('response.output_audio.delta') > 8 || c.closed !== null), 3000);
        }
        fake.dropAll();
      }
      probe.events += 4;
      if (fault === 'expire') {
        // the 60-minute close rotates to a fresh upstream session whatever the fallback setting: the call goes on
        for (const c of clients) {
          await c.waitFor((e) => e.type === 'parley.engine' && e['reason'] === 'rotation', 5000, 'rotation');
          expect(c.closed, `expire: the client was closed (seed ${SEED})`).toBeNull();
          ends.set('expire→rotated', (ends.get('expire→rotated') ?? 0) + 1);
          c.close();
        }
        fake.closeAfterTurns = null;
        if (process.env['CHAOS_DEBUG']) process.stdout.write(`round ${fault} ${Date.now() - tRound} ms\n`);
        continue;
      }
      for (const c of clients) {
        await eventually(() => c.closed !== null, 5000);
        const key = `${fault}→${c.closed?.code ?? 'open'}`;
        ends.set(key, (ends.get(key) ?? 0) + 1);
        expect(c.closed, `${fault}: the client was not closed (seed ${SEED})`).not.toBeNull();
        expect(c.closed!.code, `${fault}: close code`).toBe(fault.startsWith('refuse') ? 1013 : 1011);
        expect(c.errorsNoId, `${fault}: an error event before the close`).toBeGreaterThan(0);
        probe.errors += c.errorsTotal;
      }
      fake.refuseWith(null);
      fake.closeAfterTurns = null;
      if (process.env['CHAOS_DEBUG']) process.stdout.write(`round ${fault} ${Date.now() - tRound} ms\n`);
    }
    const fds = await settle(parley, [fake], probe);
    probe.finish(`ends ${[...ends].map(([k, n]) => `${k}:${n}`).join(' ')}`);
    expect(fds).toBeLessThanOrEqual(probe.fdsStart);
  }, scaled(60_000));
});
