export const redacted = '<redacted>';

const sensitiveName = /authorization|cookie|token|secret|password|api[-_]?key/i;

/**
 * A deep copy with every string that holds an interpolated value, and every value under a
 * sensitive-looking key, replaced. Used for `warren plan`, the admin API and logs.
 */
export function redact<T>(value: T, secrets: readonly string[]): T {
  const hasSecret = (s: string) => secrets.some((secret) => secret.length > 0 && s.includes(secret));
  const walk = (v: unknown, key: string): unknown => {
    if (typeof v === 'string') return sensitiveName.test(key) || hasSecret(v) ? redacted : v;
    if (Array.isArray(v)) return v.map((item) => walk(item, key));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    }
    return v;
  };
  return walk(value, '') as T;
}
