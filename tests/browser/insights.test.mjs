// Insight views on a small model trained in the page: confusion matrix, report, ranked errors
// and one activation grid per conv/pool layer; the exports (CSV, PNG) and keyboard shortcuts.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { adoptFinishedRun, csvSlice, launch, loadCsv, openApp, screenshot, serve, sleep, startTraining, waitForRows, waitForTraining } from "./harness.mjs";

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

/** Click `testid` and return the download's file name and bytes. */
async function downloadOf(page, testid) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(`[data-testid="${testid}"]`)]);
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
}

const shownTab = (page) => page.$eval(".tab:not(.hidden)", (t) => t.dataset.tab);

/** A key pressed on the page itself (not into a field or a focused button). */
async function pressOnPage(page, key) {
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press(key);
}

test("charts download as PNG, epochs and the confusion matrix as CSV", async () => {
  const { page, problems } = browser;
  await page.click('[data-testid="tab-insights"]');
  const confusion = await downloadOf(page, "confusion-csv");
  assert.equal(confusion.name, "confusion-matrix.csv");
  const rows = confusion.bytes.toString("latin1").trimEnd().split("\n").map((l) => l.split(","));
  assert.deepEqual(rows[0], ["true\\predicted", ..."0123456789"]);
  const cells = await page.$$eval('[data-testid="confusion-matrix"] td.cell', (tds) =>
    tds.map((td) => [Number(td.dataset.truth), Number(td.dataset.predicted), Number(td.dataset.count)]),
  );
  for (const [t, p, n] of cells) assert.equal(Number(rows[t + 1][p + 1]), n, `cell ${t},${p}`);

  await page.click('[data-testid="tab-train"]');
  const epochs = await downloadOf(page, "epochs-csv");
  assert.equal(epochs.name, "epochs.csv");
  const lines = epochs.bytes.toString("latin1").split("\n");
  assert.equal(lines[0], "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second");
  assert.equal(lines.length, 3, "header, the one epoch, final newline");
  const table = await page.$$eval('[data-testid="epoch-table"] tbody td', (tds) => tds.map((td) => td.textContent));
  const [epoch, , , , valAccuracy] = lines[1].split(",");
  assert.equal(epoch, "1");
  assert.equal(`${(Number(valAccuracy) * 100).toFixed(2)}%`, table[4]);

  for (const chart of ["loss-chart", "accuracy-chart"]) {
    const png = await downloadOf(page, `${chart}-png`);
    assert.equal(png.name, `${chart}.png`);
    assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG");
    assert.ok(png.bytes.length > 2000, `${chart}.png is ${png.bytes.length} bytes: a drawn chart`);
  }
  assert.deepEqual(problems, []);
});

test("keyboard: digits switch tabs, space pauses and resumes a run, typing in a field is typing", async () => {
  const { page, problems } = browser;
  assert.match(await page.textContent('[data-testid="shortcuts"]'), /space pauses or resumes training; 1–7 switch/);
  for (const [key, tab] of [["1", "data"], ["3", "insights"], ["6", "model"], ["7", "runs"], ["2", "train"]]) {
    await pressOnPage(page, key);
    assert.equal(await shownTab(page), tab, `key ${key}`);
  }
  await page.fill('[data-testid="epochs-input"]', "");
  await page.focus('[data-testid="epochs-input"]');
  await page.keyboard.press("4");
  assert.equal(await page.inputValue('[data-testid="epochs-input"]'), "4", "typed into the field");
  assert.equal(await shownTab(page), "train", "not a tab switch");

  // A run of 45 batches an epoch on 720 rows: paused and resumed by the space bar.
  await startTraining(page, { preset: "small", epochs: 3, batch: 16 });
  const points = async () => Number(await page.getAttribute('[data-testid="loss-chart"]', "data-points"));
  // Running (the chart still holds the previous run's points until the worker starts this one).
  await page.waitForSelector('[data-testid="pause-button"]:not([disabled])');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]').dataset.points) >= 3);
  await pressOnPage(page, " ");
  await page.waitForSelector('[data-testid="train-status"]:has-text("Paused between batches")');
  const paused = await points();
  await sleep(1000);
  assert.equal(await points(), paused, "no batch runs while paused");
  await pressOnPage(page, " ");
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="loss-chart"]').dataset.points) > n, paused);
  await page.click('[data-testid="stop-button"]');
  await page.waitForSelector('[data-testid="train-status"]:has-text("Finished")', { timeout: 60_000 });
  await screenshot(page, "train-exports");
  assert.deepEqual(problems, []);
});
