// The page on WebGPU (SwiftShader): loads cleanly, loads and summarises data, rejects a bad file
// without losing what was loaded, trains with live charts, and keeps the model across a reload.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  adoptFinishedRun,
  assertSameAnswer,
  csvSlice,
  drawOne,
  loadCsv,
  openApp,
  screenshot,
  serveAndLaunch,
  startTraining,
  waitForRows,
  waitForTraining,
} from "./harness.mjs";

const session = serveAndLaunch({ webgpu: true });

test("the app loads with no console errors and finds the WebGPU adapter", async () => {
  const { page, problems } = session.browser;
  await openApp(page, session.server.url);
  const kind = await page.getAttribute('[data-testid="device-info"]', "data-kind");
  const text = await page.textContent('[data-testid="device-info"]');
  assert.equal(kind, "gpu", `device: ${text}`);
  assert.match(text, /WebGPU/);
  assert.deepEqual(problems, []);
});

test("a 1,000-row slice of train.csv loads and is summarised", async () => {
  const { page } = session.browser;
  await loadCsv(page, "train", csvSlice("train", 1000));
  await waitForRows(page, "train", 1000);
  const summary = await page.textContent('[data-testid="data-summary"]');
  assert.match(summary, /1000 rows/);
  const counts = [...summary.matchAll(/(\d): (\d+)/g)].map((m) => Number(m[2]));
  assert.equal(counts.length, 10);
  assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
  await page.waitForSelector('[data-testid="sample-grid"] figure');
  assert.equal(await page.locator('[data-testid="sample-grid"] figure').count(), 20);
  await page.waitForSelector('[data-testid="augment-augmented"] figure');
  await screenshot(page, "data");
});

test("a malformed CSV shows its line and column and keeps the loaded data", async () => {
  const { page } = session.browser;
  const broken = csvSlice("train", 10, {
    mutate: (lines) => {
      const cells = lines[4].split(",");
      cells[17] = "300";
      lines[4] = cells.join(",");
      return lines;
    },
  });
  await loadCsv(page, "train", broken);
  const error = await page.waitForSelector('[data-testid="data-error"]');
  const text = await error.textContent();
  assert.match(text, /line 5, column 18 \(pixel16\)/);
  assert.match(text, /300/);
  assert.match(text, /train\.csv is still loaded/);
  await waitForRows(page, "train", 1000, 5_000);
});

test("training on WebGPU runs, the charts receive points and the loss falls", async () => {
  const { page, problems } = session.browser;
  // The tiny preset: SwiftShader runs WebGPU on the CPU, about 40x slower than a real GPU.
  await startTraining(page, { preset: "tiny", epochs: 2, batch: 64 });
  const rows = await waitForTraining(page);
  assert.equal(rows.length, 2);
  const [first, second] = rows.map((cells) => Number(cells[1]));
  assert.ok(second < first, `epoch losses ${first} -> ${second}`);
  // Tiny's recipe is one-cycle: the rate anneals over the two epochs chosen, to a thousandth
  // of its peak at the last batch; the notebook presets change it only between epochs.
  assert.ok(await page.isChecked('[data-testid="one-cycle-toggle"]'));
  const [peak, last] = rows.map((cells) => Number(cells[5]));
  assert.ok(last < peak / 100 && last > 0, `learning rate ${peak} -> ${last}`);
  const points = Number(await page.getAttribute('[data-testid="loss-chart"]', "data-points"));
  assert.ok(points >= 2 * 15, `loss chart points: ${points}`);
  assert.ok(Number(await page.getAttribute('[data-testid="accuracy-chart"]', "data-points")) > 0);
  const progress = await page.textContent('[data-testid="progress"]');
  assert.match(progress, /img\/s/);
  await screenshot(page, "training");
  await page.selectOption('[data-testid="model-select"]', "kaggle-classic");
  assert.ok(!(await page.isChecked('[data-testid="one-cycle-toggle"]')));
  assert.equal(await page.inputValue('[data-testid="label-smoothing-input"]'), "0");
  await page.selectOption('[data-testid="model-select"]', "tiny");
  assert.deepEqual(problems, []);
});

test("the trained model survives a reload", async () => {
  const { page } = session.browser;
  // A tiny run is far below the bundled model's recorded accuracy: the page offers it instead
  // of replacing the bundled model (it is in the library either way). Adopt it.
  const offer = await adoptFinishedRun(page);
  if (offer !== null) assert.match(offer, /validation accuracy/);
  await page.waitForSelector('[data-testid="library-entry"][data-current="true"]');
  const before = await drawOne(page);
  await page.reload();
  await page.waitForSelector('[data-testid="model-source"][data-source="Stored"]', { timeout: 120_000 });
  const text = await page.textContent('[data-testid="model-source"]');
  assert.match(text, /tiny/);
  assertSameAnswer(await drawOne(page), before, "the restored model answers as before");
});
