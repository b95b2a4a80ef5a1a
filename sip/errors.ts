/** Coded errors of the SIP door: a ParleyError subclass (docs/contracts.md §0). Match on `code`, never on the message. */
// a leaf: imported directly so that the error family does not load the audio core (docs/contracts.md §0)
import { ParleyError, type ParleyErrorOptions } from '../audio/errors.ts';

/** The SIP door's codes. */
export const SIP_ERROR_CODES = {
  SIP_ERR_BIND: 'a SIP or RTP socket could not be bound',
  SIP_ERR_NO_RTP_PORT: 'the RTP port range is exhausted',
  SIP_ERR_NO_CODEC: 'nothing in the offer matches what we support (488)',
  SIP_ERR_BAD_SDP: 'the SDP could not be parsed or has no usable audio stream (488 / 400)',
  SIP_ERR_NO_ROUTE: 'a message has no destination (no Via, no flow)',
  SIP_ERR_CALL_ENDED: 'an operation on a call that has ended',
  SIP_ERR_TRANSFER_FAILED: 'REFER rejected or the transfer did not complete',
  SIP_ERR_BAD_DTMF: 'digits outside 0-9 * # A-D',
  SIP_ERR_CONFIG: 'invalid SIP configuration',
  SIP_ERR_BAD_URI: 'an outbound destination or caller that is not a valid SIP URI or number',
} as const;

export type SipErrorCode = keyof typeof SIP_ERROR_CODES;

export class SipError extends ParleyError {
  declare readonly code: SipErrorCode;
  /** The SIP status answered (or received) for this failure, when there is one. */
  readonly status: number | undefined;
  constructor(code: SipErrorCode, message: string, opts: ParleyErrorOptions & { status?: number } = {}) {
    super(code, message, opts);
    this.status = opts.status;
  }
}
