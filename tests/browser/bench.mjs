// Browser measurements (printed, never asserted): time to an interactive page, parsing the full
// train.csv in the page, training images/s on WebGPU and on the wasm CPU path, the longest frame
// while parsing and while training, worker memory per epoch, draw -> prediction latency.
//
//   [DIGIT_LAB_BENCH=cpu|webgpu] [DIGIT_LAB_BENCH_PRESETS=digit-lab,kaggle-classic|none]
//     [DIGIT_LAB_BENCH_STROKES=7] node tests/browser/bench.mjs [DIST_DIR]
//
// DIST_DIR defaults to target/web-test (the debug site scripts/test.sh builds); measure the
// release site with `bash scripts/build-release.sh && node tests/browser/bench.mjs dist`
// (served gzip-compressed, as a real host would: see harness.mjs).

import path from "node:path";
import { csvSlice, launch, openApp, serve, setField, sleep } from "./harness.mjs";

const dist = path.resolve(process.argv[2] ?? process.env.DIGIT_LAB_DIST ?? "target/web-test");
const FULL_TRAIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../shared/data/train.csv.gz");

/** Track the gap between animation frames in the page (the longest one = the worst jank). */
async function watchFrames(page) {
  await page.evaluate(() => {
    window.__frames = { last: performance.now(), max: 0 };
    const tick = (now) => {
      window.__frames.max = Math.max(window.__frames.max, now - window.__frames.last);
      window.__frames.last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}
const resetFrames = (page) => page.evaluate(() => { window.__frames.max = 0; window.__frames.last = performance.now(); });
const longestFrame = (page) => page.evaluate(() => window.__frames.max);

async function measure({ webgpu }) {
  const server = await serve(dist);
  const browser = await launch({ webgpu });
  const { page } = browser;
  const started = Date.now();
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="tab-data"]');
  const interactive = Date.now() - started;
  await page.waitForSelector('[data-testid="device-info"][data-kind]:not([data-kind=""])', { timeout: 120_000 });
  const deviceReady = Date.now() - started;
  const device = await page.textContent('[data-testid="device-info"]');
  console.log(`\n== ${device}`);
  console.log(`page interactive after ${interactive} ms; worker and device ready after ${deviceReady} ms`);
  await watchFrames(page);

  // Draw -> prediction latency with the bundled model (median of several strokes).
  await page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
  await page.click('[data-testid="tab-draw"]');
  const box = await page.locator('[data-testid="draw-canvas"]').boundingBox();
  const latencies = [];
  const strokes = Number(process.env.DIGIT_LAB_BENCH_STROKES ?? 7);
  for (let i = 0; i < strokes; i++) {
    await page.click('[data-testid="draw-clear"]');
    await page.mouse.move(box.x + 120 + (i % 7) * 5, box.y + 50);
    await page.mouse.down();
    await page.mouse.move(box.x + 125 + (i % 7) * 5, box.y + 230, { steps: 8 });
    await page.mouse.up();
    await sleep(1500);
    const latency = Number(await page.getAttribute('[data-testid="draw-prediction"]', "data-latency-ms"));
    if (latency > 0) latencies.push(latency);
  }
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)];
  console.log(`draw -> prediction latency: median ${median} ms (all: ${latencies.join(", ")})`);

  // Full train.csv.gz (42,000 rows) through the page.
  await page.click('[data-testid="tab-data"]');
  await resetFrames(page);
  const t0 = Date.now();
  await page.setInputFiles('[data-testid="train-file"]', FULL_TRAIN);
  await page.waitForSelector('[data-testid="data-summary"] [data-role="train"][data-rows="42000"]', { timeout: 300_000 });
  console.log(`full train.csv.gz read + parsed in ${Date.now() - t0} ms; longest frame meanwhile ${(await longestFrame(page)).toFixed(0)} ms`);

  // Train a few batches of the default model and of the notebook classic.
  const presets = (process.env.DIGIT_LAB_BENCH_PRESETS ?? "digit-lab,kaggle-classic").split(",").filter((p) => p && p !== "none");
  for (const preset of presets) {
    await page.click('[data-testid="tab-train"]');
    await page.selectOption('[data-testid="model-select"]', preset);
    await setField(page, "epochs-input", 1);
    await resetFrames(page);
    const clicked = Date.now();
    await page.click('[data-testid="train-button"]');
    // The first batch waits for every kernel of the step to be built (CubeCL's expansion in the
    // worker, then the browser's shader compiler on WebGPU).
    const firstBatch = await page
      .waitForFunction(
        () => /batch \d+\//.test(document.querySelector('[data-testid="progress"]')?.textContent ?? ""),
        null,
        { timeout: 300_000, polling: 50 },
      )
      .then(() => `${Date.now() - clicked} ms`, () => "not within 300 s");
    console.log(`${preset}: first batch ${firstBatch} after Train`);
    const batchSize = Number(await page.inputValue('[data-testid="batch-size-input"]'));
    const samples = [];
    let first = null;
    let last = null;
    const deadline = Date.now() + (webgpu ? 240_000 : 180_000);
    while (samples.length < 8 && Date.now() < deadline) {
      await sleep(3000);
      const text = await page.textContent('[data-testid="progress"]');
      const m = text.match(/batch (\d+)\/\d+ · (\d+) img\/s/);
      if (m && Number(m[1]) > 3) {
        samples.push(Number(m[2]));
        last = { batch: Number(m[1]), at: Date.now() };
        first ??= last;
      }
    }
    // Cross-check of the page's own reading: batches counted against the wall clock.
    const wall = first && last.at > first.at ? ((last.batch - first.batch) * batchSize * 1000) / (last.at - first.at) : NaN;
    const frame = await longestFrame(page);
    await page.click('[data-testid="stop-button"]');
    await page.waitForSelector('[data-testid="train-status"]:has-text("Finished")', { timeout: 300_000 });
    const sorted = samples.sort((a, b) => a - b);
    console.log(`${preset}: training ${sorted.length ? sorted[Math.floor(sorted.length / 2)] : "?"} img/s (median of per-batch readings ${sorted.join(", ")}; wall clock ${wall.toFixed(0)} img/s); longest frame ${frame.toFixed(0)} ms`);
  }

  const memory = await page.evaluate(() => ({
    jsHeap: performance.memory?.usedJSHeapSize,
  }));
  console.log(`page JS heap ${(memory.jsHeap / 2 ** 20).toFixed(1)} MB`);
  await browser.close();
  server.close();
}

// DIGIT_LAB_BENCH=cpu or =webgpu measures one path only.
const only = process.env.DIGIT_LAB_BENCH;
if (only !== "cpu") await measure({ webgpu: true });
if (only !== "webgpu") await measure({ webgpu: false });
