/** Call recording settings (server/recording/). Owned by the recording work: add fields here. */
import type { RecordingMode } from '../session/types.ts';
import type { ConfigReader } from './reader.ts';

export type { RecordingMode } from '../session/types.ts';

export const RECORDING_MODES = ['off', 'mono', 'stereo'] as const;

/**
 * PARLEY_RECORDING (file key `recording`) = off (default) | mono | stereo: the mode of calls whose
 * profile does not say. Recordings go to `<PARLEY_DATA_DIR>/recordings/<call id>.wav`.
 */
export function readRecordingConfig(r: ConfigReader): RecordingMode {
  return r.oneOf('PARLEY_RECORDING', 'recording', RECORDING_MODES, 'off');
}
