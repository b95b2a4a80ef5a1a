/**
 * The pages' file serving (server/routes/page-assets.ts `pageAssets`, used by the demo and the calls
 * page): the page's headers and an ETag on each file, 304 when the browser has it, the page's own
 * error body for a name it does not have, and a failed load answered 500 and tried again on the next request.
 */
import Fastify, { type FastifyReply } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { pageAssets, type PageBundle } from '../../../../server/routes/page-assets.ts';

const HEADERS = { 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'" } as const;
const apps: Array<ReturnType<typeof Fastify>> = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

function app(page: PageBundle): { app: ReturnType<typeof Fastify>; logged: string[] } {
  const logged: string[] = [];
  const a = Fastify({ logger: { level: 'error', stream: { write: (line: string) => void logged.push(line) } } });
  apps.push(a);
  const serve = pageAssets(page, {
    headers: HEADERS,
    error: (reply: FastifyReply, status, code, message) => reply.code(status).send({ error: { code, message } }),
    buildFailed: { code: 'test_page_build_failed', message: 'The test page could not be built.', log: 'test page bundle failed' },
    notFound: 'No such test asset.',
  });
  a.get('/style.css', serve('style.css'));
  a.get('/missing.js', serve('missing.js'));
  return { app: a, logged };
}

describe('pageAssets', () => {
  it('serves a file with the page headers and an ETag; 304 when If-None-Match has it; 404 in the page error shape', async () => {
    const { app: a } = app({ name: 'page-assets-test', entryPoints: {}, files: [['style.css', 'text/css; charset=utf-8']] });
    const res = await a.inject({ url: '/style.css' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(res.body.length).toBeGreaterThan(0);
    const again = await a.inject({ url: '/style.css', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const other = await a.inject({ url: '/style.css', headers: { 'if-none-match': '"stale"' } });
    expect(other.statusCode).toBe(200);
    const none = await a.inject({ url: '/missing.js' });
    expect(none.statusCode).toBe(404);
    expect(none.json()).toEqual({ error: { code: 'not_found', message: 'No such test asset.' } });
  });

  it('a page that fails to load answers 500 with its code, and is loaded again on the next request', async () => {
    const { app: a, logged } = app({ name: 'page-assets-test', entryPoints: {}, files: [['no-such-file.css', 'text/css']] });
    for (let i = 0; i < 2; i++) {
      const res = await a.inject({ url: '/style.css' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'test_page_build_failed', message: 'The test page could not be built.' } });
    }
    // each request tried (and logged) again: a failure is not kept
    expect(logged.filter((l) => l.includes('test page bundle failed'))).toHaveLength(2);
  });
});
