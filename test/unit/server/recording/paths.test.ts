import { describe, expect, it } from 'vitest';
import { join, dirname } from 'node:path';
import { recordingPath, recordingsDir } from '../../../../server/recording/paths.ts';

describe('recordingPath', () => {
  it('is <dataDir>/recordings/<callId>.wav', () => {
    expect(recordingPath('/var/parley', 'sess_abc123')).toBe(join('/var/parley', 'recordings', 'sess_abc123.wav'));
    expect(recordingsDir('./data')).toBe(join('data', 'recordings'));
  });
  it('never leaves the recordings directory, whatever the id', () => {
    for (const id of ['../x', '..', '.', 'a/../../b', 'a\\b', 'x\0y', '']) {
      const p = recordingPath('/d', id);
      expect(dirname(p)).toBe(join('/d', 'recordings'));
    }
  });
});
