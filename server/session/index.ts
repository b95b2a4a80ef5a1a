/** server/session: sessions (contracts §4). */
export type { Session, SessionClient, SessionOpenOptions, PlaybackState, Leg } from './types.ts';
export { RealtimeSessionHandle, type FallbackPolicy, type SwitchReason } from './session.ts';
export { SessionManager, defaultFallbackPolicy, type SessionManagerDeps } from './manager.ts';
export { ConversationHistory } from './history.ts';
export { ResponseSequencer } from './sequencer.ts';
export { mergeSession, enforceSession, enforceResponse, type SessionPolicy, type Violation } from './config-merge.ts';
