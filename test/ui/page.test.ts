import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../helpers/broker.js';
import { haveChromium, launchChromium, openPage, screenshotPath, serveAdmin } from '../helpers/browser.js';
import { replaceFile, startWarren, useHarness } from '../helpers/warren.js';

/**
 * The status page (issue 12 §1) in a real browser — Debian's Chromium driven by playwright-core —
 * against a real Warren, broker and receivers: what an operator sees change without reloading the
 * page, what the buttons do with and without the admin token, and that nothing a publisher or an
 * operator writes becomes markup.
 */

const token = 'status-page-token-7d1e';
const xss = '<img src=x onerror="window.__xss=1">';

const text = async (page: Page, selector: string): Promise<string> =>
  (await page.locator(selector).first().textContent()) ?? '';
const row = (route: string) => `#routes tr[data-route="${route}"]`;
/** The browser's global object, as the functions run in the page see it (no DOM types here). */
type PageGlobal = {
  __sameDocument?: boolean;
  __xss?: number;
  getComputedStyle(el: unknown): { stroke: string };
};
/** The page never left its document: a reload or navigation would drop this flag. */
const markDocument = (page: Page) =>
  page.evaluate(() => {
    (globalThis as unknown as PageGlobal).__sameDocument = true;
  });
const sameDocument = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as PageGlobal).__sameDocument);
const cspOrScriptErrors = (complaints: string[]) =>
  complaints.filter((c) => /Content Security Policy|page error/i.test(c));

describe.skipIf(!haveChromium('test/ui/page.test.ts'))('the status page in Chromium', () => {
  const h = useHarness();
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('turns a route red and counts its dead letters when its receiver goes down, without a page reload', async () => {
    const exchange = uniqueName('ui-events');
    const archive = uniqueName('ui-archive');
    const orders = uniqueName('ui-orders');
    const payments = uniqueName('ui-payments');
    const audit = uniqueName('ui-audit');
    const archived = uniqueName('ui-archived');
    const billing = await h.receive();
    const shop = `
exchanges:
  ${exchange}: { type: topic }
  ${archive}: { type: fanout }
queues:
  ${archived}: { bind: [{ exchange: ${archive} }] }
routes:
  orders:
    from: { queue: ${orders}, bind: [{ exchange: ${exchange}, key: "order.*" }] }
    to: { webhook: { url: "${h.receiver.url('/orders')}" } }
  payments:
    from: { queue: ${payments}, bind: [{ exchange: ${exchange}, key: "payment.#" }] }
    retry: { attempts: 1 }
    to:
      webhook:
        url: "${billing.url('/payments')}"
        circuit: { minRequests: 4, failureRate: 0.5, window: 30s, cooldown: 60s }
  audit:
    from: { queue: ${audit}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { republish: { exchange: ${archive} } }
`;
    h.warren = await startWarren({ 'shop.yaml': shop }, h.broker, { adminToken: token });
    h.broker.track('queue', archived);
    const base = await serveAdmin(h, h.warren);
    const { page, complaints } = await openPage(browser);
    await page.goto(`${base}/`);
    await markDocument(page);

    const publish = async (key: string, n: number) => {
      for (let i = 0; i < n; i++) await h.broker.publish(exchange, key, `{"n":${i}}`);
    };
    // Traffic for a few polls, so the charts have lines.
    for (let i = 0; i < 4; i++) {
      await publish('order.created', 5);
      await publish('payment.captured', 2);
      await page.waitForTimeout(1_000);
    }
    await waitFor(
      'the charts',
      async () => (await page.locator(`${row('orders')} td.chart canvas`).count()) > 0,
    );
    expect(await page.locator(row('payments')).getAttribute('class')).toBe('consuming');
    expect(await text(page, `${row('payments')} td:nth-child(10)`)).toBe('0');

    // The billing receiver goes down: every payment fails, is dead-lettered (one attempt), and the
    // circuit opens after four.
    billing.responder = () => 503;
    await publish('payment.captured', 10);
    await waitFor('payments shown with an open circuit', async () =>
      (await text(page, `${row('payments')} .badge`)).includes('circuit open'),
    );
    expect(await page.locator(row('payments')).getAttribute('class')).toBe('circuit-open');
    const node = page.locator('#topology g[data-id="route:payments"]');
    expect(await node.getAttribute('class')).toContain('circuit-open');
    // Red, as the legend says.
    expect(
      await node
        .locator('rect')
        .evaluate((el) => (globalThis as unknown as PageGlobal).getComputedStyle(el).stroke),
    ).toBe('rgb(210, 60, 60)');
    await waitFor('the DLQ count to rise on the page', async () => {
      const shown = Number(await text(page, `${row('payments')} td:nth-child(10)`));
      return shown >= 4 ? shown : undefined;
    });
    // The other routes keep consuming, and the page is the same document it was.
    expect(await page.locator(row('orders')).getAttribute('class')).toBe('consuming');
    expect(await sameDocument(page)).toBe(true);
    expect(await text(page, '#topology svg')).toContain(new URL(h.receiver.url()).origin);
    expect(cspOrScriptErrors(complaints)).toEqual([]);

    // The README's picture: steady orders, one reload of the orders route, a few more polls.
    const steady = setInterval(
      () => h.broker.channel.publish(exchange, 'order.created', Buffer.from('{}')),
      100,
    );
    h.defer(() => clearInterval(steady));
    await replaceFile(h.warren.dir, 'shop.yaml', shop.replace('/orders" }', '/orders", timeout: 5s }'));
    await h.warren.reloader.reload('api');
    await page.waitForTimeout(8_000);
    await page.setViewportSize({ width: 1400, height: 780 });
    await page.screenshot({ path: await screenshotPath('status-page.png'), fullPage: true });
  });

  it('lists a reload with its per-route change, and an invalid route file with its file:line', async () => {
    const exchange = uniqueName('ui-reload');
    const queue = uniqueName('ui-reload-q');
    const file = (timeout: string) => `
exchanges: { ${exchange}: { type: topic } }
routes:
  invoices:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url('/invoices')}", timeout: ${timeout} } }
`;
    h.warren = await startWarren({ 'invoices.yaml': file('5s') }, h.broker, { watch: true });
    const base = await serveAdmin(h, h.warren);
    const { page, complaints } = await openPage(browser);
    await page.goto(`${base}/`);
    await markDocument(page);
    await waitFor(
      'the start in the reload list',
      async () => (await page.locator('#reloads li.reload').count()) === 1,
    );

    await replaceFile(h.warren.dir, 'invoices.yaml', file('7s'));
    await waitFor(
      'the reload on the page',
      async () => (await page.locator('#reloads li.reload').count()) === 2,
    );
    expect(await text(page, '#reloads li.reload:first-child .badge')).toBe('applied');
    expect(await text(page, '#reloads li.reload:first-child .changes')).toContain('invoices: handler');

    await replaceFile(h.warren.dir, 'broken.yaml', 'routes:\n  broken:\n    from: { queue: 42 }\n');
    await waitFor(
      'the invalid reload on the page',
      async () => (await page.locator('#reloads li.reload').count()) === 3,
    );
    expect(await text(page, '#reloads li.reload:first-child .badge')).toBe('invalid');
    const issues = await text(page, '#reloads li.reload:first-child .issues');
    expect(issues).toMatch(/broken\.yaml:\d+:\d+/);
    expect(await sameDocument(page)).toBe(true);
    expect(cspOrScriptErrors(complaints)).toEqual([]);
    await page.screenshot({ path: await screenshotPath('status-page-reloads.png'), fullPage: true });
  });

  it('pauses a route with the admin token and refuses without it or with a wrong one, visibly', async () => {
    const exchange = uniqueName('ui-pause');
    const queue = uniqueName('ui-pause-q');
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  shipments:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to: { webhook: { url: "${h.receiver.url('/shipments')}" } }
`,
      },
      h.broker,
      { adminToken: token },
    );
    const base = await serveAdmin(h, h.warren);
    const { page } = await openPage(browser);
    await page.goto(`${base}/#route=shipments`);
    await page.locator('#detail:not([hidden])').waitFor();

    await page.click('#action-pause');
    await waitFor('the refusal', async () => (await text(page, '#action-result')).includes('Refused (401)'));
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('consuming');

    await page.fill('#token', 'not-the-token');
    await page.click('#action-pause');
    await waitFor(
      'the second refusal',
      async () => (await page.locator('#action-result.refused').count()) === 1,
    );
    expect(await text(page, '#action-result')).toContain('a valid bearer token is required');
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('consuming');

    await page.fill('#token', token);
    await page.click('#action-pause');
    await waitFor('paused', async () => (await text(page, '#action-result')).includes('Paused shipments'));
    await waitFor('the paused state in the table', async () =>
      (await text(page, `${row('shipments')} .badge`)).includes('paused'),
    );
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('paused');
    // The token stays for this tab: a reload of the page still has it.
    await page.reload();
    expect(await page.inputValue('#token')).toBe(token);
    await page.click('#action-resume');
    await waitFor('resumed', async () =>
      (await text(page, `${row('shipments')} .badge`)).includes('consuming'),
    );
    await page.screenshot({ path: await screenshotPath('status-page-detail.png'), fullPage: true });
  });

  it('without a token on loopback, pauses from the page itself, and not from a page of another origin', async () => {
    const queue = uniqueName('ui-csrf-q');
    h.warren = await startWarren(
      {
        'r.yaml': `
routes:
  parcels:
    from: { queue: ${queue} }
    to: { webhook: { url: "${h.receiver.url('/parcels')}" } }
`,
      },
      h.broker,
    );
    const base = await serveAdmin(h, h.warren);
    // Another page on this machine (another port: another origin) that posts to the admin API,
    // as any page the operator opens could: a no-cors POST is sent, only its answer is hidden.
    const elsewhere = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'));
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    h.defer(() => new Promise<void>((resolve) => elsewhere.close(() => resolve())));
    const { page } = await openPage(browser);
    await page.goto(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/`);
    await page.evaluate(async (url) => {
      await fetch(url, { method: 'POST', mode: 'no-cors' }).catch(() => undefined);
    }, `${base}/api/routes/parcels/pause`);
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('consuming');

    await page.goto(`${base}/#route=parcels`);
    await page.locator('#detail:not([hidden])').waitFor();
    await page.click('#action-pause');
    await waitFor('paused', async () => (await text(page, '#action-result')).includes('Paused parcels'));
    expect(h.warren.runtime.describe().routes[0]!.state).toBe('paused');
  });

  it('shows a route redacted, and its dead letters with the token, as text', async () => {
    const exchange = uniqueName('ui-detail');
    const queue = uniqueName('ui-detail-q');
    const secret = 'sk_live_9f8e7d6c5b4a';
    h.receiver.responder = () => 400;
    h.warren = await startWarren(
      {
        'r.yaml': `
exchanges: { ${exchange}: { type: topic } }
routes:
  refunds:
    from: { queue: ${queue}, bind: [{ exchange: ${exchange}, key: "#" }] }
    to:
      webhook:
        url: "${h.receiver.url('/refunds')}"
        headers: { x-api-secret: "\${env:UI_TEST_SECRET}", authorization: "Bearer literal-bearer-1234" }
`,
      },
      h.broker,
      { adminToken: token, env: { ...process.env, UI_TEST_SECRET: secret } },
    );
    // A hostile publisher: markup in a header, the routing key and the body; then a message put
    // straight into the DLQ whose dead-letter reason is markup.
    await h.broker.publish(exchange, `refund.${xss}`, xss, { headers: { 'x-note': xss }, messageId: 'm-1' });
    await waitFor('the dead letter', async () => (await h.broker.depth(`${queue}.dlq`)) === 1);
    await h.broker.publish('', `${queue}.dlq`, 'second', {
      headers: { 'x-warren-error': xss },
      messageId: 'm-2',
    });

    const base = await serveAdmin(h, h.warren);
    const { page, complaints } = await openPage(browser);
    await page.goto(`${base}/`);
    await page.click(`${row('refunds')} a`);
    await waitFor('the configuration', async () => (await text(page, '#config')).includes('refunds'));
    const config = await text(page, '#config');
    expect(config).not.toContain(secret);
    expect(config).not.toContain('literal-bearer-1234');
    expect(config).toContain('<redacted>');

    await page.click('#action-dlq');
    await waitFor('the refusal', async () => (await text(page, '#dlq')).includes('Refused (401)'));
    await page.fill('#token', token);
    await page.click('#action-dlq');
    await waitFor('two dead letters', async () => (await page.locator('#dlq li.dead-letter').count()) === 2);
    const letters = await text(page, '#dlq');
    expect(letters).toContain(xss);
    expect(letters).toContain('HTTP 400');
    expect(await page.locator('#dlq img, #detail img, body img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobal).__xss)).toBeUndefined();
    expect(cspOrScriptErrors(complaints)).toEqual([]);
    await page.screenshot({ path: await screenshotPath('status-page-dead-letters.png'), fullPage: true });

    // The receiver is fixed: Redrive moves both back to the route, which delivers them.
    h.receiver.responder = () => 200;
    const sent = h.receiver.requests.length;
    await page.click('#action-redrive');
    await waitFor('the redrive', async () =>
      (await text(page, '#action-result')).includes('Moved 2 dead letters back to refunds'),
    );
    await waitFor('both delivered', () => h.receiver.requests.length >= sent + 2);
    await waitFor(
      'an empty DLQ on the page',
      async () => (await text(page, `${row('refunds')} td:nth-child(10)`)) === '0',
    );
  });
});
