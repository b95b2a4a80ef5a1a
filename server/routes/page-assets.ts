/**
 * The browser pages' files (the demo at /, the calls page at /calls), from client-demo/: their
 * TypeScript bundled by esbuild, their HTML and CSS read as they are, each with a content type and an
 * ETag, held in memory once loaded.
 *
 * From source (tsx, vitest) a page is bundled on its first request. The built package
 * (`npm run build`, docs/notes/embedding.md) carries every page prebuilt in dist/client-demo/, next to a
 * manifest `<page>.prebuilt.json` (file name → content type) written by scripts/build.ts; a page with a
 * manifest is read from there, without esbuild and without the sources.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** client-demo/ from server/routes/ (source), or dist/client-demo/ from dist/server/routes/ (built). */
export const CLIENT_DIR = fileURLToPath(new URL('../../client-demo/', import.meta.url));

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** One page: the scripts esbuild bundles (output name → entry under client-demo/) and the files served as they are. */
export interface PageBundle {
  /** Names the prebuilt manifest: `<name>.prebuilt.json`. */
  name: string;
  entryPoints: Record<string, string>;
  files: ReadonlyArray<readonly [file: string, contentType: string]>;
}

export function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

export const prebuiltManifest = (page: PageBundle): string => `${page.name}.prebuilt.json`;

/** Bundles the page now (esbuild, from the sources in client-demo/). */
export async function compilePage(page: PageBundle): Promise<Map<string, Asset>> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: CLIENT_DIR,
    entryPoints: page.entryPoints,
    bundle: true,
    format: 'esm',
    target: ['chrome100', 'firefox115', 'safari16'],
    write: false,
    outdir: 'out',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const body = Buffer.from(file.contents);
    assets.set(name, { body, type: 'text/javascript; charset=utf-8', etag: etagOf(body) });
  }
  for (const [name, type] of page.files) {
    const body = await readFile(`${CLIENT_DIR}${name}`);
    assets.set(name, { body, type, etag: etagOf(body) });
  }
  return assets;
}

/** The page's files: prebuilt when the package was built, else bundled now. */
export async function loadPage(page: PageBundle): Promise<Map<string, Asset>> {
  let manifest: Record<string, string>;
  try {
    manifest = JSON.parse(await readFile(`${CLIENT_DIR}${prebuiltManifest(page)}`, 'utf8')) as Record<string, string>;
  } catch {
    return compilePage(page); // running from source
  }
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(manifest)) {
    const body = await readFile(`${CLIENT_DIR}${name}`);
    assets.set(name, { body, type, etag: etagOf(body) });
  }
  return assets;
}

/** How one page answers what is not a file (its error body) and which headers its files carry. */
export interface PageServeOptions {
  /** Security headers on every file (the page's content security policy, no-sniff, no referrer, no-cache). */
  headers: Readonly<Record<string, string>>;
  /** The page's JSON error reply. */
  error(reply: FastifyReply, status: number, code: string, message: string): FastifyReply;
  /** What a failed bundle answers (500, `code`, `message`) and logs (`log`). */
  buildFailed: { code: string; message: string; log: string };
  /** The 404 message for a name the page does not have. */
  notFound: string;
}

/**
 * A route handler per file of `page`: the files are loaded on the first request (and again on the next
 * one when that failed), sent with the page's headers and an ETag, 304 when `If-None-Match` has it.
 */
export function pageAssets(page: PageBundle, o: PageServeOptions): (name: string) => (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  let assets: Promise<Map<string, Asset>> | null = null;
  const loadAssets = (): Promise<Map<string, Asset>> => {
    if (!assets) {
      assets = loadPage(page);
      assets.catch(() => {
        assets = null; // try again on the next request
      });
    }
    return assets;
  };
  return (name) => async (req, reply) => {
    let asset: Asset | undefined;
    try {
      asset = (await loadAssets()).get(name);
    } catch (err) {
      req.log.error({ err }, o.buildFailed.log);
      return o.error(reply, 500, o.buildFailed.code, o.buildFailed.message);
    }
    if (!asset) return o.error(reply, 404, 'not_found', o.notFound);
    reply.headers(o.headers).header('etag', asset.etag).type(asset.type);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };
}
