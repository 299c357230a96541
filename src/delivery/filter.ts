import { headerText } from '../amqp/headers.js';
import type { Filter } from '../config/types.js';
import { filtered, type Outcome } from './outcome.js';
import type { Delivery } from './types.js';

/**
 * A route's `when` filter, compiled once per handler: returns undefined when the delivery matches,
 * else the reason it was filtered out (the first condition that failed).
 */
export type CompiledFilter = (d: Pick<Delivery, 'routingKey' | 'headers'>) => string | undefined;

export function compileFilter(filter: Filter): CompiledFilter {
  const patterns = filter.routingKey?.map((p) => ({ text: p, words: p.split('.') }));
  const headers = Object.entries(filter.headers).map(([name, condition]) => ({
    name,
    condition,
    // Compared as text: AMQP header values arrive as strings, numbers, booleans or bytes.
    values: 'oneOf' in condition ? new Set(condition.oneOf.map(String)) : undefined,
  }));
  return (d) => {
    if (patterns !== undefined) {
      // An empty key has no words (RabbitMQ: `#` matches it, `*` does not).
      const key = d.routingKey === '' ? [] : d.routingKey.split('.');
      if (!patterns.some((p) => topicMatches(p.words, key))) {
        return `routing key "${d.routingKey}" matches none of ${patterns.map((p) => `"${p.text}"`).join(', ')}`;
      }
    }
    for (const { name, condition, values } of headers) {
      const value = d.headers[name];
      const present = value !== undefined && value !== null;
      if ('exists' in condition) {
        if (present !== condition.exists) return `header ${name} is ${present ? 'present' : 'absent'}`;
        continue;
      }
      if (!present) return `header ${name} is absent`;
      const text = headerText(value, 'scalars');
      if (text === undefined || !values!.has(text)) {
        return `header ${name} is not ${[...values!].map((v) => `"${v}"`).join(' or ')}`;
      }
    }
    return undefined;
  };
}

/** Runs the filter before `next`; a delivery that does not match is acked as `filtered`. */
export function withFilter(
  filter: CompiledFilter,
  next: (d: Delivery) => Promise<Outcome>,
): (d: Delivery) => Promise<Outcome> {
  return function filterThenDeliver(d: Delivery): Promise<Outcome> {
    const reason = filter(d);
    return reason === undefined ? next(d) : Promise.resolve(filtered(reason));
  };
}

/**
 * AMQP topic matching over dot-separated words: `*` is exactly one word, `#` zero or more.
 * `reach[j]` says whether the first j words of the key can be matched by the pattern so far.
 */
export function topicMatches(pattern: readonly string[], key: readonly string[]): boolean {
  let reach = new Array<boolean>(key.length + 1).fill(false);
  reach[0] = true;
  for (const word of pattern) {
    const next = new Array<boolean>(key.length + 1).fill(false);
    if (word === '#') {
      let any = false;
      for (let j = 0; j <= key.length; j++) {
        any ||= reach[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= key.length; j++) {
        next[j] = reach[j - 1]! && (word === '*' || word === key[j - 1]);
      }
    }
    reach = next;
  }
  return reach[key.length]!;
}
