// Module worker: load the worker's wasm; its `main` installs the message handler. If the wasm
// traps (a panic, a lost GPU device) it can no longer answer, so this loader tells the page with
// the one message it knows, `{ crashed }` (src/protocol/wire.rs), and the page starts a new worker.
import init from "../digit-lab-worker.js";

const crashed = (message) => postMessage({ crashed: String(message) });

// preventDefault: the page hears of it once, from this message, not also as an error event.
self.addEventListener("error", (event) => {
  event.preventDefault();
  crashed(event.message ?? event);
});
self.addEventListener("unhandledrejection", (event) => crashed(event.reason?.message ?? event.reason));

init().catch((error) => crashed(`the worker failed to start: ${error}`));
