// Your handwriting: drawings labelled in the Draw tab are kept in the browser with the current
// model's answers and accuracy; fine-tuning on them (mixed with train.csv) makes the model read
// them (measured before and after); the set exports and imports as a train.csv-format CSV and
// survives a reload.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { adoptFinishedRun, csvSlice, draw, loadCsv, openApp, screenshot, serveAndLaunch, waitForRows } from "./harness.mjs";

const session = serveAndLaunch({ webgpu: false });

// A "hand" of its own: symbols no MNIST digit looks like, each labelled with a digit, two
// slightly different copies of each, so the model can only read them once it has learnt them.
const SYMBOLS = [
  { label: 8, strokes: [[[60, 140], [220, 140]], [[140, 60], [140, 220]]] }, // a plus
  { label: 2, strokes: [[[50, 140], [230, 150]]] }, // a dash
  { label: 5, strokes: [[[70, 70], [210, 70], [210, 210], [70, 210], [70, 70]]] }, // a square
];

async function labelDrawing(page, strokes, label) {
  await page.click('[data-testid="draw-clear"]');
  await draw(page, strokes);
  await page.waitForSelector('[data-testid="draw-preview"][data-empty="false"]');
  const count = Number(await page.getAttribute('[data-testid="handwriting-accuracy"]', "data-count"));
  await page.click(`[data-testid="label-drawing"] [data-testid="label-${label}"]`);
  await page.waitForSelector(`[data-testid="handwriting-accuracy"][data-count="${count + 1}"]`);
}

/** The model's right answers on the set, once they are known for all `count` drawings. */
async function rightAnswers(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="handwriting-item"][data-right]:not([data-right=""])').length === n,
    count,
    { timeout: 60_000 },
  );
  return Number(await page.getAttribute('[data-testid="handwriting-accuracy"]', "data-right"));
}

test("labelled drawings are kept, fine-tuning teaches them, and the set exports, imports and persists", async () => {
  const { page, problems } = session.browser;
  await openApp(page, session.server.url);
  await page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
  await loadCsv(page, "train", csvSlice("train", 2000));
  await waitForRows(page, "train", 2000);
  await page.click('[data-testid="tab-draw"]');
  for (const { label, strokes } of SYMBOLS) {
    await labelDrawing(page, strokes, label);
    const shifted = strokes.map((s) => s.map(([x, y]) => [x + 12, y - 10]));
    await labelDrawing(page, shifted, label);
  }
  const total = SYMBOLS.length * 2;
  const before = await rightAnswers(page, total);
  await screenshot(page, "handwriting-before");

  await page.click('[data-testid="fine-tune"]');
  await page.click('[data-testid="tab-train"]');
  await page.waitForSelector('[data-testid="train-status"]:has-text("Finished")', { timeout: 600_000 });
  await adoptFinishedRun(page);
  // The fine-tune is a run like any other: it is in the run history.
  await page.click('[data-testid="tab-runs"]');
  assert.match(await page.textContent('[data-testid="run-history"]'), /train\.csv \+ 6 of your digits/);
  await page.click('[data-testid="tab-draw"]');
  await page.waitForSelector('[data-testid="model-source"][data-source="Trained"]');
  // The answers are asked again for the new model.
  await page.waitForFunction(() => document.querySelector('[data-testid="handwriting-accuracy"]').textContent.includes("reads"));
  const after = await rightAnswers(page, total);
  // What is still on the canvas (the last square) is read again by the new model.
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "5", null, {
    timeout: 30_000,
  });
  console.log(`your handwriting (${total} drawings of 3 symbols): ${before}/${total} read right before fine-tuning, ${after}/${total} after`);
  assert.ok(before < total, "the bundled model cannot read these symbols");
  assert.ok(after > before, `fine-tuning taught them: ${before} -> ${after}`);
  await screenshot(page, "handwriting-after");

  // Export: Kaggle's train.csv format, one row per drawing with its label.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="handwriting-export"]')]);
  assert.equal(download.suggestedFilename(), "my-digits.csv");
  const exported = fs.readFileSync(await download.path(), "latin1").trimEnd().split("\n");
  assert.equal(exported.length, total + 1);
  assert.ok(exported[0].startsWith("label,pixel0,") && exported[0].endsWith(",pixel783"));
  const labels = exported.slice(1).map((row) => Number(row.split(",")[0]));
  assert.deepEqual(labels, SYMBOLS.flatMap(({ label }) => [label, label]));
  for (const row of exported.slice(1)) assert.equal(row.split(",").length, 785);

  // Delete one, import the export (adds its rows), a bad file is refused and changes nothing.
  await page.locator('[data-testid="handwriting-delete"]').first().click();
  await page.waitForSelector(`[data-testid="handwriting-accuracy"][data-count="${total - 1}"]`);
  await page.setInputFiles('[data-testid="handwriting-import"]', await download.path());
  await page.waitForSelector(`[data-testid="handwriting-accuracy"][data-count="${2 * total - 1}"]`);
  await page.setInputFiles('[data-testid="handwriting-import"]', csvSlice("test", 3));
  await page.waitForSelector('[data-testid="app-error"]:has-text("your set is unchanged")');
  assert.equal(await page.getAttribute('[data-testid="handwriting-accuracy"]', "data-count"), String(2 * total - 1));

  await page.reload();
  await page.waitForSelector('[data-testid="device-info"][data-kind="cpu"]');
  await page.click('[data-testid="tab-draw"]');
  await page.waitForSelector(`[data-testid="handwriting-accuracy"][data-count="${2 * total - 1}"]`);
  assert.deepEqual(problems.filter((p) => !p.includes("your set is unchanged")), []);
});
