// The report and the dashboard of a finished campaign, in a real browser
// (Debian's chromium driven by playwright-core; no browser download), at a
// 1,400 px wide page. test_report_browser.sh runs a simulated GP campaign,
// writes the report, serves the dashboard and computes what the hub holds
// (EXPECT, a JSON file made with Python's sqlite3); this checks that both
// pages show those numbers: every measured and failed experiment in every
// plot, marked by its origin; integer axes with integer ticks; the model
// view with one plot per parameter fitted on every measured experiment;
// readable reasons; nothing wider than the page. Screenshots go to SHOT_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const expect = JSON.parse(readFileSync(process.env.EXPECT, 'utf8'));
const shotDir = process.env.SHOT_DIR;
const WIDTH = 1400;

async function withPage(fn) {
  const context = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: WIDTH, height: 1000 },
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await fn(page);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await context.close();
  }
}

async function count(page, sel) {
  return (await page.$$(sel)).length;
}

async function checkPage(page, what) {
  // Fits the page: nothing scrolls sideways, the experiment table included.
  const widths = await page.$eval('html', (h) => [h.scrollWidth,
    document.getElementById('experiments-table').getBoundingClientRect().right]);
  assert.ok(widths[0] <= WIDTH, `${what}: page is ${widths[0]} px wide`);
  assert.ok(widths[1] <= WIDTH, `${what}: the experiment table ends at ${widths[1]} px`);
  // Every measured experiment in the best-so-far plot and each parameter plot,
  // every failed one as a cross; each marked by its origin.
  const plots = ['#plot-best'].concat(expect.params.map((_, i) => `#plot-param-${i}`));
  for (const p of plots) {
    assert.equal(await count(page, `${p} circle.pt`), expect.measured, `${what} ${p}: measured points`);
    assert.equal(await count(page, `${p} path.pt-failed`), expect.failed, `${what} ${p}: failed crosses`);
    for (const [origin, n] of Object.entries(expect.measured_by_origin))
      assert.equal(await count(page, `${p} circle.o-${origin}`), n, `${what} ${p}: ${origin} points`);
  }
  // Origins at a glance equal the hub's counts.
  for (const [origin, n] of Object.entries(expect.by_origin))
    assert.equal(Number(await page.getAttribute(`#origins [data-origin="${origin}"]`, 'data-count')), n,
                 `${what}: ${origin} count`);
  // Integer axes: the experiment number and integer parameters tick on whole numbers.
  const intPlots = ['#plot-best'].concat(expect.params.map((p, i) => p.integer ? `#plot-param-${i}` : null)
    .filter(Boolean));
  for (const p of intPlots) {
    const ticks = await page.$$eval(`${p} text.tick[text-anchor="middle"]`, (ts) => ts.map((t) => t.textContent));
    assert.ok(ticks.length >= 2, `${what} ${p}: x ticks`);
    for (const t of ticks)
      assert.ok(Number.isInteger(Number(t)), `${what} ${p}: tick '${t}' is not an integer`);
  }
  // The model view: one plot per parameter, fitted on every measured experiment,
  // with finite means and non-negative deviations; a point per category.
  assert.equal(Number(await page.getAttribute('#model-note', 'data-fitted')), expect.measured, `${what}: fitted on`);
  assert.equal(await count(page, 'svg[id^="plot-model-"]'), expect.params.length, `${what}: model plots`);
  for (const [i, p] of expect.params.entries()) {
    const mus = await page.$$eval(`#plot-model-${i} .mu`, (ms) => ms.map((m) => [Number(m.dataset.mu),
      Number(m.dataset.sd)]));
    if (p.choices) assert.equal(mus.length, p.choices, `${what}: a model point per category of ${p.name}`);
    assert.ok(mus.length >= 2, `${what}: model points along ${p.name}`);
    for (const [mu, sd] of mus) assert.ok(Number.isFinite(mu) && sd >= 0, `${what}: model ${p.name} ${mu} ${sd}`);
  }
  // Coverage adds up: per parameter, the tried column sums to the experiments.
  const cover = await page.$$eval('#coverage tbody tr', (rs) => rs.map((r) => [r.dataset.param,
    Number(r.children[2].textContent)]));
  for (let i = 0; i < expect.params.length; i++)
    assert.equal(cover.filter((c) => c[0] === String(i)).reduce((a, c) => a + c[1], 0), expect.experiments,
                 `${what}: coverage of ${expect.params[i].name}`);
  // The table: a row per experiment, reasons in words on at most two lines.
  assert.equal(await count(page, '#experiments-table tbody tr'), expect.experiments, `${what}: table rows`);
  const reasons = await page.$$eval('#experiments-table td.reason', (cs) => cs.map((c) => [c.textContent,
    c.getBoundingClientRect().height, parseFloat(getComputedStyle(c).lineHeight)]));
  for (const [text, h, lh] of reasons) {
    assert.ok(!/ls=\[|sf2|sn2|p_ok/.test(text), `${what}: reason not in words: ${text}`);
    assert.ok(h <= 2 * lh + 8, `${what}: reason wraps to more than two lines (${h} px): ${text}`);
  }
  // The best value shown equals the hub's.
  assert.equal(Number(await page.getAttribute('#summary b.num', 'data-v')), expect.best, `${what}: best`);
}

test('the report shows what the hub holds and explains the planner', async () => {
  await withPage(async (page) => {
    await page.goto(process.env.REPORT_URL, { waitUntil: 'load' });
    await checkPage(page, 'report');
    await page.screenshot({ path: `${shotDir}/report.png`, fullPage: true });
    await (await page.$('#planner')).screenshot({ path: `${shotDir}/report-planner.png` });
  });
});

test('the dashboard shows the same views', async () => {
  await withPage(async (page) => {
    await page.goto(process.env.LABLOOP_URL, { waitUntil: 'load' });
    await checkPage(page, 'dashboard');
    await page.screenshot({ path: `${shotDir}/dashboard-full.png`, fullPage: true });
    await (await page.$('#planner')).screenshot({ path: `${shotDir}/dashboard-planner.png` });
  });
});
