/**
 * SDES in the SDP (sip/sdp.ts, RFC 4568) under each PARLEY_SRTP mode: which offers are taken (and with which
 * key), which get 488, and what our answer and our own offer carry.
 */
import { describe, expect, it } from 'vitest';
import { buildLocalSdp, readRemoteAudio } from '../../../sip/sdp.ts';
import type { SrtpMode } from '../../../sip/sdp.ts';

const KEY = Buffer.from(Array.from({ length: 30 }, (_v, i) => i + 1));
const INLINE = KEY.toString('base64');

const offer = (profile: string, crypto: string[] = []): string =>
  ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', `m=audio 4000 ${profile} 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...crypto, 'a=sendrecv', ''].join('\r\n');

const code = (fn: () => unknown): { code: string; status: number | undefined; message: string } | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    const e = err as { code: string; status: number | undefined; message: string };
    return { code: e.code, status: e.status, message: e.message };
  }
};

describe('SDES offer/answer by PARLEY_SRTP', () => {
  const savp = offer('RTP/SAVP', [`a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${INLINE}`, `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^31`]);
  const avpCrypto = offer('RTP/AVP', [`a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}`]);
  const plain = offer('RTP/AVP');
  const take = (sdp: string, mode: SrtpMode) => readRemoteAudio(sdp, ['PCMU'], mode);

  it('off: plain only; an RTP/SAVP-only offer → 488, crypto lines on RTP/AVP ignored', () => {
    expect(code(() => take(savp, 'off'))).toMatchObject({ code: 'SIP_ERR_NO_CODEC', status: 488 });
    expect(code(() => take(savp, 'off'))?.message).toMatch(/PARLEY_SRTP is off/);
    expect(take(avpCrypto, 'off').srtp).toBeUndefined();
    expect(take(plain, 'off').srtp).toBeUndefined();
  });

  it('offer: SRTP when offered (the 80-bit suite, its tag and key), plain otherwise', () => {
    const r = take(savp, 'offer');
    expect(r.profile).toBe('RTP/SAVP');
    expect(r.srtp?.tag).toBe(2); // the _32 line is passed over
    expect(Buffer.from(r.srtp!.keySalt).equals(KEY)).toBe(true);
    expect(take(avpCrypto, 'offer')).toMatchObject({ profile: 'RTP/AVP', srtp: { tag: 3 } });
    expect(take(plain, 'offer').srtp).toBeUndefined();
  });

  it('required: plain → 488; SRTP taken', () => {
    expect(code(() => take(plain, 'required'))).toMatchObject({ code: 'SIP_ERR_NO_CODEC', status: 488 });
    expect(code(() => take(plain, 'required'))?.message).toMatch(/PARLEY_SRTP is required/);
    expect(take(savp, 'required').srtp?.tag).toBe(2);
    expect(take(avpCrypto, 'required').srtp?.tag).toBe(3);
  });

  it('crypto lines we cannot use: an MKI, a short key, session parameters, another suite → 488 on RTP/SAVP', () => {
    for (const line of [
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^20|1:4`,
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY.subarray(0, 20).toString('base64')}`,
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} UNENCRYPTED_SRTP`,
      `a=crypto:1 AEAD_AES_128_GCM inline:${INLINE}`,
    ]) {
      expect(code(() => take(offer('RTP/SAVP', [line]), 'offer')), line).toMatchObject({ code: 'SIP_ERR_NO_CODEC', status: 488 });
    }
  });

  it('our answer mirrors the profile and tag with our key; our offer: RTP/AVP + crypto (offer), RTP/SAVP (required)', () => {
    const ours = Buffer.alloc(30, 9);
    const answer = buildLocalSdp({
      address: '127.0.0.1',
      port: 40000,
      sessionId: '1',
      version: 1,
      direction: 'sendrecv',
      codec: { name: 'PCMU', payloadType: 0, clockRateHz: 8000, frameTimestampStep: 160 },
      srtp: { profile: 'RTP/SAVP', tag: 2, keySalt: ours },
    });
    expect(answer).toMatch(/^m=audio 40000 RTP\/SAVP 0\r$/m);
    expect(answer).toContain(`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${ours.toString('base64')}\r\n`);
    // read back by a peer in any SRTP mode
    expect(Buffer.from(readRemoteAudio(answer, ['PCMU'], 'required').srtp!.keySalt).equals(ours)).toBe(true);
    const o = buildLocalSdp({ address: '127.0.0.1', port: 40000, sessionId: '1', version: 1, direction: 'sendrecv', srtp: { profile: 'RTP/AVP', tag: 1, keySalt: ours } });
    expect(o).toMatch(/^m=audio 40000 RTP\/AVP /m);
    expect(o).toContain('a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:');
  });
});
