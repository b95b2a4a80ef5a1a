/**
 * The calls page's controller (docs/notes/calls-page.md): log in (server key or demo password → a
 * login cookie), the calls in progress (polled from GET v1/calls/live) and the recent ones (GET v1/calls,
 * newest first, "Load more" follows next_cursor); a picked call shows its record (transcript as a chat,
 * tool calls, timings, cost, end reason, the recording) or, while it is in progress, its transcript as
 * it grows (EventSource on GET v1/calls/{id}/live), which turns into the record when the call ends.
 *
 * Test hook: `window.parleyCalls.snapshot()` returns the page's state as plain JSON.
 */
import { ApiError, getCall, listCalls, listLive, liveStreamUrl, login, logout, sessionState } from './api.ts';
import type { CallRecord, LiveSummary } from './api.ts';
import { LiveTranscript, recordChat, recordingUrl, timeMs, turnLatencies } from './model.ts';
import type { ChatLine, LiveLineData } from './model.ts';
import { $, callTitle, clearDetail, markSelected, renderCallList, renderChat, renderLiveFacts, renderLiveList, renderRecordFacts, setPlayer, setStatus, showDetail } from './view.ts';

const LIVE_POLL_MS = 2000;
const RECENT_POLL_MS = 10_000;
/** After a live call ends, how long to wait for its record to be written. */
const RECORD_WAIT_MS = 15_000;

interface Selected {
  id: string;
  mode: 'live' | 'record';
}

const state = {
  loggedIn: false,
  live: [] as LiveSummary[],
  recent: [] as CallRecord[],
  nextCursor: null as string | null,
  recentError: null as string | null,
  selected: null as Selected | null,
  record: null as CallRecord | null,
  liveCall: null as LiveSummary | null,
  transcript: null as LiveTranscript | null,
  stream: null as EventSource | null,
  streamState: 'none' as 'none' | 'connecting' | 'open' | 'ended' | 'closed',
  /** How the last watched live call ended (its stream's `end`). */
  lastEnd: null as { id: string; end_reason: string; ended_at: string; duration_ms: number } | null,
  errors: [] as string[],
};
let livePoll: ReturnType<typeof setTimeout> | null = null;
let recentPoll: ReturnType<typeof setTimeout> | null = null;
/** "Load more" was used: refreshes keep the older pages. */
let loadedMore = false;

function problem(text: string): void {
  state.errors.push(text);
  setStatus(text, 'error');
}

function onApiError(err: unknown, what: string): void {
  if (err instanceof ApiError && err.status === 401) {
    showLogin('Your login has expired; log in again.');
    return;
  }
  problem(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}

// --------------------------------------------------------------------------------------- login

function showLogin(hint = ''): void {
  state.loggedIn = false;
  stopPolling();
  closeStream();
  $('calls').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = hint;
  setStatus('Not logged in');
  ($('secret') as HTMLInputElement).focus();
}

function showCalls(): void {
  state.loggedIn = true;
  $('login').hidden = true;
  $('calls').hidden = false;
  $('logout').hidden = false;
  setStatus('Logged in', 'live');
  void refreshLive();
  void refreshRecent();
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('secret') as HTMLInputElement;
  const button = $('login-button') as HTMLButtonElement;
  button.disabled = true;
  $('login-error').textContent = '';
  login(input.value)
    .then(() => {
      input.value = '';
      showCalls();
    })
    .catch((err: unknown) => {
      const code = err instanceof ApiError ? err.code : '';
      $('login-error').textContent =
        code === 'wrong_secret' ? 'Wrong key or password.' : code === 'rate_limited' ? 'Too many tries; wait a minute.' : err instanceof Error ? err.message : String(err);
    })
    .finally(() => {
      button.disabled = false;
    });
});

$('logout').addEventListener('click', () => {
  void logout().then(() => showLogin());
});

// ---------------------------------------------------------------------------------------- lists

function stopPolling(): void {
  if (livePoll) clearTimeout(livePoll);
  if (recentPoll) clearTimeout(recentPoll);
  livePoll = recentPoll = null;
}

async function refreshLive(): Promise<void> {
  if (livePoll) clearTimeout(livePoll);
  livePoll = null;
  try {
    const before = new Set(state.live.map((c) => c.id));
    const { data } = await listLive();
    state.live = data;
    renderLiveList(data, state.selected?.id ?? null, pick);
    // a call that left the list has ended: its record is (about to be) in the recent calls
    if ([...before].some((id) => !data.some((c) => c.id === id))) setTimeout(() => void refreshRecent(), 300);
    if (state.selected?.mode === 'live') {
      const c = data.find((x) => x.id === state.selected?.id);
      if (c) state.liveCall = c;
    }
  } catch (err) {
    onApiError(err, 'Live calls');
  }
  if (state.loggedIn) livePoll = setTimeout(() => void refreshLive(), LIVE_POLL_MS);
}

async function refreshRecent(): Promise<void> {
  if (recentPoll) clearTimeout(recentPoll);
  recentPoll = null;
  try {
    const page = await listCalls(null);
    // keep what "Load more" added beyond the first page
    const first = new Set(page.data.map((c) => c.id));
    const older = loadedMore ? state.recent.filter((c) => !first.has(c.id)) : [];
    state.recent = [...page.data, ...older];
    if (!loadedMore) state.nextCursor = page.next_cursor;
    state.recentError = null;
    renderCallList(state.recent, state.selected?.id ?? null, state.nextCursor !== null, pick);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      state.recentError = 'Call records are not available on this server (GET /v1/calls answered 404).';
      $('calls-empty').hidden = false;
      $('calls-empty').textContent = state.recentError;
    } else onApiError(err, 'Recent calls');
  }
  if (state.loggedIn) recentPoll = setTimeout(() => void refreshRecent(), RECENT_POLL_MS);
}

$('more').addEventListener('click', () => {
  if (state.nextCursor === null) return;
  listCalls(state.nextCursor)
    .then((page) => {
      const have = new Set(state.recent.map((c) => c.id));
      state.recent.push(...page.data.filter((c) => !have.has(c.id)));
      state.nextCursor = page.next_cursor;
      loadedMore = true;
      renderCallList(state.recent, state.selected?.id ?? null, state.nextCursor !== null, pick);
    })
    .catch((err: unknown) => onApiError(err, 'More calls'));
});

// ------------------------------------------------------------------------------------- a call

function pick(id: string, live: boolean): void {
  if (live) openLive(id);
  else void openRecord(id);
}

function closeStream(): void {
  state.stream?.close();
  state.stream = null;
  if (state.streamState !== 'ended') state.streamState = 'closed';
}

function renderLive(): void {
  if (!state.transcript || !state.selected) return;
  const startMs = state.liveCall ? timeMs(state.liveCall.started_at) : undefined;
  renderChat(state.transcript.chat(), startMs);
}

function openLive(id: string): void {
  closeStream();
  state.selected = { id, mode: 'live' };
  state.record = null;
  state.transcript = new LiveTranscript();
  state.liveCall = state.live.find((c) => c.id === id) ?? null;
  markSelected(id);
  showDetail({ id, mode: 'live', title: state.liveCall ? callTitle(state.liveCall) : id, endReason: null });
  if (state.liveCall) renderLiveFacts(state.liveCall);
  setPlayer(null);
  $('transcript').replaceChildren();
  const transcript = state.transcript;
  const es = new EventSource(liveStreamUrl(id));
  state.stream = es;
  state.streamState = 'connecting';
  const mine = (): boolean => state.stream === es;
  es.addEventListener('open', () => {
    if (mine()) state.streamState = 'open';
  });
  es.addEventListener('call', (e) => {
    if (!mine()) return;
    const { call } = JSON.parse((e as MessageEvent<string>).data) as { call: LiveSummary };
    state.liveCall = call;
    showDetail({ id, mode: 'live', title: callTitle(call), endReason: null });
    renderLiveFacts(call);
  });
  es.addEventListener('line', (e) => {
    if (!mine()) return;
    transcript.line(JSON.parse((e as MessageEvent<string>).data) as LiveLineData);
    renderLive();
  });
  es.addEventListener('partial', (e) => {
    if (!mine()) return;
    const p = JSON.parse((e as MessageEvent<string>).data) as { item_id: string; delta: string };
    transcript.partial(p.item_id, p.delta);
    renderLive();
  });
  es.addEventListener('end', (e) => {
    if (!mine()) return;
    const end = JSON.parse((e as MessageEvent<string>).data) as { end_reason: string; ended_at: string; duration_ms: number };
    transcript.end(end);
    state.lastEnd = { id, ...end };
    state.streamState = 'ended';
    es.close(); // no reconnect: the call is over
    showDetail({ id, mode: 'live', title: state.liveCall ? callTitle(state.liveCall) : id, endReason: end.end_reason });
    renderLive();
    void refreshLive();
    void waitForRecord(id);
  });
  es.addEventListener('error', () => {
    if (!mine() || state.streamState === 'ended') return;
    if (es.readyState === EventSource.CLOSED) {
      // refused (401: logged out; 404: the call ended meanwhile) — the record may already be there
      state.streamState = 'closed';
      void sessionState()
        .then((s) => {
          if (!s.logged_in) showLogin('Your login has expired; log in again.');
          else void waitForRecord(id);
        })
        .catch(() => undefined);
    } else {
      setStatus('Live view reconnecting…', 'busy');
    }
  });
}

/** After a live call ends, switch to its record once the store has it. */
async function waitForRecord(id: string): Promise<void> {
  if (state.recentError !== null) return; // no call records on this server
  const deadline = Date.now() + RECORD_WAIT_MS;
  while (Date.now() < deadline) {
    if (state.selected?.id !== id) return;
    try {
      const r = await getCall(id);
      if (state.selected?.id === id && r.ended_at !== null && r.ended_at !== undefined) {
        showRecord(r);
        void refreshRecent();
        return;
      }
    } catch (err) {
      if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 0)) {
        onApiError(err, 'Call record');
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function showRecord(r: CallRecord): void {
  closeStream();
  state.selected = { id: r.id, mode: 'record' };
  state.record = r;
  state.transcript = null;
  markSelected(r.id);
  const endReason = typeof r['end_reason'] === 'string' ? r['end_reason'] : null;
  showDetail({ id: r.id, mode: 'record', title: callTitle(r), endReason });
  renderRecordFacts(r, turnLatencies(r));
  setPlayer(recordingUrl(r, location.origin));
  $('transcript').replaceChildren();
  renderChat(recordChat(r), timeMs(r['started_at']));
}

async function openRecord(id: string): Promise<void> {
  closeStream();
  state.selected = { id, mode: 'record' };
  markSelected(id);
  try {
    showRecord(await getCall(id));
  } catch (err) {
    // the list's copy is a record too
    const inList = state.recent.find((c) => c.id === id);
    if (inList && err instanceof ApiError && err.status !== 401) showRecord(inList);
    else onApiError(err, 'Call record');
  }
}

// ----------------------------------------------------------------------------------- test hook

function snapshot(): unknown {
  const chat: ChatLine[] = state.transcript ? state.transcript.chat() : state.record ? recordChat(state.record) : [];
  return {
    loggedIn: state.loggedIn,
    live: state.live.map((c) => c.id),
    recent: state.recent.map((c) => c.id),
    recentError: state.recentError,
    selected: state.selected,
    streamState: state.streamState,
    ended: state.lastEnd,
    chat: chat.map((l) => ({ role: l.role, text: l.text, pending: l.pending === true, latencyMs: l.latencyMs ?? null, tool: l.tool?.name ?? null })),
    errors: state.errors,
  };
}

declare global {
  interface Window {
    parleyCalls: { snapshot(): unknown };
  }
}
window.parleyCalls = { snapshot };

// ------------------------------------------------------------------------------------------ start

sessionState()
  .then((s) => {
    const ways = [s.key_login ? 'a server API key' : null, s.password_login ? 'the demo password' : null].filter((x) => x !== null);
    $('login-hint').textContent =
      ways.length > 0 ? `Use ${ways.join(' or ')}. The page keeps a login cookie, never the key.` : 'Nobody can log in: the server has neither PARLEY_API_KEYS nor PARLEY_DEMO_PASSWORD.';
    if (s.logged_in) showCalls();
    else showLogin();
  })
  .catch((err: unknown) => problem(`Cannot reach the server: ${err instanceof Error ? err.message : String(err)}`));
clearDetail();
