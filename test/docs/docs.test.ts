import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { errorCodes } from '../../src/errors.js';

async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir('docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f));
  return ['README.md', ...docs];
}

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('documentation', () => {
  it('has route-file examples that validate', async () => {
    let checked = 0;
    for (const file of await markdownFiles()) {
      for (const [i, block] of yamlBlocks(await readFile(file, 'utf8')).entries()) {
        const dir = await mkdtemp(join(tmpdir(), 'warren-doc-'));
        try {
          await writeFile(join(dir, 'example.yaml'), block);
          const result = await loadConfig(dir, { BILLING_TOKEN: 'example-token' });
          const problems = result.ok ? [] : result.issues.map(formatIssue);
          expect(problems, `${file} YAML block ${i + 1}`).toEqual([]);
          checked++;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('documents every error code in docs/errors.md', async () => {
    const doc = await readFile('docs/errors.md', 'utf8');
    const missing = Object.keys(errorCodes).filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('documents every route-file key of the schema in the README', async () => {
    const readme = await readFile('README.md', 'utf8');
    const { routesSchema } = await import('../../src/config/schema.js');
    const keys = new Set<string>();
    const walk = (schema: unknown): void => {
      if (!schema || typeof schema !== 'object') return;
      const s = schema as Record<string, unknown>;
      for (const [key, sub] of Object.entries((s.properties as Record<string, unknown>) ?? {})) {
        keys.add(key);
        walk(sub);
      }
      for (const k of ['additionalProperties', 'items']) walk(s[k]);
    };
    walk(routesSchema);
    keys.delete('x-match');
    const missing = [...keys].filter((key) => !new RegExp(`\`([\\w.]+\\.)?${key}(\\.\\w+)?\``).test(readme));
    expect(missing).toEqual([]);
  });
});

describe('the Kubernetes example', () => {
  it('has route files in its ConfigMap that validate', async () => {
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(await readFile('deploy/configmap.yaml', 'utf8'));
    const data = (docs[0]!.toJS() as { data: Record<string, string> }).data;
    const dir = await mkdtemp(join(tmpdir(), 'warren-k8s-'));
    try {
      for (const [name, text] of Object.entries(data)) await writeFile(join(dir, name), text);
      const result = await loadConfig(dir, { BILLING_TOKEN: 'example-token' });
      expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
      expect(Object.keys(data).length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the pod more grace than Warren drains for, and probes the admin port', async () => {
    const { parseAllDocuments } = await import('yaml');
    const [deployment] = parseAllDocuments(await readFile('deploy/deployment.yaml', 'utf8')).map((d) =>
      d.toJS(),
    );
    const spec = deployment.spec.template.spec;
    const container = spec.containers[0];
    const drain = container.env.find((e: { name: string }) => e.name === 'WARREN_DRAIN_TIMEOUT').value;
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(Number.parseInt(drain, 10));
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(
      container.env.find((e: { name: string }) => e.name === 'WARREN_ADMIN_TOKEN').valueFrom.secretKeyRef,
    ).toBeDefined();
  });

  it('reaches the cluster over TLS, trusting the CA it mounts from its own Secret', async () => {
    const { parseAllDocuments } = await import('yaml');
    const [deployment] = parseAllDocuments(await readFile('deploy/deployment.yaml', 'utf8')).map((d) =>
      d.toJS(),
    );
    const secrets = parseAllDocuments(await readFile('deploy/secret.yaml', 'utf8')).map((d) => d.toJS());
    const spec = deployment.spec.template.spec;
    const container = spec.containers[0];
    const amqpUrl = secrets.find((s) => s.metadata.name === 'warren').stringData['amqp-url'] as string;
    expect(amqpUrl).toMatch(/^amqps:\/\/[^@]+@rabbitmq\.rabbitmq\.svc:5671$/);
    const ca = container.env.find((e: { name: string }) => e.name === 'WARREN_AMQP_CA').value as string;
    const mount = container.volumeMounts.find((m: { mountPath: string }) => ca.startsWith(`${m.mountPath}/`));
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const tls = secrets.find((s) => s.metadata.name === volume.secret.secretName);
    expect(Object.keys(tls.stringData)).toContain(ca.slice(mount.mountPath.length + 1));
  });
});
