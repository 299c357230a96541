import { describe, expect, it } from 'vitest';
import { classifyStatus, parseRetryAfter, statusPolicy } from '../../src/targets/webhook-status.js';

describe('webhook response table', () => {
  it.each([200, 201, 204, 299])('acks a %i', (status) => {
    expect(classifyStatus(status).kind).toBe('ack');
  });

  it.each([408, 429, 500, 502, 503, 504])('retries a %i', (status) => {
    expect(classifyStatus(status)).toMatchObject({ kind: 'retry', status });
  });

  it.each([301, 302, 307, 400, 401, 403, 404, 409, 410, 422])('dead-letters a %i', (status) => {
    expect(classifyStatus(status)).toMatchObject({ kind: 'dead-letter', status });
  });

  it('carries Retry-After into the retry outcome', () => {
    expect(classifyStatus(503, 7000)).toMatchObject({ kind: 'retry', afterMs: 7000 });
  });
});

describe("a route's retryOn and deadLetterOn", () => {
  const policy = statusPolicy({ retryOn: [409, 423], deadLetterOn: [501, 503] });

  it('retries a status the default table dead-letters', () => {
    expect(classifyStatus(409, undefined, policy)).toMatchObject({ kind: 'retry', status: 409 });
    expect(classifyStatus(423, undefined, policy)).toMatchObject({ kind: 'retry', status: 423 });
  });

  it('dead-letters a status the default table retries, Retry-After or not', () => {
    expect(classifyStatus(503, 30_000, policy)).toEqual({
      kind: 'dead-letter',
      reason: 'HTTP 503',
      status: 503,
    });
    expect(classifyStatus(501, undefined, policy)).toMatchObject({ kind: 'dead-letter', status: 501 });
  });

  it('keeps the default for every status it does not name', () => {
    expect(classifyStatus(500, undefined, policy)).toMatchObject({ kind: 'retry', status: 500 });
    expect(classifyStatus(429, undefined, policy)).toMatchObject({ kind: 'retry', status: 429 });
    expect(classifyStatus(404, undefined, policy)).toMatchObject({ kind: 'dead-letter', status: 404 });
    expect(classifyStatus(204, undefined, policy)).toEqual({ kind: 'ack' });
  });

  it('carries Retry-After into a retry that retryOn made', () => {
    expect(classifyStatus(409, 7000, policy)).toMatchObject({ kind: 'retry', status: 409, afterMs: 7000 });
  });

  it('accepts expanded classes', () => {
    const classes = statusPolicy({
      retryOn: Array.from({ length: 100 }, (_, i) => 400 + i),
      deadLetterOn: [],
    });
    expect(classifyStatus(418, undefined, classes)).toMatchObject({ kind: 'retry', status: 418 });
    expect(classifyStatus(301, undefined, classes)).toMatchObject({ kind: 'dead-letter', status: 301 });
  });
});

describe('Retry-After', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('7')).toBe(7000);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(parseRetryAfter('Sun, 29 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
  });

  it('treats a date in the past as no wait, and garbage as absent', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(parseRetryAfter('Sun, 29 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
