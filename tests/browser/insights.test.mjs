// Insight views on a small model trained in the page: confusion matrix, report, ranked errors
// and one activation grid per conv/pool layer.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { adoptFinishedRun, csvSlice, launch, loadCsv, openApp, screenshot, serve, startTraining, waitForRows, waitForTraining } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await serve();
  // The CPU path keeps this test quick; the views are the same on WebGPU.
  browser = await launch({ webgpu: false });
  const { page } = browser;
  await openApp(page, server.url);
  await loadCsv(page, "train", csvSlice("train", 800));
  await waitForRows(page, "train", 800);
  await startTraining(page, { preset: "small", epochs: 1, batch: 32 });
  await waitForTraining(page);
  // One epoch on 720 rows is far below the bundled model: it is offered, not made current.
  // Adopt it, so the views below are this small model's (its insights are recomputed).
  await adoptFinishedRun(page);
  await page.click('[data-testid="tab-insights"]');
  await page.waitForSelector('[data-testid="confusion-matrix"] td.cell');
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the confusion matrix adds up to the validation size and matches the report", async () => {
  const { page } = browser;
  const cells = await page.$$eval('[data-testid="confusion-matrix"] td.cell', (tds) =>
    tds.map((td) => ({ t: Number(td.dataset.truth), p: Number(td.dataset.predicted), n: Number(td.dataset.count) })),
  );
  assert.equal(cells.length, 100);
  const total = cells.reduce((s, c) => s + c.n, 0);
  const report = await page.$$eval('[data-testid="class-report"] tbody tr', (rows) =>
    rows.map((r) => [r.querySelector("th").textContent, ...[...r.querySelectorAll("td")].map((td) => td.textContent)]),
  );
  const supports = report.slice(0, 10).map((r) => Number(r[4]));
  assert.equal(supports.reduce((a, b) => a + b, 0), total);
  for (let k = 0; k < 10; k++) {
    const row = cells.filter((c) => c.t === k).reduce((s, c) => s + c.n, 0);
    assert.equal(row, supports[k], `support of class ${k}`);
    const hits = cells.find((c) => c.t === k && c.p === k).n;
    const recall = Number(report[k][2]);
    if (row > 0) assert.ok(Math.abs(recall - hits / row) < 1e-4, `recall of ${k}`);
  }
  const correct = cells.filter((c) => c.t === c.p).reduce((s, c) => s + c.n, 0);
  const accuracy = Number(await page.getAttribute('[data-testid="class-report"] tr.accuracy', "data-accuracy"));
  assert.ok(Math.abs(accuracy - correct / total) < 1e-9);
  const summary = await page.textContent(".insights-panel .subtle");
  assert.match(summary, new RegExp(`^${total} validation digits`));
});

test("a confusion cell lists its digits", async () => {
  const { page } = browser;
  const cell = page.locator('[data-testid="confusion-matrix"] td.cell[data-truth="1"][data-predicted="1"]');
  const count = Number(await cell.getAttribute("data-count"));
  await cell.click();
  await page.waitForSelector('[data-testid="confusion-cell"] h4');
  assert.match(await page.textContent('[data-testid="confusion-cell"] h4'), new RegExp(`: ${count} digit`));
  assert.equal(await page.locator('[data-testid="confusion-cell"] canvas').count(), Math.min(count, 48));
});

test("the error gallery is sorted by P(predicted) - P(true) and its size is adjustable", async () => {
  const { page } = browser;
  const margins = async () =>
    page.$$eval('[data-testid="top-errors"] figure', (fs) => fs.map((f) => Number(f.dataset.margin)));
  const first = await margins();
  assert.ok(first.length > 0 && first.length <= 12, `${first.length} errors shown`);
  for (let i = 1; i < first.length; i++) assert.ok(first[i - 1] >= first[i], `order at ${i}`);
  const items = await page.$$eval('[data-testid="top-errors"] figure', (fs) =>
    fs.map((f) => [Number(f.dataset.truth), Number(f.dataset.predicted)]),
  );
  assert.ok(items.every(([t, p]) => t !== p));
  await page.fill('[data-testid="errors-count"]', "3");
  await page.dispatchEvent('[data-testid="errors-count"]', "change");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="top-errors"] figure').length <= 3);
  assert.ok((await page.locator('[data-testid="top-correct"] figure').count()) > 0);
});

test("activation grids: one per conv/pool layer with one map per filter", async () => {
  const { page } = browser;
  await page.click('[data-testid="activation-validation"]');
  await page.waitForSelector('[data-testid="activation-grid"]');
  const grids = await page.$$eval('[data-testid="activation-grid"]', (gs) =>
    gs.map((g) => [g.dataset.layer, Number(g.dataset.maps)]),
  );
  assert.deepEqual(grids, [
    ["conv2d_1", 64],
    ["conv2d_2", 32],
    ["max_pooling2d_1", 32],
  ]);
  await screenshot(page, "insights");
});
