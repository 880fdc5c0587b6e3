//! The Web Worker: parses, trains and predicts off the page's thread. All logic lives in
//! `digit_lab::session`; this binary only bridges it to `postMessage`.

#[cfg(target_arch = "wasm32")]
mod bridge;

#[cfg(target_arch = "wasm32")]
fn main() {
    digit_lab::wasm_ctors::run_static_constructors();
    bridge::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("digit-lab-worker runs in a browser; build it for wasm32-unknown-unknown");
}
