/** server/profiles: agent profiles, routes, the incoming-call hook, the first message (docs/notes/profiles.md). */
export { Profiles, MaxCallTimer, withAudioFormat, SIP_CALL_TOOLS, INCOMING_CALL_METADATA_KEY, type CallPlan, type IncomingCall, type ProfilesDeps } from './profiles.ts';
export { pickProfile, routeMatches, matches, uriUserPart, type RouteFacts } from './routing.ts';
export { askIncomingCall, incomingCallBody, checkAnswerShape, MAX_ANSWER_BYTES } from './incoming-call.ts';
export type { IncomingCallFacts, IncomingCallAnswer, IncomingCallOverrides, IncomingCallHook, IncomingCallOutcome } from './incoming-call.ts';
export { firstMessageEvent, firstMessageInstructions } from './first-message.ts';
export type { ProfileConfig, RouteConfig, Matcher, IncomingCallConfig, ProfilesSettings } from '../config/profiles.ts';
export { DEFAULT_PROFILE } from '../config/profiles.ts';
