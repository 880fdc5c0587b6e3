// Shared by the browser tests: serve the built site on loopback, start Debian's Chromium
// (never a downloaded browser) with or without WebGPU, cut slices of the real Kaggle files.

import { chromium } from "playwright-core";
import { after, before } from "node:test";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

export const DIST = process.env.DIGIT_LAB_DIST ?? path.join(repo, "target/web-test");
/** The native CLI over the same library (scripts/test.sh builds it before the browser tests). */
export const CLI = process.env.DIGIT_LAB_CLI ?? path.join(repo, "target/debug/digit-lab");
export const SHOTS = process.env.DIGIT_LAB_SCREENSHOTS ?? path.join(DIST, "screenshots");
const DATA = [path.join(repo, "../shared/data"), "/work/shared/data"].find((d) => fs.existsSync(d));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".css": "text/css",
  ".bpk": "application/octet-stream",
  ".png": "image/png",
};

/**
 * Serve `dir` on 127.0.0.1 (random port). Where a precompressed `FILE.gz` sits beside a file
 * (scripts/build-release.sh writes them) and the browser accepts gzip, that is what is sent.
 */
export async function serve(dir = DIST) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    let file = path.join(dir, decodeURIComponent(url.pathname));
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    const headers = { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" };
    let body = file;
    if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "") && fs.existsSync(`${file}.gz`)) {
      body = `${file}.gz`;
      headers["content-encoding"] = "gzip";
    }
    fs.readFile(body, (err, bytes) => {
      if (err) return res.writeHead(404).end("not found");
      res.writeHead(200, headers);
      res.end(bytes);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

const BASE_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-dev-shm-usage",
];
// WebGPU on the CPU through SwiftShader (see shared/TOOLCHAIN.md).
const WEBGPU_FLAGS = [
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--use-angle=swiftshader",
];

/** A 390-px-wide phone screen (an iPhone 12–15's CSS size) with touch input. */
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

/**
 * The file's server and browser, started before its tests and closed after them; the returned
 * object holds `server` and `browser` once the tests run.
 */
export function serveAndLaunch(options) {
  const session = {};
  before(async () => {
    session.server = await serve();
    session.browser = await launch(options);
  });
  after(async () => {
    await session.browser?.close();
    session.server?.close();
  });
  return session;
}

/**
 * A fresh browser profile with one page at 1280x800 (`phone`: at [`PHONE`]'s size, with touch). `webgpu: false` starts Chromium without
 * WebGPU (requestAdapter() returns null), which exercises the CPU fallback.
 */
export async function launch({ webgpu = true, phone = false } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    ignoreDefaultArgs: ["--headless"],
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : [])],
    ...(phone ? PHONE : { viewport: { width: 1280, height: 800 } }),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  const watch = (p) => {
    p.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  };
  watch(page);
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && problems.push(`worker: ${m.text()}`)));
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

/** Open the app and wait until the worker reports its device. */
export async function openApp(page, url, query = "") {
  await page.goto(url + query);
  await page.waitForSelector('[data-testid="device-info"][data-kind]:not([data-kind=""])', { timeout: 120_000 });
}

/** The header and the first `rows` rows of a shared CSV, written to a temp file. */
export function csvSlice(name, rows, { mutate } = {}) {
  const text = zlib.gunzipSync(fs.readFileSync(path.join(DATA, `${name}.csv.gz`))).toString("latin1");
  let lines = text.split("\n").slice(0, rows + 1);
  if (mutate) lines = mutate(lines);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-data-")), `${name}.csv`);
  fs.writeFileSync(file, lines.join("\n") + "\n", "latin1");
  return file;
}

export async function loadCsv(page, role, file) {
  await page.click(`[data-testid="tab-data"]`);
  await page.setInputFiles(`[data-testid="${role}-file"]`, file);
}

/** Wait until the summary lists `rows` rows for `role` (train/test). */
export async function waitForRows(page, role, rows, timeout = 120_000) {
  await page.waitForSelector(`[data-testid="data-summary"] [data-role="${role}"][data-rows="${rows}"]`, { timeout });
}

export async function setField(page, testid, value) {
  await page.fill(`[data-testid="${testid}"]`, String(value));
}

/** Configure a short run and press Train. */
export async function startTraining(page, { preset = "small", epochs = 1, batch = 32 } = {}) {
  await page.click('[data-testid="tab-train"]');
  await page.selectOption('[data-testid="model-select"]', preset);
  await setField(page, "epochs-input", epochs);
  await setField(page, "batch-size-input", batch);
  await page.click('[data-testid="train-button"]');
}

/** Wait for the run to finish and return the epoch table's rows. */
export async function waitForTraining(page, timeout = 600_000) {
  await page.waitForSelector('[data-testid="train-status"]:has-text("Finished")', { timeout });
  return page.$$eval('[data-testid="epoch-table"] tbody tr', (rows) =>
    rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())),
  );
}

/** Draw polylines (in CSS pixels of the 280x280 canvas) with pointer events. */
export async function draw(page, strokes) {
  const canvas = page.locator('[data-testid="draw-canvas"]');
  // Pointer events outside the viewport are lost: a banner above can push the canvas down.
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  for (const stroke of strokes) {
    const [x0, y0] = stroke[0];
    await page.mouse.move(box.x + x0, box.y + y0);
    await page.mouse.down();
    for (const [x, y] of stroke.slice(1)) {
      await page.mouse.move(box.x + x, box.y + y, { steps: 6 });
    }
    await page.mouse.up();
  }
}

/** Draw a vertical stroke and return the probabilities the model gave it. */
export async function drawOne(page) {
  await page.click('[data-testid="tab-draw"]');
  await page.click('[data-testid="draw-clear"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "");
  await draw(page, [[[140, 40], [142, 140], [140, 240]]]);
  // The answer for the whole drawing, not one for a partial stroke still on its way.
  const handle = await page.waitForFunction(
    () => {
      const prediction = document.querySelector('[data-testid="draw-prediction"]').dataset;
      return (prediction.fresh === "true" && prediction.probabilities) || null;
    },
    null,
    { timeout: 30_000 },
  );
  return handle.jsonValue();
}

/**
 * Two Draw answers (from `drawOne`) are the same model's: equal to 1e-4. The CPU kernels'
 * summation order may follow buffer alignment, so rounding can differ in the 5th decimal;
 * another model's answer differs by far more.
 */
export function assertSameAnswer(actual, expected, message) {
  const [a, b] = [actual, expected].map((s) => s.split(" ").map(Number));
  const close = a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-4);
  if (!close) throw new Error(`${message}: ${actual} vs ${expected}`);
}

/**
 * Make the run that just finished the current model. A run far below the current model's
 * recorded accuracy is offered (Model tab) instead of made current: adopt it. Returns the
 * offer's text, or null when the run became current by itself. Waits until the library wrote.
 */
export async function adoptFinishedRun(page) {
  await page.click('[data-testid="tab-model"]');
  const trained = '[data-testid="model-source"][data-source="Trained"]';
  const offer = '[data-testid="kept-run-use"]:visible';
  await page.waitForSelector(`${offer}, ${trained}`, { timeout: 60_000 });
  let text = null;
  if (await page.locator(offer).count()) {
    text = await page.textContent('[data-testid="kept-run"]:visible');
    await page.click(offer);
  }
  await page.waitForSelector(trained, { timeout: 60_000 });
  await page.waitForSelector('[data-testid="model-library"][data-saving="false"]');
  return text;
}

export async function screenshot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

/** Time a callback in the page's clock. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
