/**
 * Every operational error Warren raises carries a stable code (documented in docs/errors.md,
 * checked by a test) so logs, API responses and operators can match on it.
 */
export const errorCodes = {
  WARREN_E_CONFIG_INVALID: 'A route file failed to parse, interpolate or validate.',
  WARREN_E_TOPOLOGY_CONFLICT:
    'RabbitMQ refused a declaration (406 PRECONDITION_FAILED): the entity exists with other properties.',
  WARREN_E_TOPOLOGY_FAILED: 'A declaration, binding or consume failed for a reason other than a conflict.',
  WARREN_E_PUBLISH_FAILED: 'A publish was nacked, returned unroutable, timed out or its channel closed.',
  WARREN_E_UNENCODABLE:
    'A copy of a message cannot be encoded again (its headers or properties, as amqplib decoded them).',
  WARREN_E_PLUGIN_FAILED:
    'A plugin of a route could not be loaded (syntax error, imports, no default export).',
  WARREN_E_NOT_CONNECTED: 'The operation needs a broker connection and none is open.',
  WARREN_E_USAGE: 'The command line was not understood.',
  WARREN_E_ADMIN_LISTEN: 'The admin HTTP server could not bind its host and port.',
  WARREN_E_TLS_FILE:
    'A file named by WARREN_AMQP_CA, WARREN_AMQP_CERT or WARREN_AMQP_KEY cannot be read, or a certificate lacks its key.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class WarrenError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WarrenError';
    this.code = code;
  }
}

export function isWarrenError(err: unknown, code?: ErrorCode): err is WarrenError {
  return err instanceof WarrenError && (code === undefined || err.code === code);
}
