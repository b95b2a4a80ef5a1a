/**
 * A real HTTP webhook receiver for tests and benches: listens on 127.0.0.1, checks every request's
 * `Parley-Signature` with server/signing.ts's verifySignature over the raw body, records what came,
 * refuses on purpose (`refuseFirst(n)` answers 500 to the next n requests, or `answer` decides), and
 * can go down and come back on the same port (`stop()`, then `start()` again).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { verifySignature } from '../../server/signing.ts';

export interface ReceivedEvent {
  id: string;
  type: string;
  created_at: string;
  data: Record<string, unknown>;
  /** The raw body as received. */
  raw: string;
  signature: string;
  /** The `parley-attempt` header. */
  attempt: number;
  /** When it arrived (Date.now()). */
  receivedAtMs: number;
  /** The answer given (200 = accepted). */
  status: number;
}

export class WebhookReceiver {
  readonly secret: string;
  /** Every request, accepted or not, in arrival order. */
  readonly requests: ReceivedEvent[] = [];
  /** Requests whose signature did not verify (a test fails on any). */
  readonly badSignatures: Array<{ header: string | undefined; code: string }> = [];
  /** Decides the status of each well-signed request (default 200, after refuseFirst). */
  answer: ((ev: ReceivedEvent) => number) | null = null;
  /** Called on every accepted (2xx) event. */
  onAccepted: ((ev: ReceivedEvent) => void) | null = null;
  #refuse = 0;
  #server: Server | null = null;
  #sockets = new Set<Socket>();
  #port: number;
  #waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];

  constructor(secret: string, port = 0) {
    this.secret = secret;
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks/parley`;
  }

  /** Events answered 2xx, in arrival order. */
  get accepted(): ReceivedEvent[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Answer 500 to the next n well-signed requests. */
  refuseFirst(n: number): void {
    this.#refuse = n;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** Down: the port refuses connections until start() again (open connections are cut). */
  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = null;
    for (const sock of this.#sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['parley-signature'];
      const v = verifySignature(header, raw, this.secret);
      if (!v.ok) {
        this.badSignatures.push({ header: Array.isArray(header) ? header.join(',') : header, code: v.code });
        res.writeHead(400).end('bad signature');
        this.#wake();
        return;
      }
      let body: { id: string; type: string; created_at: string; data: Record<string, unknown> };
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        res.writeHead(400).end('bad json');
        return;
      }
      const ev: ReceivedEvent = { ...body, raw, signature: String(header), attempt: Number(req.headers['parley-attempt'] ?? 0), receivedAtMs: Date.now(), status: 200 };
      if (this.#refuse > 0) {
        this.#refuse--;
        ev.status = 500;
      } else if (this.answer) ev.status = this.answer(ev);
      this.requests.push(ev);
      res.writeHead(ev.status, { 'content-type': 'text/plain' }).end(ev.status < 300 ? 'ok' : 'no');
      if (ev.status >= 200 && ev.status < 300) this.onAccepted?.(ev);
      this.#wake();
    });
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when pred() holds (checked after each request), or rejects after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs: number, what = 'webhook condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${this.requests.map((r) => `${r.type}:${r.status}`).join(', ')}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: () => (clearTimeout(t), resolve()) });
    });
  }
}
