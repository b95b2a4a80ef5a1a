/**
 * The page's controls → a GA `session.update` (docs/protocol.md §1.4, §1.6). Values are checked and
 * clamped here so the server never sees an out-of-range threshold or silence window from the page.
 */

export const VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;
export type Voice = (typeof VOICES)[number];

/**
 * 'vad': the server's voice detection (server_vad): the agent answers after a fixed silence, and any
 * speech over it stops it. 'semantic': semantic_vad: on Parley's own engines the wait follows the words
 * (short after a finished question, long after "and…") and "yeah" / "mm-hm" over the agent do not stop
 * it (docs/notes/turns.md). 'ptt': push to talk.
 */
export type TurnMode = 'vad' | 'semantic' | 'ptt';

export interface DemoControls {
  mode: TurnMode;
  voice: string;
  instructions: string;
  /** server_vad threshold 0..1 (higher = louder audio needed). */
  vadThreshold: number;
  /** server_vad silence_duration_ms. */
  silenceMs: number;
}

export const DEFAULT_CONTROLS: DemoControls = {
  mode: 'vad',
  voice: 'marin',
  instructions: '',
  vadThreshold: 0.5,
  silenceMs: 500,
};

export const SILENCE_MS_MIN = 100;
export const SILENCE_MS_MAX = 5000;
export const INSTRUCTIONS_MAX_CHARS = 8000;

export interface ControlProblem {
  field: keyof DemoControls;
  message: string;
}

/** Clamp and check the controls; problems are returned in plain words for the page. */
export function normaliseControls(c: DemoControls): { controls: DemoControls; problems: ControlProblem[] } {
  const problems: ControlProblem[] = [];
  let vadThreshold = Number(c.vadThreshold);
  if (!Number.isFinite(vadThreshold)) {
    problems.push({ field: 'vadThreshold', message: 'The voice detection threshold must be a number between 0 and 1.' });
    vadThreshold = DEFAULT_CONTROLS.vadThreshold;
  }
  vadThreshold = Math.min(1, Math.max(0, vadThreshold));
  let silenceMs = Math.round(Number(c.silenceMs));
  if (!Number.isFinite(silenceMs)) {
    problems.push({ field: 'silenceMs', message: `The silence length must be a number of milliseconds (${SILENCE_MS_MIN}–${SILENCE_MS_MAX}).` });
    silenceMs = DEFAULT_CONTROLS.silenceMs;
  }
  silenceMs = Math.min(SILENCE_MS_MAX, Math.max(SILENCE_MS_MIN, silenceMs));
  const voice = (VOICES as readonly string[]).includes(c.voice) ? c.voice : DEFAULT_CONTROLS.voice;
  if (voice !== c.voice) problems.push({ field: 'voice', message: `Unknown voice "${c.voice}".` });
  let instructions = typeof c.instructions === 'string' ? c.instructions : '';
  if (instructions.length > INSTRUCTIONS_MAX_CHARS) {
    problems.push({ field: 'instructions', message: `Instructions are limited to ${INSTRUCTIONS_MAX_CHARS} characters.` });
    instructions = instructions.slice(0, INSTRUCTIONS_MAX_CHARS);
  }
  const mode: TurnMode = c.mode === 'ptt' || c.mode === 'semantic' ? c.mode : 'vad';
  return { controls: { mode, voice, instructions, vadThreshold, silenceMs }, problems };
}

/** The GA `turn_detection` of a turn mode (push to talk: none, the page commits). */
function turnDetection(controls: DemoControls): Record<string, unknown> | null {
  if (controls.mode === 'ptt') return null;
  if (controls.mode === 'semantic') return { type: 'semantic_vad', eagerness: 'auto', create_response: true, interrupt_response: true };
  return {
    type: 'server_vad',
    threshold: controls.vadThreshold,
    prefix_padding_ms: 300,
    silence_duration_ms: controls.silenceMs,
    create_response: true,
    interrupt_response: true,
  };
}

/**
 * Build the `session.update`. Audio both ways is pcm16 at 24 kHz; input transcription is asked for
 * so the user's words show up (engines that always transcribe ignore the model name). Push-to-talk
 * turns server VAD off (`turn_detection: null`): the page commits and asks for the response itself.
 * Smart turn-taking is `semantic_vad` (the threshold and silence fields do not apply to it).
 * Empty instructions are left out (the server's default applies).
 */
export function buildSessionUpdate(input: DemoControls, opts: { includeVoice?: boolean } = {}): Record<string, unknown> {
  const { controls } = normaliseControls(input);
  const output: Record<string, unknown> = { format: { type: 'audio/pcm', rate: 24000 } };
  // the voice cannot change once the model has spoken (§1.4): only send it when allowed
  if (opts.includeVoice !== false) output.voice = controls.voice;
  const session: Record<string, unknown> = {
    type: 'realtime',
    output_modalities: ['audio'],
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: 24000 },
        transcription: { model: 'gpt-4o-mini-transcribe' },
        turn_detection: turnDetection(controls),
      },
      output,
    },
  };
  if (controls.instructions.trim()) session.instructions = controls.instructions;
  return { type: 'session.update', session };
}
