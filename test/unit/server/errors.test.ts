import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AudioError, EngineError, PARLEY_ERROR_CODES, ParleyError, SipError } from '../../../server/errors.ts';
import { base64ToPcm16, ParleyError as AudioParleyError } from '../../../audio/index.ts';
import { readRemoteAudio } from '../../../sip/sdp.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('one error family', () => {
  it('audio and SIP errors thrown by the real modules are ParleyErrors with their codes', () => {
    const audio = thrown(() => base64ToPcm16('AA=='));
    expect(ParleyError.is(audio)).toBe(true);
    expect(audio).toBeInstanceOf(ParleyError);
    expect(audio).toBeInstanceOf(AudioError);
    expect(audio).toMatchObject({ name: 'AudioError', code: 'AUDIO_ERR_BAD_INPUT', retryable: false });

    const sip = thrown(() => readRemoteAudio('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n'));
    expect(ParleyError.is(sip)).toBe(true);
    expect(sip).toBeInstanceOf(ParleyError);
    expect(sip).toBeInstanceOf(SipError);
    expect(sip).toMatchObject({ name: 'SipError', code: 'SIP_ERR_NO_CODEC', status: 488 });

    // one class, whichever module it is imported from
    expect(AudioParleyError).toBe(ParleyError);
    expect(new EngineError('ENGINE_UNAVAILABLE', 'x')).toBeInstanceOf(ParleyError);
    expect(ParleyError.is(new Error('plain'))).toBe(false);
    expect(ParleyError.is({ code: 'AUDIO_ERR_BAD_INPUT' })).toBe(false);
  });

  it('every code used in audio/, sip/ and server/ is in the table, and docs/contracts.md lists the table', () => {
    const codeRe = /'((?:AUDIO_ERR|SIP_ERR|CONFIG|PROTOCOL|AUTH|ENGINE|SESSION|SERVER|TOOL|HTTP|STT|TTS|STORE)_[A-Z0-9_]+)'/g;
    const used = new Set<string>();
    for (const dir of ['audio', 'sip', 'server']) {
      for (const f of sourceFiles(join(ROOT, dir))) for (const m of readFileSync(f, 'utf8').matchAll(codeRe)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(30);
    expect([...used].filter((c) => !(c in PARLEY_ERROR_CODES))).toEqual([]);

    const doc = readFileSync(join(ROOT, 'docs/contracts.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
    expect([...documented].sort()).toEqual(Object.keys(PARLEY_ERROR_CODES).sort());
  });
});
