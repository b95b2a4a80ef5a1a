/**
 * The fuzzer's client: a real `ws` client that sends fuzz cases (text, binary, fragmented frames), keeps
 * the errors by the event_id they name, and checks after each batch that every malformed event was
 * answered, no valid one was refused, nothing came back as server_error, and the socket still converses.
 */
import WebSocket from 'ws';
import type { FuzzCase } from './fuzz-events.ts';
import { sleep } from './harness.ts';

type Ev = Record<string, unknown> & { type: string };

export interface FuzzFailure {
  what: string;
  label: string;
  id?: string;
  sample?: string;
  got?: unknown;
}

export class FuzzClient {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  /** Errors by the event_id they name. */
  readonly errorsById = new Map<string, Array<Record<string, unknown>>>();
  errorsNoId = 0;
  errorsTotal = 0;
  readonly serverErrors: Array<Record<string, unknown>> = [];
  readonly counts = new Map<string, number>();
  /** Ids of the responses whose response.done arrived. */
  readonly doneIds = new Set<string>();
  readonly lastDoneStatus = new Map<string, string>();
  lastEventAt = Date.now();
  closed: { code: number; reason: string } | null = null;
  framesSent = 0;
  bytesSent = 0;
  readonly #waiters: Array<{ pred: (e: Ev) => boolean; resolve: (e: Ev) => void; fail: (why: string) => void }> = [];
  /** The last events, for a failure message. */
  readonly tail: string[] = [];
  /** The last 500 events (audio deltas left out), for waits on something that may already have come. */
  readonly recent: Ev[] = [];

  constructor(url: string, key: string) {
    this.ws = new WebSocket(url, [], { headers: { Authorization: `Bearer ${key}` }, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => undefined);
    this.ws.on('error', () => undefined);
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      // nothing more will come: waiters fail now instead of at their timeout
      for (const w of this.#waiters.splice(0)) w.fail(`the socket closed (${code} ${reason.toString()})`);
    });
    this.ws.on('message', (data, isBinary) => {
      this.lastEventAt = Date.now();
      if (isBinary) {
        this.serverErrors.push({ binary: true });
        return;
      }
      const text = data.toString();
      const ev = JSON.parse(text) as Ev;
      this.counts.set(ev.type, (this.counts.get(ev.type) ?? 0) + 1);
      if (this.tail.length >= 30) this.tail.shift();
      this.tail.push(ev.type === 'response.output_audio.delta' ? 'response.output_audio.delta' : text.slice(0, 300));
      if (ev.type !== 'response.output_audio.delta') {
        if (this.recent.length >= 500) this.recent.shift();
        this.recent.push(ev);
      }
      if (ev.type === 'response.done') {
        const resp = ev['response'] as Record<string, unknown>;
        this.doneIds.add(String(resp['id']));
        this.lastDoneStatus.set(String(resp['id']), String(resp['status']));
        // a response that failed inside the server is a server_error too
        const details = resp['status_details'] as { error?: { type?: string } } | null | undefined;
        if (resp['status'] === 'failed' && details?.error?.type === 'server_error') this.serverErrors.push({ response: resp['id'], ...details.error });
      }
      if (ev.type === 'error') {
        this.errorsTotal++;
        const body = ev['error'] as Record<string, unknown>;
        if (body['type'] === 'server_error') this.serverErrors.push(body);
        const id = body['event_id'];
        if (typeof id === 'string') {
          const list = this.errorsById.get(id);
          if (list) list.push(body);
          else this.errorsById.set(id, [body]);
        } else this.errorsNoId++;
      }
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i]!;
        if (w.pred(ev)) {
          this.#waiters.splice(i, 1);
          w.resolve(ev);
        }
      }
    });
  }

  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }

  /** Resolves with the next event matching pred; rejects after timeoutMs. */
  next(pred: (e: Ev) => boolean, timeoutMs: number, what: string): Promise<Ev> {
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        clearTimeout(t);
        reject(new Error(`${why} waiting for ${what}; socket ${this.closed ? `closed ${this.closed.code} ${this.closed.reason}` : 'open'}; last events:\n  ${this.tail.join('\n  ')}`));
      };
      const w = {
        pred,
        resolve: (e: Ev) => {
          clearTimeout(t);
          resolve(e);
        },
        fail,
      };
      const t = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        fail(`timed out (${timeoutMs} ms)`);
      }, timeoutMs);
      if (this.closed) fail('the socket is closed:');
      else this.#waiters.push(w);
    });
  }

  /** The first event matching pred among the recent ones, or the next one to come. */
  waitFor(pred: (e: Ev) => boolean, timeoutMs: number, what: string): Promise<Ev> {
    const have = this.recent.find(pred);
    return have ? Promise.resolve(have) : this.next(pred, timeoutMs, what);
  }

  /** The first event of this type, already received or to come. */
  async seen(type: string, timeoutMs: number): Promise<void> {
    if (this.count(type) > 0) return;
    await this.next((e) => e.type === type, timeoutMs, type);
  }

  sendJson(o: Record<string, unknown>): void {
    const s = JSON.stringify(o);
    this.framesSent++;
    this.bytesSent += s.length;
    this.ws.send(s);
  }

  send(c: FuzzCase): void {
    for (const f of c.frames) {
      this.framesSent++;
      if (f.kind === 'text') this.ws.send(f.data);
      else if (f.kind === 'binary') this.ws.send(f.data, { binary: true });
      else f.parts.forEach((p, i) => this.ws.send(p, { fin: i === f.parts.length - 1 }));
    }
    this.bytesSent += c.bytes;
  }

  /** Waits until the client's own send buffer is nearly empty (the server reads what we send). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.ws.bufferedAmount > 1 << 20) {
      if (Date.now() > end) throw new Error(`client send buffer stuck at ${this.ws.bufferedAmount} bytes`);
      await sleep(5);
    }
  }

  /** No event for quietMs (bounded by timeoutMs). */
  async quiet(quietMs: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() - this.lastEventAt < quietMs) {
      if (Date.now() > end) return false;
      await sleep(20);
    }
    return true;
  }

  /** A valid session.update with a marker in `instructions`; resolves on the session.updated that carries it. */
  async probeSession(marker: string, timeoutMs: number): Promise<void> {
    const got = this.next((e) => e.type === 'session.updated' && (e['session'] as Record<string, unknown> | undefined)?.['instructions'] === marker, timeoutMs, `session.updated for ${marker}`);
    this.sendJson({ type: 'session.update', event_id: `probe_${marker.replace(/\W/g, '_')}`, session: { type: 'realtime', instructions: marker } });
    await got;
  }

  /**
   * The socket still converses: after the previous storm has died down (no event for quietMs), a
   * response.create gets its response.created and then that response's response.done.
   */
  async probeResponse(eventId: string, quietMs: number, timeoutMs: number): Promise<Ev> {
    this.sendJson({ type: 'response.cancel' });
    await this.quiet(quietMs, timeoutMs);
    const created = this.next((e) => e.type === 'response.created' && (e['response'] as Record<string, unknown>)['conversation_id'] !== null, timeoutMs, `response.created after ${eventId}`);
    this.sendJson({ type: 'response.create', event_id: eventId });
    const c = await created;
    const id = String((c['response'] as Record<string, unknown>)['id']);
    // `ws` may have delivered the response.done in the same tick as response.created
    if (this.doneIds.has(id)) return { type: 'response.done', response: { id, status: this.lastDoneStatus.get(id) } };
    return this.next((e) => e.type === 'response.done' && (e['response'] as Record<string, unknown>)['id'] === id, timeoutMs, `response.done of ${id}`);
  }

  close(): void {
    this.ws.close();
  }
}
