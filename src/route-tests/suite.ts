import type { TargetSpec } from '../config/types.js';
import type { Outcome } from '../delivery/outcome.js';
import type { RecordedRequest } from './webhook.js';

/**
 * What a test file says once read (docs/plugins.md, "Testing routes"), with its defaults filled
 * in, and what happened to a case's message. The file's own shape is `schema.ts`.
 */

/** The message a case feeds to the route, as a publisher would have sent it. */
export interface TestMessage {
  /** Absent: an empty body. An object, array, number, boolean or null is sent as JSON. */
  body?: unknown;
  contentType?: string;
  headers: Record<string, unknown>;
  /** Default ''. */
  routingKey: string;
  /** Default: the exchange of the route's first binding ('' without bindings). */
  exchange?: string;
  messageId?: string;
  /** The AMQP `type` property (a route's `schema: { by: type }` reads it). */
  type?: string;
  redelivered: boolean;
  /** 1 for a first delivery; more for a retry copy (carried as `x-warren-attempt`). */
  attempt: number;
}

/** One request the webhook target would send. Absent fields are not compared. */
export interface RequestExpectation {
  url?: string;
  method?: string;
  /** Subset, names case-insensitive; null: the header must be absent. */
  headers?: Record<string, string | null>;
  /** Present (even null): JSON deep-equal for a non-string, exact text for a string. */
  body?: unknown;
}

/** One message republish or a plugin target would publish. Absent fields are not compared. */
export interface PublishExpectation {
  exchange?: string;
  routingKey?: string;
  /** Subset, values deep-equal; null: the header must be absent. */
  headers?: Record<string, unknown>;
  body?: unknown;
}

export type Expectation =
  | { kind: 'webhook'; requests: RequestExpectation[] }
  | { kind: 'publish'; messages: PublishExpectation[] }
  /** `reason` absent: any reason. Otherwise a substring of the outcome's reason. */
  | { kind: 'drop'; reason?: string }
  /** The route's `when` filter turned it away; `reason` as for drop. */
  | { kind: 'filtered'; reason?: string }
  | { kind: 'deadLetter'; reason: string }
  | { kind: 'retry'; reason: string }
  /**
   * The route's `schema:` refused the body (dead-lettered as invalid). Each given part must hold:
   * `reason` a substring of the whole reason; `pointer` one error's JSON pointer ('' or `(root)`
   * for the body itself), `message` a substring of that error's message; `schema` the schema named.
   */
  | { kind: 'invalid'; reason?: string; pointer?: string; message?: string; schema?: string };

export interface TestCase {
  name: string;
  line: number;
  message: TestMessage;
  expect: Expectation;
}

export interface TestSuite {
  file: string;
  line: number;
  route: string;
  cases: TestCase[];
}

/** What the parser needs to know about the routes under test. */
export type RouteTargets = ReadonlyMap<string, TargetSpec['kind']>;

/** One message a republish or plugin target would have published. */
export interface RecordedPublish {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
  contentType?: string;
  body: Buffer;
}

/** What the route did with one case's message. */
export interface Observed {
  outcome: Outcome;
  /** Whether an ack means webhook requests or published messages. */
  target: 'webhook' | 'publish';
  requests: RecordedRequest[];
  published: RecordedPublish[];
}

/** The `expect` key that names each outcome. */
export const outcomeKeys: Record<Outcome['kind'], string> = {
  ack: 'ack',
  drop: 'drop',
  retry: 'retry',
  'dead-letter': 'deadLetter',
  filtered: 'filtered',
};

/** The `expect` key of an outcome: a dead letter for a broken contract is `invalid`. */
export function outcomeKey(outcome: Outcome): string {
  return outcome.kind === 'dead-letter' && outcome.contract ? 'invalid' : outcomeKeys[outcome.kind];
}

/** One error of an `invalid` reason (`schema: /a must be string; /b …`): its pointer and message. */
export function schemaErrors(reason: string): Array<{ pointer: string; message: string }> {
  return reason
    .replace(/^schema: /, '')
    .split('; ')
    .map((part) => {
      const space = part.indexOf(' ');
      const pointer = space < 0 ? part : part.slice(0, space);
      return {
        pointer: pointer === '(root)' ? '' : pointer,
        message: space < 0 ? '' : part.slice(space + 1),
      };
    });
}
