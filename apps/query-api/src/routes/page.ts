import { readFileSync } from 'node:fs';
import { sha256Bytes } from '@fever/encoder';
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import { Router } from '../openapi.ts';

/** The page's own files: read once, served with an ETag. Nothing is loaded from elsewhere. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/docs': { file: 'docs.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/assets/docs.js': { file: 'docs.js', type: 'text/javascript; charset=utf-8' },
  '/assets/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
};

/** Public paths: the page shell carries no data (every data call needs the token). */
export const PAGE_PATHS = new Set(Object.keys(ASSETS));

/** Same-origin only: the page and the API reference run on what this server sends. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
  "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function pageRoutes(): Router {
  const r = new Router('');
  for (const [path, asset] of Object.entries(ASSETS)) {
    const bytes = readFileSync(new URL(`../page/${asset.file}`, import.meta.url));
    const etag = `"${sha256Bytes(bytes).slice(0, 16)}"`;
    const body = new Uint8Array(bytes);
    r.add(
      {
        method: 'get',
        path,
        tag: 'page',
        summary: path === '/' ? 'The search page' : path === '/docs' ? 'This API reference' : asset.file,
        auth: false,
        hidden: path.startsWith('/assets/'),
        responses: { 200: { description: asset.file, contentType: asset.type.split(';')[0]! } },
      },
      (c: Context<AppEnv>) => {
        const headers: Record<string, string> = {
          ETag: etag,
          'Cache-Control': 'no-cache',
          'X-Content-Type-Options': 'nosniff',
        };
        if (asset.type.startsWith('text/html')) {
          headers['Content-Security-Policy'] = CSP;
          headers['Referrer-Policy'] = 'no-referrer';
        }
        if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
        return c.body(body, 200, { ...headers, 'Content-Type': asset.type });
      },
    );
  }
  return r;
}
