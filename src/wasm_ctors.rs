//! Run the module's static constructors once, at start-up, on wasm32.
//!
//! CubeCL registers its kernels' metadata through `inventory`, i.e. static constructors. When no
//! code calls `__wasm_call_ctors` itself, wasm-ld treats the module as a "command" and wraps
//! *every* export so that it re-runs all constructors first: each call from JavaScript into the
//! module (every message, timer and event handler) paid ~1 ms of constructor work, 1.2 s of main
//! thread while a CSV loaded. Calling it once here makes the linker drop those wrappers.

#[cfg(target_family = "wasm")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Call first thing in `main` of each wasm binary, before anything else runs.
pub fn run_static_constructors() {
    #[cfg(target_family = "wasm")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static DONE: AtomicBool = AtomicBool::new(false);
        if !DONE.swap(true, Ordering::SeqCst) {
            // SAFETY: the linker-synthesised constructor list; the flag makes it run once.
            unsafe { __wasm_call_ctors() }
        }
    }
}
