import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { LOCAL_SESSIONS_PER_WORKER, defaultSttWorkers } from '../../../server/config/local.ts';
import { PRIOR_COST, localCapacity, sessionsPerWorker } from '../../../server/engines/local/capacity.ts';

const base = { PARLEY_API_KEYS: 'pk_test_component_key_0123456789', LOG_LEVEL: 'silent' };

describe('local engine settings (server/config/local.ts)', () => {
  it('defaults follow the machine: a PocketSphinx worker per core but one, a flite worker per core, capacity per worker, a decoder per admitted session', () => {
    const cores = availableParallelism();
    const local = loadConfig(base).local;
    expect(local).toMatchObject({
      sttWorkers: defaultSttWorkers(cores),
      ttsWorkers: Math.min(4, cores),
      maxSessions: LOCAL_SESSIONS_PER_WORKER * defaultSttWorkers(cores),
      maxSessionsAuto: false,
      sttDecoders: LOCAL_SESSIONS_PER_WORKER * defaultSttWorkers(cores),
      sttSecondPass: false,
      retryAfterS: 5,
      overloadFinishMs: 0,
    });
    // the capacity is computed from the decoder cost measured on this machine (server/engines/local/capacity.ts)
    expect(LOCAL_SESSIONS_PER_WORKER).toBe(sessionsPerWorker(PRIOR_COST));
    // or, with 'auto', recomputed from the cost measured while serving (the computed figure until then)
    expect(loadConfig({ ...base, PARLEY_LOCAL_MAX_SESSIONS: 'auto' }).local).toMatchObject({ maxSessionsAuto: true, maxSessions: localCapacity(PRIOR_COST, defaultSttWorkers(cores), cores) });
    // an HTTP STT is not bound by this machine's cores: no limit unless one is set
    expect(loadConfig({ ...base, PARLEY_LOCAL_STT: 'http' }).local.maxSessions).toBe(0);
  });

  it('every setting can be set; bad values name the setting', () => {
    const local = loadConfig({
      ...base, PARLEY_LOCAL_STT_WORKERS: '3', PARLEY_LOCAL_STT_DECODERS: '9', PARLEY_LOCAL_TTS_WORKERS: '2',
      PARLEY_LOCAL_MAX_SESSIONS: '7', PARLEY_LOCAL_RETRY_AFTER_S: '30', PARLEY_POCKETSPHINX_SECOND_PASS: 'true', PARLEY_LOCAL_OVERLOAD_MS: '1500',
    }).local;
    expect(local).toMatchObject({ sttWorkers: 3, sttDecoders: 9, sttMaxDecoders: 12, ttsWorkers: 2, maxSessions: 7, maxSessionsAuto: false, retryAfterS: 30, sttSecondPass: true, overloadFinishMs: 1500 });
    expect(loadConfig({ ...base, PARLEY_POCKETSPHINX_SECOND_PASS: 'false' }).local.sttSecondPass).toBe(false);
    expect(loadConfig({ ...base, PARLEY_LOCAL_STT: 'http', PARLEY_LOCAL_MAX_SESSIONS: 'auto' }).local.maxSessionsAuto).toBe(false);
    expect(loadConfig({ ...base, PARLEY_LOCAL_MAX_SESSIONS: '0' }).local.maxSessions).toBe(0);
    const two = localCapacity(PRIOR_COST, 2, availableParallelism());
    expect(loadConfig({ ...base, PARLEY_LOCAL_STT_WORKERS: '2' }).local).toMatchObject({ maxSessions: two, sttDecoders: two });
    expect(loadConfig({ ...base, PARLEY_LOCAL_MAX_SESSIONS: '4' }).local.sttDecoders).toBe(Math.max(4, defaultSttWorkers(availableParallelism())));
    expect([1, 2, 4, 8, 64].map(defaultSttWorkers)).toEqual([1, 2, 3, 7, 16]);
    expect(loadConfig({ ...base, PARLEY_LOCAL_STT_DECODERS: '4', PARLEY_LOCAL_STT_MAX_DECODERS: '6' }).local).toMatchObject({ sttDecoders: 4, sttMaxDecoders: 6 });
    // fewer than the pool it keeps loaded: refused, naming the setting
    expect(() => loadConfig({ ...base, PARLEY_LOCAL_STT_DECODERS: '4', PARLEY_LOCAL_STT_MAX_DECODERS: '3' })).toThrow(/PARLEY_LOCAL_STT_MAX_DECODERS/);
    for (const [k, v] of [['PARLEY_LOCAL_STT_WORKERS', '0'], ['PARLEY_LOCAL_MAX_SESSIONS', '-1'], ['PARLEY_LOCAL_RETRY_AFTER_S', '0'], ['PARLEY_LOCAL_STT_DECODERS', 'many'], ['PARLEY_LOCAL_TTS_WORKERS', '99']] as const) {
      expect(() => loadConfig({ ...base, [k]: v })).toThrow(new RegExp(k));
    }
  });
});
