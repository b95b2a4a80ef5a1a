/**
 * The page's side of the wire: an ephemeral key from the same-origin endpoint, then the GA Realtime
 * WebSocket with the key as a subprotocol (`realtime`, `openai-insecure-api-key.<key>`: browsers
 * cannot set headers; docs/protocol.md §1.2). The server's own keys never reach the page.
 */
import { DEMO_CONFIG_URL, DEMO_KEY_URL, realtimeUrl } from './urls.ts';
import { Base64Encoder } from './lib/pcm.ts';

export class KeyRequestError extends Error {
  readonly code = 'DEMO_ERR_KEY';
  /** `status`: HTTP status (0: unreachable); `errorCode`: the `error.code` of the server's answer, if any. */
  constructor(readonly status: number, readonly retryable: boolean, readonly errorCode?: string) {
    super(`key endpoint answered HTTP ${status}`);
  }
}

/** The `error.code` of an error answer, or undefined. */
async function errorCodeOf(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

export interface DemoServerConfig {
  passwordRequired: boolean;
  model: string;
}

export async function fetchDemoConfig(): Promise<DemoServerConfig> {
  const res = await fetch(DEMO_CONFIG_URL, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new KeyRequestError(res.status, res.status >= 500);
  const body = (await res.json()) as Partial<DemoServerConfig>;
  return { passwordRequired: body.passwordRequired === true, model: typeof body.model === 'string' ? body.model : 'gpt-realtime' };
}

export async function fetchEphemeralKey(password: string): Promise<{ value: string; model: string }> {
  let res: Response;
  try {
    res = await fetch(DEMO_KEY_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(password ? { password } : {}),
    });
  } catch {
    throw new KeyRequestError(0, true);
  }
  if (!res.ok) throw new KeyRequestError(res.status, res.status === 429 || res.status >= 500, await errorCodeOf(res));
  const body = (await res.json()) as { value?: unknown; model?: unknown };
  if (typeof body.value !== 'string' || !body.value) throw new KeyRequestError(502, true);
  return { value: body.value, model: typeof body.model === 'string' ? body.model : 'gpt-realtime' };
}

export interface ConnectionListener {
  onOpen(): void;
  onEvent(event: Record<string, unknown> & { type: string }): void;
  /** `opened`: false when the WebSocket handshake itself failed. */
  onClose(code: number, reason: string, userInitiated: boolean, opened: boolean): void;
}

const APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const APPEND_SUFFIX = '"}';

export class RealtimeConnection {
  private ws: WebSocket | null = null;
  private closing = false;
  private readonly encoder = new Base64Encoder(2048);
  appendsSent = 0;
  appendBytesSent = 0;
  framesDroppedBackpressure = 0;

  constructor(private readonly listener: ConnectionListener) {}

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(key: string, model: string): void {
    this.closing = false;
    const ws = new WebSocket(realtimeUrl(window.location.href, model), ['realtime', `openai-insecure-api-key.${key}`]);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.listener.onOpen();
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      let ev: unknown;
      try {
        ev = JSON.parse(e.data);
      } catch {
        return; // not JSON: ignore (the server only sends JSON)
      }
      if (ev && typeof ev === 'object' && typeof (ev as { type?: unknown }).type === 'string') {
        this.listener.onEvent(ev as Record<string, unknown> & { type: string });
      }
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws === ws) this.ws = null;
      this.listener.onClose(e.code, e.reason, this.closing, opened);
    };
    // onerror is always followed by onclose, which says what happened
    ws.onerror = () => undefined;
  }

  send(event: Record<string, unknown>): void {
    if (this.open) this.ws?.send(JSON.stringify(event));
  }

  /**
   * `input_audio_buffer.append` for one 24 kHz pcm16 frame. The JSON is built from a template (base64
   * needs no escaping). Frames are dropped, and counted, if the socket is more than 1 s behind.
   */
  sendAppend(pcm: Int16Array): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > 64_000) {
      this.framesDroppedBackpressure++;
      return;
    }
    const bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    ws.send(APPEND_PREFIX + this.encoder.encode(bytes) + APPEND_SUFFIX);
    this.appendsSent++;
    this.appendBytesSent += pcm.byteLength;
  }

  close(): void {
    this.closing = true;
    const ws = this.ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(1000, 'user stopped');
  }
}
