import { describe, expect, it } from 'vitest';
import { classifyStatus, parseRetryAfter } from '../../src/targets/webhook.js';

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
