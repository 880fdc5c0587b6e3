//! The browser page (Leptos, client-side rendered). It only sends commands to the worker and
//! renders what comes back; the work itself is `digit_lab::session`, run by the worker.

// The page's state and its logic: plain Rust, unit-tested natively (`cargo test`), where only
// those tests use it.
#[cfg(any(target_arch = "wasm32", test))]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod logic;

// Everything else is browser-only; on native targets the binary is the stub `main` below.
#[cfg(target_arch = "wasm32")]
mod activations_view;
#[cfg(target_arch = "wasm32")]
mod charts;
#[cfg(target_arch = "wasm32")]
mod data_panel;
#[cfg(target_arch = "wasm32")]
mod draw_panel;
#[cfg(target_arch = "wasm32")]
mod effects;
#[cfg(target_arch = "wasm32")]
mod handwriting_panel;
#[cfg(target_arch = "wasm32")]
mod history_storage;
#[cfg(target_arch = "wasm32")]
mod images;
#[cfg(target_arch = "wasm32")]
mod insights_panel;
#[cfg(target_arch = "wasm32")]
mod layout;
#[cfg(target_arch = "wasm32")]
mod library_panel;
#[cfg(target_arch = "wasm32")]
mod model_panel;
#[cfg(target_arch = "wasm32")]
mod predict_panel;
#[cfg(target_arch = "wasm32")]
mod runs_panel;
#[cfg(target_arch = "wasm32")]
mod state;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod train_panel;
#[cfg(target_arch = "wasm32")]
mod widgets;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    digit_lab::wasm_ctors::run_static_constructors();
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(layout::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("digit-lab-app runs in a browser: use `trunk serve` (see README.md)");
}
