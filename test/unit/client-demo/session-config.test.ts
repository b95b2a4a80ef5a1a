import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROLS, buildSessionUpdate, normaliseControls } from '../../../client-demo/src/lib/session-config.ts';
import { describeClose, describeKeyStatus, describeMediaError, describeServerError } from '../../../client-demo/src/lib/plain-words.ts';

describe('controls → session.update', () => {
  it('voice detection mode: server_vad with the threshold and silence ms, pcm 24 kHz both ways', () => {
    const ev = buildSessionUpdate({ ...DEFAULT_CONTROLS, vadThreshold: 0.7, silenceMs: 800, voice: 'cedar', instructions: 'Be brief.' });
    expect(ev).toEqual({
      type: 'session.update',
      session: {
        type: 'realtime',
        output_modalities: ['audio'],
        instructions: 'Be brief.',
        audio: {
          input: {
            format: { type: 'audio/pcm', rate: 24000 },
            transcription: { model: 'gpt-4o-mini-transcribe' },
            turn_detection: { type: 'server_vad', threshold: 0.7, prefix_padding_ms: 300, silence_duration_ms: 800, create_response: true, interrupt_response: true },
          },
          output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'cedar' },
        },
      },
    });
  });

  it('push-to-talk turns server VAD off; the voice can be left out once the model has spoken', () => {
    const ev = buildSessionUpdate({ ...DEFAULT_CONTROLS, mode: 'ptt' }, { includeVoice: false }) as { session: { audio: { input: Record<string, unknown>; output: Record<string, unknown> }; instructions?: string } };
    expect(ev.session.audio.input.turn_detection).toBeNull();
    expect(ev.session.audio.output.voice).toBeUndefined();
    expect(ev.session.instructions).toBeUndefined();
  });

  it('smart turn-taking is semantic_vad (no threshold or silence); an unknown mode is voice detection', () => {
    const ev = buildSessionUpdate({ ...DEFAULT_CONTROLS, mode: 'semantic' }) as { session: { audio: { input: Record<string, unknown> } } };
    expect(ev.session.audio.input.turn_detection).toEqual({ type: 'semantic_vad', eagerness: 'auto', create_response: true, interrupt_response: true });
    expect(normaliseControls({ ...DEFAULT_CONTROLS, mode: 'other' as never }).controls.mode).toBe('vad');
  });

  it('clamps out-of-range values and says what was wrong', () => {
    const { controls, problems } = normaliseControls({ mode: 'vad', voice: 'robot', instructions: '', vadThreshold: 3, silenceMs: Number.NaN });
    expect(controls.vadThreshold).toBe(1);
    expect(controls.silenceMs).toBe(500);
    expect(controls.voice).toBe('marin');
    expect(problems.map((p) => p.field).sort()).toEqual(['silenceMs', 'voice']);
    expect(normaliseControls({ ...DEFAULT_CONTROLS, silenceMs: 20 }).controls.silenceMs).toBe(100);
  });
});

describe('errors in plain words', () => {
  it('by code, type and status, never by message', () => {
    expect(describeServerError({ code: 'session_expired', message: 'whatever' })).toMatch(/time limit/);
    expect(describeServerError({ code: 'response_cancel_not_active' })).toBeNull();
    expect(describeServerError({ type: 'invalid_request_error', message: 'bad field' })).toBe('The server did not accept a request from this page: bad field');
    expect(describeClose(1006, false)).toMatch(/lost/);
    expect(describeClose(1000, true)).toBeNull();
    expect(describeKeyStatus(404)).toMatch(/turned off/);
    expect(describeKeyStatus(401)).toMatch(/password/);
    expect(describeMediaError('NotAllowedError')).toMatch(/blocked/);
  });
});
