/**
 * Large route files for the loader figures (bench/loader.ts) and the hostile-input tests: one map
 * of `entries` queues, optionally with one mistake in its last entry, so that the whole file is
 * parsed, positioned and validated before the one issue is known.
 */
export function manyQueues(entries: number, options: { mistakeInLast?: boolean } = {}): string {
  const lines = ['queues:'];
  for (let i = 0; i < entries; i++) {
    const last = i === entries - 1;
    lines.push(
      last && options.mistakeInLast
        ? `  bench.loader.q${i}: { tpye: quorum }`
        : `  bench.loader.q${i}: { type: quorum, arguments: { x-max-length: ${1000 + i} } }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A billion-laughs document: `levels` anchors, each aliasing the previous one ten times. */
export function aliasBomb(levels = 9): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++) {
    lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}
