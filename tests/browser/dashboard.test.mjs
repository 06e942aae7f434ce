// End-to-end test of `labloop serve`'s dashboard in a real browser: Debian's
// chromium (/usr/bin/chromium) driven by playwright-core, never a browser
// download. test_dashboard.sh starts a slow simulated campaign and the
// server, then runs this with LABLOOP_URL, SCREENSHOT and USER_DATA_DIR set.
// The page must show the experiment count and see it rise while the
// campaign runs (the page's script polls /api/summary every second).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const url = process.env.LABLOOP_URL;
const shot = process.env.SCREENSHOT || 'dashboard.png';
const userDataDir = process.env.USER_DATA_DIR;
const RISE_DEADLINE_MS = 60000;

// Call get() until ok(value) or the deadline; returns the value.
async function until(get, ok, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms (last: ${v})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('dashboard shows the experiment count rising while a campaign runs', async () => {
  assert.ok(url, 'set LABLOOP_URL');
  assert.ok(userDataDir, 'set USER_DATA_DIR (a fresh directory)');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1600 },
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    assert.match(await page.title(), /^labloop: /);
    const count = async () => Number(await page.textContent('#n-experiments'));
    const first = await count();
    assert.ok(Number.isInteger(first), 'the experiment count is a number');
    // Wait (with a deadline) for the live count to rise without a reload.
    // Polled from here: the page's CSP forbids the eval waitForFunction uses.
    const later = await until(count, (n) => n > first, RISE_DEADLINE_MS);
    assert.ok(later > first, `count rose from ${first} to ${later}`);
    assert.match(await page.textContent('#live'), /live: updated/);
    assert.ok((await page.$$('svg')).length >= 4, 'the plots are there');
    // The approval queue is there (empty: this campaign has no gate).
    assert.match(await page.textContent('#approval h2'), /Approval queue \(0 waiting\)/);
    await page.screenshot({ path: shot, fullPage: false });
    // Control without a token is refused, and the page says so.
    await page.click('#control button[data-action="pause"]');
    const result = await until(() => page.textContent('#control-result'), (t) => t !== '', 5000);
    assert.match(result, /^40[13]:/);
    assert.deepEqual(errors, [], 'no script errors on the page');
    console.log(`count rose from ${first} to ${later}; screenshot ${shot}`);
  } finally {
    await context.close();
  }
});
