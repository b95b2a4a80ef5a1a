/**
 * server/recording: call recordings (issue 11 §4). One app-wide session observer factory gives each
 * recorded session a CallRecorder (recorder.ts) that streams `<dataDir>/recordings/<call id>.wav`
 * (paths.ts) as the call goes: stereo = caller left, agent right, aligned on the session clock, the
 * agent's audio as the caller heard it (cut at barge-in); mono = the two mixed. Pause/resume (card
 * numbers) by API (server/routes/recording.ts) and by two server tools the agent can call.
 *
 * The mode of a session is `SessionInfo.recording`: its profile's, else the config's (`PARLEY_RECORDING`,
 * default off; server/session/manager.ts). Nothing here blocks a call: writes are asynchronous,
 * memory per call is fixed, a failing disk is logged and the call goes on.
 */
import type { Logger } from 'pino';
import type { SessionInfo, SessionObserver, SessionObserverFactory } from '../session/index.ts';
import type { ToolDefinition } from '../tools/index.ts';
import { CallRecorder, type CallRecorderOptions } from './recorder.ts';
import { recordingPath } from './paths.ts';

export { recordingPath, recordingsDir } from './paths.ts';
export { CallRecorder, type CallRecorderOptions } from './recorder.ts';
export { Timeline, type TimelineOptions, type FrameSink } from './timeline.ts';
export { WavStream, wavHeader, WAV_HEADER_BYTES, type WavStreamOptions } from './wav-stream.ts';
export type { RecordingMode } from '../session/index.ts';

/** How often live recorders write what is final when no audio flows (and the disk catches up). */
const TICK_MS = 1000;

export interface RecordingsOptions {
  dataDir: string;
  log: Logger;
  /** Recorder tuning (tests, bench). */
  recorder?: Pick<CallRecorderOptions, 'clock' | 'timeline' | 'stream'>;
}

export class Recordings {
  readonly dataDir: string;
  readonly #log: Logger;
  #opts: RecordingsOptions;
  readonly #live = new Map<string, CallRecorder>();
  readonly #finishing = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(o: RecordingsOptions) {
    this.dataDir = o.dataDir;
    this.#log = o.log;
    this.#opts = o;
  }

  /** The app-wide observer factory (`sessions.observe(recordings.observer)`). */
  readonly observer: SessionObserverFactory = (s: SessionInfo): SessionObserver | null => {
    const mode = s.recording;
    if (mode === 'off') return null;
    const log = this.#log.child({ sessionId: s.id, ...(s.callId !== undefined ? { callId: s.callId } : {}) });
    const r = new CallRecorder(s, {
      mode,
      path: recordingPath(this.dataDir, s.id),
      log,
      ...this.#opts.recorder,
      onFinish: (done, rec) => {
        if (this.#live.get(rec.sessionId) === rec) this.#live.delete(rec.sessionId);
        this.#finishing.add(done);
        void done.finally(() => this.#finishing.delete(done));
      },
    });
    this.#live.set(s.id, r);
    this.#arm();
    return r;
  };

  /** Recorder tuning for the recordings that start from now on (a bench's simulated clock, a test's timeline). */
  tune(recorder: NonNullable<RecordingsOptions['recorder']>): void {
    this.#opts = { ...this.#opts, recorder: { ...this.#opts.recorder, ...recorder } };
  }

  /** The live recorder of a session (null: not recorded, or ended). */
  get(sessionId: string): CallRecorder | null {
    return this.#live.get(sessionId) ?? null;
  }

  get active(): number {
    return this.#live.size;
  }

  /** Pause a live recording. null: no such live recording; false: already paused. */
  pause(sessionId: string): boolean | null {
    const r = this.get(sessionId);
    return r === null ? null : r.pause();
  }

  resume(sessionId: string): boolean | null {
    const r = this.get(sessionId);
    return r === null ? null : r.resume();
  }

  /** Every recording that has ended is on disk and closed. */
  async idle(): Promise<void> {
    while (this.#finishing.size > 0) await Promise.allSettled([...this.#finishing]);
  }

  /** App shutdown: finish what is live (sessions normally ended first), wait for the files. */
  async close(): Promise<void> {
    for (const r of [...this.#live.values()]) void r.finish();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.idle();
  }

  #arm(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = null;
    for (const r of this.#live.values()) {
      try {
        r.tick();
      } catch (err) {
        this.#log.error({ err: { message: err instanceof Error ? err.message : String(err) }, sessionId: r.sessionId }, 'recording tick failed');
      }
    }
    if (this.#live.size > 0) this.#arm();
  }

  /**
   * The agent's tools: `pause_recording` before the caller gives something that must not be kept
   * (a card number), `resume_recording` after. Offered app-wide when recording is on (buildApp);
   * a profile that turns recording on adds them to its tool list.
   */
  tools(): ToolDefinition[] {
    return [
      {
        name: 'pause_recording',
        description:
          'Pause the call recording before the caller says something that must not be recorded (a card number, a security code). ' +
          'Call resume_recording as soon as that part is over.',
        parameters: { type: 'object', properties: {}, additionalProperties: false },
        handler: (_args: unknown, ctx) => {
          const r = this.pause(ctx.sessionId);
          if (r === null) return 'This call is not being recorded.';
          return r ? 'The recording is paused. Call resume_recording once the sensitive part is over.' : 'The recording was already paused.';
        },
      },
      {
        name: 'resume_recording',
        description: 'Resume the call recording after pause_recording, once the sensitive part of the call is over.',
        parameters: { type: 'object', properties: {}, additionalProperties: false },
        handler: (_args: unknown, ctx) => {
          const r = this.resume(ctx.sessionId);
          if (r === null) return 'This call is not being recorded.';
          return r ? 'The recording has resumed.' : 'The recording was not paused.';
        },
      },
    ];
  }
}
