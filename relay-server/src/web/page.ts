import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic, { type SetHeadersResponse } from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/** Where the page's files are: the HTML and CSS as written, the scripts as `tsc` built them. */
export const PAGE_FILES = {
  static: fileURLToPath(new URL('../../page/static/', import.meta.url)),
  scripts: fileURLToPath(new URL('../../page/dist/', import.meta.url)),
};

/**
 * The page runs only its own scripts and styles, from this origin, and cannot be framed: every
 * value it shows comes from webhook senders, so nothing inline may ever run.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function pageHeaders(response: SetHeadersResponse): void {
  response.setHeader('content-security-policy', PAGE_CSP);
  response.setHeader('x-content-type-options', 'nosniff');
  response.setHeader('x-frame-options', 'DENY');
  response.setHeader('referrer-policy', 'no-referrer');
  response.setHeader('cross-origin-opener-policy', 'same-origin');
  response.setHeader('cross-origin-resource-policy', 'same-origin');
  // File names carry no version: the browser asks again each time, and an unchanged file costs a 304.
  response.setHeader('cache-control', 'no-cache');
  // Scripts go out brotli, gzip or plain by the request's Accept-Encoding: caches must keep them apart.
  response.setHeader('vary', 'accept-encoding');
}

/**
 * True when every brotli or gzip copy of a script is at least as new as the script: a copy older
 * than its script (rebuilt with `tsc -b` alone) would send a browser the previous build.
 */
function compressedCopiesCurrent(dir: string): boolean {
  if (!existsSync(dir)) return true;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      if (!compressedCopiesCurrent(path)) return false;
    } else if (name.endsWith('.js')) {
      for (const copy of [`${path}.br`, `${path}.gz`]) if (existsSync(copy) && statSync(copy).mtimeMs < stat.mtimeMs) return false;
    }
  }
  return true;
}

/**
 * The Webhook Logs page at `/`: a fixed set of files found at start (no path is resolved per
 * request), with ETags, and the scripts' brotli or gzip copies when the build made them.
 */
export const pagePlugin: FastifyPluginAsync = async (app) => {
  if (!existsSync(`${PAGE_FILES.scripts}main.js`)) {
    app.log.warn({ dir: PAGE_FILES.scripts }, 'the Webhook Logs page is not built (run npm run build); / serves its HTML only');
  }
  const preCompressed = compressedCopiesCurrent(PAGE_FILES.scripts);
  if (!preCompressed) app.log.warn('the compressed copies of the page scripts are older than the scripts (run npm run build); sending them uncompressed');
  const common = { wildcard: false, cacheControl: false, setHeaders: pageHeaders, serveDotFiles: false } as const;
  await app.register(fastifyStatic, { ...common, root: PAGE_FILES.static, prefix: '/', index: 'index.html' });
  await app.register(fastifyStatic, {
    ...common,
    root: PAGE_FILES.scripts,
    prefix: '/js/',
    decorateReply: false,
    preCompressed,
    globIgnore: ['**/*.d.ts', '**/*.d.ts.*', '**/*.map', '**/*.tsbuildinfo'],
  });
};
