import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, Expiring } from '../src/deadlines.js';

class Call extends Expiring {
  expired = false;
  expire(): void {
    this.expired = true;
  }
}

describe('shared deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires what is still listed when its timeout passes, in start order', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100);
    const first = new Call();
    const second = new Call();
    deadlines.add(first);
    vi.advanceTimersByTime(50);
    deadlines.add(second);
    vi.advanceTimersByTime(60);
    expect([first.expired, second.expired]).toEqual([true, false]);
    vi.advanceTimersByTime(50);
    expect(second.expired).toBe(true);
  });

  it('never expires a call removed in time, and removing twice is harmless', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100);
    const call = new Call();
    deadlines.add(call);
    deadlines.remove(call);
    deadlines.remove(call);
    vi.advanceTimersByTime(500);
    expect(call.expired).toBe(false);
  });

  it('keeps no timer armed when nothing is listed', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100);
    const call = new Call();
    deadlines.add(call);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.remove(call);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('re-arms for the next call after the head settled early', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100);
    const head = new Call();
    const next = new Call();
    deadlines.add(head);
    vi.advanceTimersByTime(30);
    deadlines.add(next);
    deadlines.remove(head);
    vi.advanceTimersByTime(100);
    expect(next.expired).toBe(true);
    expect(head.expired).toBe(false);
  });
});
