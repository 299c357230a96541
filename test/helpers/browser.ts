import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { listenAdmin } from '../../src/admin/listen.js';
import type { Harness, RunningWarren } from './warren.js';

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it when missing). */
export const chromiumPath = process.env.WARREN_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Whether the browser tests can run here. When not, the suite is skipped and says why, loudly. */
export function haveChromium(suite: string): boolean {
  if (existsSync(chromiumPath)) return true;
  console.warn(
    `SKIPPED ${suite}: no Chromium at ${chromiumPath} (apt-get install chromium, or set WARREN_TEST_CHROMIUM)`,
  );
  return false;
}

/** Headless Chromium, quiet: no sandbox (root in CI), no GPU, no calls home. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Serves a Warren's admin app on a loopback port, closed after the test; answers its base URL. */
export async function serveAdmin(h: Harness, warren: RunningWarren): Promise<string> {
  const { server, address } = await listenAdmin(warren.admin, '127.0.0.1', 0);
  h.defer(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  );
  return `http://127.0.0.1:${(address as AddressInfo).port}`;
}

/** A page that records what the browser complained about (script errors, CSP violations). */
export async function openPage(browser: Browser): Promise<{ page: Page; complaints: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const complaints: string[] = [];
  page.on('pageerror', (err) => complaints.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') complaints.push(message.text());
  });
  return { page, complaints };
}

/** Where screenshots go (gitignored). */
export async function screenshotPath(name: string): Promise<string> {
  const dir = join(process.cwd(), 'test-output');
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}
