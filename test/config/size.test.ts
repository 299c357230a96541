import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { parseSize } from '../../src/config/size.js';
import { planTopology } from '../../src/topology/plan.js';
import { lines, useTempDirs } from './route-dir.js';

describe('sizes', () => {
  it('reads whole bytes, decimal units and binary units', () => {
    expect(parseSize(1234)).toBe(1234);
    expect(parseSize('512B')).toBe(512);
    expect(parseSize('64MB')).toBe(64_000_000);
    expect(parseSize('512KiB')).toBe(524_288);
    expect(parseSize('64MiB')).toBe(67_108_864);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', '64', '64 MB', '64mb', '0MB', '1.5MB', '-1MB', 'MB', '64MBs', '064MB']) {
      expect(parseSize(bad), bad).toBeNaN();
    }
    expect(parseSize(1.5)).toBeNaN();
  });
});

describe('maxInFlightBytes', () => {
  const tmp = useTempDirs();

  const route = (...extra: string[]) =>
    lines(
      'routes:',
      '  billing:',
      '    from: { queue: billing.q }',
      ...extra,
      '    to: { webhook: { url: "http://x.internal/", body: envelope } }',
    );

  async function load(text: string) {
    const dir = await tmp.routes({ 'r.yaml': text });
    return { file: join(dir, 'r.yaml'), result: await loadConfig(dir, {}) };
  }

  async function errors(text: string): Promise<string[]> {
    const { file, result } = await load(text);
    expect(result.ok, 'the file should be invalid').toBe(false);
    return result.ok ? [] : result.issues.map((i) => formatIssue(i).replace(file, 'r.yaml'));
  }

  async function bytesOf(text: string): Promise<number> {
    const { result } = await load(text);
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join('\n'));
    return result.config.routes[0]!.maxInFlightBytes;
  }

  it('defaults to 64MiB, and takes bytes or a size with a unit', async () => {
    expect(await bytesOf(route())).toBe(64 * 1024 ** 2);
    expect(await bytesOf(route('    maxInFlightBytes: 20000000'))).toBe(20_000_000);
    expect(await bytesOf(route('    maxInFlightBytes: 20MB'))).toBe(20_000_000);
    expect(await bytesOf(route('    maxInFlightBytes: "512KiB"'))).toBe(524_288);
  });

  it('is part of the route fingerprint: changing it reloads the handler, not the consumer', async () => {
    const plan = async (text: string) => {
      const { result } = await load(text);
      if (!result.ok) throw new Error('invalid');
      return planTopology(result.config).routes[0]!;
    };
    const a = await plan(route('    maxInFlightBytes: 20MB'));
    const b = await plan(route('    maxInFlightBytes: 40MB'));
    expect(a.maxInFlightBytes).toBe(20_000_000);
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.sourceFingerprint).toBe(b.sourceFingerprint);
  });

  it('refuses a size without a unit, a unit it does not know, zero, a fraction and absurd sizes, each at its place', async () => {
    const at = ' (at /routes/billing/maxInFlightBytes)';
    const mustBeSize =
      'must be a size: whole bytes, or a number with B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024); the most message body bytes the route works on at once (default 64MiB). A larger message still runs, alone';
    expect(await errors(route('    maxInFlightBytes: 64 MB'))).toEqual([`r.yaml:4:23 ${mustBeSize}${at}`]);
    expect(await errors(route('    maxInFlightBytes: 64TB'))).toEqual([`r.yaml:4:23 ${mustBeSize}${at}`]);
    expect(await errors(route('    maxInFlightBytes: 0'))).toEqual([`r.yaml:4:23 must be >= 1${at}`]);
    expect(await errors(route('    maxInFlightBytes: 1.5'))).toEqual([
      `r.yaml:4:23 must be string or integer${at}`,
    ]);
    expect(await errors(route('    maxInFlightBytes: 99999999999GiB'))).toEqual([
      `r.yaml:4:23 maxInFlightBytes must be at most 9007199254740991 bytes${at}`,
    ]);
  });
});
