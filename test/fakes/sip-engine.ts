/**
 * A small scripted GA engine for SIP bridge tests (stands in where the local engine's speech stack would
 * make timing unmeasurable). It speaks a tone as `response.output_audio.delta` (faster than real time, like
 * real engines), detects the caller's speech by energy and emits `input_audio_buffer.speech_started`,
 * can call a server tool in a response, and records every client event it gets.
 */
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from '../../audio/index.ts';
import type { Engine, EngineConnection, EngineFactory, EngineOpenOptions } from '../../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEvent } from '../../server/protocol/index.ts';

export interface ScriptedOptions {
  /** Speak this many ms of tone when the first audio arrives. */
  greetMs?: number;
  /** In the greeting response, also call this tool. */
  tool?: { name: string; args: Record<string, unknown> };
  /** Mean absolute sample value above which input counts as speech. */
  speechLevel?: number;
  onSpeechStarted?: () => void;
  /** The engine goes away (onClose) this long after its greeting. */
  dieAfterMs?: number;
}

export class ScriptedEngineProbe {
  readonly received: ClientEvent[] = [];
  readonly appendedBytes: Buffer[] = [];
  format = '';
  conns: ScriptedConn[] = [];
}

let n = 0;
const id = (p: string): string => `${p}_${(++n).toString(36)}${Date.now().toString(36)}`;

class ScriptedConn implements EngineConnection {
  private readonly opts: EngineOpenOptions;
  private readonly s: ScriptedOptions;
  private readonly probe: ScriptedEngineProbe;
  private greeted = false;
  private speaking = false;
  private closed = false;

  constructor(opts: EngineOpenOptions, s: ScriptedOptions, probe: ScriptedEngineProbe) {
    this.opts = opts;
    this.s = s;
    this.probe = probe;
    const fmt = opts.session.audio?.input?.format as { type?: string } | undefined;
    probe.format = fmt?.type ?? 'audio/pcm';
    queueMicrotask(() => {
      this.emit({ type: 'session.created', session: opts.session });
      this.emit({ type: 'conversation.created', conversation: { id: id('conv'), object: 'realtime.conversation' } });
    });
  }

  private emit(ev: Record<string, unknown>): void {
    if (this.closed) return;
    this.opts.callbacks.onEvent({ event_id: id('evt'), ...ev } as ServerEvent);
  }

  send(event: ClientEvent): void {
    // an append's chunk is the door's, refilled every frame: keep a copy
    this.probe.received.push(event.type === 'input_audio_buffer.append' ? { ...event, audio: event.audio.copy() } : event);
    if (event.type === 'input_audio_buffer.append') {
      const bytes = Buffer.from(event.audio.bytes());
      this.probe.appendedBytes.push(bytes);
      if (!this.greeted) {
        this.greeted = true;
        if (this.s.greetMs) this.respond(this.s.greetMs, this.s.tool);
        if (this.s.dieAfterMs !== undefined) {
          setTimeout(() => {
            if (this.closed) return;
            this.closed = true;
            this.opts.callbacks.onClose({ code: 1000, reason: 'scripted engine ended the conversation' });
          }, this.s.dieAfterMs);
        }
      }
      const pcm = this.probe.format === 'audio/pcmu' ? mulawDecode(bytes) : this.probe.format === 'audio/pcma' ? alawDecode(bytes) : new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
      let sum = 0;
      for (const v of pcm) sum += Math.abs(v);
      const level = pcm.length ? sum / pcm.length : 0;
      if (!this.speaking && level > (this.s.speechLevel ?? 2000)) {
        this.speaking = true;
        this.emit({ type: 'input_audio_buffer.speech_started', audio_start_ms: 0, item_id: id('item') });
        this.s.onSpeechStarted?.();
      }
    } else if (event.type === 'conversation.item.truncate') {
      this.emit({ type: 'conversation.item.truncated', item_id: event.item_id, content_index: 0, audio_end_ms: event.audio_end_ms });
    } else if (event.type === 'response.create') {
      this.respond(300);
    }
  }

  /** One response: `ms` of a 440 Hz tone, optionally a tool call. */
  private respond(ms: number, tool?: { name: string; args: Record<string, unknown> }): void {
    const responseId = id('resp');
    const itemId = id('item');
    this.emit({ type: 'response.created', response: { id: responseId, object: 'realtime.response', status: 'in_progress', output: [] } });
    const g711 = this.probe.format === 'audio/pcmu' || this.probe.format === 'audio/pcma';
    const rate = g711 ? 8000 : 24000;
    const chunkMs = 200;
    const output: Record<string, unknown>[] = [];
    let phase = 0;
    for (let t = 0; t < ms; t += chunkMs) {
      const samples = new Int16Array((rate * Math.min(chunkMs, ms - t)) / 1000);
      for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((phase += (2 * Math.PI * 440) / rate)));
      const bytes = this.probe.format === 'audio/pcmu' ? mulawEncode(samples) : this.probe.format === 'audio/pcma' ? alawEncode(samples) : new Uint8Array(samples.buffer);
      this.emit({ type: 'response.output_audio.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(bytes) });
    }
    output.push({ id: itemId, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_audio', transcript: 'tone' }] });
    if (tool) {
      const item = { id: id('item'), type: 'function_call', status: 'completed', name: tool.name, call_id: id('call'), arguments: JSON.stringify(tool.args) };
      this.emit({ type: 'response.output_item.done', response_id: responseId, output_index: 1, item });
      output.push(item);
    }
    this.emit({ type: 'response.done', response: { id: responseId, object: 'realtime.response', status: 'completed', output } });
  }

  close(): void {
    this.closed = true;
  }
}

export function scriptedEngine(s: ScriptedOptions, probe: ScriptedEngineProbe): EngineFactory {
  return (): Engine => ({
    name: 'cascade',
    open: async (opts: EngineOpenOptions) => {
      const c = new ScriptedConn(opts, s, probe);
      probe.conns.push(c);
      return c;
    },
  });
}
