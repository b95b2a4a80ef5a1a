/**
 * DOM rendering: chat entries, the engine badge, the status line, the speech indicator and the
 * level meter. Text goes in through `textContent` only (transcripts and tool output are untrusted).
 */
import type { ChatEntry, EngineInfo } from './lib/conversation.ts';

export type SpeechState = 'offline' | 'listening' | 'user' | 'assistant' | 'ptt-idle';

const SPEECH_LABEL: Record<SpeechState, string> = {
  offline: 'Not connected',
  listening: 'Listening…',
  user: 'You are speaking',
  assistant: 'Agent speaking',
  'ptt-idle': 'Hold the button (or Space) to talk',
};

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el;
}

export function el<T extends HTMLElement>(id: string): T {
  return $(id) as T;
}

export class DemoView {
  private readonly chat = $('chat');
  private readonly elements = new Map<string, HTMLElement>();
  private readonly levelBar = $('level');
  private readonly speech = $('speech');
  private readonly status = $('status');
  private readonly engine = $('engine');
  private readonly statsLine = $('stats');
  private levelDb = -100;
  private shownLevel = 0;
  private rafPending = false;

  renderEntry(e: ChatEntry): void {
    let node = this.elements.get(e.key);
    const nearBottom = this.chat.scrollHeight - this.chat.scrollTop - this.chat.clientHeight < 80;
    if (!node) {
      node = document.createElement('div');
      node.className = `msg ${e.kind}`;
      node.dataset.kind = e.kind;
      if (e.itemId) node.dataset.itemId = e.itemId;
      const who = document.createElement('div');
      who.className = 'who';
      who.textContent = { user: 'You', assistant: 'Agent', tool: 'Tool call', error: 'Problem', notice: 'Note' }[e.kind];
      const text = document.createElement('div');
      text.className = 'text';
      const meta = document.createElement('div');
      meta.className = 'meta';
      node.append(who, text, meta);
      this.elements.set(e.key, node);
      this.chat.append(node);
    }
    const text = node.querySelector('.text') as HTMLElement;
    const meta = node.querySelector('.meta') as HTMLElement;
    if (e.kind === 'tool' && e.tool) {
      text.replaceChildren();
      const call = document.createElement('code');
      call.className = 'call';
      call.textContent = `${e.tool.name || 'tool'}(${e.tool.arguments})`;
      text.append(call);
      if (e.tool.output !== undefined) {
        const out = document.createElement('code');
        out.className = 'result';
        out.textContent = `→ ${e.tool.output}`;
        text.append(out);
      }
      meta.textContent = e.tool.output === undefined ? 'running…' : '';
    } else {
      const shown = e.heardText !== undefined ? e.heardText : e.text;
      text.textContent = shown || (e.final ? '' : '…');
      text.title = e.heardText !== undefined ? `Full reply: ${e.text}` : '';
      const bits: string[] = [];
      if (e.latencyMs !== undefined) bits.push(`reply after ${e.latencyMs} ms`);
      if (e.interrupted) bits.push('interrupted');
      meta.textContent = bits.join(' · ');
    }
    node.classList.toggle('pending', !e.final);
    node.classList.toggle('interrupted', e.interrupted === true);
    if (nearBottom) this.chat.scrollTop = this.chat.scrollHeight;
  }

  clearChat(): void {
    this.chat.replaceChildren();
    this.elements.clear();
  }

  setEngine(info: EngineInfo | null): void {
    this.engine.textContent = info ? `engine: ${info.engine}` : 'engine: –';
    this.engine.title = info ? `${info.reason}${info.detail ? `: ${info.detail}` : ''}` : '';
    this.engine.dataset.engine = info?.engine ?? '';
  }

  setStatus(text: string, kind: 'idle' | 'busy' | 'live' | 'error' = 'idle'): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  setSpeech(state: SpeechState): void {
    if (this.speech.dataset.state === state) return;
    this.speech.dataset.state = state;
    this.speech.textContent = SPEECH_LABEL[state];
  }

  setStats(text: string): void {
    this.statsLine.textContent = text;
  }

  /** Level from a mic frame; drawn at most once per animation frame with a falling peak. */
  setLevel(rmsDbfs: number): void {
    if (rmsDbfs > this.levelDb) this.levelDb = rmsDbfs;
    if (this.rafPending) return;
    this.rafPending = true;
    requestAnimationFrame(() => {
      this.rafPending = false;
      // −60 dBFS … 0 dBFS → 0 … 100 %
      const target = Math.max(0, Math.min(1, (this.levelDb + 60) / 60));
      this.shownLevel = target > this.shownLevel ? target : this.shownLevel * 0.85 + target * 0.15;
      this.levelBar.style.transform = `scaleX(${this.shownLevel.toFixed(3)})`;
      this.levelDb = -100;
    });
  }
}
