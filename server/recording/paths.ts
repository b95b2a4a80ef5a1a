/**
 * Where a call's recording lives on disk (issue 11 shared names): one WAV per call, named by the
 * call's id (= the session id), under `<dataDir>/recordings/`. The store deletes it with the call's
 * record; the recording route serves it.
 */
import { join } from 'node:path';

/** The directory holding every recording. */
export function recordingsDir(dataDir: string): string {
  return join(dataDir, 'recordings');
}

/**
 * `<dataDir>/recordings/<callId>.wav`. Session ids (`sess_…`) are used as they are; anything a URL
 * could smuggle in (`/`, `\`, NUL, `%`) is percent-encoded, so an id never leaves the directory.
 */
export function recordingPath(dataDir: string, callId: string): string {
  return join(recordingsDir(dataDir), `${encodeURIComponent(callId)}.wav`);
}
