/** Coded errors of the SIP door. Match on `code`, never on the message. */
export type SipErrorCode =
  | 'SIP_ERR_BIND' // a SIP or RTP socket could not be bound
  | 'SIP_ERR_NO_RTP_PORT' // the RTP port range is exhausted
  | 'SIP_ERR_NO_CODEC' // nothing in the offer matches what we support (488)
  | 'SIP_ERR_BAD_SDP' // the SDP could not be parsed or has no usable audio stream (488 / 400)
  | 'SIP_ERR_NO_ROUTE' // a message has no destination (no Via, no flow)
  | 'SIP_ERR_CALL_ENDED' // an operation on a call that has ended
  | 'SIP_ERR_TRANSFER_FAILED' // REFER rejected or the transfer did not complete
  | 'SIP_ERR_BAD_DTMF' // digits outside 0-9 * # A-D
  | 'SIP_ERR_CONFIG'; // invalid SIP configuration

export class SipError extends Error {
  readonly code: SipErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(code: SipErrorCode, message: string, opts: { retryable?: boolean; status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SipError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.status = opts.status;
  }
}
