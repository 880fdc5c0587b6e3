// A worker that traps mid-predict or mid-train: the page says so, frees what was in flight,
// and a fresh worker gets back the files it had accepted and the current model. The trap is
// real: an uncaught error in the worker's scope, which its loader reports as it reports a wasm
// trap (assets/worker.js).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { csvSlice, launch, loadCsv, openApp, serve, startTraining, waitForRows } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await serve();
  browser = await launch({ webgpu: false });
  await openApp(browser.page, server.url, "?cpu");
  await browser.page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

let traps = 0;

/** Make the app's worker trap, and wait until the page says so (or says `thenSays`). */
async function crashWorker(page, { thenSays } = {}) {
  if (await page.locator('[data-testid="app-error"]').count()) {
    await page.click('[data-testid="app-error"] button[aria-label="dismiss"]');
  }
  const workers = page.workers();
  assert.equal(workers.length, 1, "the app runs one worker (a replaced one is terminated)");
  const message = `simulated trap ${++traps}`;
  await workers[0].evaluate((message) => setTimeout(() => {
    throw new Error(message);
  }), message);
  await page.waitForSelector(`[data-testid="app-error"]:has-text("${thenSays ?? message}")`, { timeout: 30_000 });
}

/** Wait for the replacement worker: its device is ready and `role` is loaded again. */
async function waitForReplacement(page, role, rows) {
  await page.waitForSelector('[data-testid="device-info"][data-kind="cpu"]', { timeout: 120_000 });
  await page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
  await page.click('[data-testid="tab-data"]');
  await waitForRows(page, role, rows);
}

test("a crash mid-predict frees the Predict button and the new worker predicts test.csv", async () => {
  const { page } = browser;
  await loadCsv(page, "test", csvSlice("test", 3000));
  await waitForRows(page, "test", 3000);
  await page.click('[data-testid="tab-predict"]');
  await page.click('[data-testid="predict-button"]');
  await crashWorker(page);
  await waitForReplacement(page, "test", 3000);
  await page.click('[data-testid="tab-predict"]');
  await page.waitForSelector('[data-testid="predict-button"]:not([disabled])', { timeout: 60_000 });
  assert.equal(await page.locator('[data-testid="predict-progress"]').count(), 0);
  await page.click('[data-testid="predict-button"]');
  const summary = await page.waitForSelector('[data-testid="predictions-summary"]', { timeout: 120_000 });
  assert.match(await summary.textContent(), /3000 test digits labelled by digit-lab \(bundled\)/);
});

test("a crash mid-train frees the Train button and the new worker trains on the same train.csv", async () => {
  const { page } = browser;
  await loadCsv(page, "train", csvSlice("train", 2000));
  await waitForRows(page, "train", 2000);
  await startTraining(page, { preset: "small", epochs: 3, batch: 16 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-chart"]').dataset.points) >= 2);
  await crashWorker(page);
  await waitForReplacement(page, "train", 2000);
  await page.click('[data-testid="tab-train"]');
  await page.waitForSelector('[data-testid="train-button"]:not([disabled])', { timeout: 60_000 });
  await trainTinyEpoch(page);
});

async function trainTinyEpoch(page) {
  await startTraining(page, { preset: "tiny", epochs: 1, batch: 64 });
  await page.waitForSelector('[data-testid="train-status"]:has-text("Completed")', { timeout: 120_000 });
}

test("a refused file is not replayed, and a worker that keeps crashing is not restarted forever", async () => {
  const { page } = browser;
  // Refused by the worker: the 2000-row train.csv stays the one loaded.
  await loadCsv(page, "train", csvSlice("train", 5, { mutate: (lines) => [...lines, "x,y"] }));
  await page.waitForSelector('[data-testid="data-error"]');
  await crashWorker(page);
  await waitForReplacement(page, "train", 2000);
  await trainTinyEpoch(page);
  assert.match(await page.textContent('[data-testid="train-status"]'), /Completed\) after 1 epochs/);
  // Three replacements so far (predict, train, here): the next crash is the last.
  await crashWorker(page, { thenSays: "reload" });
  const banner = await page.textContent('[data-testid="app-error"]');
  assert.match(banner, /stopped 4 times in this tab, so no new one is started: reload the page/);
  await page.waitForTimeout(3000);
  assert.equal(await page.getAttribute('[data-testid="device-info"]', "data-kind"), "");
});
