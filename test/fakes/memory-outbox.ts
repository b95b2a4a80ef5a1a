/**
 * An outbox in memory with the semantics of the store's table (server/webhooks/outbox.ts), for unit
 * tests of the delivery worker. Tests that cross a restart use the real store (SQLite).
 */
import type { OutboxRow, OutboxRowInput, OutboxStats, WebhookOutbox } from '../../server/webhooks/index.ts';

interface Entry extends OutboxRow {
  state: 'pending' | 'delivered' | 'dead';
  lastError: string | null;
}

export class MemoryOutbox implements WebhookOutbox {
  readonly rows: Entry[] = [];
  #seq = 0;
  /** Make the next n calls of enqueue() fail (a database error). */
  failEnqueue = 0;

  async enqueue(rows: readonly OutboxRowInput[]): Promise<void> {
    await Promise.resolve();
    if (this.failEnqueue > 0) {
      this.failEnqueue--;
      throw new Error('database is locked');
    }
    const ids = new Set(rows.map((r) => r.id));
    if (ids.size < rows.length || rows.some((r) => this.rows.some((x) => x.id === r.id))) throw new Error('UNIQUE constraint failed: outbox.id');
    const now = Date.now();
    for (const r of rows) {
      const createdAtMs = r.createdAtMs ?? now;
      this.rows.push({ id: r.id, callId: r.callId, type: r.type, body: r.body, createdAtMs, attempts: 0, nextAttemptAtMs: createdAtMs, seq: ++this.#seq, state: 'pending', lastError: null });
    }
  }

  async due(nowMs: number, limit: number, opts: { leaseMs?: number } = {}): Promise<OutboxRow[]> {
    await Promise.resolve();
    const firstPerCall = new Map<string, Entry>();
    for (const r of this.rows) if (r.state === 'pending' && !firstPerCall.has(r.callId ?? r.id)) firstPerCall.set(r.callId ?? r.id, r);
    const due = [...firstPerCall.values()].filter((r) => r.nextAttemptAtMs <= nowMs).sort((a, b) => a.seq - b.seq).slice(0, limit);
    if (opts.leaseMs !== undefined) for (const r of due) r.nextAttemptAtMs = nowMs + opts.leaseMs;
    return due.map((r) => ({ seq: r.seq, id: r.id, callId: r.callId, type: r.type, body: r.body, createdAtMs: r.createdAtMs, attempts: r.attempts, nextAttemptAtMs: r.nextAttemptAtMs }));
  }

  #get(id: string): Entry {
    const r = this.rows.find((x) => x.id === id);
    if (!r) throw new Error(`no outbox row ${id}`);
    return r;
  }

  async markDelivered(id: string): Promise<void> {
    await Promise.resolve();
    const r = this.#get(id);
    r.state = 'delivered';
    r.attempts++;
  }

  async reschedule(id: string, nextAttemptAtMs: number, error: string): Promise<void> {
    await Promise.resolve();
    const r = this.#get(id);
    r.attempts++;
    r.nextAttemptAtMs = nextAttemptAtMs;
    r.lastError = error;
  }

  async markDead(id: string, error: string): Promise<void> {
    await Promise.resolve();
    const r = this.#get(id);
    r.attempts++;
    r.state = 'dead';
    r.lastError = error;
  }

  async stats(nowMs: number = Date.now()): Promise<OutboxStats> {
    await Promise.resolve();
    const pending = this.rows.filter((r) => r.state === 'pending');
    const oldest = pending.reduce((m, r) => Math.min(m, r.createdAtMs), Infinity);
    return { depth: pending.length, oldestAgeMs: pending.length === 0 ? 0 : nowMs - oldest };
  }
}
