// Without WebGPU the app says so and trains on Burn's CPU backend compiled to wasm; memory stays
// flat from epoch to epoch.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { csvSlice, launch, loadCsv, openApp, serve, startTraining, waitForRows, waitForTraining } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await serve();
  browser = await launch({ webgpu: false });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("without WebGPU the app falls back to the CPU, says why, and trains", async () => {
  const { page, problems } = browser;
  await openApp(page, server.url);
  assert.equal(await page.getAttribute('[data-testid="device-info"]', "data-kind"), "cpu");
  assert.match(await page.textContent('[data-testid="device-info"]'), /WebGPU unavailable: .+/);

  await loadCsv(page, "train", csvSlice("train", 600));
  await waitForRows(page, "train", 600);
  await startTraining(page, { preset: "small", epochs: 6, batch: 32 });

  // Memory after each epoch: the worker's wasm memory must not grow epoch after epoch. The
  // allocator grows the heap a step or two while the run settles (by epoch 3 at most, measured
  // over 10 epochs), so the last three epochs must be flat.
  const memory = [];
  for (let epoch = 1; epoch <= 6; epoch++) {
    await page.waitForSelector(`[data-testid="epoch-table"] tbody tr:nth-child(${epoch})`, { timeout: 600_000 });
    memory.push(Number(await page.getAttribute('[data-testid="worker-memory"]', "data-bytes")));
  }
  const rows = await waitForTraining(page);
  assert.equal(rows.length, 6);
  console.log(`worker wasm memory after epochs 1-6 (MB): ${memory.map((b) => (b / 2 ** 20).toFixed(1)).join(", ")}`);
  assert.ok(memory.every((b) => b > 0));
  assert.ok(memory[5] <= memory[2], `memory grew from ${memory[2]} to ${memory[5]} bytes`);
  assert.deepEqual(problems, []);
});
