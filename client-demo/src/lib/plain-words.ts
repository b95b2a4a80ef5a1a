/**
 * Errors in plain words for the page. Decisions go by `code` / `type` / status, never by message
 * text; the server's message is only shown as a detail when nothing better is known.
 */

export interface RealtimeErrorBody {
  type?: unknown;
  code?: unknown;
  message?: unknown;
  param?: unknown;
  event_id?: unknown;
}

/** Error codes that are part of normal operation and need no message (docs/protocol.md §1.13). */
const BENIGN_CODES = new Set(['conversation_already_has_active_response', 'response_cancel_not_active']);

const BY_CODE: Record<string, string> = {
  invalid_api_key: 'The server did not accept the session key. Press Start to get a new one.',
  session_expired: 'The conversation reached its time limit. Press Start to talk again.',
  rate_limit_exceeded: 'The AI service is busy right now (rate limit). Wait a moment and try again.',
  insufficient_quota: 'The AI service account has run out of quota.',
  billing_hard_limit_reached: 'The AI service account has reached its spending limit.',
  account_deactivated: 'The AI service account is deactivated.',
  beta_api_shape_disabled: 'The server spoke an outdated protocol version to the AI service.',
  engine_unavailable: 'No speech engine is available on the server right now.',
};

/** Returns the sentence to show, or null when the error is harmless and needs no message. */
export function describeServerError(err: RealtimeErrorBody, opts: { fromTruncate?: boolean } = {}): string | null {
  const code = typeof err.code === 'string' ? err.code : '';
  if (BENIGN_CODES.has(code)) return null;
  // a truncate that lost a race with the end of the audio is not a problem (§1.11)
  if (opts.fromTruncate) return null;
  const known = BY_CODE[code] ?? BY_CODE[code.toLowerCase()];
  if (known) return known;
  const detail = typeof err.message === 'string' && err.message.trim() ? err.message.trim() : '';
  if (err.type === 'server_error') return `The AI service had a problem${detail ? `: ${detail}` : '.'}`;
  if (err.type === 'invalid_request_error') return `The server did not accept a request from this page${detail ? `: ${detail}` : '.'}`;
  return detail ? `Something went wrong: ${detail}` : 'Something went wrong on the server.';
}

/** Why the WebSocket closed, for people. `null` when the user closed it (nothing to report). */
export function describeClose(code: number, userInitiated: boolean): string | null {
  if (userInitiated) return null;
  switch (code) {
    case 1000:
      return 'The server ended the conversation.';
    case 1001:
      return 'The server is restarting or the conversation hit its time limit. Press Start to talk again.';
    case 1006:
      return 'The connection to the server was lost. Check the network and press Start.';
    case 1008:
    case 4001:
    case 4003:
      return 'The server refused the connection: the session key was missing, wrong or expired. Press Start again.';
    case 1011:
      return 'The server hit an internal error and ended the conversation.';
    case 1013:
      return 'The server is too busy right now. Try again in a moment.';
    default:
      return `The connection closed unexpectedly (code ${code}).`;
  }
}

/** The same-origin key endpoint answered `status`, with the error `code` of its body when it had one. */
export function describeKeyStatus(status: number, code?: string): string {
  if (code === 'demo_locked') return 'This server does not hand out demo keys: it is reachable beyond this computer and has no demo password or allowed page address set.';
  if (code === 'cross_origin' || code === 'origin_required') return 'This page\'s address may not start the demo. Open it at the address the server allows (e.g. http://127.0.0.1:8080/).';
  if (status === 401 || status === 403) return 'Wrong or missing demo password.';
  if (status === 404) return 'The voice demo is turned off on this server.';
  if (status === 429) return 'Too many attempts. Wait a minute and try again.';
  if (status >= 500) return 'The server could not create a session key. Try again later.';
  return `The server refused to start a session (HTTP ${status}).`;
}

/** getUserMedia / AudioWorklet failures, by DOMException name. */
export function describeMediaError(name: string): string {
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'Microphone access was blocked. Allow the microphone for this site and press Start again.';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return 'No microphone was found. Plug one in and press Start again.';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'The microphone is busy or failed to start (another application may be using it).';
    case 'OverconstrainedError':
      return 'The microphone does not support the requested settings.';
    case 'SecurityError':
    case 'InsecureContext':
      return 'The microphone needs a secure page: open the demo over https or on localhost.';
    case 'AudioStalled':
      return 'The browser could not start audio (is there a sound output device?). Check the sound settings and press Start again.';
    case 'NoAudioWorklet':
      return 'This browser cannot run the audio processing the demo needs (AudioWorklet). Use a current Chromium or Firefox.';
    default:
      return 'The microphone or the audio output could not be started.';
  }
}
