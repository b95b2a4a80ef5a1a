import { describe, expect, it } from 'vitest';
import { DEFAULT_INTERRUPTION_RULES as R, NO_TRANSCRIPT_GRACE_MS, contentWords, decideInterruption, ignoredKind, isBackchannel } from '../../../server/engines/cascade/interruptions.ts';
import type { InterruptionRules } from '../../../server/engines/cascade/interruptions.ts';
import { loadConfig } from '../../../server/config.ts';

describe('interruption rules (speech over the agent)', () => {
  it('backchannels, hums and what an STT makes of them are not interruptions; stop phrases and real words are', () => {
    for (const t of ['yeah', 'Mm-hm.', 'uh-huh', 'Okay.', 'right', 'yeah yeah', 'm h m', 'h m m', 'huh', 'I see.', 'all right', '']) expect(isBackchannel(t, R), t).toBe(true);
    for (const t of ['wait', 'Stop!', 'no', 'hold on', 'okay but what about tomorrow', 'yeah no']) expect(isBackchannel(t, R), t).toBe(false);
    expect(contentWords('Okay, but what about tomorrow?', R)).toEqual(['but', 'what', 'about', 'tomorrow']);
  });

  it('a stop phrase interrupts at once, however short', () => {
    expect(decideInterruption({ speechMs: 120, text: 'wait', ended: false }, R)).toBe('interrupt');
    expect(decideInterruption({ speechMs: 250, text: 'no', ended: true }, R)).toBe('interrupt');
    expect(decideInterruption({ speechMs: 600, text: 'wait stop', ended: false }, R)).toBe('interrupt');
  });

  it('a short "stop" / "wait" the STT heard one letter off ("top", "wit") still interrupts; nothing else near does', () => {
    for (const t of ['top', 'stops', 'stap', 'wit', 'yeah top']) expect(decideInterruption({ speechMs: 250, text: t, ended: true }, R), t).toBe('interrupt');
    // "so" / "go" are not "no" (too short to guess), two words are not a lone word, far words are not near
    for (const t of ['so', 'go', 'top it', 'stall', 'the the', 'he uh', 'arrived']) expect(decideInterruption({ speechMs: 250, text: t, ended: true }, R), t).toBe('ignore');
  });

  it('other words need min duration and min words; before that it waits, and at the end it is ignored', () => {
    expect(decideInterruption({ speechMs: 300, text: null, ended: false }, R)).toBe('wait');
    expect(decideInterruption({ speechMs: 300, text: 'tomorrow', ended: false }, R)).toBe('wait');
    expect(decideInterruption({ speechMs: 300, text: 'tomorrow', ended: true }, R)).toBe('ignore');
    expect(decideInterruption({ speechMs: 520, text: 'tomorrow', ended: false }, R)).toBe('interrupt');
    expect(decideInterruption({ speechMs: 900, text: 'mm hm', ended: false }, R)).toBe('wait');
    expect(decideInterruption({ speechMs: 900, text: 'mm hm', ended: true }, R)).toBe('ignore');
    expect(decideInterruption({ speechMs: 900, text: '', ended: true }, R)).toBe('ignore');
    const two: InterruptionRules = { ...R, minWords: 2, minDurationMs: 800 };
    expect(decideInterruption({ speechMs: 900, text: 'yeah tomorrow', ended: false }, two)).toBe('wait');
    expect(decideInterruption({ speechMs: 700, text: 'what about tomorrow', ended: false }, two)).toBe('wait');
    expect(decideInterruption({ speechMs: 900, text: 'what about tomorrow', ended: false }, two)).toBe('interrupt');
  });

  it('with no transcript at all (a failing STT) long speech still interrupts', () => {
    expect(decideInterruption({ speechMs: R.minDurationMs + NO_TRANSCRIPT_GRACE_MS - 1, text: null, ended: false }, R)).toBe('wait');
    expect(decideInterruption({ speechMs: R.minDurationMs + NO_TRANSCRIPT_GRACE_MS, text: null, ended: false }, R)).toBe('interrupt');
    expect(decideInterruption({ speechMs: R.minDurationMs + NO_TRANSCRIPT_GRACE_MS, text: '', ended: false }, R)).toBe('wait');
  });

  it('ignored speech is marked for the call record: backchannel words, or a false interruption (no words that count)', () => {
    expect(ignoredKind('yeah', R)).toBe('backchannel');
    expect(ignoredKind('Mm-hm, okay.', R)).toBe('backchannel');
    expect(ignoredKind('oui', R, 'fr-FR')).toBe('backchannel');
    expect(ignoredKind('h m m', R)).toBe('false_interruption');
    expect(ignoredKind('', R)).toBe('false_interruption');
    expect(ignoredKind(null, R)).toBe('false_interruption');
    expect(ignoredKind('what', R)).toBe('false_interruption');   // a word, too short to count
  });

  it('lists are per language (the base tag), `default` otherwise', () => {
    expect(isBackchannel('ouais d\'accord', R, 'fr-FR')).toBe(true);
    expect(decideInterruption({ speechMs: 200, text: 'attendez', ended: true }, R, 'fr')).toBe('interrupt');
    expect(decideInterruption({ speechMs: 200, text: 'attendez', ended: true }, R, 'en')).toBe('ignore');
    expect(isBackchannel('yeah', R, 'xx')).toBe(true);
  });
});

describe('interruptions config', () => {
  it('defaults (LiveKit-like names), env keys, and per-language lists in the file', () => {
    const d = loadConfig({}).interruptions!;
    expect(d).toMatchObject({ minDurationMs: 500, minWords: 1, serverVad: false });
    expect(d.backchannels['default']).toContain('mm hm');
    const e = loadConfig({ PARLEY_MIN_INTERRUPTION_DURATION_MS: '300', PARLEY_MIN_INTERRUPTION_WORDS: '2', PARLEY_BACKCHANNELS: 'Yeah, sure', PARLEY_INTERRUPTION_SERVER_VAD: 'on' }).interruptions!;
    expect(e).toMatchObject({ minDurationMs: 300, minWords: 2, serverVad: true, backchannels: { default: ['yeah', 'sure'] } });
    const f = loadConfig({}, { interruptions: { backchannels: { default: ['yeah'], it: ['sì', 'certo'] }, stopPhrases: ['basta'] } }).interruptions!;
    expect(f.backchannels).toEqual({ default: ['yeah'], it: ['sì', 'certo'] });
    expect(f.stopPhrases).toEqual({ default: ['basta'] });
    expect(() => loadConfig({ PARLEY_MIN_INTERRUPTION_WORDS: '0' })).toThrow(/PARLEY_MIN_INTERRUPTION_WORDS/);
    expect(() => loadConfig({}, { interruptions: { backchannels: { en: 'yeah' } } })).toThrow(/interruptions.backchannels/);
  });
});
