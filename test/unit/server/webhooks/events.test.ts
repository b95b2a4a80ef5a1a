/**
 * The webhook observer's turn.completed waits briefly for the caller's transcript (it often lands
 * after the reply started), and a call's end — from the session or from the call records, whichever
 * comes first — lets a waiting turn go first, so call.ended stays the call's last event.
 */
import { describe, expect, it } from 'vitest';
import { WebhookEvents, callEndedEventId, type OutboxRowInput } from '../../../../server/webhooks/index.ts';
import type { SessionInfo, SessionObserver } from '../../../../server/session/index.ts';
import type { ServerEvent } from '../../../../server/protocol/index.ts';

const info: SessionInfo = { id: 'sess_t', leg: 'sip', callId: undefined, metadata: {}, startedAt: Date.now(), profile: 'support', call: { from: '100', to: '200' }, recording: 'off' };
const done = (id: string, text: string): ServerEvent =>
  ({ type: 'response.done', event_id: 'e1', response: { id, status: 'completed', output: [{ id: `item_${id}`, type: 'message', role: 'assistant', content: [{ type: 'output_audio', transcript: text }] }], usage: { total_tokens: 7 } } }) as ServerEvent;
const heard = (itemId: string, transcript: string): ServerEvent =>
  ({ type: 'conversation.item.input_audio_transcription.completed', event_id: 'e2', item_id: itemId, content_index: 0, transcript }) as ServerEvent;

function setup(waitMs = 200): { rows: OutboxRowInput[]; events: WebhookEvents; obs: SessionObserver; body: (i: number) => { type: string; data: Record<string, unknown> } } {
  const rows: OutboxRowInput[] = [];
  const events = new WebhookEvents({ events: new Set(['call.started', 'call.ended', 'turn.completed']), sink: { push: (r) => rows.push(r) }, fromRecords: true, transcriptWaitMs: waitMs });
  const obs = events.observer(info) as SessionObserver;
  return { rows, events, obs, body: (i) => JSON.parse(rows[i]!.body) as { type: string; data: Record<string, unknown> } };
}

describe('turn.completed and call.ended order', () => {
  it('a transcript that lands after response.done (within the wait) is in the turn', async () => {
    const { rows, obs, body } = setup();
    obs.turn!({ kind: 'speech_stopped', atMs: Date.now(), itemId: 'item_u1', audioEndMs: 900 });
    obs.serverEvent!(done('resp_1', 'It is noon.'));
    expect(rows).toEqual([]);
    obs.serverEvent!(heard('item_u1', 'what time is it'));
    expect(rows.length).toBe(1);
    expect(body(0).data).toMatchObject({ turn: 1, user: { item_id: 'item_u1', text: 'what time is it' }, assistant: { item_ids: ['item_resp_1'], text: 'It is noon.' }, usage: { total_tokens: 7 } });
  });

  it('no transcript within the wait: the turn goes with user.text null', async () => {
    const { rows, obs, body } = setup(50);
    obs.turn!({ kind: 'speech_stopped', atMs: Date.now(), itemId: 'item_u1', audioEndMs: 900 });
    obs.serverEvent!(done('resp_1', 'Sorry?'));
    await new Promise((r) => setTimeout(r, 120));
    expect(body(0).data).toMatchObject({ user: { item_id: 'item_u1', text: null } });
    expect(rows.length).toBe(1);
  });

  it('the records report the end first: the waiting turn goes, then call.ended (with the derived id); the session close after adds nothing', () => {
    const { rows, events, obs, body } = setup(60_000);
    obs.turn!({ kind: 'speech_stopped', atMs: Date.now(), itemId: 'item_u1', audioEndMs: 900 });
    obs.serverEvent!(done('resp_1', 'Bye.'));
    events.ended({ id: 'sess_t', end_reason: 'caller_hangup', ended_at: new Date().toISOString() } as { id: string });
    obs.closed!(info, { reason: 'bye', endReason: 'caller_hangup', code: null, durationMs: 1000, engine: 'openai' });
    expect(rows.map((r) => r.type)).toEqual(['turn.completed', 'call.ended']);
    expect(rows[1]!.id).toBe(callEndedEventId('sess_t'));
    expect(body(1).data).toMatchObject({ call_id: 'sess_t', end_reason: 'caller_hangup', recording_url: null });
  });

  it('the session closes first: the waiting turn goes at the close, call.ended when the records report', () => {
    const { rows, events, obs } = setup(60_000);
    obs.turn!({ kind: 'speech_stopped', atMs: Date.now(), itemId: 'item_u1', audioEndMs: 900 });
    obs.serverEvent!(done('resp_1', 'Bye.'));
    obs.closed!(info, { reason: 'bye', endReason: 'caller_hangup', code: null, durationMs: 1000, engine: 'openai' });
    expect(rows.map((r) => r.type)).toEqual(['turn.completed']);
    events.ended({ id: 'sess_t' });
    expect(rows.map((r) => r.type)).toEqual(['turn.completed', 'call.ended']);
  });
});
