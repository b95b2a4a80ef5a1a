/** server/session: sessions (contracts §4). */
export type { Session, SessionClient, SessionOpenOptions, Leg, EndReason, RecordingMode, CallFacts } from './types.ts';
export type { SessionObserver, SessionObserverFactory, SessionInfo, SessionEnd, TurnMark, ToolCallReport, EngineSwitchReport, AgentAudioPosition } from './observer.ts';
export { ObserverSet } from './observer.ts';
export { PlayoutLedger } from './playout.ts';
export { RealtimeSessionHandle, type FallbackPolicy, type SwitchReason } from './session.ts';
export { SessionManager, defaultFallbackPolicy, type SessionManagerDeps } from './manager.ts';
export { ResponseSequencer } from './sequencer.ts';
export { mergeSession, enforceSession, enforceResponse, type SessionPolicy, type Violation } from './config-merge.ts';
