import { describe, expect, it } from 'vitest';
import { lines } from '../config/route-dir.js';
import { useProject } from './fixture.js';

describe('warren test: each expectation kind', () => {
  const project = useProject();

  it('webhook: the request the target would send, contract headers from the real planning', async () => {
    const run = await project.run({
      'hook.yaml': lines(
        'route: hook',
        'cases:',
        '  - name: posts the order',
        '    message:',
        '      routingKey: order.created',
        '      messageId: m-1',
        '      attempt: 2',
        '      redelivered: true',
        '      headers: { traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 }',
        '      body: { id: 7 }',
        '    expect:',
        '      webhook:',
        '        - url: http://127.0.0.1:9/hooks/orders',
        '          method: PUT',
        '          headers:',
        '            Content-Type: application/json',
        '            authorization: Bearer t0ken',
        '            webhook-id: m-1',
        '            x-warren-route: hook',
        '            x-warren-attempt: 2',
        '            x-warren-exchange: shop',
        '            x-warren-routing-key: order.created',
        '            x-warren-redelivered: true',
        '            traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        '            tracestate: null',
        '          body: { id: 7 }',
        '  - name: a text body is sent as it is',
        '    message: { body: "hello", contentType: text/plain }',
        '    expect: { webhook: [{ body: hello, headers: { content-type: text/plain } }] }',
      ),
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(
      '✓ hook › posts the order\n✓ hook › a text body is sent as it is\n2 passed, 0 failed\n',
    );
    expect(run.code).toBe(0);
  });

  it('webhook after a transform: the plugin output is what is sent', async () => {
    const run = await project.run({
      'shaped.yaml': lines(
        'route: shaped',
        'cases:',
        '  - name: reshaped',
        '    message: { attempt: 1, body: { id: a, cents: 250 } }',
        '    expect:',
        '      webhook: [{ headers: { content-type: application/json }, body: { id: a, total: 2.5, route: shaped, attempt: 1 } }]',
      ),
    });
    expect(run.stdout).toBe('✓ shaped › reshaped\n1 passed, 0 failed\n');
    expect(run.code).toBe(0);
  });

  it('publish: republish and a fan-out plugin target, in order', async () => {
    const run = await project.run({
      'publish.yaml': lines(
        'route: copy',
        'cases:',
        '  - name: copied with its headers',
        '    message: { routingKey: order.paid, attempt: 2, headers: { tenant: acme }, body: "raw text" }',
        '    expect:',
        '      publish:',
        '        - exchange: out',
        '          routingKey: copy.order.paid',
        '          headers: { tenant: acme, origin: shop, x-warren-attempt: null }',
        '          body: raw text',
        '---',
        'route: split',
        'cases:',
        '  - name: one message per item',
        '    message: { body: { items: [a, b] } }',
        '    expect:',
        '      publish:',
        '        - { exchange: out, routingKey: item.a, headers: { n: 2 }, body: { item: a } }',
        '        - { routingKey: item.b, body: { item: b } }',
      ),
    });
    expect(run.stdout).toBe(
      '✓ copy › copied with its headers\n✓ split › one message per item\n2 passed, 0 failed\n',
    );
    expect(run.code).toBe(0);
  });

  it('drop: any reason, or a reason containing the text', async () => {
    const run = await project.run({
      'drop.yaml': lines(
        'route: shaped',
        'cases:',
        '  - { name: any reason, message: { body: { skip: true } }, expect: { drop: true } }',
        '  - { name: this reason, message: { body: { skip: true } }, expect: { drop: "shape.js returned null" } }',
        '---',
        'route: split',
        'cases:',
        '  - { name: no items, message: { body: { items: [] } }, expect: { drop: "returned no messages" } }',
      ),
    });
    expect(run.stdout).toContain('3 passed, 0 failed');
    expect(run.code).toBe(0);
  });

  it('filtered: the when filter runs before the transform, any reason or a reason containing the text', async () => {
    const run = await project.run({
      'filtered.yaml': lines(
        'route: shaped',
        'cases:',
        '  - { name: any reason, message: { headers: { test: yes }, body: { id: a } }, expect: { filtered: true } }',
        '  - name: this reason',
        '    message: { headers: { test: yes }, body: { id: b, fail: true } }',
        '    expect: { filtered: header test is present }',
        '  - name: wrongly expected',
        '    message: { body: { id: c, cents: 100 } }',
        '    expect: { filtered: true }',
      ),
    });
    expect(run.stdout).toContain('2 passed, 1 failed');
    expect(run.stdout).toContain('filtered: expected filtered, got 1 webhook request (ack)');
    expect(run.code).toBe(1);
  });

  it('retry and deadLetter: a throwing plugin, dead-lettered on the last attempt', async () => {
    const run = await project.run({
      'fail.yaml': lines(
        'route: split',
        'cases:',
        '  - { name: first attempt, message: { body: {} }, expect: { retry: "split.js threw: no items" } }',
        '  - name: last attempt',
        '    message: { attempt: 2, body: {} }',
        '    expect: { deadLetter: "no items (gave up after 2 attempts)" }',
        '---',
        'route: shaped',
        'cases:',
        '  - { name: transform throws, message: { body: { id: x, fail: true } }, expect: { retry: cannot shape x } }',
      ),
    });
    expect(run.stdout).toContain('3 passed, 0 failed');
    expect(run.code).toBe(0);
  });

  it('reports a mismatch of kind, with the plugin log', async () => {
    const run = await project.run({
      'kind.yaml': lines(
        'route: shaped',
        'cases:',
        '  - name: wanted a request',
        '    message: { body: { id: q, skip: true } }',
        '    expect: { webhook: [{ body: { id: q } }] }',
      ),
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('✗ shaped › wanted a request\n');
    expect(run.stdout).toContain(
      'webhook: expected 1 webhook request (ack), got drop: plugin shape.js returned null',
    );
    expect(run.stdout).toContain('- webhook:');
    expect(run.stdout).toContain('+ drop: plugin shape.js returned null');
    expect(run.stdout).toContain('info shape.js: skipped q');
  });

  it('prints JSON with --format json', async () => {
    const run = await project.run(
      {
        'json.yaml': lines(
          'route: split',
          'cases:',
          '  - { name: ok, message: { body: { items: [a] } }, expect: { publish: [{ routingKey: item.a }] } }',
          '  - { name: bad, message: { body: { items: [a] } }, expect: { publish: [{ routingKey: item.z }] } }',
        ),
      },
      { format: 'json' },
    );
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ passed: 1, failed: 1, issues: [] });
    expect(report.results[1]).toMatchObject({
      name: 'bad',
      ok: false,
      difference: { path: 'publish[0].routingKey', message: 'expected "item.z", got "item.a"' },
      expected: { publish: [{ routingKey: 'item.z' }] },
      actual: { publish: [{ routingKey: 'item.a' }] },
    });
  });
});
