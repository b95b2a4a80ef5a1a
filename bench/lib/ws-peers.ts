/**
 * The peers of the relay benches (bench/relay.ts, bench/ab.ts): a minimal GA upstream, the bare ws-to-ws pipe
 * (the baseline), a client socket, and the two hot messages (20 ms of 24 kHz pcm16).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket, type RawData } from 'ws';

export const KEY = 'pk_bench_key_0123456789abcdef';
export const UP_KEY = 'sk-bench-upstream';

const audio20ms = Buffer.alloc(960);
for (let i = 0; i < 480; i++) audio20ms.writeInt16LE(Math.round(3000 * Math.sin(i / 7)), i * 2);
export const APPEND = JSON.stringify({ type: 'input_audio_buffer.append', audio: audio20ms.toString('base64') });
export const DELTA = JSON.stringify({ type: 'response.output_audio.delta', event_id: 'event_bench0000000000001', response_id: 'resp_bench000000000000001', item_id: 'item_bench000000000000001', output_index: 0, content_index: 0, delta: audio20ms.toString('base64') });

/** A minimal GA upstream: session.created, session.updated; records appends; can push deltas. */
export async function startUpstream(): Promise<{ port: number; onAppend: (f: () => void) => void; conns: WebSocket[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const conns: WebSocket[] = [];
  let appendCb: () => void = () => undefined;
  wss.on('connection', (ws) => {
    conns.push(ws);
    ws.send(JSON.stringify({ type: 'session.created', event_id: 'e0', session: { type: 'realtime' } }));
    ws.on('message', (data: RawData) => {
      const s = data.toString();
      if (s.startsWith('{"type":"input_audio_buffer.append"')) return appendCb();
      const ev = JSON.parse(s) as { type: string; session?: unknown };
      if (ev.type === 'session.update') ws.send(JSON.stringify({ type: 'session.updated', event_id: 'e1', session: ev.session }));
    });
  });
  return {
    port: (wss.address() as AddressInfo).port,
    onAppend: (f) => {
      appendCb = f;
    },
    conns,
    close: () => new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => r());
    }),
  };
}

/** The baseline: a ws server that pipes each connection to the upstream, nothing else. */
export async function startBarePipe(upPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (client) => {
    const up = new WebSocket(`ws://127.0.0.1:${upPort}/v1/realtime?model=gpt-realtime`, { perMessageDeflate: false, headers: { Authorization: `Bearer ${UP_KEY}` } });
    const early: RawData[] = [];
    client.on('message', (d) => (up.readyState === WebSocket.OPEN ? up.send(d, { binary: false }) : early.push(d)));
    up.on('open', () => {
      for (const d of early) up.send(d, { binary: false });
    });
    up.on('message', (d) => client.send(d, { binary: false }));
    client.on('close', () => up.close());
  });
  return { port: (wss.address() as AddressInfo).port, close: () => new Promise((r) => wss.close(() => r())) };
}

export function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

