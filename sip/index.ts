/**
 * The SIP door (public face). `startSipServer(config, { onCall, log })` answers SIP calls over UDP and TCP
 * and hands each one to `onCall` as a SipCall: audio in/out (codec bytes or PCM), DTMF, hold, hang-up,
 * transfer, DTMF out, playout accounting, stats. Knows nothing of engines or sessions.
 */
export { startSipServer } from './server.ts';
export type { SipServer, SipServerDeps, SipMetrics, SipLoadReport } from './server.ts';
export { DEFAULT_SIP_CONFIG } from './config.ts';
export type { SipConfig } from './config.ts';
export type { SipCall, SipCallStats, CallEndInfo, CallEndReason, PlayoutState, SipCallEventMap } from './call.ts';
export type { CallAudioFormat } from './media-adapter.ts';
export type { DtmfDigit } from './dtmf.ts';
export { isValidDtmf } from './dtmf.ts';
export type { CodecName, NegotiatedCodec } from './sdp.ts';
export { SipError, SIP_ERROR_CODES } from './errors.ts';
export type { SipErrorCode } from './errors.ts';
export { SIP_URI_RE, NUMBER_RE, newCallId, resolveTarget, statusOfFinal } from './dial.ts';
export type { DialRequest, DialEvents, DialOutcome, DialStatus, OutboundDial, SipTrunk } from './dial.ts';
