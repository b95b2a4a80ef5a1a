import { describe, expect, it } from 'vitest';
import { join, dirname } from 'node:path';
import { recordingPath, recordingsDir } from '../../../../server/recording/paths.ts';
import { parseRange } from '../../../../server/routes/recording.ts';

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

describe('parseRange (RFC 9110 §14: one byte range)', () => {
  it('reads bytes=a-b, a-, -n; clamps the end; refuses a start past the end; ignores what it cannot serve', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=100-200', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-1', 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-9', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=-', 100)).toBeNull();
  });
});
