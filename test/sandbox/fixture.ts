import { afterEach } from 'vitest';
import { PluginSandbox } from '../../src/sandbox/isolate.js';
import type { PluginContextData, PluginMessage, SandboxOptions } from '../../src/sandbox/types.js';

export const FILE = 'plugins/test.js';

export const ctx: PluginContextData = { route: 'orders', attempt: 1, now: '2026-01-02T03:04:05.000Z' };

export function message(): PluginMessage {
  return {
    body: { id: 'o-1', lines: [{ sku: 'a' }, { sku: 'b' }] },
    contentType: 'application/json',
    headers: { 'x-tenant': 'acme' },
    properties: { messageId: 'm-1' },
    exchange: 'orders',
    routingKey: 'order.created',
    redelivered: false,
  };
}

export const logs: Array<{ route: string; level: string; text: string }> = [];
const opened: PluginSandbox[] = [];

/** Loads `source` as a plugin with the config defaults (50 ms, 32 MB) unless overridden. */
export async function load(source: string, overrides: Partial<SandboxOptions> = {}): Promise<PluginSandbox> {
  const sandbox = await PluginSandbox.load(FILE, source, {
    timeoutMs: 50,
    memoryLimitMb: 32,
    log: (route, level, text) => logs.push({ route, level, text }),
    ...overrides,
  });
  opened.push(sandbox);
  return sandbox;
}

afterEach(() => {
  for (const sandbox of opened.splice(0)) sandbox.dispose();
  logs.length = 0;
});
