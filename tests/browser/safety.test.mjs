// The page's safety rails. Its Content-Security-Policy (index.html) holds while the app does its
// work (bundled model, train.csv, samples, a drawn digit) and nothing is requested off the page's
// origin, the worker's requests included. A chosen file is checked before it is read: an empty
// or oversized file is refused with a message, and a read the browser fails is reported; neither
// leaves a "reading N%" bar behind.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DIST, csvSlice, draw, launch, loadCsv, openApp, serve, sleep, waitForRows } from "./harness.mjs";

const TRAIN_ROWS = 200;

let server;
let browser;
/** Every request the browser made (page and worker), as URLs. */
const requests = [];
/** CSP violations: the page's `securitypolicyviolation` events are read at the end of a test. */
const cspConsole = [];

before(async () => {
  server = await serve();
  browser = await launch({ webgpu: false });
  const { context, page } = browser;
  context.on("request", (request) => requests.push(request.url()));
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(
        `${e.effectiveDirective} refused ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber}` +
          (e.sample ? ` (${e.sample})` : ""),
      );
    });
  });
  const watch = (from) => (message) => {
    if (/Content.Security.Policy/i.test(message.text())) cspConsole.push(`${from}: ${message.text()}`);
  };
  page.on("console", watch("page"));
  page.on("worker", (worker) => worker.on("console", watch("worker")));
  await openApp(page, server.url);
  await page.waitForSelector('[data-testid="model-source"][data-source="Bundled"]', { timeout: 120_000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function cspViolations(page) {
  return [...(await page.evaluate(() => window.__cspViolations)), ...cspConsole];
}

/** The banner's text once it names `pattern`. */
async function bannerMatching(page, pattern) {
  const banner = page.locator('[data-testid="app-error"]');
  await banner.filter({ hasText: pattern }).waitFor({ timeout: 30_000 });
  return banner.textContent();
}

async function dismissBanner(page) {
  await page.click('[data-testid="app-error"] button');
  await page.waitForSelector('[data-testid="app-error"]', { state: "detached" });
}

/** After a refused or failed file: no progress bar, and the loaded train.csv is still there. */
async function assertNothingReading(page) {
  await sleep(300); // a read that had started would show its bar by now
  assert.equal(await page.locator('[data-testid="train-progress"]').count(), 0, "no reading N% is left");
  await waitForRows(page, "train", TRAIN_ROWS, 5_000);
}

test("index.html's CSP lists the hash of every inline script trunk wrote", () => {
  const html = fs.readFileSync(path.join(DIST, "index.html"), "utf8");
  const meta = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]*)"/);
  assert.ok(meta, "dist/index.html has the CSP meta");
  const policy = Object.fromEntries(
    meta[1]
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );
  assert.deepEqual(policy["default-src"], ["'self'"]);
  assert.deepEqual(policy["connect-src"], ["'self'"]);
  assert.deepEqual(policy["object-src"], ["'none'"]);
  assert.deepEqual(policy["base-uri"], ["'none'"]);
  assert.ok(!policy["script-src"].includes("'unsafe-inline'") && !policy["script-src"].includes("'unsafe-eval'"));
  const inline = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].filter(([, attrs]) => !/\bsrc=/.test(attrs));
  assert.ok(inline.length > 0, "trunk's loader is an inline module script");
  for (const [, , body] of inline) {
    const hash = `'sha256-${crypto.createHash("sha256").update(body, "utf8").digest("base64")}'`;
    assert.ok(
      policy["script-src"].includes(hash),
      `trunk's inline script changed: put ${hash} in index.html's script-src (instead of the old hash)`,
    );
  }
});

test("the app works under its CSP and requests nothing off its origin", async () => {
  const { page, problems } = browser;
  await loadCsv(page, "train", csvSlice("train", TRAIN_ROWS));
  await waitForRows(page, "train", TRAIN_ROWS);
  await page.waitForSelector('[data-testid="sample-grid"] figure canvas', { timeout: 60_000 });
  assert.equal(await page.locator('[data-testid="sample-grid"] figure').count(), 20);

  await page.click('[data-testid="tab-draw"]');
  await draw(page, [[[140, 40], [142, 140], [140, 240]]]);
  await page.waitForFunction(() => document.querySelector('[data-testid="draw-prediction"]').dataset.class === "1", null, {
    timeout: 30_000,
  });

  const origin = new URL(server.url).origin;
  const paths = requests.map((url) => new URL(url)).filter((u) => u.origin === origin).map((u) => u.pathname);
  for (const seen of ["/", "/digit-lab-app_bg.wasm", "/assets/worker.js", "/digit-lab-worker_bg.wasm", "/assets/model.bpk"]) {
    assert.ok(paths.includes(seen), `request for ${seen} seen (among ${paths.join(", ")})`);
  }
  const offOrigin = requests.filter((url) => !/^(data|blob):/.test(url) && new URL(url).origin !== origin);
  assert.deepEqual(offOrigin, [], "every request goes to the page's own origin");
  assert.deepEqual(await cspViolations(page), [], "no CSP violation");
  assert.deepEqual(problems, []);
});

test("an empty train.csv is refused with a message, before anything is read", async () => {
  const { page, problems } = browser;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-empty-")), "train.csv");
  fs.writeFileSync(file, "");
  await loadCsv(page, "train", file);
  const text = await bannerMatching(page, "empty");
  assert.match(text, /Load train\.csv: train\.csv is empty \(0 bytes\); choose Kaggle's Digit Recognizer CSV/);
  await assertNothingReading(page);
  await dismissBanner(page);
  assert.deepEqual(problems, []);
});

test("a file over the size limit is refused by its size, before anything is read", async () => {
  const { page, problems } = browser;
  // A real 10 GiB file is no test fixture: the page sees this one's `size` as 10 GiB. Its
  // content is a valid train.csv, so if the size were not checked first it would load.
  await page.evaluate(() => {
    const size = Object.getOwnPropertyDescriptor(Blob.prototype, "size");
    window.__restoreSize = () => Object.defineProperty(Blob.prototype, "size", size);
    Object.defineProperty(Blob.prototype, "size", {
      configurable: true,
      get() {
        return this.name === "huge.csv" ? 10 * 2 ** 30 : size.get.call(this);
      },
    });
  });
  try {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-huge-")), "huge.csv");
    fs.copyFileSync(csvSlice("train", 50), file);
    await loadCsv(page, "train", file);
    const text = await bannerMatching(page, "huge.csv");
    assert.match(text, /huge\.csv is 10 GiB, more than the 512 MiB this page reads/);
    assert.match(text, /at most 73 MB \(15 MB as \.gz\)/);
    await assertNothingReading(page);
    assert.equal(await page.locator('[data-testid="data-summary"] [data-role="train"]').count(), 1);
  } finally {
    await page.evaluate(() => window.__restoreSize());
  }
  await dismissBanner(page);
  assert.deepEqual(problems, []);
});

test("a file the browser cannot read is reported, and no reading bar is left", async () => {
  const { page, problems } = browser;
  // Choose a real file on disk (a file-backed File, as a user's would be), then replace it by a
  // directory of the same name before the page reads it: the browser's read fails.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "digit-lab-gone-"));
  const file = path.join(dir, "moved.csv");
  fs.copyFileSync(csvSlice("train", 50), file);
  await page.evaluate(() => {
    const input = document.createElement("input");
    input.type = "file";
    input.id = "probe-file";
    input.hidden = true;
    document.body.append(input);
  });
  await page.setInputFiles("#probe-file", file);
  assert.ok((await page.evaluate(() => document.getElementById("probe-file").files[0].size)) > 0);
  fs.rmSync(file);
  fs.mkdirSync(file);
  // Drop it on train.csv's loader, as a user drops a file.
  await page.click('[data-testid="tab-data"]');
  await page.evaluate(() => {
    const probe = document.getElementById("probe-file");
    const transfer = new DataTransfer();
    transfer.items.add(probe.files[0]);
    const target = document.querySelector('[data-testid="train-file"]').closest("label");
    target.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    probe.remove();
  });
  const text = await bannerMatching(page, "moved.csv");
  console.log(`a failed read is reported as: ${text}`);
  assert.match(text, /Load train\.csv: the browser could not read moved\.csv \(\w+Error: .+\); .*choose it again/);
  await assertNothingReading(page);
  await dismissBanner(page);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(await cspViolations(page), []);
  assert.deepEqual(problems, []);
});
