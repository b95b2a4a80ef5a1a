/**
 * HTTP tools: server tools that live in the backend's own services (config `tools.http`,
 * server/config/http-tools.ts). When the model calls one, Parley calls the backend:
 *
 *   POST <url>                              (method POST, the default)
 *   Content-Type: application/json
 *   Parley-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">   (server/signing.ts)
 *   Parley-Call-Id: <call id>   Parley-Tool: <tool name>   + the configured headers
 *   {"call": {"id","door","from","to","dialled","sip_call_id","profile","metadata"}, "tool": <name>, "arguments": {…}}
 *
 *   GET <url>?<arguments>                   (method GET: each argument a query parameter, objects as JSON)
 *   Parley-Signature signs "<t>.<request target>" (path + query, exactly Node's req.url on the receiver)
 *
 * A 2xx answer's body is the tool's output as it is (text, or JSON passed through as its text). A
 * non-2xx answer, a network error, a body over maxResponseBytes, a redirect to another host, or no
 * answer within the tool's timeout reach the model as an error string, as any failing server tool
 * does (ToolRegistry.run: TOOL_FAILED / TOOL_TIMEOUT). The request is aborted when the call times
 * out or the session ends (ToolContext.signal). Wire format and a receiver: docs/notes/http-tools.md.
 */
import type { HttpToolConfig } from '../config/http-tools.ts';
import { PARLEY_SIGNATURE_HEADER, signPayload } from '../signing.ts';
import type { ToolCallFacts, ToolContext, ToolDefinition } from './types.ts';

/** Redirects followed (same host only, GET any 30x, POST 307/308 only). */
export const HTTP_TOOL_MAX_REDIRECTS = 3;
/** How much of a non-2xx answer's body the model is shown (backends often explain the error there). */
const ERROR_BODY_CHARS = 300;
const USER_AGENT = 'Parley-HTTP-Tool/1';

/** A failed call, as the model will read it (after "The tool 'x' failed: "). Never holds a header value. */
class HttpToolFailure extends Error {}

/** The `call` object of the request body (snake_case like the webhook bodies). */
export function callJson(ctx: ToolContext): Record<string, unknown> {
  const c: ToolCallFacts | undefined = ctx.call;
  return {
    id: c?.id ?? ctx.sessionId,
    door: c?.door ?? null,
    from: c?.from ?? null,
    to: c?.to ?? null,
    dialled: c?.dialled ?? null,
    sip_call_id: c?.sipCallId ?? null,
    profile: c?.profile ?? null,
    metadata: c?.metadata ?? {},
  };
}

/** The GET query for the arguments: strings, numbers and booleans as they are, anything else as JSON. */
function argumentsQuery(url: URL, args: unknown): URL {
  const u = new URL(url.href);
  if (typeof args === 'object' && args !== null && !Array.isArray(args)) {
    for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
      if (v === undefined) continue;
      u.searchParams.append(k, typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));
    }
  }
  return u;
}

/** Reads at most `max` bytes of the body; more is a failure (the stream is cancelled). */
async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new HttpToolFailure(`the backend's answer is ${declared} bytes, over the limit of ${max}`);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new HttpToolFailure(`the backend's answer is over the limit of ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** The first characters of an error answer, on one line. */
async function errorSnippet(res: Response): Promise<string> {
  let text: string;
  try {
    text = await readBounded(res, 4096);
  } catch {
    return '';
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function hasHeader(headers: Record<string, string>, lower: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === lower);
}

/** Same host, and no downgrade from https to http. */
function redirectAllowed(from: URL, to: URL): boolean {
  if (to.hostname !== from.hostname) return false;
  if (to.protocol === from.protocol) return to.port === from.port;
  return from.protocol === 'http:' && to.protocol === 'https:';
}

/** A server tool that calls the backend described by `cfg`. */
export function createHttpTool(cfg: HttpToolConfig): ToolDefinition {
  const base = new URL(cfg.url);
  const def: ToolDefinition = {
    name: cfg.name,
    description: cfg.description,
    parameters: cfg.parameters,
    async handler(args: unknown, ctx: ToolContext): Promise<string> {
      const call = callJson(ctx);
      let url = cfg.method === 'GET' ? argumentsQuery(base, args) : base;
      const body = cfg.method === 'POST' ? JSON.stringify({ call, tool: cfg.name, arguments: args ?? {} }) : undefined;
      for (let hop = 0; ; hop++) {
        // defaults a configured header replaces (names compared without case), then Parley's own
        const headers: Record<string, string> = {};
        if (!hasHeader(cfg.headers, 'user-agent')) headers['user-agent'] = USER_AGENT;
        if (!hasHeader(cfg.headers, 'accept')) headers['accept'] = 'application/json, text/plain;q=0.9, */*;q=0.5';
        Object.assign(headers, cfg.headers, {
          'parley-call-id': String(call['id']),
          'parley-tool': cfg.name,
          [PARLEY_SIGNATURE_HEADER]: signPayload(body ?? url.pathname + url.search, cfg.secret),
        });
        if (body !== undefined) headers['content-type'] = 'application/json';
        let res: Response;
        try {
          res = await fetch(url, { method: cfg.method, headers, body: body ?? null, redirect: 'manual', signal: ctx.signal });
        } catch (err) {
          if (ctx.signal.aborted) throw new HttpToolFailure('the request was cancelled');
          throw new HttpToolFailure(`the backend could not be reached (${networkReason(err)})`);
        }
        if (res.status >= 300 && res.status < 400 && res.headers.has('location')) {
          await res.body?.cancel().catch(() => undefined);
          let next: URL;
          try {
            next = new URL(res.headers.get('location') ?? '', url);
          } catch {
            throw new HttpToolFailure(`the backend answered HTTP ${res.status} with a bad Location`);
          }
          const follows = cfg.method === 'GET' ? [301, 302, 303, 307, 308].includes(res.status) : res.status === 307 || res.status === 308;
          if (!follows) throw new HttpToolFailure(`the backend answered HTTP ${res.status} (a redirect this tool does not follow)`);
          if (!redirectAllowed(base, next)) throw new HttpToolFailure(`the backend redirected to another host (HTTP ${res.status}); not followed`);
          if (hop >= HTTP_TOOL_MAX_REDIRECTS) throw new HttpToolFailure(`the backend redirected more than ${HTTP_TOOL_MAX_REDIRECTS} times`);
          url = next;
          continue;
        }
        if (res.status < 200 || res.status > 299) {
          const snippet = await errorSnippet(res);
          throw new HttpToolFailure(`the backend answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`);
        }
        return readBounded(res, cfg.maxResponseBytes);
      }
    },
  };
  if (cfg.timeoutMs !== null) def.timeoutMs = cfg.timeoutMs;
  return def;
}
