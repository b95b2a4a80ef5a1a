/**
 * The benchmarks' null engines (registered as `cascade`, so the SIP and media-stream doors open sessions on
 * them), so that a figure is the door's own cost: each opens at once (session.created, conversation.created);
 * `echoEngine` answers each input_audio_buffer.append at once with an output audio delta over the same bytes —
 * one delta event per call, refilled with each frame (the append's chunk is valid during send()), nothing
 * allocated per frame; `silentEngine` says nothing. Used by bench/call-center.ts, bench/ab.ts,
 * bench/media-stream.ts and bench/outbound.ts; bench/sip.ts has its own (it can also do the cascade's media work).
 */
import type { EngineFactory, EngineOpenOptions } from '../../server/engines/index.ts';
import type { AudioChunk } from '../../server/protocol/index.ts';

/** session.created and conversation.created, as an engine sends them once open. */
function announce(opts: EngineOpenOptions): void {
  let n = 0;
  queueMicrotask(() => {
    opts.callbacks.onEvent({ type: 'session.created', event_id: `evt_${++n}`, session: opts.session });
    opts.callbacks.onEvent({ type: 'conversation.created', event_id: `evt_${++n}`, conversation: { id: 'conv_1' } });
  });
}

/** Opens at once, says nothing. */
export function silentEngine(): EngineFactory {
  return () => ({
    name: 'cascade',
    open: async (opts) => {
      announce(opts);
      return { send: () => undefined, close: () => undefined };
    },
  });
}

/**
 * Each append back at once as an output delta over the same bytes; `onAppend` sees each append's audio first
 * (count frames, read a timestamp). `chunks` is the AudioChunk class of the tree under test (bench/ab.ts loads two).
 */
export function echoEngine(chunks: Pick<typeof AudioChunk, 'fromBytes'>, onAppend?: (audio: AudioChunk) => void): EngineFactory {
  return () => ({
    name: 'cascade',
    open: async (opts) => {
      announce(opts);
      const item = `item_${Math.random().toString(36).slice(2)}`;
      const delta = { type: 'response.output_audio.delta' as const, event_id: 'evt_x', response_id: 'resp_1', item_id: item, output_index: 0, content_index: 0, delta: chunks.fromBytes(new Uint8Array(0)) };
      return {
        send: (ev) => {
          if (ev.type !== 'input_audio_buffer.append') return;
          onAppend?.(ev.audio);
          delta.delta = ev.audio;
          opts.callbacks.onEvent(delta);
        },
        close: () => undefined,
      };
    },
  });
}
