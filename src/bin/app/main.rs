//! The browser page (Leptos, client-side rendered). It only sends commands to the worker and
//! renders what comes back; the work itself is `digit_lab::session`, run by the worker.

macro_rules! browser_modules {
    ($($name:ident),* $(,)?) => { $( #[cfg(target_arch = "wasm32")] mod $name; )* };
}

browser_modules!(
    charts,
    data_panel,
    draw_panel,
    images,
    insights_panel,
    layout,
    model_panel,
    predict_panel,
    state,
    storage,
    train_panel,
    widgets,
    worker,
);

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
