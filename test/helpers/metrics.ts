import type { Hono } from 'hono';

/**
 * One sample of a Prometheus text exposition, matched by name and (a subset of) its labels;
 * undefined when no sample matches.
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

/** The admin app's `/metrics` text. */
export async function metricsText(admin: Hono): Promise<string> {
  return (await admin.request('/metrics')).text();
}
