// Module worker: load the worker's wasm; its `main` installs the message handler. If the wasm
// traps (a panic, a lost GPU device), tell the page so it can start a fresh worker.
import init from "../digit-lab-worker.js";

const crashed = (message) =>
  postMessage({ msg: JSON.stringify({ WorkerCrashed: { message: String(message) } }) });

self.addEventListener("error", (event) => crashed(event.message ?? event));
self.addEventListener("unhandledrejection", (event) => crashed(event.reason?.message ?? event.reason));

init().catch((error) => crashed(`the worker failed to start: ${error}`));
