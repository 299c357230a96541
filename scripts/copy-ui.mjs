// `npm run build`: tsc compiles src/ui/*.ts but does not copy the status page's own files (HTML,
// CSS, browser modules), which src/ui/assets.ts serves from beside itself: copy them to dist/.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';

const from = new URL('../src/ui/', import.meta.url);
const to = new URL('../dist/src/ui/', import.meta.url);
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (!name.endsWith('.ts')) copyFileSync(new URL(name, from), new URL(name, to));
}
