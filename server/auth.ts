/**
 * Who may use Parley: server API keys (PARLEY_API_KEYS) and ephemeral client keys (`ek_…`)
 * minted at POST /v1/realtime/client_secrets. Keys are kept only as SHA-256 digests and are
 * never logged.
 *
 * Credentials on a WebSocket upgrade (realtime.md §1.2):
 * - `Authorization: Bearer <key>` (servers, the official `openai` client);
 * - subprotocol `openai-insecure-api-key.<key>` (browsers cannot set headers).
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SessionPatch } from './protocol/index.ts';
import { newEphemeralKey } from './protocol/index.ts';

export const SUBPROTOCOL_KEY_PREFIX = 'openai-insecure-api-key.';
export const EPHEMERAL_MIN_TTL_S = 10;
export const EPHEMERAL_MAX_TTL_S = 7200;
/** Expired keys are remembered this long (to answer "expired" rather than "invalid"). */
const EXPIRED_MEMORY_MS = 60 * 60 * 1000;

function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64');
}

export type Credential = { kind: 'server' } | { kind: 'ephemeral'; session: SessionPatch | null; expiresAtMs: number };

export type AuthResult =
  | { ok: true; credential: Credential }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired'; message: string };

interface EphemeralEntry {
  expiresAtMs: number;
  session: SessionPatch | null;
}

export class KeyStore {
  readonly #server = new Set<string>();
  readonly #ephemeral = new Map<string, EphemeralEntry>();
  readonly #now: () => number;

  constructor(serverKeys: readonly string[], now: () => number = () => Date.now()) {
    for (const k of serverKeys) this.#server.add(digest(k));
    this.#now = now;
  }

  get ephemeralCount(): number {
    return this.#ephemeral.size;
  }

  /** Mints an ephemeral key valid for ttlS seconds, optionally bound to a session config. */
  mintEphemeral(ttlS: number, session: SessionPatch | null): { value: string; expiresAtMs: number } {
    this.#purge();
    const value = newEphemeralKey();
    const expiresAtMs = this.#now() + ttlS * 1000;
    this.#ephemeral.set(digest(value), { expiresAtMs, session });
    return { value, expiresAtMs };
  }

  isServerKey(key: string): boolean {
    return this.#server.has(digest(key));
  }

  /** Checks a presented key (server or ephemeral). */
  check(key: string | null): AuthResult {
    if (key === null || key === '') return { ok: false, reason: 'missing', message: 'No API key was provided (Authorization: Bearer <key>, or the openai-insecure-api-key.<key> subprotocol).' };
    const d = digest(key);
    if (this.#server.has(d)) return { ok: true, credential: { kind: 'server' } };
    const e = this.#ephemeral.get(d);
    if (e) {
      if (e.expiresAtMs <= this.#now()) return { ok: false, reason: 'expired', message: 'The ephemeral key has expired.' };
      return { ok: true, credential: { kind: 'ephemeral', session: e.session, expiresAtMs: e.expiresAtMs } };
    }
    return { ok: false, reason: 'invalid', message: 'Incorrect API key provided.' };
  }

  #purge(): void {
    const limit = this.#now() - EXPIRED_MEMORY_MS;
    for (const [k, e] of this.#ephemeral) if (e.expiresAtMs < limit) this.#ephemeral.delete(k);
  }
}

/** The key from `Authorization: Bearer …`, or null. */
export function bearerKey(headers: IncomingHttpHeaders): string | null {
  const h = headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

/** The offered subprotocols of a WebSocket upgrade. */
export function offeredSubprotocols(headers: IncomingHttpHeaders): string[] {
  const h = headers['sec-websocket-protocol'];
  if (typeof h !== 'string') return [];
  return h.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The key from a `openai-insecure-api-key.<key>` subprotocol, or null. */
export function subprotocolKey(protocols: readonly string[]): string | null {
  for (const p of protocols) if (p.startsWith(SUBPROTOCOL_KEY_PREFIX)) return p.slice(SUBPROTOCOL_KEY_PREFIX.length);
  return null;
}

/**
 * The subprotocol the server answers with (ws `handleProtocols`): `realtime` when offered, else the
 * first offered one that is not a key, else none. `openai-insecure-api-key.<key>` is never chosen:
 * the 101 response would carry the key back (README.md, Auth). A browser that offers only the key
 * fails the handshake when none comes back: offer `realtime` with it, as OpenAI's clients do.
 */
export function chooseSubprotocol(protocols: ReadonlySet<string>): string | false {
  if (protocols.has('realtime')) return 'realtime';
  for (const p of protocols) if (!p.startsWith(SUBPROTOCOL_KEY_PREFIX)) return p;
  return false;
}

/** The credential of an upgrade request: header first, then subprotocol. */
export function upgradeKey(headers: IncomingHttpHeaders): string | null {
  return bearerKey(headers) ?? subprotocolKey(offeredSubprotocols(headers));
}
