import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigWorker } from '../../src/config/offthread.js';

describe('validation in a worker thread', () => {
  const worker = new ConfigWorker();
  afterAll(() => worker.close());

  it('gives exactly what loadConfig gives in the main thread, for the example routes', async () => {
    const env = { ...process.env, BILLING_TOKEN: 't', CRM_TOKEN: 'c', WEBHOOK_SECRET: 's' };
    const here = await loadConfig('./routes.d', env, './plugins');
    const there = await worker.load('./routes.d', env, './plugins');
    expect(there).toEqual(here);
    expect(await worker.load('./no-such-dir', env, './plugins')).toEqual(
      await loadConfig('./no-such-dir', env),
    );
  });
});
