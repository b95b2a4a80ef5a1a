/**
 * The calls page's DOM: the two lists, the call's facts, the player and the transcript as a chat.
 * Text goes in through `textContent` only (transcripts, numbers and tool output are untrusted).
 */
import type { CallRecord, LiveSummary } from './api.ts';
import { callDurationMs, describeCost, describeEndReason, formatDuration, formatUsage, latencySummary, timeMs } from './model.ts';
import type { ChatLine } from './model.ts';

export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el;
}

function span(cls: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

const clock = (ms: number | undefined): string => (ms === undefined ? '–' : new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
const dateTime = (ms: number | undefined): string => (ms === undefined ? '–' : new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }));

/** Who the call was with, in a few words. */
export function callTitle(c: { door?: unknown; from?: unknown; to?: unknown; id: string }): string {
  const from = typeof c.from === 'string' && c.from !== '' ? c.from : null;
  const to = typeof c.to === 'string' && c.to !== '' ? c.to : null;
  const door = typeof c.door === 'string' ? c.door.toUpperCase() : 'CALL';
  if (from && to) return `${from} → ${to}`;
  if (from) return `${door} from ${from}`;
  return `${door} ${c.id.slice(-8)}`;
}

export type Pick = (id: string, live: boolean) => void;

function listButton(id: string, title: string, when: string, why: string, live: boolean, current: boolean, pick: Pick): HTMLLIElement {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset.callId = id;
  b.setAttribute('aria-current', current ? 'true' : 'false');
  b.append(span('who', title), span(live ? 'why live-dot' : 'why', why), span('when', when));
  b.addEventListener('click', () => pick(id, live));
  li.append(b);
  return li;
}

export function renderLiveList(list: readonly LiveSummary[], selected: string | null, pick: Pick): void {
  const ul = $('live-list');
  ul.replaceChildren(
    ...list.map((c) =>
      listButton(c.id, callTitle(c), `since ${clock(timeMs(c.started_at))} · ${c.lines} line${c.lines === 1 ? '' : 's'}`, '● live', true, c.id === selected, pick),
    ),
  );
  $('live-empty').hidden = list.length > 0;
  const badge = $('live-count');
  badge.textContent = `live: ${list.length}`;
  badge.dataset.live = String(list.length);
}

export function renderCallList(list: readonly CallRecord[], selected: string | null, hasMore: boolean, pick: Pick): void {
  const ul = $('call-list');
  ul.replaceChildren(
    ...list.map((c) => {
      const d = callDurationMs(c);
      return listButton(c.id, callTitle(c), `${dateTime(timeMs(c['started_at']))} · ${formatDuration(d)}`, describeEndReason(c['end_reason']), false, c.id === selected, pick);
    }),
  );
  $('calls-empty').hidden = list.length > 0;
  $('more').hidden = !hasMore;
}

export function markSelected(id: string | null): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('.call-list button')) b.setAttribute('aria-current', b.dataset.callId === id ? 'true' : 'false');
}

function fact(dl: HTMLElement, name: string, value: string, key: string): void {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dd.dataset.fact = key;
  dl.append(dt, dd);
}

export interface DetailHead {
  id: string;
  mode: 'live' | 'record';
  title: string;
  /** Shown as the end badge (record, or a live call that just ended). */
  endReason: string | null;
}

export function showDetail(head: DetailHead): void {
  $('detail-empty').hidden = true;
  $('detail-body').hidden = false;
  const detail = $('detail');
  detail.dataset.mode = head.mode;
  detail.dataset.callId = head.id;
  $('detail-title').textContent = head.title;
  $('detail-live').hidden = head.mode !== 'live' || head.endReason !== null;
  const end = $('detail-end');
  end.hidden = head.endReason === null;
  end.textContent = head.endReason === null ? '' : describeEndReason(head.endReason);
  end.dataset.endReason = head.endReason ?? '';
}

export function clearDetail(): void {
  $('detail-empty').hidden = false;
  $('detail-body').hidden = true;
  $('detail').dataset.mode = 'none';
  delete $('detail').dataset.callId;
  setPlayer(null);
  $('transcript').replaceChildren();
}

export function renderLiveFacts(c: LiveSummary): void {
  const dl = $('facts');
  dl.replaceChildren();
  fact(dl, 'Door', c.door, 'door');
  fact(dl, 'Started', dateTime(timeMs(c.started_at)), 'started');
  if (c.from !== null) fact(dl, 'From', c.from, 'from');
  if (c.to !== null) fact(dl, 'To', c.to, 'to');
  if (c.profile !== null) fact(dl, 'Profile', c.profile, 'profile');
  if (c.engine !== null) fact(dl, 'Engine', c.engine, 'engine');
  $('timings').textContent = '';
}

export function renderRecordFacts(r: CallRecord, latencies: readonly number[]): void {
  const dl = $('facts');
  dl.replaceChildren();
  const s = (k: string): string | null => (typeof r[k] === 'string' && r[k] !== '' ? (r[k] as string) : null);
  fact(dl, 'Door', s('door') ?? '–', 'door');
  fact(dl, 'Started', dateTime(timeMs(r['started_at'])), 'started');
  fact(dl, 'Duration', formatDuration(callDurationMs(r)), 'duration');
  fact(dl, 'End reason', describeEndReason(r['end_reason']), 'end_reason');
  if (s('from')) fact(dl, 'From', s('from')!, 'from');
  if (s('to')) fact(dl, 'To', s('to')!, 'to');
  if (s('profile')) fact(dl, 'Profile', s('profile')!, 'profile');
  const engines = r['engines'];
  if (Array.isArray(engines) && engines.length > 0) fact(dl, 'Engines', engines.map((e) => (typeof e === 'string' ? e : typeof e === 'object' && e && 'name' in e ? String((e as { name: unknown }).name) : '?')).join(' → '), 'engines');
  else if (s('engine')) fact(dl, 'Engine', s('engine')!, 'engine');
  fact(dl, 'Cost', describeCost(r['cost']), 'cost');
  fact(dl, 'Usage', formatUsage(r['usage']), 'usage');
  const sum = latencySummary(latencies);
  $('timings').textContent = sum
    ? `Turn latency (speech stopped → first audio): ${latencies.map((l) => `${Math.round(l)} ms`).join(', ')} · median ${Math.round(sum.median)} ms, max ${Math.round(sum.max)} ms`
    : '';
}

export function setPlayer(src: string | null): void {
  const player = $('player') as HTMLAudioElement;
  if (src === null) {
    if (player.getAttribute('src') !== null) {
      player.pause();
      player.removeAttribute('src');
      player.load();
    }
    player.hidden = true;
    $('no-recording').hidden = $('detail').dataset.mode !== 'record';
    return;
  }
  if (player.getAttribute('src') !== src) player.src = src;
  player.hidden = false;
  $('no-recording').hidden = true;
}

const WHO: Record<ChatLine['role'], string> = { user: 'Caller', assistant: 'Agent', tool: 'Tool call' };

/** Renders the chat, reusing nodes by key (a growing live transcript only appends or updates). */
export function renderChat(lines: readonly ChatLine[], callStartMs: number | undefined): void {
  const chat = $('transcript');
  const nearBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
  const existing = new Map<string, HTMLElement>();
  for (const n of Array.from(chat.children) as HTMLElement[]) if (n.dataset.key) existing.set(n.dataset.key, n);
  const keep = new Set<string>();
  let prev: HTMLElement | null = null;
  for (const l of lines) {
    keep.add(l.key);
    let node = existing.get(l.key);
    if (!node) {
      node = document.createElement('div');
      node.dataset.key = l.key;
      const who = document.createElement('div');
      who.className = 'who';
      const text = document.createElement('div');
      text.className = 'text';
      const meta = document.createElement('div');
      meta.className = 'meta';
      node.append(who, text, meta);
    }
    node.className = `msg ${l.role}`;
    node.dataset.role = l.role;
    node.classList.toggle('pending', l.pending === true);
    node.classList.toggle('interrupted', l.interrupted === true);
    node.classList.toggle('over-agent', l.mark !== undefined);
    (node.querySelector('.who') as HTMLElement).textContent = WHO[l.role];
    const text = node.querySelector('.text') as HTMLElement;
    const meta = node.querySelector('.meta') as HTMLElement;
    const bits: string[] = [];
    if (l.atMs !== undefined) bits.push(callStartMs !== undefined ? `+${formatDuration(Math.max(0, l.atMs - callStartMs))}` : clock(l.atMs));
    if (l.tool) {
      text.replaceChildren();
      const call = document.createElement('code');
      call.className = 'call';
      call.textContent = `${l.tool.name}(${l.tool.arguments})`;
      text.append(call);
      if (l.tool.output !== undefined) {
        const out = document.createElement('code');
        out.className = l.tool.ok === false ? 'result status-bad' : 'result';
        out.textContent = `→ ${l.tool.output}`;
        text.append(out);
      }
      if (l.tool.durationMs !== undefined) bits.push(`${Math.round(l.tool.durationMs)} ms`);
      if (l.tool.ok === false) bits.push('failed');
    } else {
      text.textContent = l.heardText ?? (l.text || (l.pending ? '…' : ''));
      text.title = l.heardText !== undefined ? `Full reply: ${l.text}` : '';
      if (l.latencyMs !== undefined) bits.push(`reply after ${Math.round(l.latencyMs)} ms`);
      if (l.interrupted) bits.push('interrupted');
      if (l.mark === 'backchannel') bits.push('backchannel: the agent went on');
      else if (l.mark === 'false_interruption') bits.push('false interruption: the agent went on');
      if (l.pending) bits.push('speaking…');
    }
    meta.textContent = bits.join(' · ');
    // keep document order = line order
    const want: ChildNode | null = prev ? prev.nextSibling : chat.firstChild;
    if (want !== node) chat.insertBefore(node, want);
    prev = node;
  }
  for (const [key, node] of existing) if (!keep.has(key)) node.remove();
  if (nearBottom) chat.scrollTop = chat.scrollHeight;
}

export function setStatus(text: string, kind: 'idle' | 'busy' | 'live' | 'error' = 'idle'): void {
  const s = $('status');
  s.textContent = text;
  s.dataset.kind = kind;
}
