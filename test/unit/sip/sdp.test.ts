import { describe, expect, it } from 'vitest';
import { buildLocalSdp, mirrorDirection, readRemoteAudio } from '../../../sip/sdp.ts';

const offer = (m: string, extra: string[] = [], c = '192.0.2.2'): string =>
  ['v=0', 'o=- 1 1 IN IP4 192.0.2.2', 's=-', `c=IN IP4 ${c}`, 't=0 0', m, ...extra, ''].join('\r\n');

describe('SDP offer/answer', () => {
  it('picks PCMU first and telephone-event at 8000, mirroring payload types', () => {
    const r = readRemoteAudio(offer('m=audio 30000 RTP/AVP 8 0 96 101', ['a=rtpmap:96 opus/48000/2', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv']));
    expect(r.codec).toEqual({ name: 'PCMU', payloadType: 0, clockRateHz: 8000, frameTimestampStep: 160 });
    expect(r.telephoneEvent).toEqual({ payloadType: 101, clockRateHz: 8000 });
    expect(r).toMatchObject({ address: '192.0.2.2', port: 30000, rtcpPort: 30001, direction: 'sendrecv' });
  });

  it('accepts static payload types without rtpmap, and Opus with telephone-event/48000', () => {
    expect(readRemoteAudio(offer('m=audio 4000 RTP/AVP 8')).codec.name).toBe('PCMA');
    const o = readRemoteAudio(
      offer('m=audio 4000 RTP/AVP 96 97 98', ['a=rtpmap:96 opus/48000/2', 'a=rtpmap:97 telephone-event/8000', 'a=rtpmap:98 telephone-event/48000']),
    );
    expect(o.codec).toMatchObject({ name: 'opus', payloadType: 96, clockRateHz: 48000, frameTimestampStep: 960 });
    expect(o.telephoneEvent).toEqual({ payloadType: 98, clockRateHz: 48000 });
  });

  it('throws SIP_ERR_NO_CODEC (488) when nothing matches', () => {
    expect(() => readRemoteAudio(offer('m=audio 4000 RTP/AVP 18 3', ['a=rtpmap:18 G729/8000', 'a=rtpmap:3 GSM/8000']))).toThrowError(
      expect.objectContaining({ code: 'SIP_ERR_NO_CODEC', status: 488 }),
    );
    expect(() => readRemoteAudio(offer('m=audio 4000 RTP/SAVP 0'))).toThrowError(expect.objectContaining({ code: 'SIP_ERR_NO_CODEC' }));
    expect(() => readRemoteAudio(offer('m=video 4000 RTP/AVP 96'))).toThrowError(expect.objectContaining({ code: 'SIP_ERR_NO_CODEC' }));
  });

  it('reads hold: a=sendonly, a=inactive, and c=0.0.0.0', () => {
    expect(readRemoteAudio(offer('m=audio 4000 RTP/AVP 0', ['a=sendonly'])).direction).toBe('sendonly');
    expect(readRemoteAudio(offer('m=audio 4000 RTP/AVP 0', ['a=inactive'])).direction).toBe('inactive');
    expect(readRemoteAudio(offer('m=audio 4000 RTP/AVP 0', [], '0.0.0.0')).direction).toBe('sendonly');
    expect(mirrorDirection('sendonly')).toBe('recvonly');
    expect(mirrorDirection('recvonly')).toBe('sendonly');
    expect(mirrorDirection('inactive')).toBe('inactive');
    expect(mirrorDirection('sendrecv')).toBe('sendrecv');
  });

  it('builds an answer with one codec and an offer with all of them, both parseable back', () => {
    const answer = buildLocalSdp({
      address: '127.0.0.1',
      port: 40000,
      sessionId: '42',
      version: 2,
      direction: 'recvonly',
      codec: { name: 'PCMA', payloadType: 8, clockRateHz: 8000, frameTimestampStep: 160 },
      telephoneEvent: { payloadType: 100, clockRateHz: 8000 },
    });
    expect(answer).toContain('m=audio 40000 RTP/AVP 8 100\r\n');
    expect(answer).toContain('a=recvonly');
    expect(answer).toContain('o=parley 42 2 IN IP4 127.0.0.1');
    const back = readRemoteAudio(answer);
    expect(back.codec.name).toBe('PCMA');
    const late = buildLocalSdp({ address: '127.0.0.1', port: 40002, sessionId: '1', version: 1, direction: 'sendrecv' });
    expect(late).toContain('m=audio 40002 RTP/AVP 0 8 111 101 102');
    expect(readRemoteAudio(late).codec.name).toBe('PCMU');
  });
});
