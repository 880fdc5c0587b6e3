// The promised first minute: with the bundled model and no training at all, draw a digit and get
// it classified; predict a slice of test.csv and download a byte-exact submission.csv.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CLI, csvSlice, draw, launch, loadCsv, openApp, screenshot, serve, waitForRows } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await serve();
  browser = await launch({ webgpu: false });
  await openApp(browser.page, server.url);
  await browser.page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("a drawn 1 and a drawn 7 are classified by the bundled model", async () => {
  const { page, problems } = browser;
  await page.click('[data-testid="tab-draw"]');
  await draw(page, [[[140, 40], [142, 140], [140, 240]]]);
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "1", null, {
    timeout: 30_000,
  });
  assert.equal(await page.getAttribute('[data-testid="draw-preview"]', "data-empty"), "false");
  await screenshot(page, "draw");

  await page.click('[data-testid="draw-clear"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "");
  await draw(page, [
    [[70, 50], [210, 50], [150, 140], [110, 250]],
  ]);
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "7", null, {
    timeout: 30_000,
  });
  const latency = Number(await page.getAttribute('[data-testid="draw-prediction"]', "data-latency-ms"));
  console.log(`draw -> prediction latency (CPU path): ${latency} ms`);
  assert.ok(latency > 0);
  assert.deepEqual(problems, []);
});

test("predicting a test slice downloads Kaggle's exact submission.csv", async () => {
  const { page } = browser;
  await page.click('[data-testid="tab-predict"]');
  assert.equal(await page.isDisabled('[data-testid="download-submission"]'), true);
  assert.match(await page.textContent('[data-testid="predict-hint"]'), /Load test\.csv/);
  // The bundled model carries the TTA its validation chose; the switch says what it will do.
  assert.match(
    await page.textContent('[data-testid="tta-description"]'),
    /this model's validation chose|none helped this model/,
  );

  const slice = csvSlice("test", 300);
  await loadCsv(page, "test", slice);
  await waitForRows(page, "test", 300);
  await page.click('[data-testid="tab-predict"]');
  await page.click('[data-testid="predict-button"]');
  await page.waitForSelector('[data-testid="predictions-preview"] figure', { timeout: 120_000 });
  assert.equal(await page.locator('[data-testid="predictions-preview"] figure').count(), 18);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-testid="download-submission"]'),
  ]);
  assert.equal(download.suggestedFilename(), "submission.csv");
  const text = fs.readFileSync(await download.path(), "latin1");
  const lines = text.split("\n");
  assert.equal(lines[0], "ImageId,Label");
  assert.equal(lines.length, 302, "header, 300 rows, final newline");
  assert.equal(lines[301], "");
  lines.slice(1, 301).forEach((line, i) => assert.match(line, new RegExp(`^${i + 1},[0-9]$`)));
  assert.ok(!text.includes("\r"));
  // The same model through the native CLI writes the same bytes.
  const cli = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-cli-")), "submission.csv");
  execFileSync(CLI, ["predict", "--test", slice, "--out", cli]);
  assert.equal(text, fs.readFileSync(cli, "latin1"), "browser and CLI submissions differ");
  await screenshot(page, "predict");
});
