import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { AdmissionGate, CapacityError, admitOrThrow, admitSession } from '../../../server/engines/index.ts';
import type { Engine } from '../../../server/engines/index.ts';
import { FINALS_BUDGET_MS, LocalEngine, PRIOR_COST, STT_CORE_SHARE, localCapacity, sessionsPerWorker } from '../../../server/engines/local/index.ts';
import type { CascadeStages } from '../../../server/engines/cascade/index.ts';
import { DemoAgent } from '../../../server/agent/index.ts';

describe('AdmissionGate (engine capacity)', () => {
  it('admits up to max, counting admitted callers until their connection opens or they release', () => {
    const gate = new AdmissionGate({ max: 2, retryAfterS: 5, label: 'test engine' });
    const a = gate.admit();
    const b = gate.admit();
    expect(a.ok && b.ok).toBe(true);
    expect(gate.capacity()).toEqual({ active: 0, reserved: 2, max: 2 });
    const refused = gate.admit();
    expect(refused).toMatchObject({ ok: false, code: 'engine_at_capacity', retryAfterS: 5 });
    if (!refused.ok) expect(refused.reason).toMatch(/test engine is at capacity \(2 sessions\)/);
    // a's connection opens: it takes a reservation, the count stays 2
    const leaveA = gate.enter();
    expect(gate.capacity()).toEqual({ active: 1, reserved: 1, max: 2 });
    if (a.ok) a.release(); // after its open: nothing left to release, b's slot is untouched
    expect(gate.capacity()).toEqual({ active: 1, reserved: 1, max: 2 });
    if (b.ok) { b.release(); b.release(); } // b's open failed before the engine: its slot frees (once)
    expect(gate.capacity()).toEqual({ active: 1, reserved: 0, max: 2 });
    leaveA(); leaveA();
    expect(gate.capacity()).toEqual({ active: 0, reserved: 0, max: 2 });
  });

  it('connections opened without admission (fallback, direct open) count against the limit', () => {
    const gate = new AdmissionGate({ max: 1, retryAfterS: 3, label: 'x' });
    const leave = gate.enter();
    expect(gate.admit().ok).toBe(false);
    leave();
    expect(gate.admit().ok).toBe(true);
  });

  it('a reservation whose connection never comes expires', () => {
    let now = 1_000;
    const gate = new AdmissionGate({ max: 1, retryAfterS: 3, label: 'x', reservationTtlMs: 30_000, now: () => now });
    expect(gate.admit().ok).toBe(true);
    expect(gate.admit().ok).toBe(false);
    now += 30_000;
    expect(gate.admit().ok).toBe(true);
  });

  it('max 0 or null: no limit', () => {
    for (const max of [0, null]) {
      const gate = new AdmissionGate({ max, retryAfterS: 3, label: 'x' });
      for (let i = 0; i < 100; i++) { expect(gate.admit().ok).toBe(true); gate.enter(); }
      expect(gate.capacity().max).toBeNull();
    }
  });

  it('admitSession asks the engine; engines without admission control and unknown engines are admitted', () => {
    const stages: CascadeStages = { stt: { name: 'none', open: () => { throw new Error('unused'); } }, chat: new DemoAgent(), tts: { name: 'none', async *synthesize() { /* none */ } } };
    const local = new LocalEngine({ stages, maxSessions: 1, retryAfterS: 9, log: pino({ level: 'silent' }) });
    const plain: Engine = { name: 'openai', open: () => Promise.reject(new Error('unused')) };
    const engines = { get: (name: string): Engine => { if (name === 'local') return local; if (name === 'openai') return plain; throw new Error('not registered'); } };
    expect(admitSession(engines, 'openai').ok).toBe(true);
    expect(admitSession(engines, 'cascade').ok).toBe(true);
    const first = admitSession(engines, 'local');
    expect(first.ok).toBe(true);
    expect(local.capacity()).toEqual({ active: 0, reserved: 1, max: 1 });
    expect(admitSession(engines, 'local')).toMatchObject({ ok: false, retryAfterS: 9 });
    let thrown: unknown;
    try { admitOrThrow(engines, 'local'); } catch (err) { thrown = err; }
    expect(thrown).toBeInstanceOf(CapacityError);
    expect(thrown).toMatchObject({ code: 'ENGINE_AT_CAPACITY', retryable: true, retryAfterS: 9 });
    if (first.ok) first.release();
    expect(admitOrThrow(engines, 'local')).toHaveProperty('release');
  });

  it('the local engine counts its open connections: a closed connection frees its slot', async () => {
    const stages: CascadeStages = { stt: { name: 'none', open: () => { throw new Error('unused'); } }, chat: new DemoAgent(), tts: { name: 'none', async *synthesize() { /* none */ } } };
    const local = new LocalEngine({ stages, vad: 'energy', maxSessions: 2, retryAfterS: 4, log: pino({ level: 'silent' }) });
    const callbacks = { onEvent: () => undefined, onClose: () => undefined };
    const opts = { session: { type: 'realtime' }, log: pino({ level: 'silent' }), callbacks } as unknown as Parameters<LocalEngine['open']>[0];
    const ticket = local.admit();
    expect(ticket.ok).toBe(true);
    const a = await local.open(opts);
    const b = await local.open(opts);
    expect(local.capacity()).toEqual({ active: 2, reserved: 0, max: 2 });
    expect(local.admit()).toMatchObject({ ok: false, retryAfterS: 4 });
    a.close(); a.close();
    expect(local.capacity()).toEqual({ active: 1, reserved: 0, max: 2 });
    expect(local.admit().ok).toBe(true);
    b.close();
  });

  it('the local engine also refuses while its STT is behind (transcripts slower than overloadFinishMs), whatever the count', () => {
    let lagMs: number | null = null;
    const stt = { name: 'lagging', open: () => { throw new Error('unused'); }, recentFinishMs: () => lagMs };
    const stages: CascadeStages = { stt, chat: new DemoAgent(), tts: { name: 'none', async *synthesize() { /* none */ } } };
    const local = new LocalEngine({ stages, maxSessions: 10, retryAfterS: 6, overloadFinishMs: 1000, log: pino({ level: 'silent' }) });
    const first = local.admit();
    expect(first.ok).toBe(true); // no utterance lately: nothing known
    lagMs = 800;
    expect(local.admit().ok).toBe(true);
    lagMs = 1500;
    const refused = local.admit();
    expect(refused).toMatchObject({ ok: false, code: 'engine_at_capacity', retryAfterS: 6 });
    if (!refused.ok) expect(refused.reason).toMatch(/overloaded \(speech-to-text answers in 1500 ms\)/);
    expect(local.capacity()).toEqual({ active: 0, reserved: 2, max: 10 }); // the refusal held no slot
    lagMs = 300;
    expect(local.admit().ok).toBe(true);
    const off = new LocalEngine({ stages, maxSessions: 10, retryAfterS: 6, overloadFinishMs: 0, log: pino({ level: 'silent' }) });
    lagMs = 60_000;
    expect(off.admit().ok).toBe(true);
  });

  it('capacity is computed from the decoder cost: streaming within a share of each worker\'s core, simultaneous ends within the finals budget', () => {
    // streaming-bound: 0.2 CPU s per s of speech → ⌊0.75 / 0.2⌋ = 3; ends of 50 ms → ⌊250 / 50⌋ = 5
    expect(sessionsPerWorker({ rtf: 0.2, endMs: 50 })).toBe(Math.floor(STT_CORE_SHARE / 0.2));
    // end-bound: 4 simultaneous ends of 100 ms would make the last caller wait 400 ms of searches
    expect(sessionsPerWorker({ rtf: 0.1, endMs: 100 })).toBe(Math.floor(FINALS_BUDGET_MS / 100));
    // never below one; workers beyond the cores add nothing
    expect(sessionsPerWorker({ rtf: 2, endMs: 900 })).toBe(1);
    expect(localCapacity({ rtf: 0.2, endMs: 50 }, 4, 2)).toBe(6);
    expect(localCapacity({ rtf: 0.2, endMs: 50 }, 1, 2)).toBe(3);
    expect(sessionsPerWorker(PRIOR_COST)).toBeGreaterThanOrEqual(1);
  });

  it('the local engine with autoCapacity admits what the measured decoder cost allows, the configured maximum until it is measured', () => {
    let cost: { rtf: number; endMs: number; utterances: number } | null = null;
    const stt = { name: 'measured', open: () => { throw new Error('unused'); }, cost: () => cost };
    const stages: CascadeStages = { stt, chat: new DemoAgent(), tts: { name: 'none', async *synthesize() { /* none */ } } };
    const local = new LocalEngine({ stages, maxSessions: 2, autoCapacity: { workers: 2, cores: 2 }, retryAfterS: 5, log: pino({ level: 'silent' }) });
    expect(local.capacity().max).toBe(2);
    const held = [local.admit(), local.admit()];
    expect(local.admit().ok).toBe(false);
    // cheap decoders on two workers: 2 × min(⌊0.75/0.15⌋, ⌊250/60⌋) = 8
    cost = { rtf: 0.15, endMs: 60, utterances: 20 };
    expect(local.capacity().max).toBe(8);
    expect(local.admit().ok).toBe(true);
    // the decoders got dearer (one pass → two passes: 600 ms ends): one per worker, and the callers admitted stay
    cost = { rtf: 0.25, endMs: 600, utterances: 20 };
    expect(local.capacity()).toMatchObject({ max: 2, reserved: 3 });
    expect(local.admit()).toMatchObject({ ok: false, code: 'engine_at_capacity' });
    for (const h of held) if (h.ok) h.release();
    // without autoCapacity the configured maximum stands whatever the cost
    const fixed = new LocalEngine({ stages, maxSessions: 2, retryAfterS: 5, log: pino({ level: 'silent' }) });
    expect(fixed.capacity().max).toBe(2);
  });
});
