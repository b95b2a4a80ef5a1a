/**
 * Recordings through the whole server, on a WS call (the SIP call is in test/e2e/sip-baresip.test.ts):
 * a small engine that answers `response.create` with a burst of tone (or a call to the pause/resume
 * tools), a real WS client streaming its own tone in real time, PARLEY_RECORDING=stereo. The file is
 * read back with wavefile: caller left, agent right at its play time, the barge-in cut, paused time
 * silent (by API and by the agent's tool). The HTTP route: auth, 404s, byte ranges (206/416), HEAD.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { EngineFactory, EngineOpenOptions } from '../../server/engines/index.ts';
import { AudioChunk, type ClientEvent, type ServerEvent } from '../../server/protocol/index.ts';
import { recordingPath } from '../../server/recording/index.ts';
import { TEST_KEY, TestClient, sleep, startParley, until, type Parley } from './helpers.ts';

const { WaveFile } = wavefile;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const RATE = 24000;
let seq = 0;
const id = (p: string): string => `${p}_rec${++seq}`;

/** pcm16 24 kHz tone, `ms` long. */
function tone(ms: number, hz: number, amp: number): Int16Array {
  const n = (ms * RATE) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / RATE));
  return out;
}
const b64 = (x: Int16Array): string => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');

/**
 * The engine: `response.create` with instructions 'speak:<ms>' → that much 1 kHz tone as 100 ms deltas,
 * all at once (faster than real time, like a real engine); 'tool:<name>' → a call to that server tool;
 * anything else (the follow-up after a tool output) → an empty response.
 */
const toneEngine: EngineFactory = () => ({
  name: 'local',
  open: async (opts: EngineOpenOptions) => {
    const emit = (ev: Record<string, unknown>): void => opts.callbacks.onEvent({ event_id: id('evt'), ...ev } as ServerEvent);
    queueMicrotask(() => {
      emit({ type: 'session.created', session: opts.session });
      emit({ type: 'conversation.created', conversation: { id: id('conv'), object: 'realtime.conversation' } });
    });
    return {
      send(event: ClientEvent): void {
        if (event.type === 'session.update') emit({ type: 'session.updated', session: event['session'] });
        if (event.type !== 'response.create') return;
        const what = String((event.response as { instructions?: unknown } | undefined)?.instructions ?? '');
        const rid = id('resp');
        emit({ type: 'response.created', response: { id: rid, object: 'realtime.response', status: 'in_progress', output: [] } });
        const output: unknown[] = [];
        if (what.startsWith('speak:')) {
          const itemId = id('item');
          const all = tone(Number(what.slice(6)), 1000, 8000);
          for (let at = 0; at < all.length; at += RATE / 10) {
            const part = all.subarray(at, at + RATE / 10);
            emit({ type: 'response.output_audio.delta', response_id: rid, item_id: itemId, output_index: 0, content_index: 0, delta: AudioChunk.fromBytes(new Uint8Array(part.buffer, part.byteOffset, part.byteLength)) });
          }
          output.push({ id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_audio', transcript: 'beep' }] });
        } else if (what.startsWith('tool:')) {
          const item = { id: id('item'), object: 'realtime.item', type: 'function_call', status: 'completed', name: what.slice(5), call_id: id('call'), arguments: '{}' };
          emit({ type: 'response.output_item.done', response_id: rid, output_index: 0, item });
          output.push(item);
        }
        emit({ type: 'response.done', response: { id: rid, object: 'realtime.response', status: 'completed', output } });
      },
      close(): void {},
    };
  },
});

async function start(mode: 'off' | 'mono' | 'stereo'): Promise<{ parley: Parley; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-rec-'));
  dirs.push(dataDir);
  const parley = await startParley({ env: { PARLEY_ENGINE: 'local', PARLEY_RECORDING: mode, PARLEY_DATA_DIR: dataDir, PARLEY_TURN_DETECTION: 'none' }, deps: { engines: { local: toneEngine } } });
  return { parley, dataDir };
}

/** Streams `ms` of caller audio in 20 ms appends, in real time (deadline-paced). */
async function stream(c: TestClient, ms: number, amp: number): Promise<void> {
  const frame = b64(tone(20, 440, amp));
  const t0 = performance.now();
  for (let k = 0; k < ms / 20; k++) {
    const due = t0 + (k + 1) * 20 - performance.now();
    if (due > 0) await sleep(due);
    c.send({ type: 'input_audio_buffer.append', audio: frame });
  }
}

function channels(buf: Buffer): { rate: number; left: Int16Array; right: Int16Array } {
  const wav = new WaveFile(buf);
  const fmt = wav.fmt as { numChannels: number; sampleRate: number };
  expect(fmt.numChannels).toBe(2);
  const [left, right] = wav.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
  return { rate: fmt.sampleRate, left, right };
}

/** RMS over [fromMs, toMs). */
function rms(x: Int16Array, fromMs: number, toMs: number): number {
  const a = Math.round((fromMs * RATE) / 1000);
  const b = Math.min(x.length, Math.round((toMs * RATE) / 1000));
  let s = 0;
  for (let i = a; i < b; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, b - a));
}

/** Where a channel's sound starts and ends (ms), by 10 ms windows over `floor`. */
function soundSpan(x: Int16Array, floor = 1000): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let start = -1;
  const win = RATE / 100;
  for (let w = 0; w * win < x.length; w++) {
    const loud = rms(x, w * 10, w * 10 + 10) > floor;
    if (loud && start < 0) start = w * 10;
    if (!loud && start >= 0) {
      spans.push([start, w * 10]);
      start = -1;
    }
  }
  if (start >= 0) spans.push([start, Math.round((x.length / RATE) * 1000)]);
  return spans;
}

const auth = { authorization: `Bearer ${TEST_KEY}` };

describe('call recording (WS door, PARLEY_RECORDING)', () => {
  let parley: Parley | null = null;
  afterEach(async () => {
    await parley?.close();
    parley = null;
  });

  it('stereo: caller left, the agent right from when its burst arrived for its own length, cut at barge-in; paused time silent; served with ranges', async () => {
    const s = await start('stereo');
    parley = s.parley;
    const c = new TestClient(parley.wsUrl);
    const created = await c.waitFor('session.created');
    const tools = ((created['session'] as { tools?: Array<{ name: string }> }).tools ?? []).map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(['pause_recording', 'resume_recording']));
    const sessionId = parley.app.parley.sessions.list()[0]!.id;
    const t0 = parley.app.parley.sessions.list()[0]!.startedAt;
    const at = (): number => Date.now() - t0;

    // 0 … ~1 s: the caller's tone; then a 1.5 s reply arrives in one burst while the caller is quiet
    await stream(c, 1000, 8000);
    const replyAt = at();
    c.send({ type: 'response.create', response: { instructions: 'speak:1500' } });
    await stream(c, 2000, 0);
    // a second reply, cut by the caller 400 ms in (the client's barge-in: it heard 400 ms)
    const cutReplyAt = at();
    c.send({ type: 'response.create', response: { instructions: 'speak:3000' } });
    const delta = await c.waitFor((e) => e.type === 'response.output_audio.delta' && e['response_id'] !== c.of('response.output_audio.delta')[0]?.['response_id']);
    await stream(c, 400, 0);
    c.send({ type: 'conversation.item.truncate', item_id: delta['item_id'], content_index: 0, audio_end_ms: 400 });
    await stream(c, 600, 0);

    // pause by API: the caller's card number is not kept
    const p1 = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording/pause`, { method: 'POST', headers: auth });
    expect(p1.status).toBe(200);
    expect(await p1.json()).toEqual({ id: sessionId, status: 'paused', changed: true });
    const pausedAt = at();
    await stream(c, 1000, 8000);
    const p2 = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording/resume`, { method: 'POST', headers: auth });
    expect(await p2.json()).toEqual({ id: sessionId, status: 'recording', changed: true });
    const resumedAt = at();
    await stream(c, 500, 8000);

    // pause by the agent's tool
    c.send({ type: 'response.create', response: { instructions: 'tool:pause_recording' } });
    const rec = parley.app.parley.recordings.get(sessionId)!;
    await until(() => rec.paused, 3000, 'the pause_recording tool ran');
    const toolPausedAt = at();
    await stream(c, 500, 8000);
    c.send({ type: 'response.create', response: { instructions: 'tool:resume_recording' } });
    await until(() => !rec.paused, 3000, 'the resume_recording tool ran');
    const toolResumedAt = at();
    await stream(c, 500, 8000);
    c.close();
    await c.closed;
    await sleep(50);
    await parley.app.parley.recordings.idle();

    const res = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(body.length);
    const { rate, left, right } = channels(body);
    expect(rate).toBe(24000);

    const tol = 150; // ms: event-loop and pacing slack on a busy machine (the lengths below are exact to a frame)
    const agent = soundSpan(right);
    // the first reply: from its arrival, 1500 ms long (played, not squeezed into the burst)
    expect(agent.length).toBe(2);
    expect(Math.abs(agent[0]![0] - replyAt)).toBeLessThan(tol);
    expect(Math.abs(agent[0]![1] - agent[0]![0] - 1500)).toBeLessThanOrEqual(20);
    // the cut reply: only what was heard (400 ms) of its 3000
    expect(Math.abs(agent[1]![0] - cutReplyAt)).toBeLessThan(tol);
    expect(Math.abs(agent[1]![1] - agent[1]![0] - 400)).toBeLessThanOrEqual(20);
    // the caller: loud in the first second, silent while paused (API and tool), loud between
    const caller = soundSpan(left);
    expect(caller[0]![0]).toBeLessThan(tol);
    expect(Math.abs(caller[0]![1] - 1000)).toBeLessThan(tol);
    expect(rms(left, pausedAt + tol, resumedAt - tol)).toBe(0);
    expect(rms(right, pausedAt + tol, resumedAt - tol)).toBe(0);
    expect(rms(left, resumedAt + tol, toolPausedAt - tol - 100)).toBeGreaterThan(3000);
    expect(rms(left, toolPausedAt + tol, toolResumedAt - tol)).toBe(0);
    expect(rms(left, toolResumedAt + tol, toolResumedAt + 400)).toBeGreaterThan(3000);

    // byte ranges
    const head = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: { ...auth, range: 'bytes=0-43' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-range')).toBe(`bytes 0-43/${body.length}`);
    const headBytes = Buffer.from(await head.arrayBuffer());
    expect(headBytes.equals(body.subarray(0, 44))).toBe(true);
    const tail = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: { ...auth, range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(`bytes ${body.length - 100}-${body.length - 1}/${body.length}`);
    expect(Buffer.from(await tail.arrayBuffer()).equals(body.subarray(body.length - 100))).toBe(true);
    const open = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: { ...auth, range: 'bytes=1000-' } });
    expect(open.status).toBe(206);
    expect(Number(open.headers.get('content-length'))).toBe(body.length - 1000);
    await open.arrayBuffer();
    const past = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: { ...auth, range: `bytes=${body.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${body.length}`);
    await past.arrayBuffer();
    const multi = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: { ...auth, range: 'bytes=0-1,5-9' } });
    expect(multi.status).toBe(200); // several ranges: the whole file (RFC 9110 §14.2 lets a server ignore Range)
    await multi.arrayBuffer();
    const h = await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { method: 'HEAD', headers: auth });
    expect(h.status).toBe(200);
    expect(Number(h.headers.get('content-length'))).toBe(body.length);
  }, 30_000);

  it('the routes need a server key; unknown calls and calls no longer live are 404', async () => {
    const s = await start('mono');
    parley = s.parley;
    const base = `${parley.httpUrl}/v1/calls`;
    expect((await fetch(`${base}/sess_nope/recording`)).status).toBe(401);
    expect((await fetch(`${base}/sess_nope/recording`, { headers: { authorization: 'Bearer pk_wrong_key_0123456789abcdef' } })).status).toBe(401);
    expect((await fetch(`${base}/sess_nope/recording/pause`, { method: 'POST' })).status).toBe(401);
    const missing = await fetch(`${base}/sess_nope/recording`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('recording_not_found');
    expect((await fetch(`${base}/..%2F..%2Fetc%2Fpasswd/recording`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/sess_nope/recording/pause`, { method: 'POST', headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/sess_nope/recording/resume`, { method: 'POST', headers: auth })).status).toBe(404);

    const c = new TestClient(parley.wsUrl);
    await c.waitFor('session.created');
    const sessionId = parley.app.parley.sessions.list()[0]!.id;
    await stream(c, 200, 4000);
    expect((await fetch(`${base}/${sessionId}/recording/pause`, { method: 'POST', headers: auth })).status).toBe(200);
    c.close();
    await c.closed;
    await sleep(50);
    await parley.app.parley.recordings.idle();
    // ended: nothing to pause any more, the file stays
    expect((await fetch(`${base}/${sessionId}/recording/resume`, { method: 'POST', headers: auth })).status).toBe(404);
    const res = await fetch(`${base}/${sessionId}/recording`, { headers: auth });
    expect(res.status).toBe(200);
    const wav = new WaveFile(Buffer.from(await res.arrayBuffer()));
    expect((wav.fmt as { numChannels: number }).numChannels).toBe(1);
  }, 20_000);

  it('off (the default): no file, no recording tools offered', async () => {
    const s = await start('off');
    parley = s.parley;
    const c = new TestClient(parley.wsUrl);
    const created = await c.waitFor('session.created');
    const tools = ((created['session'] as { tools?: Array<{ name: string }> }).tools ?? []).map((t) => t.name);
    expect(tools).not.toContain('pause_recording');
    const sessionId = parley.app.parley.sessions.list()[0]!.id;
    await stream(c, 200, 4000);
    c.close();
    await c.closed;
    await sleep(50);
    await parley.app.parley.recordings.idle();
    expect(existsSync(recordingPath(s.dataDir, sessionId))).toBe(false);
    expect((await fetch(`${parley.httpUrl}/v1/calls/${sessionId}/recording`, { headers: auth })).status).toBe(404);
  });

  it('per profile: PARLEY_RECORDING off, a profile with recording stereo records its calls (and offers the tools); others are not recorded', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-rec-'));
    dirs.push(dataDir);
    const env = { HOST: '127.0.0.1', PORT: '0', PARLEY_API_KEYS: TEST_KEY, PARLEY_DEMO: 'off', PARLEY_FALLBACK_ENGINE: 'none', LOG_LEVEL: 'silent', PARLEY_ENGINE: 'local', PARLEY_DATA_DIR: dataDir, PARLEY_TURN_DETECTION: 'none' };
    const config = loadConfig(env, { profiles: { sales: { recording: 'stereo', tools: ['pause_recording', 'resume_recording'] } } });
    const app = await buildApp(config, { engines: { local: toneEngine } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    parley = { app, httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`, close: () => app.close() };
    const call = async (url: string): Promise<{ id: string; tools: string[] }> => {
      const c = new TestClient(url);
      const created = await c.waitFor('session.created');
      const tools = ((created['session'] as { tools?: Array<{ name: string }> }).tools ?? []).map((t) => t.name);
      const id = String((created['session'] as { id: string }).id);
      await stream(c, 200, 4000);
      c.close();
      await c.closed;
      return { id, tools };
    };
    const sales = await call(`${parley.wsUrl}&profile=sales`);
    const plain = await call(parley.wsUrl);
    await sleep(50);
    await app.parley.recordings.idle();
    expect(sales.tools).toEqual(expect.arrayContaining(['pause_recording', 'resume_recording']));
    expect(existsSync(recordingPath(dataDir, sales.id))).toBe(true);
    expect(existsSync(recordingPath(dataDir, plain.id))).toBe(false);
  });
});
