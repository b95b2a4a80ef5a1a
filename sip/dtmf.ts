/**
 * DTMF: RFC 4733 telephone-events in RTP, and SIP INFO `application/dtmf-relay` bodies.
 *
 * RFC 4733 §2.3 payload (4 bytes):
 *  0                   1                   2                   3
 * |     event     |E|R| volume    |          duration             |
 * One event keeps one RTP timestamp (its start); the duration grows; the end packet (E=1) is sent 3 times.
 */
export const DTMF_DIGITS = '0123456789*#ABCD';

export function eventToDigit(event: number): string | undefined {
  return event < 16 ? DTMF_DIGITS[event] : undefined;
}

export function digitToEvent(digit: string): number {
  return DTMF_DIGITS.indexOf(digit.toUpperCase());
}

export function isValidDtmf(digits: string): boolean {
  return digits.length > 0 && [...digits].every((d) => digitToEvent(d) >= 0 || d === ',');
}

export interface DtmfDigit {
  digit: string;
  durationMs: number;
  source: 'rfc4733' | 'info';
}

/**
 * RFC 4733 receiver: reports each digit once, at its end. End packets arrive 3 times (de-duplicated on the event's
 * RTP timestamp); a missing marker bit is tolerated (a new timestamp starts a new event); if every end packet of a
 * digit is lost, the digit is reported when the next event starts or after `flushTimeoutMs` of silence (checkIdle()).
 */
export class DtmfReceiver {
  private currentTs = -1;
  private currentEvent = -1;
  private currentDuration = 0;
  private reported = true;
  private lastPacketMs = 0;
  private readonly clockRateHz: number;

  constructor(clockRateHz: number) {
    this.clockRateHz = clockRateHz;
  }

  /** Feed one telephone-event payload. Returns a digit when one completes. */
  push(payload: Uint8Array, rtpTimestamp: number, nowMs: number): DtmfDigit | undefined {
    if (payload.length < 4) return undefined;
    const event = payload[0] as number;
    const end = ((payload[1] as number) & 0x80) !== 0;
    const duration = ((payload[2] as number) << 8) | (payload[3] as number);
    this.lastPacketMs = nowMs;
    let out: DtmfDigit | undefined;
    if (rtpTimestamp !== this.currentTs) {
      if (!this.reported) out = this.report(); // previous event lost its end packets
      this.currentTs = rtpTimestamp;
      this.currentEvent = event;
      this.currentDuration = duration;
      this.reported = false;
    } else if (duration > this.currentDuration) this.currentDuration = duration;
    if (end && !this.reported) {
      const d = this.report();
      return out ?? d; // (both at once only if ends were lost and a 1-packet event followed: rare; the older wins)
    }
    return out;
  }

  /** Report a digit whose end packets never came, after `idleMs` without packets. */
  checkIdle(nowMs: number, idleMs = 1000): DtmfDigit | undefined {
    if (!this.reported && nowMs - this.lastPacketMs >= idleMs) return this.report();
    return undefined;
  }

  private report(): DtmfDigit | undefined {
    this.reported = true;
    const digit = eventToDigit(this.currentEvent);
    if (digit === undefined) return undefined;
    return { digit, durationMs: Math.round((this.currentDuration * 1000) / this.clockRateHz), source: 'rfc4733' };
  }
}

/** Write one RFC 4733 payload into `buf` (4 bytes). */
export function writeDtmfPayload(buf: Uint8Array, offset: number, event: number, end: boolean, volume: number, duration: number): void {
  buf[offset] = event & 0xff;
  buf[offset + 1] = (end ? 0x80 : 0) | (volume & 0x3f);
  buf[offset + 2] = (duration >>> 8) & 0xff;
  buf[offset + 3] = duration & 0xff;
}

/**
 * Parse a SIP INFO body: `application/dtmf-relay` ("Signal=5\r\nDuration=160") or `application/dtmf` ("5").
 */
export function parseDtmfInfo(contentType: string, body: string): DtmfDigit | undefined {
  const ct = contentType.toLowerCase();
  let signal: string | undefined;
  let durationMs = 160;
  if (ct.includes('dtmf-relay')) {
    signal = /signal\s*=\s*(\S+)/i.exec(body)?.[1];
    const d = /duration\s*=\s*(\d+)/i.exec(body)?.[1];
    if (d) durationMs = Number(d);
  } else if (ct.includes('application/dtmf')) {
    signal = body.trim();
  }
  if (!signal) return undefined;
  if (/^\d+$/.test(signal) && Number(signal) >= 10 && Number(signal) <= 15) signal = eventToDigit(Number(signal));
  if (!signal || signal.length !== 1 || digitToEvent(signal) < 0) return undefined;
  return { digit: signal.toUpperCase(), durationMs, source: 'info' };
}
