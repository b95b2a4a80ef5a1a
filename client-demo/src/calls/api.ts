/**
 * The calls page's side of the wire. Every request is same-origin with the page's login cookie
 * (HttpOnly, set by POST calls/session): no key is ever held by the page or put in a URL.
 * URLs are relative to the page, so it also works behind a path prefix.
 */

export const SESSION_URL = 'calls/session';
export const CALLS_URL = 'v1/calls';
export const LIVE_LIST_URL = 'v1/calls/live';

export const liveStreamUrl = (id: string): string => `v1/calls/${encodeURIComponent(id)}/live`;
export const callUrl = (id: string): string => `v1/calls/${encodeURIComponent(id)}`;

export class ApiError extends Error {
  readonly code: string;
  constructor(readonly status: number, code: string | undefined, message: string) {
    super(message);
    this.code = code ?? `http_${status}`;
  }
}

async function parse<T>(res: Response): Promise<T> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, err?.code, err?.message ?? `HTTP ${res.status}`);
  }
  return body as T;
}

async function get<T>(url: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'unreachable', 'The server cannot be reached.');
  }
  return parse<T>(res);
}

export interface PageSessionState {
  logged_in: boolean;
  password_login: boolean;
  key_login: boolean;
}

export const sessionState = (): Promise<PageSessionState> => get<PageSessionState>(SESSION_URL);

export async function login(secret: string): Promise<void> {
  const res = await fetch(SESSION_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ secret }),
  });
  await parse<unknown>(res);
}

export async function logout(): Promise<void> {
  await fetch(SESSION_URL, { method: 'DELETE', credentials: 'same-origin' }).catch(() => undefined);
}

export type CallRecord = Record<string, unknown> & { id: string };

export interface CallPage {
  data: CallRecord[];
  next_cursor: string | null;
}

export function listCalls(cursor: string | null): Promise<CallPage> {
  return get<CallPage>(cursor === null ? CALLS_URL : `${CALLS_URL}?cursor=${encodeURIComponent(cursor)}`);
}

export const getCall = (id: string): Promise<CallRecord> => get<CallRecord>(callUrl(id));

export interface LiveSummary {
  id: string;
  door: string;
  started_at: string;
  answered_at: string | null;
  profile: string | null;
  from: string | null;
  to: string | null;
  engine: string | null;
  lines: number;
  last_line_at: string | null;
}

export const listLive = (): Promise<{ data: LiveSummary[] }> => get<{ data: LiveSummary[] }>(LIVE_LIST_URL);
