import { describe, expect, it } from 'vitest';
import { renderDiff } from '../../src/route-tests/views.js';

const numbered = (n: number, change?: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i === change ? 'changed' : i]));

describe('the line diff of a failing case', () => {
  it('marks what only the expectation has with -, what only happened with +, and keeps the rest', () => {
    expect(
      renderDiff({
        expected: { publish: [{ routingKey: 'a' }, { routingKey: 'b' }] },
        actual: { publish: [{ routingKey: 'a' }, { routingKey: 'c' }] },
      }),
    ).toEqual(['  publish:', '    - routingKey: a', '-   - routingKey: b', '+   - routingKey: c']);
  });

  it('keeps three unchanged lines around each change of a long diff and folds the rest into …', () => {
    expect(renderDiff({ expected: numbered(40), actual: numbered(40, 20) })).toEqual([
      '  …',
      '  k17: 17',
      '  k18: 18',
      '  k19: 19',
      '- k20: 20',
      '+ k20: changed',
      '  k21: 21',
      '  k22: 22',
      '  k23: 23',
      '  …',
    ]);
  });

  it('gives up pairing lines of views that have almost nothing in common, quickly', () => {
    const expected = { webhook: Array.from({ length: 3_000 }, (_, i) => ({ a: i })) };
    const actual = { webhook: Array.from({ length: 3_000 }, (_, i) => ({ b: i })) };
    const started = performance.now();
    const lines = renderDiff({ expected, actual });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(lines.filter((l) => l.startsWith('- '))).toHaveLength(3_001);
    expect(lines.filter((l) => l.startsWith('+ '))).toHaveLength(3_001);
  });
});
