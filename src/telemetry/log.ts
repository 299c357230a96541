import pino, { type Logger } from 'pino';

/**
 * JSON lines on stdout, one event per line (README, "Admin API and metrics").
 * `WARREN_LOG_LEVEL` sets the level.
 */
export function createLogger(level = process.env.WARREN_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'warren' }, timestamp: pino.stdTimeFunctions.isoTime });
}
