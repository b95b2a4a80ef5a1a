/**
 * WS keepalive for the realtime door: one timer for all sockets (not one per socket). Every
 * `intervalMs` each socket that has shown no sign of life since the last tick (no pong, no message)
 * is terminated (its 'close' ends the session and frees the slot); the others get a ping. A dead
 * peer (power loss, NAT drop, a client that stopped reading) is cut within two intervals. A socket we
 * have paused (we are not reading it) is not judged until it is read again.
 */
import type { WebSocket, WebSocketServer } from 'ws';

export interface WsKeepalive {
  stop(): void;
}

export function startWsKeepalive(wss: WebSocketServer, intervalMs: number): WsKeepalive {
  if (intervalMs <= 0) return { stop: () => undefined };
  /** Sockets pinged and not heard from since. */
  const waiting = new WeakSet<WebSocket>();
  const watched = new WeakSet<WebSocket>();
  let lastTickMs = Date.now();
  const timer = setInterval(() => {
    const nowMs = Date.now();
    // a late tick means this process was stalled: pongs may sit unread behind this timer (timers run
    // before socket reads), so this round pings but judges no one
    const judge = nowMs - lastTickMs < intervalMs * 1.5;
    lastTickMs = nowMs;
    for (const ws of wss.clients) {
      if (ws.isPaused) {
        // not reading (engine still opening, or backpressure): its pong could not be seen; skip a round
        waiting.delete(ws);
        continue;
      }
      if (!watched.has(ws)) {
        watched.add(ws);
        const alive = (): void => void waiting.delete(ws);
        ws.on('pong', alive);
        ws.on('message', alive);
      } else if (judge && waiting.has(ws)) {
        ws.terminate();
        continue;
      }
      waiting.add(ws);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
