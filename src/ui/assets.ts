import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The status page's files: an explicit allow-list from URL path to file, so no part of a request
 * ever becomes a file-system path. The page's own files sit beside this module (`src/ui/`, copied
 * to `dist/src/ui/` by `npm run build`); uPlot and elkjs are served from the installed packages,
 * so the page works offline and without a front-end build.
 */

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const resolvePackage = createRequire(import.meta.url).resolve;

interface Asset {
  file: string;
  type: string;
  /** Vendor files change only with the installed package: browsers may keep them a day. */
  cache: string;
}

const js = 'text/javascript; charset=utf-8';
const css = 'text/css; charset=utf-8';
const own = (name: string, type: string): Asset => ({ file: here(name), type, cache: 'no-cache' });
const vendor = (specifier: string, type: string): Asset => ({
  file: resolvePackage(specifier),
  type,
  cache: 'public, max-age=86400',
});

/** URL path → file. Anything else under /ui/ is a 404. */
export const assets: ReadonlyMap<string, Asset> = new Map([
  ['/', own('index.html', 'text/html; charset=utf-8')],
  ['/ui/style.css', own('style.css', css)],
  ['/ui/app.js', own('app.js', js)],
  ['/ui/dom.js', own('dom.js', js)],
  ['/ui/rates.js', own('rates.js', js)],
  ['/ui/graph.js', own('graph.js', js)],
  ['/ui/charts.js', own('charts.js', js)],
  ['/ui/routes.js', own('routes.js', js)],
  ['/ui/reloads.js', own('reloads.js', js)],
  ['/ui/detail.js', own('detail.js', js)],
  ['/ui/vendor/uPlot.iife.min.js', vendor('uplot/dist/uPlot.iife.min.js', js)],
  ['/ui/vendor/uPlot.min.css', vendor('uplot/dist/uPlot.min.css', css)],
  ['/ui/vendor/elk.bundled.js', vendor('elkjs/lib/elk.bundled.js', js)],
]);

/**
 * The page loads scripts and styles from this origin only and talks to this origin only; no inline
 * script, no eval, no frames. Data reaches the DOM as text (the page never uses innerHTML), and the
 * policy is the second wall should that ever change.
 */
export const securityHeaders: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export type AssetAnswer =
  | { status: 200; body: Uint8Array; headers: Record<string, string> }
  | { status: 304; headers: Record<string, string> }
  | { status: 404 | 500; error: string };

/**
 * One asset, read when asked (nothing is kept in memory between requests), with a validator so a
 * reload of the page is a 304. `ifNoneMatch` is the request's header.
 */
export async function readAsset(path: string, ifNoneMatch: string | undefined): Promise<AssetAnswer> {
  const asset = assets.get(path);
  if (!asset) return { status: 404, error: 'not found' };
  try {
    const info = await stat(asset.file);
    const etag = `"${info.size.toString(36)}-${Math.trunc(info.mtimeMs).toString(36)}"`;
    const headers = { ...securityHeaders, 'content-type': asset.type, 'cache-control': asset.cache, etag };
    if (ifNoneMatch === etag) return { status: 304, headers };
    return { status: 200, body: await readFile(asset.file), headers };
  } catch {
    // A dist/ built by bare `tsc` has no copy of the page: say how to get one.
    return {
      status: 500,
      error: `the status page file ${asset.file} is missing: build with \`npm run build\`, which copies src/ui/`,
    };
  }
}
