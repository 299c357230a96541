import { describe, expect, it } from 'vitest';
import type { MessageSchema } from '../../src/config/types.js';
import { SchemaSet } from '../../src/contracts/compile.js';
import { toDelivery } from '../../src/delivery/delivery.js';
import type { Outcome } from '../../src/delivery/outcome.js';
import { consumeMessage } from '../../src/route-tests/run.js';
import { createRouteHandler } from '../../src/targets/handler.js';
import type { Handler, TargetDeps } from '../../src/targets/types.js';

const set = SchemaSet.compile([{ name: 'e.json', text: '{ "type": "object", "required": ["id"] }' }]).set;
const schema: MessageSchema = { name: 'e.json', setHash: 'h' };

function delivery(body: string, headers: Record<string, unknown> = {}) {
  const msg = consumeMessage({ body, headers, routingKey: 'k', redelivered: false, attempt: 1 }, 'x');
  return toDelivery(msg, 'r');
}

describe('the handler chain with schema:', () => {
  const reached: string[] = [];
  const target: Handler = async (d) => {
    reached.push(d.content.toString());
    return { kind: 'ack' };
  };
  const deps = {
    publisher: { publish: async () => {} },
    sandbox: async () => {
      throw new Error('no plugins');
    },
    schemas: () => set,
  } as unknown as TargetDeps;

  it('filters first, checks second, and only a conforming body reaches the target', async () => {
    const handler = await createRouteHandler(
      { when: { headers: { tenant: { exists: true } } }, schema },
      deps,
      target,
    );
    const outcomes: Outcome[] = [];
    outcomes.push(await handler(delivery('not json')));
    outcomes.push(await handler(delivery('not json', { tenant: 'a' })));
    outcomes.push(await handler(delivery('{"id":1}', { tenant: 'a' })));

    expect(outcomes.map((o) => o.kind)).toEqual(['filtered', 'dead-letter', 'ack']);
    expect(outcomes[1]).toMatchObject({
      contract: { schema: 'e.json' },
      reason: expect.stringMatching(/^schema: body is not JSON/),
    });
    expect(reached).toEqual(['{"id":1}']);
  });

  it('refuses to build a schema: route without the compiled directory', async () => {
    const { schemas: _, ...without } = deps;
    await expect(createRouteHandler({ schema }, without as TargetDeps, target)).rejects.toThrow(
      /needs the compiled schemas directory/,
    );
  });
});
