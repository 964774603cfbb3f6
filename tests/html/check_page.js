// Loads an lpsparsify HTML report in Debian's headless chromium and checks
// it against the JSON reports it was drawn from:
//   node check_page.js PAGE.html SCREENSHOT.png REPORT.json [REPORT2.json ...]
// - one table row per layer (the union of the reports' layer names), whose
//   name cell shows the name exactly and whose data-v values equal the
//   JSON numbers (sparsity, hoyer, p per report; fan_in, params);
// - no console error, no page error, no dialog (a hostile name must not run);
// - no request other than the page itself (nothing fetched);
// - the same rows with JavaScript disabled (the page reads without it);
// - a full-page screenshot, and the time to render, printed.
// Exits 1 on any failure, printing every problem found.
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.LPS_CHROMIUM || '/usr/bin/chromium';
// Flags a root sandbox on a closed network needs: no sandbox (root), and no
// background connections that this machine refuses.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PER_REPORT_KEYS = ['sparsity', 'p', 'hoyer'];
const SHARED_KEYS = ['fan_in', 'params'];

function fail(problems, msg) { problems.push(msg); }

function jsonNumber(v) { return typeof v === 'number' ? v : null; }

// The layers of the page, in order: name, and per data-key the data-v values.
async function readRows(page) {
  return page.$$eval('tr.layer', (rows) => rows.map((tr) => {
    const cells = {};
    tr.querySelectorAll('td[data-key]').forEach((td) => {
      const k = td.getAttribute('data-key');
      (cells[k] = cells[k] || []).push(td.getAttribute('data-v'));
    });
    return { name: tr.querySelector('td.name').firstChild.textContent, id: tr.id, cells };
  }));
}

function parseV(s) { return s === 'null' ? null : parseFloat(s); }

function checkRows(rows, reports, problems) {
  const names = [];
  const seen = new Set();
  reports.forEach((r) => r.layers.forEach((l) => {
    if (!seen.has(l.name)) { seen.add(l.name); names.push(l.name); }
  }));
  // The page's rows follow the first report's layers.
  const expected = reports[0].layers.map((l) => l.name);
  if (rows.length !== expected.length)
    fail(problems, `rows: ${rows.length} on the page, ${expected.length} layers in the JSON`);
  rows.forEach((row, i) => {
    const layer = reports[0].layers[i];
    if (!layer) return;
    if (row.name !== layer.name)
      fail(problems, `row ${i}: name ${JSON.stringify(row.name)} != ${JSON.stringify(layer.name)}`);
    SHARED_KEYS.forEach((k) => {
      const got = parseV((row.cells[k] || [])[0]);
      if (got !== jsonNumber(layer[k])) fail(problems, `row ${i} ${k}: ${got} != ${layer[k]}`);
    });
    PER_REPORT_KEYS.forEach((k) => {
      const got = row.cells[k] || [];
      if (got.length !== reports.length)
        fail(problems, `row ${i} ${k}: ${got.length} cells for ${reports.length} reports`);
      reports.forEach((r, j) => {
        const other = r.layers.find((l) => l.name === layer.name);
        const want = other ? jsonNumber(other[k]) : null;
        const v = parseV(got[j]);
        if (v !== (want === undefined ? null : want))
          fail(problems, `row ${i} ${k} of report ${j}: ${v} != ${want}`);
      });
    });
  });
  return names.length;
}

async function main() {
  const [pagePath, shot, ...reportPaths] = process.argv.slice(2);
  const reports = reportPaths.map((p) => JSON.parse(fs.readFileSync(p, 'utf8')));
  const url = 'file://' + fs.realpathSync(pagePath);
  const problems = [];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') fail(problems, 'console: ' + m.text()); });
    page.on('pageerror', (e) => fail(problems, 'page error: ' + e.message));
    page.on('dialog', (d) => { fail(problems, 'dialog opened: ' + d.message()); d.dismiss(); });
    page.on('request', (r) => { if (r.url() !== url) fail(problems, 'request: ' + r.url()); });
    const t0 = Date.now();
    await page.goto(url, { waitUntil: 'load' });
    const ms = Date.now() - t0;
    const rows = await readRows(page);
    checkRows(rows, reports, problems);
    // Sorting works and keeps every row.
    await page.$$eval('details.group', (ds) => { if (ds.length) ds[0].open = true; });
    await page.locator('table.layers thead th:nth-child(5) >> visible=true').first().click();
    if ((await readRows(page)).length !== rows.length) fail(problems, 'sorting lost rows');
    await page.screenshot({ path: shot, fullPage: true });
    await page.emulateMedia({ media: 'print' });
    await page.evaluate(() => window.dispatchEvent(new Event('beforeprint')));
    const closed = await page.$$eval('details.group', (ds) => ds.filter((d) => !d.open).length);
    if (closed) fail(problems, `${closed} groups stay folded for printing`);
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    const plain = await noJs.newPage();
    await plain.goto(url, { waitUntil: 'load' });
    if ((await readRows(plain)).length !== rows.length) fail(problems, 'rows differ without JS');
    console.log(`${pagePath}: ${rows.length} rows, loaded and rendered in ${ms} ms, ` +
                `screenshot ${shot}`);
  } finally {
    await browser.close();
  }
  if (problems.length) {
    problems.forEach((p) => console.error(`${pagePath}: ${p}`));
    process.exit(1);
  }
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
