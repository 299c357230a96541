/** What one reload did, per route: returned by `POST /api/reload` and kept as `lastReload`. */
export type RouteChange = 'added' | 'handler' | 'source' | 'removed' | 'retried';

export interface RouteReloadResult {
  route: string;
  change: RouteChange;
  ok: boolean;
  /** Failed: the previous version (if any) keeps running. */
  error?: { code: string; message: string };
}

export type ReloadResult = 'applied' | 'partial' | 'invalid' | 'unchanged';

export interface ReloadReport {
  at: string;
  trigger: string;
  result: ReloadResult;
  /** The version now running, and the one before this reload. */
  version: string;
  previousVersion: string;
  durationMs: number;
  routes: RouteReloadResult[];
  /** For an invalid configuration: `file:line:col message` per problem. */
  issues?: string[];
}

export function reloadResult(routes: RouteReloadResult[]): ReloadResult {
  if (routes.length === 0) return 'unchanged';
  return routes.every((r) => r.ok) ? 'applied' : 'partial';
}
