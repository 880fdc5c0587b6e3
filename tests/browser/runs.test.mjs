// The Runs tab: every training run is recorded (recipe, epochs, accuracy, duration, device,
// outcome, its model in the library), the table sorts, ticked runs' curves overlay on one
// chart, a run's recipe goes back into the form, and all of it survives a reload.

import { test } from "node:test";
import assert from "node:assert/strict";
import { csvSlice, loadCsv, openApp, screenshot, serveAndLaunch, setField, startTraining, waitForRows, waitForTraining } from "./harness.mjs";

const session = serveAndLaunch({ webgpu: false });

/** The history table's rows as the page shows them, top to bottom. */
async function runRows(page) {
  return page.$$eval('[data-testid="run-row"]', (rows) =>
    rows.map((r) => ({
      id: r.dataset.run,
      number: Number(r.dataset.number),
      epochs: Number(r.dataset.epochs),
      accuracy: Number(r.dataset.accuracy),
      outcome: r.querySelector('[data-testid="run-outcome"]').textContent.trim(),
      model: r.querySelector('[data-testid="run-model"]').textContent.trim(),
    })),
  );
}

/** How many distinct colours the chart's canvas holds (a blank chart has a handful). */
async function chartColours(page) {
  return page.$eval('[data-testid="runs-chart"]', (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

test("runs are kept with their metrics, sort, overlay and survive a reload", async () => {
  const { page, problems } = session.browser;
  await openApp(page, session.server.url);
  await page.click('[data-testid="tab-runs"]');
  await page.waitForSelector('[data-testid="runs-empty"]');

  await loadCsv(page, "train", csvSlice("train", 1200));
  await waitForRows(page, "train", 1200);
  await startTraining(page, { preset: "tiny", epochs: 2 });
  await waitForTraining(page);
  await setField(page, "lr-input", "0.003");
  await startTraining(page, { preset: "tiny", epochs: 3 });
  // While it trains, the Runs tab shows it as running.
  await page.click('[data-testid="tab-runs"]');
  await page.waitForSelector('[data-testid="run-row"].active [data-testid="run-outcome"]:has-text("running")');
  await page.click('[data-testid="tab-train"]');
  await waitForTraining(page);

  await page.click('[data-testid="tab-runs"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="run-row"]').length === 2);
  let rows = await runRows(page);
  assert.deepEqual(rows.map((r) => [r.number, r.epochs]), [[2, 3], [1, 2]], "newest first");
  for (const r of rows) {
    assert.equal(r.outcome, "Completed");
    assert.ok(r.accuracy > 0.1 && r.accuracy <= 1, `accuracy ${r.accuracy}`);
    assert.doesNotMatch(r.model, /not kept/, "each run links to its model in the library");
  }
  const table = await page.textContent('[data-testid="run-history"]');
  assert.match(table, /run 1 · tiny/);
  assert.match(table, /train\.csv \(1,079 \+ 121 rows\)/);
  assert.match(table, /CPU/);

  // Sorting: by accuracy (descending, then ascending), by epochs.
  await page.click('[data-testid="runs-sort-accuracy"]');
  rows = await runRows(page);
  assert.ok(rows[0].accuracy >= rows[1].accuracy, JSON.stringify(rows));
  await page.click('[data-testid="runs-sort-accuracy"]');
  rows = await runRows(page);
  assert.ok(rows[0].accuracy <= rows[1].accuracy, JSON.stringify(rows));
  await page.click('[data-testid="runs-sort-epochs"]');
  assert.deepEqual((await runRows(page)).map((r) => r.epochs), [3, 2]);

  // Overlay: nothing ticked draws an empty chart; both ticked draw two coloured curves.
  const blank = await chartColours(page);
  for (const box of await page.$$('[data-testid="run-select"]')) await box.check();
  await page.waitForSelector('[data-testid="runs-overlaid"][data-count="2"]');
  await page.waitForFunction((before) => {
    const canvas = document.querySelector('[data-testid="runs-chart"]');
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size > before + 2;
  }, blank);
  await page.selectOption('[data-testid="runs-metric"]', "val-loss");
  await screenshot(page, "runs");

  // A run's recipe goes back into the Train tab's form.
  const first = (await runRows(page)).find((r) => r.number === 1);
  await page.click(`[data-testid="run-row"][data-run="${first.id}"] [data-testid="run-use-recipe"]`);
  assert.equal(await page.inputValue('[data-testid="epochs-input"]'), "2");
  assert.equal(await page.inputValue('[data-testid="model-select"]'), "tiny");
  assert.notEqual(await page.inputValue('[data-testid="lr-input"]'), "0.003", "run 1's own rate");

  // A reload keeps the runs, the ticks and the metric chosen.
  const before = await runRows(page);
  await page.reload();
  await page.waitForSelector('[data-testid="device-info"][data-kind="cpu"]');
  await page.click('[data-testid="tab-runs"]');
  await page.waitForSelector('[data-testid="runs-overlaid"][data-count="2"]');
  assert.equal(await page.inputValue('[data-testid="runs-metric"]'), "val-loss");
  const after = await runRows(page);
  const byNumber = (rs) => [...rs].sort((a, b) => a.number - b.number).map((r) => [r.id, r.epochs, r.accuracy, r.outcome]);
  assert.deepEqual(byNumber(after), byNumber(before));

  // Forgetting a run removes it from the table, the overlay and storage.
  await page.click(`[data-testid="run-row"][data-run="${first.id}"] [data-testid="run-delete"]`);
  await page.waitForSelector('[data-testid="runs-overlaid"][data-count="1"]');
  await page.reload();
  await page.waitForSelector('[data-testid="device-info"][data-kind="cpu"]');
  await page.click('[data-testid="tab-runs"]');
  await page.waitForSelector('[data-testid="runs-overlaid"][data-count="1"]');
  assert.deepEqual((await runRows(page)).map((r) => r.number), [2]);
  assert.deepEqual(problems, []);
});
