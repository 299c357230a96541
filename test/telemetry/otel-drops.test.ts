import { afterEach, describe, expect, it, vi } from 'vitest';
import { DroppedSpans } from '../../src/telemetry/otel-drops.js';

describe('spans dropped on the way to the export thread', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('are said at once, then once a minute with every drop in between counted, and at the stop', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const dropped = new DroppedSpans((line) => lines.push(line), 4);
    dropped.add(false);
    expect(lines).toEqual(['dropped spans: 1 because the export thread was 4 MiB of spans behind']);
    for (let i = 0; i < 9_999; i++) dropped.add(false);
    dropped.add(true);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(60_000);
    expect(lines[1]).toBe(
      'dropped spans: 9999 because the export thread was 4 MiB of spans behind; 1 larger than those 4 MiB each',
    );
    dropped.add(false);
    dropped.add(false);
    expect(lines).toHaveLength(2);
    dropped.flush(); // the stop
    expect(lines[2]).toBe('dropped spans: 2 because the export thread was 4 MiB of spans behind');
    dropped.flush();
    vi.advanceTimersByTime(120_000);
    expect(lines).toHaveLength(3);
  });
});
