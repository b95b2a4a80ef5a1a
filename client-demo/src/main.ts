/**
 * Parley browser voice demo: the page's controller. Wires the controls, the audio edge (worklets),
 * the Realtime WebSocket and the view. See docs/notes/demo.md.
 *
 * Test hook: `window.parleyDemo.snapshot()` returns counters and transcripts as plain JSON.
 */
import { AudioIo, AudioSetupError } from './audio-io.ts';
import { KeyRequestError, RealtimeConnection, fetchDemoConfig, fetchEphemeralKey } from './connection.ts';
import { BargeInTracker } from './lib/barge-in.ts';
import { ConversationModel } from './lib/conversation.ts';
import { IS_LITTLE_ENDIAN } from './lib/pcm.ts';
import { DEFAULT_CONTROLS, VOICES, buildSessionUpdate, normaliseControls } from './lib/session-config.ts';
import type { DemoControls } from './lib/session-config.ts';
import { describeClose, describeKeyStatus, describeMediaError } from './lib/plain-words.ts';
import { DemoView, el } from './view.ts';
import type { SpeechState } from './view.ts';

const FRAME_MS = 20;
const START_THRESHOLD_MS = 60;
const PTT_MIN_MS = 120;

type Phase = 'idle' | 'starting' | 'live' | 'stopping';
type ServerEvent = Record<string, unknown> & { type: string };

const view = new DemoView();
const ui = {
  start: el<HTMLButtonElement>('start'),
  mute: el<HTMLButtonElement>('mute'),
  ptt: el<HTMLButtonElement>('ptt'),
  mode: el<HTMLSelectElement>('mode'),
  voice: el<HTMLSelectElement>('voice'),
  threshold: el<HTMLInputElement>('threshold'),
  thresholdOut: el<HTMLOutputElement>('threshold-out'),
  silence: el<HTMLInputElement>('silence'),
  instructions: el<HTMLTextAreaElement>('instructions'),
  passwordRow: el<HTMLElement>('password-row'),
  password: el<HTMLInputElement>('password'),
  text: el<HTMLInputElement>('text'),
  send: el<HTMLButtonElement>('send'),
};

const stats = {
  playedMs: 0,
  bufferedMs: 0,
  underruns: 0,
  micFrames: 0,
  appendsSent: 0,
  appendBytesSent: 0,
  audioDeltas: 0,
  audioDeltaSamples: 0,
  truncatesSent: 0,
  truncatedEvents: 0,
  truncatedByItem: {} as Record<string, number>,
  lateDeltasDropped: 0,
  latenciesMs: [] as number[],
  errors: [] as string[],
  sampleRateHz: 0,
  micRmsDbfs: -100,
  /** Loudest mic frame so far (what the level meter showed). */
  micRmsDbfsMax: -100,
  micSettings: null as ReturnType<AudioIo['micSettings']>,
  /** Every state the speech indicator has shown. */
  speechStatesSeen: [] as SpeechState[],
  itemsStarted: 0,
  itemsFinished: 0,
};

let phase: Phase = 'idle';
let model = 'gpt-realtime';
let passwordRequired = false;
let muted = false;
let pttHeld = false;
let pttFrames = 0;
let modelHasSpoken = false;
let activeResponseId: string | null = null;
let assistantPlaying = false;
let voiceAtStart = DEFAULT_CONTROLS.voice;

const tracker = new BargeInTracker();
const conversation = new ConversationModel({
  onChange: (e) => {
    view.renderEntry(e);
    if (e.kind === 'error' && !stats.errors.includes(e.text)) stats.errors.push(e.text);
  },
  onEngine: (info) => view.setEngine(info),
  onSpeech: () => refreshSpeech(),
});

const audio = new AudioIo({
  onMicFrame: (pcm, rmsDbfs) => {
    stats.micFrames++;
    stats.micRmsDbfs = rmsDbfs;
    if (rmsDbfs > stats.micRmsDbfsMax) stats.micRmsDbfsMax = rmsDbfs;
    view.setLevel(muted ? -100 : rmsDbfs);
    if (phase === 'live' && (controls().mode !== 'ptt' || pttHeld)) {
      connection.sendAppend(pcm);
      stats.appendsSent = connection.appendsSent;
      stats.appendBytesSent = connection.appendBytesSent;
      if (pttHeld) pttFrames++;
    }
    audio.recycle(pcm);
  },
  onItemStarted: () => {
    stats.itemsStarted++;
    assistantPlaying = true;
    refreshSpeech();
  },
  onItemFinished: (itemId) => {
    stats.itemsFinished++;
    tracker.itemFinished(itemId);
  },
  onPlaybackStats: (s) => {
    stats.playedMs = s.playedMs;
    stats.bufferedMs = s.bufferedMs;
    stats.underruns = s.underruns;
    const playing = s.playing || s.bufferedMs > 0;
    if (playing !== assistantPlaying) {
      assistantPlaying = playing;
      refreshSpeech();
    }
    refreshStats();
  },
});

const connection = new RealtimeConnection({
  onOpen: () => {
    phase = 'live';
    view.setStatus('Connected', 'live');
    sendSessionUpdate();
    updateButtons();
    refreshSpeech();
  },
  onEvent: (ev) => onServerEvent(ev),
  onClose: (code, _reason, userInitiated, opened) => {
    const user = userInitiated || phase === 'stopping';
    const words = !opened && !user ? 'The server refused the voice connection (the session key may have expired). Press Start again.' : describeClose(code, user);
    if (words) conversation.addError(words);
    void teardown(words ? 'error' : 'idle');
  },
});

function controls(): DemoControls {
  return normaliseControls({
    mode: ui.mode.value === 'ptt' || ui.mode.value === 'semantic' ? ui.mode.value : 'vad',
    voice: ui.voice.value,
    instructions: ui.instructions.value,
    vadThreshold: Number(ui.threshold.value),
    silenceMs: Number(ui.silence.value),
  }).controls;
}

function sendSessionUpdate(): void {
  if (phase !== 'live') return;
  const c = controls();
  const includeVoice = !modelHasSpoken;
  if (modelHasSpoken && c.voice !== voiceAtStart) {
    conversation.addNotice('The voice cannot change once the agent has spoken; it applies the next time you press Start.');
  }
  if (includeVoice) voiceAtStart = c.voice;
  connection.send(buildSessionUpdate(c, { includeVoice }));
}

function onServerEvent(ev: ServerEvent): void {
  const now = performance.now();
  let fromTruncate = false;
  switch (ev.type) {
    case 'response.created': {
      const id = (ev.response as { id?: unknown } | undefined)?.id;
      activeResponseId = typeof id === 'string' ? id : null;
      break;
    }
    case 'response.done': {
      const response = (ev.response ?? {}) as { id?: unknown; output?: unknown };
      if (response.id === activeResponseId) activeResponseId = null;
      // make sure every audio item of a finished (or cancelled) response drains to its end
      if (Array.isArray(response.output)) {
        for (const item of response.output as { id?: unknown }[]) if (typeof item.id === 'string') audio.endItem(item.id);
      }
      break;
    }
    case 'response.output_audio.delta': {
      const itemId = String(ev.item_id ?? '');
      const responseId = String(ev.response_id ?? '');
      const delta = typeof ev.delta === 'string' ? ev.delta : '';
      const bytes = (delta.length / 4) * 3 - (delta.endsWith('==') ? 2 : delta.endsWith('=') ? 1 : 0);
      const samples = Math.max(0, Math.floor(bytes / 2));
      if (!tracker.acceptDelta(responseId, itemId, Number(ev.content_index ?? 0), samples)) {
        stats.lateDeltasDropped = tracker.lateDeltasDropped;
        return; // a late delta of an interrupted response: not played, not shown
      }
      try {
        audio.play(itemId, delta);
        stats.audioDeltas++;
        stats.audioDeltaSamples += samples;
        modelHasSpoken = true;
      } catch {
        conversation.addError('The server sent audio this page could not decode.');
      }
      break;
    }
    case 'response.output_audio.done':
      tracker.audioDone(String(ev.item_id ?? ''));
      audio.endItem(String(ev.item_id ?? ''));
      break;
    case 'input_audio_buffer.speech_started':
      void bargeIn();
      break;
    case 'conversation.item.truncated': {
      const id = String(ev.item_id ?? '');
      stats.truncatedEvents++;
      stats.truncatedByItem[id] = (stats.truncatedByItem[id] ?? 0) + 1;
      break;
    }
    case 'error': {
      const body = (ev.error ?? {}) as { event_id?: unknown };
      fromTruncate = tracker.isTruncateEventId(body.event_id);
      break;
    }
    default:
      break;
  }
  conversation.handle(ev, now, fromTruncate);
  if (ev.type === 'response.output_audio.delta' || ev.type === 'input_audio_buffer.speech_stopped') {
    stats.latenciesMs = conversation.latenciesMs.slice();
  }
}

/** The user talks over the agent: stop playback now, truncate what was not heard, exactly once. */
async function bargeIn(): Promise<void> {
  if (!tracker.interrupt()) return;
  const stopped = await audio.stopPlayback();
  for (const ev of tracker.truncationsFor(stopped)) connection.send({ ...ev });
  stats.truncatesSent = tracker.truncatesSent;
  stats.lateDeltasDropped = tracker.lateDeltasDropped;
  assistantPlaying = false;
  refreshSpeech();
}

function refreshSpeech(): void {
  let state: SpeechState;
  if (phase !== 'live') state = 'offline';
  else if (conversation.userSpeaking || pttHeld) state = 'user';
  else if (assistantPlaying) state = 'assistant';
  else state = controls().mode === 'ptt' ? 'ptt-idle' : 'listening';
  view.setSpeech(state);
  if (!stats.speechStatesSeen.includes(state)) stats.speechStatesSeen.push(state);
}

function refreshStats(): void {
  const last = stats.latenciesMs.at(-1);
  view.setStats(
    `played ${(stats.playedMs / 1000).toFixed(1)} s · last turn ${last === undefined ? '–' : `${last} ms`}` +
      ` · sent ${stats.appendsSent} frames${stats.underruns ? ` · ${stats.underruns} underruns` : ''}` +
      (stats.sampleRateHz ? ` · device ${stats.sampleRateHz / 1000} kHz` : ''),
  );
}

function updateButtons(): void {
  const live = phase === 'live';
  ui.start.textContent = phase === 'idle' ? 'Start' : phase === 'starting' ? 'Starting…' : 'Stop';
  ui.start.disabled = phase === 'stopping';
  ui.start.classList.toggle('live', phase !== 'idle');
  ui.mute.disabled = !live;
  ui.mute.setAttribute('aria-pressed', String(muted));
  ui.mute.textContent = muted ? 'Unmute' : 'Mute';
  const ptt = controls().mode === 'ptt';
  ui.ptt.hidden = !ptt;
  ui.ptt.disabled = !live;
  ui.text.disabled = !live;
  ui.send.disabled = !live;
}

/** A typed message: a user text item, then a response (the agent answers in voice as usual). */
function sendText(text: string): void {
  const message = text.trim();
  if (phase !== 'live' || !message) return;
  void bargeIn();
  if (activeResponseId) connection.send({ type: 'response.cancel' });
  connection.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: message }] },
  });
  connection.send({ type: 'response.create' });
  conversation.markTurnEnd(performance.now());
}

async function start(): Promise<void> {
  if (phase !== 'idle') return;
  phase = 'starting';
  updateButtons();
  view.setStatus('Starting…', 'busy');
  try {
    if (!IS_LITTLE_ENDIAN) throw new AudioSetupError('Unsupported', 'big-endian platform');
    // the audio context must be created inside the click (autoplay policy), so audio comes first
    await audio.start({ frameMs: FRAME_MS, startThresholdMs: START_THRESHOLD_MS });
    stats.sampleRateHz = audio.sampleRateHz;
    stats.micSettings = audio.micSettings();
    audio.setMuted(muted);
    view.setStatus('Getting a session key…', 'busy');
    const key = await fetchEphemeralKey(passwordRequired ? ui.password.value : '');
    model = key.model || model;
    view.setStatus('Connecting…', 'busy');
    tracker.reset();
    modelHasSpoken = false;
    activeResponseId = null;
    connection.connect(key.value, model);
  } catch (err) {
    if (err instanceof AudioSetupError) conversation.addError(describeMediaError(err.mediaErrorName));
    else if (err instanceof KeyRequestError) conversation.addError(err.status === 0 ? 'The server cannot be reached.' : describeKeyStatus(err.status, err.errorCode));
    else conversation.addError('The demo could not start.');
    await teardown('error');
  }
}

async function teardown(kind: 'idle' | 'error'): Promise<void> {
  if (phase === 'idle') return;
  phase = 'stopping';
  updateButtons();
  connection.close();
  await audio.stop();
  pttHeld = false;
  assistantPlaying = false;
  conversation.userSpeaking = false;
  phase = 'idle';
  view.setStatus(kind === 'error' ? 'Stopped after a problem' : 'Not connected', kind === 'error' ? 'error' : 'idle');
  updateButtons();
  refreshSpeech();
}

function stop(): void {
  if (phase === 'live' || phase === 'starting') {
    phase = 'stopping';
    connection.close();
    void teardown('idle');
  }
}

function pttDown(): void {
  if (phase !== 'live' || pttHeld || controls().mode !== 'ptt') return;
  pttHeld = true;
  pttFrames = 0;
  void bargeIn();
  if (activeResponseId) connection.send({ type: 'response.cancel' });
  connection.send({ type: 'input_audio_buffer.clear' });
  refreshSpeech();
}

function pttUp(): void {
  if (!pttHeld) return;
  pttHeld = false;
  refreshSpeech();
  if (phase !== 'live') return;
  if (pttFrames * FRAME_MS < PTT_MIN_MS) {
    connection.send({ type: 'input_audio_buffer.clear' });
    conversation.addNotice('Hold the button while you speak, then let go.');
    return;
  }
  connection.send({ type: 'input_audio_buffer.commit' });
  connection.send({ type: 'response.create' });
  conversation.markTurnEnd(performance.now());
}

let settingsTimer: ReturnType<typeof setTimeout> | null = null;
function settingsChanged(): void {
  ui.thresholdOut.value = Number(ui.threshold.value).toFixed(2);
  updateButtons();
  refreshSpeech();
  if (settingsTimer) clearTimeout(settingsTimer);
  settingsTimer = setTimeout(() => {
    settingsTimer = null;
    sendSessionUpdate();
  }, 300);
}

function initControls(): void {
  for (const v of VOICES) {
    const opt = document.createElement('option');
    opt.value = v;
    opt.textContent = v;
    ui.voice.append(opt);
  }
  ui.voice.value = DEFAULT_CONTROLS.voice;
  ui.threshold.value = String(DEFAULT_CONTROLS.vadThreshold);
  ui.silence.value = String(DEFAULT_CONTROLS.silenceMs);
  ui.mode.value = DEFAULT_CONTROLS.mode;
  ui.thresholdOut.value = DEFAULT_CONTROLS.vadThreshold.toFixed(2);

  ui.start.addEventListener('click', () => (phase === 'idle' ? void start() : stop()));
  ui.mute.addEventListener('click', () => {
    muted = !muted;
    audio.setMuted(muted);
    updateButtons();
  });
  for (const input of [ui.mode, ui.voice, ui.threshold, ui.silence, ui.instructions]) {
    input.addEventListener('change', settingsChanged);
  }
  ui.threshold.addEventListener('input', () => (ui.thresholdOut.value = Number(ui.threshold.value).toFixed(2)));
  ui.ptt.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    ui.ptt.setPointerCapture(e.pointerId);
    pttDown();
  });
  ui.ptt.addEventListener('pointerup', pttUp);
  ui.ptt.addEventListener('pointercancel', pttUp);
  ui.ptt.addEventListener('contextmenu', (e) => e.preventDefault());
  const typing = (t: EventTarget | null) => t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
  window.addEventListener('keydown', (e) => {
    if (e.code === 'Space' && !e.repeat && !typing(e.target) && controls().mode === 'ptt' && phase === 'live') {
      e.preventDefault();
      pttDown();
    }
  });
  window.addEventListener('keyup', (e) => {
    if (e.code === 'Space' && pttHeld) {
      e.preventDefault();
      pttUp();
    }
  });
  window.addEventListener('pagehide', () => connection.close());
  el<HTMLFormElement>('settings-form').addEventListener('submit', (e) => e.preventDefault());
  el<HTMLFormElement>('text-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sendText(ui.text.value);
    ui.text.value = '';
  });
  updateButtons();
  refreshSpeech();
  refreshStats();
}

async function loadServerConfig(): Promise<void> {
  try {
    const cfg = await fetchDemoConfig();
    passwordRequired = cfg.passwordRequired;
    model = cfg.model;
    ui.passwordRow.hidden = !passwordRequired;
  } catch (err) {
    conversation.addError(err instanceof KeyRequestError ? describeKeyStatus(err.status) : 'The server cannot be reached.');
  }
}

declare global {
  interface Window {
    parleyDemo: {
      stats: typeof stats;
      readonly phase: Phase;
      conversation: ConversationModel;
      snapshot(): Record<string, unknown>;
      start(): Promise<void>;
      stop(): void;
      sendText(text: string): void;
    };
  }
}

window.parleyDemo = {
  stats,
  get phase() {
    return phase;
  },
  conversation,
  snapshot: () =>
    JSON.parse(
      JSON.stringify({
        phase,
        engine: conversation.engine,
        stats: { ...stats, appendsSent: connection.appendsSent, appendBytesSent: connection.appendBytesSent },
        user: conversation.userTexts(),
        assistant: conversation.assistantTexts(),
        entries: conversation.entries,
      }),
    ) as Record<string, unknown>,
  start,
  stop,
  sendText,
};

initControls();
void loadServerConfig();
