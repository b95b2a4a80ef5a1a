/**
 * Typed events → GA wire JSON, at the wire edges only (the WS door, the `openai` engine's upstream,
 * media-stream doors). The two hot events (an audio append, an audio delta) are written by hand
 * around the chunk's base64 (no JSON.stringify over the audio); everything else is JSON.stringify,
 * where an `AudioChunk` writes itself as base64 (`toJSON`).
 */
import type { ClientEvent, ServerEvent } from './types.ts';

/** A JSON string literal; ids are plain ASCII, so this is usually the fast branch. */
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

export function serializeServerEvent(ev: ServerEvent): string {
  switch (ev.type) {
    case 'response.output_audio.delta': {
      // keep any extra fields a newer upstream added
      let extra = '';
      for (const k in ev) {
        if (k === 'type' || k === 'event_id' || k === 'response_id' || k === 'item_id' || k === 'output_index' || k === 'content_index' || k === 'delta') continue;
        extra += `,${str(k)}:${JSON.stringify(ev[k])}`;
      }
      return `{"type":"response.output_audio.delta","event_id":${str(ev.event_id)},"response_id":${str(ev.response_id)},"item_id":${str(ev.item_id)},"output_index":${ev.output_index},"content_index":${ev.content_index}${extra},"delta":"${ev.delta.base64()}"}`;
    }
    case 'parley.passthrough':
      return JSON.stringify(ev.event);
    default:
      return JSON.stringify(ev);
  }
}

export function serializeClientEvent(ev: ClientEvent): string {
  if (ev.type === 'input_audio_buffer.append') {
    const head = ev.event_id === undefined ? '{"type":"input_audio_buffer.append"' : `{"type":"input_audio_buffer.append","event_id":${str(ev.event_id)}`;
    return `${head},"audio":"${ev.audio.base64()}"}`;
  }
  return JSON.stringify(ev);
}
