import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { planTopology } from '../../src/topology/plan.js';

const route = (transform: string) => `routes:
  r:
    from: { queue: q }
    transform: ${transform}
    to: { webhook: { url: "http://127.0.0.1:1/x" } }
`;

describe('plugin paths', () => {
  let root: string;
  let routes: string;
  let plugins: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'warren-plugin-paths-'));
    routes = join(root, 'routes.d');
    plugins = join(root, 'plugins');
    await Promise.all([
      import('node:fs/promises').then((fs) => fs.mkdir(routes)),
      import('node:fs/promises').then((fs) => fs.mkdir(plugins)),
    ]);
    await writeFile(join(plugins, 'ok.js'), 'export default (m) => m');
    await writeFile(join(root, 'outside.js'), 'export default (m) => m');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function issuesFor(transform: string): Promise<string[]> {
    await writeFile(join(routes, 'r.yaml'), route(transform));
    const result = await loadConfig(routes, {}, plugins);
    return result.ok ? [] : result.issues.map(formatIssue);
  }

  it('accepts a path relative to the plugins directory, and an absolute one inside it', async () => {
    expect(await issuesFor('ok.js')).toEqual([]);
    expect(await issuesFor(join(plugins, 'ok.js'))).toEqual([]);
  });

  it('refuses a relative path that climbs out of the plugins directory, at its line', async () => {
    const [issue] = await issuesFor('../outside.js');
    expect(issue).toMatch(/r\.yaml:4:16 plugin `\.\.\/outside\.js` is outside the plugins directory/);
  });

  it('refuses an absolute path elsewhere', async () => {
    expect((await issuesFor(join(root, 'outside.js')))[0]).toMatch(/is outside the plugins directory/);
  });

  it('refuses a symlink inside the directory that points out of it', async () => {
    await symlink(join(root, 'outside.js'), join(plugins, 'sneaky.js'));
    expect((await issuesFor('sneaky.js'))[0]).toMatch(
      /resolves \(through a link\) outside the plugins directory/,
    );
  });

  it('reports a missing plugin file', async () => {
    expect((await issuesFor('nope.js'))[0]).toMatch(/plugin `nope\.js` not found/);
  });

  it('reports an unknown key in the object form with the nearest valid one', async () => {
    expect((await issuesFor('{ file: ok.js, timout: 10ms }'))[0]).toMatch(
      /unknown key `timout`; did you mean `timeout`\?/,
    );
  });

  it('makes the plugin source part of the route fingerprint', async () => {
    await writeFile(join(routes, 'r.yaml'), route('ok.js'));
    const first = await loadConfig(routes, {}, plugins);
    await writeFile(join(plugins, 'ok.js'), 'export default (m) => ({ body: 1 })');
    const second = await loadConfig(routes, {}, plugins);
    if (!first.ok || !second.ok) throw new Error('expected valid configs');
    const a = planTopology(first.config).routes[0]!;
    const b = planTopology(second.config).routes[0]!;
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.sourceFingerprint).toBe(b.sourceFingerprint);
  });
});
