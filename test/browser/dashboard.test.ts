// The dashboard in a real browser: Debian's Chromium driven by playwright-core (no browser
// download), against a distributor with two nodes over real TCP and its admin server.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminCluster, type AdminCluster } from '../helpers/admin-cluster.ts';
import { waitUntil } from '../helpers/wait.ts';

const CANDIDATES = [process.env.JR_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const executable = CANDIDATES.find((p): p is string => p !== undefined && existsSync(p));
/**
 * Where the screenshot goes: a temp file, so a test run leaves the tree clean; the README's
 * one is made with JR_DASHBOARD_SCREENSHOT=docs/dashboard.png.
 */
const SCREENSHOT = process.env.JR_DASHBOARD_SCREENSHOT ?? join(tmpdir(), 'jr-dashboard.png');

if (executable === undefined) {
  console.warn(
    'SKIPPED: dashboard browser test: no Chromium found (apt-get install chromium, or set JR_CHROMIUM)',
  );
}

describe.skipIf(executable === undefined)('dashboard - in Chromium', () => {
  let browser: Browser;
  let c: AdminCluster;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: executable!,
      // Root in CI containers cannot use Chromium's sandbox.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    c = await startAdminCluster({ token: 'dashboard-test-token-0123' });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await c?.close();
  });

  it('shows both nodes, the counts and the failed job; Retry makes it succeed', async () => {
    for (let n = 0; n < 12; n++) await c.d.enqueue('ok', { n }).result;
    const failing = c.d.enqueue('flaky', { invoice: 'INV-2041' });
    await failing.result.catch(() => undefined);
    await waitUntil(
      async () => (await c.d.getJob(failing.id))?.state === 'failed',
      5000,
      'the failure',
    );

    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${c.base}/#token=dashboard-test-token-0123`);

    await page.getByTestId('node-worker-a').waitFor();
    await page.getByTestId('node-worker-b').waitFor();
    await expect
      .poll(() => page.getByTestId('count-complete').locator('b').textContent())
      .toBe('12');
    expect(await page.getByTestId('count-failed').locator('b').textContent()).toBe('1');

    const row = page.getByTestId('failed').getByTestId(`job-${failing.id}`);
    await row.waitFor();
    expect(await row.textContent()).toContain('invoice INV-2041 is not ready');
    expect(await row.textContent()).toContain('"invoice":"INV-2041"');

    // The plots: throughput, turnaround latency, queue depth and lag (uPlot draws each title).
    for (const title of ['Finished jobs per second', 'Turnaround ms', 'Queue depth and node lag']) {
      await page.locator('.u-title', { hasText: title }).waitFor();
    }

    // The failed job with its Retry button, for the README.
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Browsing by state, a page at a time: 12 complete jobs are a page of 10 and one of 2.
    const browse = page.getByTestId('browse');
    await page.getByTestId('browse-state').selectOption('complete');
    await expect.poll(() => browse.locator('tr[data-testid^="job-"]').count()).toBe(10);
    await page.getByTestId('browse-next').click();
    await expect.poll(() => browse.locator('tr[data-testid^="job-"]').count()).toBe(2);
    expect(await page.getByTestId('browse-page').textContent()).toBe('page 2');
    expect(await page.getByTestId('browse-next').isDisabled()).toBe(true);
    await page.getByTestId('browse-state').selectOption('failed');
    await expect.poll(() => browse.locator('tr[data-testid^="job-"]').count()).toBe(1);
    expect(await browse.textContent()).toContain(failing.id);
    await page.getByTestId('browse-name').fill('ok');
    await page.getByTestId('browse-name').press('Enter');
    await expect.poll(() => browse.textContent()).toContain('None.');

    c.flaky.fixed = true;
    await row.getByTestId('retry').click();
    await page.getByTestId('notice').filter({ hasText: 'retried' }).waitFor();
    await waitUntil(
      async () => (await c.d.getJob(failing.id))?.state === 'complete',
      5000,
      'the retry',
    );

    // The search by id shows it complete; the failed list empties.
    await page.getByTestId('search').fill(failing.id);
    await page.getByTestId('search').press('Enter');
    await expect
      .poll(() => page.getByTestId('found').getByTestId('state').textContent())
      .toBe('complete');
    await expect
      .poll(() => page.getByTestId('count-complete').locator('b').textContent())
      .toBe('13');
    await page.getByTestId('failed').filter({ hasText: 'None.' }).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
