// Learning while it trains: the confusion matrix, the activation grids of a pinned digit and the
// first layer's filters refresh during a run (each epoch and every few seconds), the pinned
// digit stays whatever else is clicked, and what the refresh costs is measured (CPU path, the
// same recipe with it off and on).

import { test } from "node:test";
import assert from "node:assert/strict";
import { csvSlice, loadCsv, openApp, screenshot, serveAndLaunch, setField, startTraining, waitForRows, waitForTraining } from "./harness.mjs";

const session = serveAndLaunch({ webgpu: false });

const attr = (page, selector, name) => page.getAttribute(selector, name);

/** What the live views show now. */
async function liveState(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    return {
      refreshes: Number(q('[data-testid="activations"]').dataset.refreshes),
      input: q('[data-testid="activation-input"]')?.dataset.fingerprint,
      filters: q('[data-testid="filter-grid"]')?.dataset.fingerprint,
      summary: q(".insights-panel > p.subtle")?.textContent ?? "",
      status: q('[data-testid="train-status"]').textContent,
    };
  });
}

/** Mean images/s of a finished run's epochs (the epoch table's last column). */
const meanSpeed = (rows) => rows.reduce((s, r) => s + Number(r[7]), 0) / rows.length;

test("a pinned digit's activations, the filters and the confusion matrix refresh while training", async () => {
  const { page, problems } = session.browser;
  await openApp(page, session.server.url);
  await loadCsv(page, "train", csvSlice("train", 2400));
  await waitForRows(page, "train", 2400);
  await page.click('[data-testid="tab-insights"]');
  await page.waitForSelector('[data-testid="confusion-matrix"]');
  await setField(page, "activation-validation-index", 5);
  await page.click('[data-testid="activation-validation"]');
  await page.waitForSelector('[data-testid="activation-input"]');
  await page.waitForSelector('[data-testid="filter-grid"]');
  const filterMaps = Number(await attr(page, '[data-testid="filter-grid"]', "data-maps"));
  assert.equal(filterMaps, 32, "the bundled model's first convolution has 32 filters");
  await page.check('[data-testid="pin-digit"]');
  const pinned = await attr(page, '[data-testid="activation-input"]', "data-fingerprint");

  await startTraining(page, { preset: "small", epochs: 3, batch: 32 });
  await page.click('[data-testid="tab-insights"]');
  // While it trains: collect what the views show, and click another digit (a gallery item).
  const seen = [];
  let clicked = false;
  while (!(await liveState(page)).status.includes("Finished")) {
    seen.push(await liveState(page));
    if (!clicked && (await page.locator('[data-testid="top-errors"] figure').count())) {
      await page.locator('[data-testid="top-errors"] figure').first().click();
      clicked = true;
    }
    await page.waitForTimeout(500);
  }
  const during = seen.filter((s) => !s.status.includes("Finished"));
  const refreshes = during.at(-1).refreshes - during[0].refreshes;
  const filterVersions = new Set(during.map((s) => s.filters));
  const epochs = new Set(during.map((s) => s.summary.match(/after epoch (\d+)/)?.[1]).filter(Boolean));
  console.log(
    `live views during a 3-epoch run: ${refreshes} answers, ${filterVersions.size} distinct filter images, confusion matrix after epochs ${[...epochs]}`,
  );
  assert.ok(clicked, "a gallery digit was clicked during the run");
  assert.ok(refreshes >= 6, `refreshes during the run: ${refreshes}`);
  assert.ok(filterVersions.size >= 3, "the filters changed as the weights did");
  assert.ok(epochs.size >= 2, `the confusion matrix refreshed each epoch: ${[...epochs]}`);
  assert.ok(during.every((s) => s.input === pinned), "the pinned digit stayed the input");
  await page.locator('[data-testid="filter-grid"]').scrollIntoViewIfNeeded();
  await screenshot(page, "live-insights");
  assert.deepEqual(problems, []);
});

test("the live refresh's cost on training speed, measured off and on", async () => {
  const { page, problems } = session.browser;
  const speeds = { off: [], on: [] };
  // A first run warms the page and the worker up (it ran slower in every trial); then the same
  // recipe off, on, on, off, so a steady drift in speed (later runs were faster) hits both alike.
  for (const live of ["warm-up", "off", "on", "on", "off"]) {
    await page.click('[data-testid="tab-insights"]');
    await page.setChecked('[data-testid="live-insights"]', live !== "off");
    await startTraining(page, { preset: "small", epochs: 2, batch: 32 });
    await page.click('[data-testid="tab-insights"]');
    // Running (the Train tab, where the button is, is hidden now).
    await page.waitForSelector('[data-testid="pause-button"]:not([disabled])', { state: "attached" });
    const answers = [];
    for (let s = await liveState(page); !s.status.includes("Finished"); s = await liveState(page)) {
      answers.push(s.refreshes);
      await page.waitForTimeout(500);
    }
    await page.click('[data-testid="tab-train"]');
    const rows = await waitForTraining(page);
    const refreshed = answers.at(-1) - answers[0];
    if (live === "warm-up") continue;
    speeds[live].push(meanSpeed(rows));
    if (live === "off") assert.equal(refreshed, 0, "no refresh while training with it off");
    else assert.ok(refreshed >= 4, `with it on the views refreshed: ${refreshed}`);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cost = (1 - mean(speeds.on) / mean(speeds.off)) * 100;
  console.log(
    `live refresh cost (CPU path, small preset, 2,160 rows, batch 32): off ${speeds.off.map((s) => s.toFixed(0))} img/s, on ${speeds.on.map((s) => s.toFixed(0))} img/s: ${cost.toFixed(1)}% slower`,
  );
  assert.deepEqual(problems, []);
});
