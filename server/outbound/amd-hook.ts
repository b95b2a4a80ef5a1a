/**
 * Where answering-machine detection plugs into an outbound call (docs/notes/outbound.md). When a call was
 * placed with `machine_detection` and a detector is installed (`OutboundCalls.setMachineDetector`), the
 * detector gets the answered leg as soon as the 200 OK is ACKed — before the session opens — with a tap on
 * the callee's audio (20 ms frames in `leg.format()`), and its result is stored on the call (`amd`).
 * Action `hangup` on `machine` hangs up here; `leave_message` and `continue` are the detector's to carry out.
 */
import type { CallAudioFormat, SipCall } from '../../sip/index.ts';

export type MachineDetectionAction = 'hangup' | 'leave_message' | 'continue';

/** `machine_detection` of POST /v1/calls, checked (`true` = `{}`: detect, action `continue`). */
export interface MachineDetectionOptions {
  action: MachineDetectionAction;
  /** What to say after the beep (action `leave_message`). */
  message?: string;
  /** Give up (result `unknown`) after this long. */
  timeoutMs?: number;
}

export interface AmdResult {
  result: 'human' | 'machine' | 'unknown';
  beep_at_ms?: number;
  decided_after_ms: number;
}

export interface AnsweredLeg {
  /** The call id (= the session's and the call record's). */
  readonly id: string;
  readonly call: SipCall;
  /** The callee's audio format now (the bridge sets it when it opens the session: μ-law for PCMU calls). */
  format(): CallAudioFormat;
  /** Receive the callee's audio from now on (views valid during the callback); returns the unsubscribe. */
  tap(fn: (chunk: Uint8Array) => void): () => void;
  /** When the 200 OK arrived (Date.now() ms). */
  readonly answeredAtMs: number;
}

export interface MachineDetector {
  detect(leg: AnsweredLeg, opts: MachineDetectionOptions): Promise<AmdResult>;
}
