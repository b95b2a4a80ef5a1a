/** server/live: the live view of calls in progress and who may read calls (docs/notes/calls-page.md). */
export { LiveCalls, LIVE_MAX_LINES_PER_CALL, LIVE_MAX_LINE_CHARS, LIVE_MAX_WATCHERS_PER_CALL } from './live-calls.ts';
export type { LiveLine, LiveRole, LiveToolCall, LiveCallSummary, LiveEnd, LiveEvent, LiveListener, LiveSnapshot, LiveCallsOptions } from './live-calls.ts';
export { registerLiveRoutes, LIVE_PING_MS, LIVE_MAX_BUFFERED_BYTES } from './routes.ts';
export { PAGE_COOKIE, PAGE_SESSION_TTL_S, PageSessions, authorizeCallsRead, refuseCallsRead, requireCallsRead, pageSessionsOf, cookieValue, type CallsReadAuth } from './page-auth.ts';
