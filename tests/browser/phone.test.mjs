// On a 390-px-wide phone screen with touch: every tab fits the width (no sideways scrolling of
// the page), a digit drawn with a finger is classified, and the theme follows the system's
// light/dark setting, charts included, while the page is open.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PHONE, openApp, screenshot, serveAndLaunch } from "./harness.mjs";

const session = serveAndLaunch({ webgpu: false, phone: true });

const TABS = ["data", "train", "insights", "draw", "predict", "model", "runs"];

/** A finger stroke through the points (CSS pixels of the element), as touch events. */
async function swipe(page, selector, points) {
  const box = await page.locator(selector).boundingBox();
  const cdp = await page.context().newCDPSession(page);
  const at = ([x, y]) => [{ x: box.x + x, y: box.y + y, id: 1, radiusX: 4, radiusY: 4, force: 0.5 }];
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: at(points[0]) });
  for (let i = 1; i < points.length; i++) {
    const [[x0, y0], [x1, y1]] = [points[i - 1], points[i]];
    for (let step = 1; step <= 6; step++) {
      const t = step / 6;
      const point = [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t];
      await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: at(point) });
    }
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await cdp.detach();
}

/** The colour of a chart's top-left pixel (its background). */
async function chartBackground(page, testid) {
  return page.$eval(`[data-testid="${testid}"]`, (canvas) => [...canvas.getContext("2d").getImageData(2, 2, 1, 1).data.slice(0, 3)]);
}

test("every tab fits a 390-px screen and a finger-drawn digit is classified", async () => {
  const { page, problems } = session.browser;
  await openApp(page, session.server.url);
  await page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
  for (const tab of TABS) {
    await page.tap(`[data-testid="tab-${tab}"]`);
    await page.waitForSelector(`.tab[data-tab="${tab}"]:not(.hidden)`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.viewport.width, `${tab}: the page is ${width} px wide`);
    if (["data", "train", "draw"].includes(tab)) await screenshot(page, `phone-${tab}`);
  }

  await page.tap('[data-testid="tab-draw"]');
  const canvas = '[data-testid="draw-canvas"]';
  await page.locator(canvas).scrollIntoViewIfNeeded();
  const box = await page.locator(canvas).boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= PHONE.viewport.width, `canvas at ${JSON.stringify(box)}`);
  await swipe(page, canvas, [[140, 40], [142, 140], [140, 240]]);
  await page.waitForSelector(`${canvas}[data-strokes="1"]`);
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "1", null, {
    timeout: 30_000,
  });
  await screenshot(page, "phone-draw-touch");
  assert.equal(await page.evaluate(() => window.scrollX), 0, "the stroke did not scroll the page sideways");
  assert.deepEqual(problems, []);
});

test("the theme follows the system while the page is open, charts included", async () => {
  const { page, problems } = session.browser;
  await page.emulateMedia({ colorScheme: "light" });
  // A click, not a tap: after the synthetic finger stroke above, headless Chromium drops the
  // click of the next tap (only after a stroke on the touch-action: none canvas).
  await page.click('[data-testid="tab-train"]');
  await page.waitForSelector('.tab[data-tab="train"]:not(.hidden)');
  const light = await chartBackground(page, "loss-chart");
  const lightPage = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: "dark" });
  // The chart is drawn again in the dark theme's background (charts.rs), though no data changed.
  await page.waitForFunction(
    (before) => {
      const canvas = document.querySelector('[data-testid="loss-chart"]');
      const [r, g, b] = canvas.getContext("2d").getImageData(2, 2, 1, 1).data;
      return r + g + b < 200 && r + g + b !== before[0] + before[1] + before[2];
    },
    light,
  );
  const darkPage = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(darkPage, lightPage, "the page's colours follow too");
  assert.ok(light.reduce((a, b) => a + b) > 600, `light chart background ${light}`);
  await screenshot(page, "phone-train-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.waitForFunction(() => {
    const canvas = document.querySelector('[data-testid="loss-chart"]');
    const [r, g, b] = canvas.getContext("2d").getImageData(2, 2, 1, 1).data;
    return r + g + b > 600;
  });
  assert.deepEqual(problems, []);
});
