import { ProviderError } from '../types.ts';

/** One OpenAI-compatible HTTP stage (OpenAI itself, or a user's whisper / Ollama / vLLM / TTS server). */
export interface HttpStageOptions {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Time allowed until the response headers arrive. Default 15 s. */
  timeoutMs?: number;
}

export function endpoint(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path}`;
}

export function authHeaders(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/**
 * fetch with a header timeout and coded errors: HTTP_UNREACHABLE (network), HTTP_TIMEOUT,
 * HTTP_RATE_LIMITED (429), HTTP_SERVER_ERROR (5xx), HTTP_REJECTED (other 4xx). 429/5xx/network
 * are retryable. An abort through `signal` rethrows the AbortError untouched.
 */
export async function request(stage: string, url: string, init: RequestInit & { signal: AbortSignal }, timeoutMs = 15_000): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([init.signal, timeout]);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal });
  } catch (err) {
    if (init.signal.aborted) throw err;
    if (timeout.aborted) throw new ProviderError('HTTP_TIMEOUT', `${stage}: no answer from ${url} within ${timeoutMs} ms`, { retryable: true, cause: err });
    throw new ProviderError('HTTP_UNREACHABLE', `${stage}: cannot reach ${url}: ${(err as Error).message}`, { retryable: true, cause: err });
  }
  if (res.ok) return res;
  let detail = '';
  try { detail = (await res.text()).slice(0, 300); } catch { /* body unreadable */ }
  const status = res.status;
  const code = status === 429 ? 'HTTP_RATE_LIMITED' : status >= 500 ? 'HTTP_SERVER_ERROR' : 'HTTP_REJECTED';
  throw new ProviderError(code, `${stage}: ${url} answered ${status}${detail ? `: ${detail}` : ''}`, { retryable: status === 429 || status >= 500, status });
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/**
 * POST a JSON body to `{opts.baseUrl}/{path}` with the stage's key and return the streamed
 * response body, or `null` when the caller aborted (barge-in). Errors as `request()`; a response
 * without a body is HTTP_BAD_RESPONSE.
 */
export async function postJsonStream(
  stage: string,
  opts: HttpStageOptions,
  path: string,
  body: unknown,
  signal: AbortSignal,
  accept?: string,
): Promise<ReadableStream<Uint8Array> | null> {
  const headers: Record<string, string> = { ...authHeaders(opts.apiKey), 'content-type': 'application/json' };
  if (accept) headers['accept'] = accept;
  let res: Response;
  try {
    res = await request(stage, endpoint(opts.baseUrl, path), { method: 'POST', headers, body: JSON.stringify(body), signal }, opts.timeoutMs);
  } catch (err) {
    if (signal.aborted && isAbort(err)) return null;
    throw err;
  }
  if (!res.body) throw new ProviderError('HTTP_BAD_RESPONSE', `${stage}: empty response body`);
  return res.body;
}
